#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_policy
short_description: A Vault/OpenBao ACL policy
version_added: 0.1.0
description:
  - Creates an ACL policy, updates it when its text differs (trailing blanks and blank lines at
    the end do not count), or deletes it.
  - With C(--diff), shows the policy text before and after.
  - The fleet's per-cluster policies (a cluster may use its own PKI mounts and nothing else) are
    written with this module.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.vault_auth
  - capstan.fleet.attributes
options:
  name:
    description: Name of the policy.
    type: str
    required: true
  policy:
    description: The policy in HCL (or JSON); required with O(state=present).
    type: str
  state:
    description: Whether the policy should exist.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: A tenant cluster may issue from its own mounts only
  capstan.fleet.vault_policy:
    name: cluster-demo-vs-1
    policy: |
      path "pki/clusters/demo-vs-1/+/issue/*" {
        capabilities = ["create", "update"]
      }
"""

RETURN = r"""
policy:
  description: The policy text now on the server (in check mode, what would be); null when absent.
  returned: success
  type: str
"""

from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._vault import (  # noqa: E402
    HAS_HVAC, HVAC_IMPORT_ERROR, VAULT_AUTH_ARGSPEC, ensure_policy, vault_client,
)


class VaultPolicy(FleetModule):
    shared_specs = (VAULT_AUTH_ARGSPEC,)
    argument_spec = dict(
        name=dict(type="str", required=True),
        policy=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    module_kwargs = dict(required_if=[("state", "present", ("policy",))])
    required_libs = (("hvac", HAS_HVAC, HVAC_IMPORT_ERROR),)

    def run(self):
        p = self.params
        client = vault_client(p)
        changed, before, after = ensure_policy(client, p["name"], p["policy"], p["state"], self.check_mode)
        out = dict(changed=changed, policy=after)
        if self.diff_mode:
            out["diff"] = {"before": before or "", "after": after or "",
                           "before_header": "policy %s" % p["name"], "after_header": "policy %s" % p["name"]}
        return out


def main():
    VaultPolicy()()


if __name__ == "__main__":
    main()
