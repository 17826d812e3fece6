#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_pki_ca
short_description: A Vault/OpenBao PKI mount with its root or intermediate certificate authority
version_added: 0.1.0
description:
  - Enables a PKI secrets engine at O(mount) (or tunes its maximum lease TTL) and gives it a CA
    whose private key stays inside Vault - a root (O(type=root)), or an intermediate signed by
    the default issuer of O(parent_mount) (O(type=intermediate)) - when the mount has none.
  - Idempotent by comparing the mount's default issuer with what is asked; a CA with another
    common name is never replaced in place.
  - An intermediate is made anew (new key, signed again) when its remaining lifetime falls
    under O(renew_before), or when the parent's CA is no longer the one that signed it. The new
    issuer becomes the default and takes O(issuer_name); the previous one stays, renamed with
    its serial number, until it expires, so what it issued keeps verifying.
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
  type:
    description: Whether the mount holds a root CA or an intermediate CA signed by O(parent_mount).
    type: str
    choices: [root, intermediate]
    default: root
  parent_mount:
    description: The PKI mount whose default issuer signs the intermediate; required with O(type=intermediate).
    type: str
  export_key:
    description:
      - With O(type=intermediate), export the intermediate's private key once, when it is made,
        into this KV v2 secret (with the certificate, the parent's certificate and the key id),
        for consumers that need the CA key itself - Cluster API's C(<cluster>-ca) Secrets. The
        key is never returned or logged.
      - The write is check-and-set and happens before the mount takes the new certificate, so a
        run stopped in between is finished by the next one. A present intermediate whose key is
        not in the secret is an error (it cannot be exported again).
    type: dict
    suboptions:
      kv_mount:
        description: The KV v2 mount.
        type: str
        required: true
      path:
        description: The secret's path in the mount.
        type: str
        required: true
  renew_before:
    description:
      - With O(type=intermediate), make a new intermediate when the present one has less than
        this left. C(0s) (the default) never renews on time alone.
    type: str
    default: 0s
  common_name:
    description: Common name of the CA.
    type: str
    required: true
  ttl:
    description: Lifetime of the CA certificate (for an intermediate, asked of the parent, which caps it at its own expiry).
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
    description: Name of the issuer inside the mount; C(root) or C(intermediate) by O(type) when not given.
    type: str
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
  crl:
    description: CRL settings written to C(config/crl); only the given fields are set.
    type: dict
    suboptions:
      expiry:
        description: How long a CRL is valid (such as C(72h)).
        type: str
      disable:
        description: Build no CRL.
        type: bool
      auto_rebuild:
        description: Rebuild the CRL before it expires, instead of on every revocation.
        type: bool
      auto_rebuild_grace_period:
        description: How long before expiry the CRL is rebuilt.
        type: str
  auto_tidy:
    description:
      - Automatic tidying written to C(config/auto-tidy) - expired certificates and revoked
        entries removed from storage; only the given fields are set.
    type: dict
    suboptions:
      enabled:
        description: Tidy automatically.
        type: bool
      interval_duration:
        description: How often (such as C(12h)).
        type: str
      tidy_cert_store:
        description: Remove expired certificates from storage.
        type: bool
      tidy_revoked_certs:
        description: Remove revoked certificates past their expiry.
        type: bool
      safety_buffer:
        description: How long past expiry a certificate is kept (such as C(72h)).
        type: str
"""

EXAMPLES = r"""
- name: An organisation root in OpenBao
  capstan.fleet.vault_pki_ca:
    url: https://vault.example.org:8200
    mount: pki/root
    common_name: Example Fleet Root CA
    ttl: 87600h

- name: A cluster's Kubernetes CA, an intermediate renewed 30 days before it expires
  capstan.fleet.vault_pki_ca:
    mount: pki/clusters/demo-vs-1/kubernetes
    type: intermediate
    parent_mount: pki/root
    common_name: demo-vs-1 kubernetes CA
    ttl: 8760h
    renew_before: 720h
    crl:
      expiry: 72h
      auto_rebuild: true
    auto_tidy:
      enabled: true
      interval_duration: 12h
      tidy_cert_store: true
      tidy_revoked_certs: true
      safety_buffer: 72h
"""

RETURN = r"""
certificate:
  description: The CA certificate (PEM); not returned in check mode when it would be created.
  returned: success
  type: str
ca:
  description: Common name, serial number, expiry and issuer of the CA.
  returned: success
  type: dict
reason:
  description: Why the CA was (or in check mode would be) made, or null when it was left alone.
  returned: success
  type: str
  sample: it expires in 29 days, 23:59:58, within the renewal threshold
"""

from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._pki import (  # noqa: E402
    AUTO_TIDY_OPTIONS, CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY, ensure_ca,
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
        issuer_name=dict(type="str"),
        type=dict(type="str", default="root", choices=["root", "intermediate"]),
        parent_mount=dict(type="str"),
        renew_before=dict(type="str", default="0s"),
        export_key=dict(type="dict", no_log=False, options=dict(
            kv_mount=dict(type="str", required=True),
            path=dict(type="str", required=True),
        )),
        urls=dict(type="dict", options=dict(
            issuing_certificates=dict(type="list", elements="str"),
            crl_distribution_points=dict(type="list", elements="str"),
            ocsp_servers=dict(type="list", elements="str"),
        )),
        crl=dict(type="dict", options=dict(
            expiry=dict(type="str"),
            disable=dict(type="bool"),
            auto_rebuild=dict(type="bool"),
            auto_rebuild_grace_period=dict(type="str"),
        )),
        auto_tidy=dict(type="dict", options=AUTO_TIDY_OPTIONS),
    )
    module_kwargs = dict(required_if=[("type", "intermediate", ("parent_mount",))])
    required_libs = (("hvac", HAS_HVAC, HVAC_IMPORT_ERROR), ("cryptography", HAS_CRYPTOGRAPHY, CRYPTOGRAPHY_IMPORT_ERROR))

    def run(self):
        return ensure_ca(vault_client(self.params), self.params, self.check_mode, self.diff_mode)


def main():
    VaultPkiCa()()


if __name__ == "__main__":
    main()
