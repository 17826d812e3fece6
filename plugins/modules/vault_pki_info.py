#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_pki_info
short_description: Expiry report of Vault/OpenBao PKI mounts - every CA and issued certificate
version_added: 0.1.0
description:
  - Lists the issuers (CAs) of the given PKI mounts and, with O(certificates), the unexpired
    certificates they store, each with its expiry, the time left, and whether it is due for
    renewal (within O(renew_before)). Sorted by time left, soonest first.
  - Returns the rows as data (for JSON) and as aligned text lines (for people).
  - Certificates issued from roles with C(no_store) are not stored by Vault and so not listed;
    track those where they are placed (M(capstan.fleet.vault_pki_cert) renews them there).
  - Mounts that do not exist are reported in RV(missing), not as an error.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.vault_auth
  - capstan.fleet.attributes
options:
  mounts:
    description: The PKI mounts.
    type: list
    elements: str
    required: true
  certificates:
    description: Also list the certificates the mounts store (one read per certificate).
    type: bool
    default: true
  renew_before:
    description: A row is due when it expires within this duration (such as C(720h)).
    type: str
    default: 720h
notes:
  - Check mode is supported; the module only reads.
"""

EXAMPLES = r"""
- name: What expires in the fleet's mounts within 30 days
  capstan.fleet.vault_pki_info:
    mounts: [pki/fleet-root, pki/clusters/demo-vs-1/kubernetes]
    renew_before: 720h
  register: expiry

- name: Show it
  ansible.builtin.debug:
    msg: "{{ expiry.table }}"
"""

RETURN = r"""
report:
  description: One row per CA or certificate.
  returned: success
  type: list
  elements: dict
  sample:
    - {mount: pki/fleet-root, kind: issuer, name: root, common_name: capstan fleet root, serial_number: "1f:0a",
       not_after: "2036-11-21T10:00:00Z", seconds_left: 315360000, due: false, default: true}
table:
  description: The report as text lines (header first).
  returned: success
  type: list
  elements: str
due:
  description: How many rows are due.
  returned: success
  type: int
missing:
  description: The mounts that do not exist.
  returned: success
  type: list
  elements: str
"""

from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._pki import (  # noqa: E402
    CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY, expiry_report, read_mounts, report_table, seconds,
)
from ansible_collections.capstan.fleet.plugins.module_utils._vault import (  # noqa: E402
    HAS_HVAC, HVAC_IMPORT_ERROR, VAULT_AUTH_ARGSPEC, vault_client,
)


class VaultPkiInfo(FleetModule):
    shared_specs = (VAULT_AUTH_ARGSPEC,)
    argument_spec = dict(
        mounts=dict(type="list", elements="str", required=True),
        certificates=dict(type="bool", default=True),
        renew_before=dict(type="str", default="720h"),
    )
    required_libs = (("hvac", HAS_HVAC, HVAC_IMPORT_ERROR), ("cryptography", HAS_CRYPTOGRAPHY, CRYPTOGRAPHY_IMPORT_ERROR))

    def run(self):
        p = self.params
        client = vault_client(p)
        present = read_mounts(client)
        mounts = [m.strip("/") for m in p["mounts"]]
        missing = [m for m in mounts if m + "/" not in present]
        rows = expiry_report(client, [m for m in mounts if m not in missing], p["certificates"],
                             seconds(p["renew_before"], "renew_before"))
        return dict(changed=False, report=rows, table=report_table(rows), due=sum(1 for r in rows if r["due"]),
                    missing=missing)


def main():
    VaultPkiInfo()()


if __name__ == "__main__":
    main()
