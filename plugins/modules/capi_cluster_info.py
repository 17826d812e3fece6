#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: capi_cluster_info
short_description: Where a Cluster API cluster stands, optionally waiting until its control plane is up
version_added: 0.1.0
description:
  - Reads a Cluster object of a management cluster (in the API version the server prefers,
    v1beta2 or v1beta1) and reports its phase, conditions, control-plane endpoint, and whether
    its infrastructure is provisioned and its control plane initialised.
  - With O(wait), waits until the control plane is initialised and the C(<cluster>-kubeconfig)
    Secret exists; after O(wait_timeout) it fails with a message naming the condition that
    blocks (for example C(InfrastructureReady is False (WaitingForNetwork))), or saying that no
    controller has reconciled the Cluster.
  - With O(include_kubeconfig), returns the cluster's admin kubeconfig from that Secret; the
    task's output is then censored as with C(no_log) while the registered result keeps it. Nothing
    is written to disk.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.kube_auth
  - capstan.fleet.attributes.info_module
options:
  name:
    description: Name of the Cluster.
    type: str
    required: true
  namespace:
    description: Its namespace in the management cluster.
    type: str
    default: default
  wait:
    description: Wait until the control plane is initialised and C(<cluster>-kubeconfig) exists.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 600
  include_kubeconfig:
    description: Return the kubeconfig of C(<cluster>-kubeconfig) (output censored).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Wait for the tenant cluster and take its kubeconfig into memory
  capstan.fleet.capi_cluster_info:
    kubeconfig: ~/.kube/mgmt
    name: demo-vs-1
    namespace: demo
    wait: true
    wait_timeout: 900
    include_kubeconfig: true
  register: tenant

- name: Use it for the tenant (never written to disk)
  capstan.fleet.kube_object_info:
    kubeconfig_content: "{{ tenant.kubeconfig }}"
    kind: Node
"""

RETURN = r"""
exists:
  description: Whether the Cluster exists.
  returned: always
  type: bool
api_version:
  description: The API version the Cluster was read in.
  returned: always
  type: str
phase:
  description: C(status.phase), such as C(Provisioning) or C(Provisioned).
  returned: when the Cluster exists
  type: str
infrastructure_ready:
  description: Whether its infrastructure is provisioned.
  returned: when the Cluster exists
  type: bool
control_plane_initialized:
  description: Whether its control plane is initialised.
  returned: when the Cluster exists
  type: bool
control_plane_endpoint:
  description: C(spec.controlPlaneEndpoint) (host, port).
  returned: when the Cluster exists
  type: dict
conditions:
  description: Its conditions (type, status, reason, message).
  returned: when the Cluster exists
  type: list
  elements: dict
blocking:
  description: What the cluster is waiting for; null when it is initialised and its kubeconfig exists.
  returned: always
  type: str
kubeconfig:
  description: The kubeconfig (a mapping), with O(include_kubeconfig) once the Secret exists.
  returned: when asked for and available
  type: dict
"""

from ansible_collections.capstan.fleet.plugins.module_utils._capi_cluster import (  # noqa: E402
    cluster_state, kubeconfig_secret, parse_kubeconfig_text, read, wait_initialized,
)
from ansible_collections.capstan.fleet.plugins.module_utils._kube import (  # noqa: E402
    HAS_URLLIB3, HAS_YAML, KUBE_AUTH_ARGSPEC, URLLIB3_IMPORT_ERROR, YAML_IMPORT_ERROR, KubeClient, KubeError,
)
from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402


class CapiClusterInfo(FleetModule):
    shared_specs = (KUBE_AUTH_ARGSPEC,)
    argument_spec = dict(
        name=dict(type="str", required=True),
        namespace=dict(type="str", default="default"),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=600),
        include_kubeconfig=dict(type="bool", default=False),
    )
    required_libs = (("urllib3", HAS_URLLIB3, URLLIB3_IMPORT_ERROR), ("PyYAML", HAS_YAML, YAML_IMPORT_ERROR))

    def run(self):
        p = self.params
        client = KubeClient.from_options(p)
        name, ns = p["name"], p["namespace"]
        where = "Cluster %s/%s" % (ns, name)
        if p["wait"]:
            state, text = wait_initialized(client, name, ns, p["wait_timeout"])
            if state["blocking"] is not None:
                raise KubeError("%s is not ready after %ds: %s" % (where, p["wait_timeout"], state["blocking"]))
        else:
            obj, api_version = read(client, name, ns)
            state = dict(cluster_state(obj), api_version=api_version)
            text = kubeconfig_secret(client, name, ns) if state["exists"] else None
            if state["exists"] and state["blocking"] is None and text is None:
                state["blocking"] = "the control plane is initialised but Secret %s-kubeconfig does not exist yet" % name
        out = dict(changed=False, **state)
        if p["include_kubeconfig"] and text is not None:
            out["kubeconfig"] = parse_kubeconfig_text(text, "Secret %s/%s-kubeconfig" % (ns, name))
            self.module.no_log_values.add(text)
            self.result_no_log = True
        return out


def main():
    CapiClusterInfo()()


if __name__ == "__main__":
    main()
