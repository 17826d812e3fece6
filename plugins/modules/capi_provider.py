#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: capi_provider
short_description: Install, upgrade or delete a Cluster API provider the way clusterctl does
version_added: 0.1.0
description:
  - Converges one Cluster API provider (core, bootstrap, control-plane, infrastructure, ipam,
    runtime-extension, addon) at a version, from a repository in clusterctl's local-repository
    layout (C(<manifest label>/<version>/<type>-components.yaml) and C(metadata.yaml)) on disk or
    behind HTTP(S), or from the C(providers:) of a clusterctl configuration file. Air-gapped is
    the normal case - nothing is fetched from anywhere else.
  - The components are processed exactly as clusterctl v1.13 does (variables in its dialect with
    every missing one listed, image overrides, target namespace, labels), applied with server-side
    apply, and recorded in clusterctl's own inventory (C(clusterctl.cluster.x-k8s.io/v1alpha3)
    C(Provider)), so that clusterctl recognises what this module installed and the other way round.
  - Refuses the contract combinations clusterctl refuses (a provider whose contract the installed
    core provider is not compatible with; a v1beta2 core accepts v1beta1 providers).
  - A different version upgrades in place - the new components are applied, objects of the old
    version that the new one no longer has are deleted, CRDs and the namespace stay.
  - Waits until the provider's Deployments are Available, as C(clusterctl init --wait-providers).
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.kube_auth
  - capstan.fleet.attributes
options:
  name:
    description:
      - The provider's name, such as C(cluster-api), C(kubeadm), C(openstack).
      - One of O(name) (with O(type)) or O(providers) is required.
    type: str
  type:
    description: The provider's type.
    type: str
    choices: [core, bootstrap, control-plane, infrastructure, ipam, runtime-extension, addon]
  version:
    description: The version to install or upgrade to, such as C(v1.10.5). Required with O(state=present).
    type: str
  providers:
    description:
      - A set of providers converged in one run, as C(clusterctl init) takes a set - a
        management cluster's release in one task.
      - The core provider goes first; when the set holds it, the other providers are checked
        against the contract of its new version, so a release crosses a contract change in one
        run. The Deployments of all of them are waited for at the end. With O(state=absent) the
        core provider goes last.
      - The other options (repository, variables, images, waits) apply to every provider.
    type: list
    elements: dict
    suboptions:
      name:
        description: The provider's name.
        type: str
        required: true
      type:
        description: The provider's type.
        type: str
        required: true
        choices: [core, bootstrap, control-plane, infrastructure, ipam, runtime-extension, addon]
      version:
        description: The version; required with O(state=present).
        type: str
      namespace:
        description: The namespace to install into (as O(target_namespace)).
        type: str
  state:
    description: Whether the provider should be installed.
    type: str
    choices: [present, absent]
    default: present
  repository:
    description:
      - Base directory or HTTP(S) URL of the repository, holding C(<manifest label>/<version>/).
      - Not needed for a provider that O(clusterctl_config) lists under C(providers:).
    type: str
  clusterctl_config:
    description:
      - A clusterctl configuration file - its C(providers:) URLs, C(images:) overrides and
        variables are used as clusterctl uses them.
    type: path
  variables:
    description:
      - Values of the components' variables. They win over the environment, which wins over the
        clusterctl configuration file, as in clusterctl.
    type: dict
    default: {}
  images:
    description:
      - Image overrides as clusterctl's C(images:) (keys C(all), C(<manifest label>) or
        C(<manifest label>/<image name>); values with C(repository), C(name), C(tag)), merged over
        those of O(clusterctl_config).
    type: dict
    default: {}
  target_namespace:
    description: The namespace to install into; the components' own Namespace by default.
    type: str
  wait:
    description: Wait until the provider's Deployments are Available.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the Deployments.
    type: int
    default: 300
  delete_crds:
    description: With O(state=absent), delete the provider's CRDs too (and with them every object of those kinds).
    type: bool
    default: false
notes:
  - Install cert-manager first, with M(capstan.fleet.manifest) and its release manifest, because the
    provider components hold cert-manager Certificates and Issuers.
"""

EXAMPLES = r"""
- name: Core provider from a local repository
  capstan.fleet.capi_provider:
    kubeconfig: ~/.kube/mgmt-prd.yaml
    name: cluster-api
    type: core
    version: v1.10.5
    repository: /srv/capi-providers

- name: A management cluster's release in one task, waiting for all of it at the end
  capstan.fleet.capi_provider:
    repository: /srv/capi-providers
    providers:
      - {name: cluster-api, type: core, version: v1.13.2}
      - {name: kubeadm, type: bootstrap, version: v1.13.2}
      - {name: kubeadm, type: control-plane, version: v1.13.2}
      - {name: openstack, type: infrastructure, version: v0.14.4}
  register: release

- name: OpenStack provider with a mirror registry
  capstan.fleet.capi_provider:
    name: openstack
    type: infrastructure
    version: v0.12.7
    repository: https://artifacts.example.net/capi-providers
    images:
      all:
        repository: registry.example.net/mirror
