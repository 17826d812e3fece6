#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vsphere_info
short_description: Read a vCenter's datacenters, clusters, datastores, networks and templates
version_added: 0.1.0
description:
  - Lists the datacenters of a vCenter with what a cluster definition places machines on,
    that is compute clusters, hosts, datastores, networks and VM templates.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.vsphere_auth
  - capstan.fleet.attributes.info_module
options:
  datacenter:
    description: Only this datacenter; fails when it does not exist.
    type: str
"""

EXAMPLES = r"""
- name: What the site's vCenter offers
  capstan.fleet.vsphere_info:
    hostname: vcenter.site-a.example.org
    username: capstan@vsphere.local
    password: "{{ vsphere_password }}"
    datacenter: DC0
  register: vc
"""

RETURN = r"""
datacenters:
  description: One entry per datacenter.
  returned: always
  type: list
  elements: dict
  sample:
    - name: DC0
      clusters: [DC0_C0]
      hosts: [DC0_C0_H0]
      datastores: [LocalDS_0]
      networks: [DC0_DVPG0, VM Network]
      templates: [ubuntu-2404-kube-v1.34]
      vms: 3
"""

from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._vsphere import (  # noqa: E402
    HAS_PYVMOMI, PYVMOMI_IMPORT_ERROR, VSPHERE_AUTH_ARGSPEC, VSphereClient,
)


class VSphereInfo(FleetModule):
    shared_specs = (VSPHERE_AUTH_ARGSPEC,)
    argument_spec = dict(datacenter=dict(type="str"))
    required_libs = (("pyvmomi", HAS_PYVMOMI, PYVMOMI_IMPORT_ERROR),)

    def run(self):
        with VSphereClient(self.params) as vc:
            return dict(changed=False, datacenters=vc.inventory(self.params["datacenter"]))


def main():
    VSphereInfo()()


if __name__ == "__main__":
    main()
