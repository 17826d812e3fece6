#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_approle
short_description: A Vault/OpenBao AppRole role, with the policies its tokens get
version_added: 0.1.0
description:
  - Creates or updates an AppRole role so that every given parameter matches (parameters not
    given are left as they are), or deletes it. Enables the AppRole auth method at
    O(approle_mount) when it is not there.
  - Returns the role ID, which is not a secret on its own. Secret IDs are not made here - they are
    credentials, and belong to whoever logs in (for example an in-cluster issuer's Secret).
  - The fleet gives each cluster an AppRole whose tokens may use that cluster's PKI mounts only.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.vault_auth
  - capstan.fleet.attributes
options:
  name:
    description: Name of the role.
    type: str
    required: true
  approle_mount:
    description: Path of the AppRole auth method (without C(auth/)).
    type: str
    default: approle
  token_policies:
    description: Policies of the tokens issued at login.
    type: list
    elements: str
  token_ttl:
    description: TTL of those tokens (such as C(1h)).
    type: str
  token_max_ttl:
    description: Maximum TTL of those tokens.
    type: str
  token_bound_cidrs:
    description: Networks the tokens may be used from.
    type: list
    elements: str
  secret_id_ttl:
    description: How long a secret ID lasts (C(0) for no limit).
    type: str
  secret_id_num_uses:
    description: How many logins a secret ID allows (C(0) for no limit).
    type: int
  secret_id_bound_cidrs:
    description: Networks a secret ID may log in from.
    type: list
    elements: str
  state:
    description: Whether the role should exist.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: The AppRole of a tenant cluster's in-cluster issuer
  capstan.fleet.vault_approle:
    name: cluster-demo-vs-1
    token_policies: [cluster-demo-vs-1]
    token_ttl: 20m
    token_max_ttl: 1h
"""

RETURN = r"""
role_id:
  description: The role's ID; not returned in check mode when the role would be created.
  returned: when the role exists
  type: str
role:
  description: The given parameters as they are now (durations in seconds).
  returned: success
  type: dict
"""

from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._vault import (  # noqa: E402
    HAS_HVAC, HVAC_IMPORT_ERROR, VAULT_AUTH_ARGSPEC, ensure_approle, vault_client,
)

PARAMS = ("token_policies", "token_ttl", "token_max_ttl", "token_bound_cidrs", "secret_id_ttl",
          "secret_id_num_uses", "secret_id_bound_cidrs")


class VaultAppRole(FleetModule):
    shared_specs = (VAULT_AUTH_ARGSPEC,)
    argument_spec = dict(
        name=dict(type="str", required=True),
        approle_mount=dict(type="str", default="approle"),
        token_policies=dict(type="list", elements="str", no_log=False),
        token_ttl=dict(type="str", no_log=False),
        token_max_ttl=dict(type="str", no_log=False),
        token_bound_cidrs=dict(type="list", elements="str", no_log=False),
        secret_id_ttl=dict(type="str", no_log=False),
        secret_id_num_uses=dict(type="int", no_log=False),
        secret_id_bound_cidrs=dict(type="list", elements="str", no_log=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    required_libs = (("hvac", HAS_HVAC, HVAC_IMPORT_ERROR),)

    def run(self):
        p = self.params
        client = vault_client(p)
        changed, before, after, role_id = ensure_approle(client, p["approle_mount"], p["name"],
                                                         {k: p[k] for k in PARAMS}, p["state"], self.check_mode)
        out = dict(changed=changed, role=after)
        if role_id:
            out["role_id"] = role_id
        if self.diff_mode:
            header = "auth/%s/role/%s" % (p["approle_mount"].strip("/"), p["name"])
            out["diff"] = {"before": before or {}, "after": after or {}, "before_header": header,
                           "after_header": header}
        return out


def main():
    VaultAppRole()()


if __name__ == "__main__":
    main()
