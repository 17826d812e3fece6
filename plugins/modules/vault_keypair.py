#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_keypair
short_description: A key pair generated once and kept in a Vault/OpenBao KV v2 secret
version_added: 0.1.0
description:
  - Generates a private key on the controller, in memory, and writes it with its public key to
    a KV v2 secret (check-and-set, so two runs cannot both write), when the secret holds none.
  - A key pair that exists is never replaced - the service-account signing key of a cluster
    (Cluster API's C(<cluster>-sa)) must not be rotated casually. Only the public key is returned.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.vault_auth
  - capstan.fleet.attributes
options:
  kv_mount:
    description: The KV v2 mount.
    type: str
    required: true
  path:
    description: The secret's path in the mount; it gets the keys C(private_key) and C(public_key).
    type: str
    required: true
  key_type:
    description: Key type.
    type: str
    choices: [rsa, ec]
    default: rsa
  key_bits:
    description: RSA key size, or EC curve size (256, 384, 521).
    type: int
    default: 2048
"""

EXAMPLES = r"""
- name: The service-account key pair of a tenant cluster
  capstan.fleet.vault_keypair:
    kv_mount: fleet
    path: clusters/demo-vs-1/sa
"""

RETURN = r"""
public_key:
  description: The public key (PEM); not returned in check mode when it would be made.
  returned: success
  type: str
version:
  description: The KV version that holds the key pair.
  returned: success
  type: int
"""

from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._pki import (  # noqa: E402
    CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY, ensure_keypair,
)
from ansible_collections.capstan.fleet.plugins.module_utils._vault import (  # noqa: E402
    HAS_HVAC, HVAC_IMPORT_ERROR, VAULT_AUTH_ARGSPEC, vault_client,
)


class VaultKeypair(FleetModule):
    shared_specs = (VAULT_AUTH_ARGSPEC,)
    argument_spec = dict(
        kv_mount=dict(type="str", required=True),
        path=dict(type="str", required=True),
        key_type=dict(type="str", default="rsa", choices=["rsa", "ec"]),
        key_bits=dict(type="int", default=2048),
    )
    required_libs = (("hvac", HAS_HVAC, HVAC_IMPORT_ERROR), ("cryptography", HAS_CRYPTOGRAPHY, CRYPTOGRAPHY_IMPORT_ERROR))

    def run(self):
        p = self.params
        client = vault_client(p)
        changed, public_key, version = ensure_keypair(client, p["kv_mount"], p["path"], p["key_type"], p["key_bits"],
                                                      self.check_mode)
        out = dict(changed=changed, version=version)
        if public_key:
            out["public_key"] = public_key
        if self.diff_mode:
            where = "%s/%s" % (p["kv_mount"], p["path"])
            out["diff"] = {"before": {} if changed else {"key_pair": where},
                           "after": {"key_pair": where}}
        return out


def main():
    VaultKeypair()()


if __name__ == "__main__":
    main()