"""

RETURN = r"""
providers:
  description:
    - With O(providers), one entry per provider, in the order converged, holding the values
      documented below (C(action), C(label), C(version), C(objects), ...).
  returned: with providers
  type: list
  elements: dict
action:
  description: What was (or in check mode would be) done - C(install), C(upgrade), C(delete) or C(none).
  returned: with name
  type: str
label:
  description: The provider's manifest label, such as C(infrastructure-openstack).
  returned: with state present
  type: str
version:
  description: The version now installed.
  returned: with state present
  type: str
previous_version:
  description: The version installed before, if any.
  returned: with state present
  type: str
contract:
  description: The Cluster API contract of the version, from its metadata.yaml.
  returned: with state present
  type: str
namespace:
  description: The namespace the provider runs in.
  returned: with state present
  type: str
images:
  description: The images of the provider's Deployments and DaemonSets, after overrides.
  returned: with state present
  type: list
  elements: str
objects:
  description: The ids of the objects created or changed.
  returned: with name
  type: list
  elements: str
removed:
  description: The ids of the objects deleted (objects of an older version, or the provider with state absent).
  returned: with name
  type: list
  elements: str
"""

import os  # noqa: E402

from ansible_collections.capstan.fleet.plugins.module_utils._capi_provider import (  # noqa: E402
    ClusterctlConfig, Repository, ensure_provider, ensure_providers,
)
from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._manifest import redact  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._kube import (  # noqa: E402
    KUBE_AUTH_ARGSPEC, HAS_URLLIB3, HAS_YAML, URLLIB3_IMPORT_ERROR, YAML_IMPORT_ERROR, KubeClient,
)
from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402

TYPES = ["core", "bootstrap", "control-plane", "infrastructure", "ipam", "runtime-extension", "addon"]


class CapiProvider(FleetModule):
    shared_specs = (KUBE_AUTH_ARGSPEC,)
    argument_spec = dict(
        name=dict(type="str"),
        type=dict(type="str", choices=TYPES),
        version=dict(type="str"),
        providers=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            type=dict(type="str", required=True, choices=TYPES),
            version=dict(type="str"),
            namespace=dict(type="str"),
        )),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        repository=dict(type="str"),
        clusterctl_config=dict(type="path"),
        variables=dict(type="dict", default={}, no_log=True),
        images=dict(type="dict", default={}),
        target_namespace=dict(type="str"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
        delete_crds=dict(type="bool", default=False),
    )
    module_kwargs = dict(
        required_one_of=[("name", "providers")],
        mutually_exclusive=[("name", "providers"), ("version", "providers"), ("target_namespace", "providers")],
        required_together=[("name", "type")],
    )
    required_libs = (("urllib3", HAS_URLLIB3, URLLIB3_IMPORT_ERROR), ("PyYAML", HAS_YAML, YAML_IMPORT_ERROR))

    def run(self):
        p = self.params
        config = ClusterctlConfig(p["clusterctl_config"])
        variables = {k: str(v) for k, v in p["variables"].items()}

        def lookup(name):
            if name in variables:
                return variables[name]
            if name in os.environ:
                return os.environ[name]
            value = config.variables.get(name)
            return None if value is None else str(value)

        images = dict(config.images)
        images.update(p["images"])

        def core_repo_for(core):
            return Repository(p["repository"], core["providerName"], "core", config)

        if p["providers"] is None:
            entries = [dict(name=p["name"], type=p["type"], version=p["version"], namespace=p["target_namespace"])]
        else:
            entries = p["providers"]
        for i, e in enumerate(entries):
            if p["state"] == "present" and not e.get("version"):
                raise FleetError("%s: version is required with state=present" % (
                    "version" if p["providers"] is None else "providers[%d] (%s %s)" % (i, e["type"], e["name"])))
        repos = [(Repository(p["repository"], e["name"], e["type"], config), e["version"], e.get("namespace"))
                 for e in entries]
        client = KubeClient.from_options(p)
        if p["providers"] is None:
            repo, version, namespace = repos[0]
            results = [ensure_provider(client, repo, version, lookup, images, namespace, p["state"], p["wait"],
                                       p["wait_timeout"], self.check_mode, core_repo_for, p["delete_crds"])]
        else:
            results = ensure_providers(client, repos, lookup, images, p["state"], p["wait"], p["wait_timeout"],
                                       self.check_mode, core_repo_for, p["delete_crds"])
        diffs = [d for r in results for d in r.pop("diffs", [])]
        result = results[0] if p["providers"] is None else {
            "changed": any(r["changed"] for r in results), "providers": results}
        if self.diff_mode:
            # provider components may hold credentials in Secrets: their values never reach the diff
            result["diff"] = [{"before_header": r["id"], "after_header": r["id"], "before": redact(r["before"]) or {},
                               "after": redact(r["after"], r["before"]) or {}} for r in diffs]
        return result


def main():
    CapiProvider()()


if __name__ == "__main__":
    main()
