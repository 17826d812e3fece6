#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: manifest
short_description: Apply a bundle of Kubernetes objects with server-side apply
version_added: 0.1.0
description:
  - Applies every object of a bundle (inline data, multi-document YAML files, directories of
    them, or HTTP(S) URLs) to a cluster with server-side apply under the field manager
    C(capstan.fleet).
  - Namespaces and CustomResourceDefinitions are applied first; each CRD is waited for until it
    is Established before the objects that follow. The other objects are applied in parallel.
  - With O(applyset), the objects are recorded as members of an ApplySet (the parent-object
    scheme of C(kubectl apply --applyset), with the same labels and annotations), so that with
    O(prune) the objects that an earlier run of the same bundle applied and that are no longer
    in it are deleted.
  - With O(wait), Deployments, StatefulSets and DaemonSets are waited for until rolled out, and
    objects until they meet O(wait_condition).
  - Check mode is a server-side dry run, so the server's defaulting and validation take part.
  - Reports C(changed) only when an object was created, deleted or modified on the server.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.kube_auth
  - capstan.fleet.attributes
options:
  definition:
    description:
      - One object (a dict), a list of objects, or YAML text with one or more documents.
      - May be combined with O(src) - the objects of both are applied together (Namespaces and
        CRDs first, as always), for example upstream files plus the objects that configure them.
    type: raw
  src:
    description:
      - One or more sources, each a YAML file with one or more documents, a directory whose
        C(.yaml), C(.yml) and C(.json) files are read in sorted order (sub-directories
        included), or an C(http://) or C(https://) URL of a YAML file.
    type: list
    elements: str
  src_ca_cert:
    description: CA bundle that verifies HTTPS sources in O(src), for example a site's internal mirror.
    type: path
  namespace:
    description: The namespace for namespaced objects that name none.
    type: str
  state:
    description:
      - Whether the objects should exist.
      - C(absent) with O(applyset) also deletes every member of the ApplySet and its parent.
    type: str
    choices: [present, absent]
    default: present
  applyset:
    description:
      - The ApplySet that records this bundle's objects. Its parent object is created in the
        cluster; every applied object gets the label C(applyset.kubernetes.io/part-of).
      - An ApplySet whose parent carries another tool's C(applyset.kubernetes.io/tooling)
        (kubectl's, for example) is refused.
    type: dict
    suboptions:
      name:
        description: Name of the parent object.
        type: str
        required: true
      namespace:
        description: Namespace of the parent object; it must exist.
        type: str
        default: default
      kind:
        description: Kind of the parent object.
        type: str
        choices: [Secret, ConfigMap]
        default: Secret
  prune:
    description:
      - Delete the members of O(applyset) that are not in this bundle (in check mode, report
        them). CRDs and Namespaces are deleted last.
    type: bool
    default: false
  overwrite:
    description:
      - When false, an object that exists is never changed - it is left alone when it already holds
        every configured value, and the task fails naming the object and the fields (never their
        values) when it does not. Missing objects are still created, so a deleted object is
        repaired by the next run.
      - For objects that must not be replaced behind the owner's back, such as a cluster's CA in
        Cluster API's C(<cluster>-ca) Secret.
    type: bool
    default: true
  return_objects:
    description:
      - Whether RV(objects) carry each object as the server returned it (RV(objects[].result)).
      - V(false) for big bundles whose objects the play does not read (a CNI, Flux's components) -
        the module then returns C(id), C(origin) and C(changed) per object - a megabyte less for
        the controller to take in per run.
    type: bool
    default: true
  wait:
    description:
      - Wait until Deployments, StatefulSets and DaemonSets of the bundle are rolled out (the
        rules of C(kubectl rollout status)) and, with O(wait_condition), until the objects meet
        the condition. With O(state=absent), wait until the objects are gone (their finalizers
        done); the timeout message names those left and their finalizers. Not done in check mode.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait; the failure names every object that is not ready and why.
    type: int
    default: 300
  wait_condition:
    description: A status condition that objects of the bundle must reach when O(wait) is set.
    type: dict
    suboptions:
      type:
        description: The condition type, for example C(Ready) or C(Available).
        type: str
        required: true
      status:
        description: The status the condition must have.
        type: str
        choices: ["True", "False", "Unknown"]
        default: "True"
      reason:
        description: The reason the condition must have, when given.
        type: str
      kind:
        description: Only objects of this kind are waited for; all objects of the bundle when not given.
        type: str
"""

EXAMPLES = r"""
- name: Apply a ConfigMap to the management cluster
  capstan.fleet.manifest:
    kubeconfig: "{{ lookup('ansible.builtin.env', 'KUBECONFIG') }}"
    definition:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: fleet-info
        namespace: default
      data:
        site: lab

- name: Apply every manifest of a directory and wait for its Deployments
  capstan.fleet.manifest:
    src: files/cert-manager/
    wait: true
    wait_timeout: 600

- name: Keep a bundle from the site's mirror in step, deleting what it no longer contains
  capstan.fleet.manifest:
    src: https://mirror.example.internal/bundles/monitoring.yaml
    src_ca_cert: /etc/pki/site-ca.pem
    applyset:
      name: monitoring
      namespace: kube-system
    prune: true

- name: Apply to a tenant cluster through its kubeconfig Secret in the management cluster
  capstan.fleet.manifest:
    kubeconfig: /etc/capstan/mgmt.kubeconfig
    kubeconfig_secret:
      name: demo-vs-1-kubeconfig
      namespace: fleet-demo
    definition: "{{ lookup('ansible.builtin.file', 'cni.yaml') }}"
"""

RETURN = r"""
objects:
  description: One entry per object, in the order applied.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(Kind/namespace/name) of the object.
      type: str
      sample: ConfigMap/default/fleet-info
    origin:
      description: Where the object came from (file and document index, or definition index).
      type: str
    changed:
      description: Whether this object was (or in check mode would be) changed.
      type: bool
    result:
      description:
        - The object as the server returned it after apply (the dry-run result in check mode),
          without C(managedFields). Not returned with O(return_objects=false).
        - The values of a Secret's C(data) and C(stringData) are replaced by C(<redacted>), here
          and in the diff (where a changed value shows as C(<redacted, changed>)). Read them with
          M(capstan.fleet.kube_object_info) and O(capstan.fleet.kube_object_info#module:include_secret_data).
        - The values themselves (and the decoded values of C(data)) are also masked wherever
          Ansible would print them, the module arguments echoed at C(-v) included.
      type: dict
retryable:
  description:
    - On failure, V(true) when waiting may mend it - the API server did not answer (connection
      refused, reset or timed out), kept answering 429 (each 429 is asked again after its
      C(Retry-After) within O(request_timeout), as client-go does), or the O(kubeconfig_secret) does
      not exist yet (a cluster being made). TLS, authorisation and other API errors are not
      retryable. For C(until) loops.
  returned: on failure, when true
  type: bool
changed_objects:
  description: The ids of the objects that changed (pruned ones included).
  returned: always
  type: list
  elements: str
pruned:
  description: The ids of the ApplySet members that were (in check mode, would be) deleted by O(prune).
  returned: always
  type: list
  elements: str
  sample: [ConfigMap/default/old-settings]
"""

from ansible_collections.capstan.fleet.plugins.module_utils._kube import (  # noqa: E402
    KUBE_AUTH_ARGSPEC, HAS_URLLIB3, HAS_YAML, URLLIB3_IMPORT_ERROR, YAML_IMPORT_ERROR, KubeClient,
)
from ansible_collections.capstan.fleet.plugins.module_utils._manifest import (  # noqa: E402
    ApplySet, converge, load_documents, redact, secret_values, wait_gone, wait_ready,
)
from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402


class Manifest(FleetModule):
    shared_specs = (KUBE_AUTH_ARGSPEC,)
    argument_spec = dict(
        definition=dict(type="raw"),
        src=dict(type="list", elements="str"),
        src_ca_cert=dict(type="path"),
        namespace=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        applyset=dict(type="dict", options=dict(
            name=dict(type="str", required=True),
            namespace=dict(type="str", default="default"),
            kind=dict(type="str", default="Secret", choices=["Secret", "ConfigMap"]),
        )),
        prune=dict(type="bool", default=False),
        overwrite=dict(type="bool", default=True),
        return_objects=dict(type="bool", default=True),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
        wait_condition=dict(type="dict", options=dict(
            type=dict(type="str", required=True),
            status=dict(type="str", default="True", choices=["True", "False", "Unknown"]),
            reason=dict(type="str"),
            kind=dict(type="str"),
        )),
    )
    module_kwargs = dict(
        required_one_of=[("definition", "src")],
        required_if=[("prune", True, ("applyset",))],
    )
    required_libs = (("urllib3", HAS_URLLIB3, URLLIB3_IMPORT_ERROR), ("PyYAML", HAS_YAML, YAML_IMPORT_ERROR))

    def run(self):
        p = self.params
        docs = load_documents(p["definition"], p["src"], ca_cert=p["src_ca_cert"])
        self.module.no_log_values.update(secret_values(docs))
        client = KubeClient.from_options(p)
        applyset = ApplySet(p["applyset"]["name"], p["applyset"]["namespace"], p["applyset"]["kind"]) \
            if p["applyset"] else None
        results, changed = converge(client, docs, p["state"], self.check_mode, p["namespace"],
                                    applyset=applyset, prune=p["prune"], overwrite=p["overwrite"])
        if p["wait"] and p["state"] == "present" and not self.check_mode:
            wait_ready(client, [r["object"] for r in results if not r.get("pruned")], p["wait_timeout"],
                       p["wait_condition"])
        if p["wait"] and p["state"] == "absent" and not self.check_mode:
            wait_gone(client, [r["object"] for r in results], p["wait_timeout"])
        out = dict(
            changed=changed,
            objects=[dict({k: r[k] for k in ("id", "origin", "changed")},
                          **({"result": redact(r["result"])} if p["return_objects"] else {}))
                     for r in results if not r.get("pruned")],
            changed_objects=[r["id"] for r in results if r["changed"]],
            pruned=[r["id"] for r in results if r.get("pruned")],
        )
        if self.diff_mode:
            out["diff"] = [
                {"before_header": r["id"], "after_header": r["id"], "before": redact(r["before"]) or {},
                 "after": redact(r["after"], r["before"]) or {}}
                for r in results if r["changed"]
            ]
        return out


def main():
    Manifest()()


if __name__ == "__main__":
    main()
