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
  - Applies every object of a bundle (inline data, a multi-document YAML file, or a directory
    of them) to a cluster with server-side apply under the field manager C(capstan.fleet).
  - Namespaces and CustomResourceDefinitions are applied first; each CRD is waited for until it
    is Established before the objects that follow.
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
      - Mutually exclusive with O(src).
    type: raw
  src:
    description:
      - A YAML file with one or more documents, or a directory whose C(.yaml), C(.yml) and
        C(.json) files are read in sorted order.
    type: path
  namespace:
    description: The namespace for namespaced objects that name none.
    type: str
  state:
    description: Whether the objects should exist.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Later releases add pruning, waits and URLs as sources; this release applies and deletes.
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

- name: Apply every manifest of a directory
  capstan.fleet.manifest:
    src: files/cert-manager/
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
      description: The object as the server returned it after apply (the dry-run result in check mode).
      type: dict
changed_objects:
  description: The ids of the objects that changed.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.capstan.fleet.plugins.module_utils._kube import (  # noqa: E402
    KUBE_AUTH_ARGSPEC, HAS_URLLIB3, HAS_YAML, URLLIB3_IMPORT_ERROR, YAML_IMPORT_ERROR, KubeClient,
)
from ansible_collections.capstan.fleet.plugins.module_utils._manifest import converge, load_documents  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402


class Manifest(FleetModule):
    shared_specs = (KUBE_AUTH_ARGSPEC,)
    argument_spec = dict(
        definition=dict(type="raw"),
        src=dict(type="path"),
        namespace=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module_kwargs = dict(mutually_exclusive=[("definition", "src")], required_one_of=[("definition", "src")])
    required_libs = (("urllib3", HAS_URLLIB3, URLLIB3_IMPORT_ERROR), ("PyYAML", HAS_YAML, YAML_IMPORT_ERROR))

    def run(self):
        docs = load_documents(self.params["definition"], self.params["src"])
        client = KubeClient.from_options(self.params)
        results, changed = converge(client, docs, self.params["state"], self.check_mode, self.params["namespace"])
        out = dict(
            changed=changed,
            objects=[{k: r[k] for k in ("id", "origin", "changed", "result")} for r in results],
            changed_objects=[r["id"] for r in results if r["changed"]],
        )
        if self.diff_mode:
            out["diff"] = [
                {"before_header": r["id"], "after_header": r["id"], "before": r["before"] or {}, "after": r["after"] or {}}
                for r in results if r["changed"]
            ]
        return out


def main():
    Manifest()()


if __name__ == "__main__":
    main()
