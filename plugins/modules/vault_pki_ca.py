#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_pki_ca
short_description: A Vault/OpenBao PKI mount with its root certificate authority
version_added: 0.1.0
description:
  - Enables a PKI secrets engine at O(mount) (or tunes its maximum lease TTL) and generates a
    root CA whose private key stays inside Vault, when the mount has no issuer yet.
  - Idempotent by comparing the mount's default issuer with what is asked; a root CA with
    another common name is never replaced in place.
  - Works against HashiCorp Vault and OpenBao alike.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.vault_auth
  - capstan.fleet.attributes
options:
  mount:
    description: Path of the PKI mount, such as C(pki/lab).
    type: str
    required: true
  description:
    description: Description of the mount.
    type: str
  max_lease_ttl:
    description: The mount's maximum lease TTL, which bounds every certificate it issues.
    type: str
    default: 87600h
  common_name:
    description: Common name of the root CA.
    type: str
    required: true
  ttl:
    description: Lifetime of the root CA certificate.
    type: str
    default: 87600h
  key_type:
    description: Key type of the root CA.
    type: str
    choices: [rsa, ec, ed25519]
    default: rsa
  key_bits:
    description: Key size (RSA 2048/3072/4096, EC 256/384/521); the server's default when not given.
    type: int
  issuer_name:
    description: Name of the issuer inside the mount.
    type: str
    default: root
  urls:
    description: Issuing certificate, CRL distribution and OCSP URLs written to C(config/urls).
    type: dict
    suboptions:
      issuing_certificates:
        description: URLs of the issuing CA certificate.
        type: list
        elements: str
      crl_distribution_points:
        description: URLs of the CRL.
        type: list
        elements: str
      ocsp_servers:
        description: URLs of OCSP responders.
        type: list
        elements: str
notes:
  - Intermediate CAs signed by a parent mount and their renewal come with the Vault PKI role of
    the collection.
"""

EXAMPLES = r"""
- name: An organisation root in OpenBao
  capstan.fleet.vault_pki_ca:
    url: https://vault.example.org:8200
    mount: pki/root
    common_name: Example Fleet Root CA
    ttl: 87600h
"""

RETURN = r"""
certificate:
  description: The root CA certificate (PEM); not returned in check mode when it would be created.
  returned: success
  type: str
ca:
  description: Common name, serial number, expiry and issuer of the root CA.
  returned: success
  type: dict
"""

from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._pki import (  # noqa: E402
    CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY, cert_summary, ensure_mount, ensure_root, ensure_urls,
)
from ansible_collections.capstan.fleet.plugins.module_utils._vault import (  # noqa: E402
    HAS_HVAC, HVAC_IMPORT_ERROR, VAULT_AUTH_ARGSPEC, vault_client,
)


class VaultPkiCa(FleetModule):
    shared_specs = (VAULT_AUTH_ARGSPEC,)
    argument_spec = dict(
        mount=dict(type="str", required=True),
        description=dict(type="str"),
        max_lease_ttl=dict(type="str", default="87600h"),
        common_name=dict(type="str", required=True),
        ttl=dict(type="str", default="87600h"),
        key_type=dict(type="str", default="rsa", choices=["rsa", "ec", "ed25519"]),
        key_bits=dict(type="int"),
        issuer_name=dict(type="str", default="root"),
        urls=dict(type="dict", options=dict(
            issuing_certificates=dict(type="list", elements="str"),
            crl_distribution_points=dict(type="list", elements="str"),
            ocsp_servers=dict(type="list", elements="str"),
        )),
    )
    required_libs = (("hvac", HAS_HVAC, HVAC_IMPORT_ERROR), ("cryptography", HAS_CRYPTOGRAPHY, CRYPTOGRAPHY_IMPORT_ERROR))

    def run(self):
        p = self.params
        client = vault_client(p)
        mount = p["mount"].strip("/")
        m_changed, m_before, m_after = ensure_mount(client, mount, p["max_lease_ttl"], p["description"], self.check_mode)
        had_mount = m_before is not None
        urls = {k: v for k, v in (p["urls"] or {}).items() if v is not None} or None
        if not had_mount and self.check_mode:  # nothing inside a mount that does not exist yet
            ca_changed, pem = True, None
            u_changed, u_before, u_after = bool(urls), None, urls
        else:
            ca_changed, pem = ensure_root(client, mount, p["common_name"], p["ttl"], p["key_type"], p["key_bits"],
                                          p["issuer_name"], self.check_mode)
            u_changed, u_before, u_after = ensure_urls(client, mount, urls, self.check_mode)
        out = dict(changed=m_changed or ca_changed or u_changed)
        if pem:
            out["certificate"] = pem
            out["ca"] = cert_summary(pem)
        if self.diff_mode:
            before = {"mount": m_before, "root_ca": None if ca_changed else p["common_name"]}
            after = {"mount": m_after, "root_ca": p["common_name"]}
            if urls:
                before["urls"], after["urls"] = u_before, u_after
            out["diff"] = {"before": before if had_mount else {}, "after": after}
        return out


def main():
    VaultPkiCa()()


if __name__ == "__main__":
    main()
