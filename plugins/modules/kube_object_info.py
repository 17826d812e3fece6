#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: kube_object_info
short_description: Read Kubernetes objects
version_added: 0.1.0
description:
  - Reads one object by name, or lists objects of a kind, optionally by namespace and selectors.
  - Secrets are returned only with O(include_secret_data=true), and then the result is C(no_log).
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.kube_auth
  - capstan.fleet.attributes.info_module
options:
  api_version:
    description: The object's apiVersion, such as C(v1) or C(cluster.x-k8s.io/v1beta2).
    type: str
    default: v1
  kind:
    description: The object's kind.
    type: str
    required: true
  name:
    description: The object's name; all objects of the kind when not given.
    type: str
  namespace:
    description: The namespace; all namespaces when not given for a namespaced kind.
    type: str
  label_selector:
    description: A label selector such as C(app=web,tier!=db).
    type: str
  field_selector:
    description: A field selector such as C(status.phase=Running).
    type: str
  include_secret_data:
    description:
      - Return the C(data) of Secrets; the task's output is then censored as with C(no_log),
        while the registered result keeps the data.
      - Without it, each Secret data value is replaced by C(<redacted>).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Read a ConfigMap back
  capstan.fleet.kube_object_info:
    kind: ConfigMap
    name: fleet-info
    namespace: default
  register: cm

- name: List the Deployments of a namespace
  capstan.fleet.kube_object_info:
    api_version: apps/v1
    kind: Deployment
    namespace: capi-system
"""

RETURN = r"""
objects:
  description: The objects found (empty when a named object does not exist).
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.capstan.fleet.plugins.module_utils._kube import (  # noqa: E402
    KUBE_AUTH_ARGSPEC, HAS_URLLIB3, HAS_YAML, URLLIB3_IMPORT_ERROR, YAML_IMPORT_ERROR, KubeClient,
)
from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402


class KubeObjectInfo(FleetModule):
    shared_specs = (KUBE_AUTH_ARGSPEC,)
    argument_spec = dict(
        api_version=dict(type="str", default="v1"),
        kind=dict(type="str", required=True),
        name=dict(type="str"),
        namespace=dict(type="str"),
        label_selector=dict(type="str"),
        field_selector=dict(type="str"),
        include_secret_data=dict(type="bool", default=False),
    )
    required_libs = (("urllib3", HAS_URLLIB3, URLLIB3_IMPORT_ERROR), ("PyYAML", HAS_YAML, YAML_IMPORT_ERROR))

    def run(self):
        p = self.params
        client = KubeClient.from_options(p)
        if p["name"]:
            obj = client.get(p["api_version"], p["kind"], p["name"], p["namespace"])
            objects = [obj] if obj else []
        else:
            objects = client.list(p["api_version"], p["kind"], p["namespace"], p["label_selector"], p["field_selector"])
        if p["kind"] == "Secret" and p["api_version"] == "v1":
            if p["include_secret_data"]:
                self.result_no_log = True
            else:
                for o in objects:
                    for field in ("data", "stringData"):
                        if o.get(field):
                            o[field] = dict.fromkeys(o[field], "<redacted>")
        return dict(changed=False, objects=objects)


def main():
    KubeObjectInfo()()


if __name__ == "__main__":
    main()
