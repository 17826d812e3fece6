#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_mount
short_description: A Vault/OpenBao secrets engine (KV v2, PKI, ...) enabled and tuned
version_added: 0.1.0
description:
  - Enables a secrets engine at a path, tunes its description and maximum lease TTL, or disables it.
  - Options that are set when an engine is enabled (such as the KV version) are checked, never
    changed; a mount of another type at the path is an error, not replaced.
  - Two runs enabling the same mount at the same moment (forks) do not fail.
  - The fleet's KV v2 mount, where the keys that Cluster API needs are kept, is made with this
    module; PKI mounts are made by M(capstan.fleet.vault_pki_ca) itself.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.vault_auth
  - capstan.fleet.attributes
options:
  path:
    description: Where the engine is mounted.
    type: str
    required: true
  type:
    description: The engine type, such as C(kv), C(pki), C(transit).
    type: str
    default: kv
  kv_version:
    description: The KV version, for O(type=kv).
    type: int
    choices: [1, 2]
    default: 2
  description:
    description: The mount's description; left as it is when not given.
    type: str
  max_lease_ttl:
    description: The mount's maximum lease TTL (such as C(87600h)); left as it is when not given.
    type: str
  state:
    description:
      - Whether the engine should be mounted. V(absent) disables it, which deletes everything
        stored in it.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: The KV v2 mount where the fleet keeps exported CA keys
  capstan.fleet.vault_mount:
    path: fleet
    description: capstan.fleet key material
"""

RETURN = r"""
mount:
  description: The mount as it is now (in check mode, would be); null when absent.
  returned: success
  type: dict
  sample: {"type": "kv", "options": {"version": "2"}, "description": "", "max_lease_ttl": 0}
"""

from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._vault import (  # noqa: E402
    HAS_HVAC, HVAC_IMPORT_ERROR, VAULT_AUTH_ARGSPEC, ensure_secrets_engine, vault_client,
)


class VaultMount(FleetModule):
    shared_specs = (VAULT_AUTH_ARGSPEC,)
    argument_spec = dict(
        path=dict(type="str", required=True),
        type=dict(type="str", default="kv"),
        kv_version=dict(type="int", default=2, choices=[1, 2]),
        description=dict(type="str"),
        max_lease_ttl=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    required_libs = (("hvac", HAS_HVAC, HVAC_IMPORT_ERROR),)

    def run(self):
        p = self.params
        client = vault_client(p)
        options = {"version": str(p["kv_version"])} if p["type"] == "kv" else None
        changed, before, after = ensure_secrets_engine(client, p["path"], p["type"], options, p["description"],
                                                       p["max_lease_ttl"], p["state"], self.check_mode)
        out = dict(changed=changed, mount=after)
        if self.diff_mode:
            header = "mount %s" % p["path"].strip("/")
            out["diff"] = {"before": before or {}, "after": after or {}, "before_header": header,
                           "after_header": header}
        return out


def main():
    VaultMount()()


if __name__ == "__main__":
    main()
