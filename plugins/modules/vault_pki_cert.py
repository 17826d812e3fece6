#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_pki_cert
short_description: Issue a certificate from a Vault/OpenBao PKI role
version_added: 0.1.0
description:
  - Issues a leaf certificate and its private key from a PKI role.
  - With O(dest), the certificate and key are written to C(<dest>.crt) and C(<dest>.key) (mode 0600),
    and no new certificate is issued while the present one comes from the same issuer, has the
    requested common name and SANs, and has more than O(renew_before) left.
  - Without O(dest), every run issues a new certificate (and reports C(changed)); the result then
    carries the private key and the task's output is censored as with C(no_log).
  - With O(certificates), many certificates from the same role in one task (the components of a
    cluster, a batch of clients), O(workers) requests at a time; each entry decides on its own
    whether it is renewed.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.vault_auth
  - capstan.fleet.attributes
options:
  mount:
    description: Path of the PKI mount.
    type: str
    required: true
  role:
    description: The role to issue from.
    type: str
    required: true
  common_name:
    description: Common name of the certificate; required unless O(certificates) is given.
    type: str
  alt_names:
    description: DNS subject alternative names.
    type: list
    elements: str
    default: []
  ip_sans:
    description: IP subject alternative names.
    type: list
    elements: str
    default: []
  ttl:
    description: Lifetime of the certificate; the role's default when not given.
    type: str
  renew_before:
    description: Issue anew when the present certificate has less than this left (with O(dest)).
    type: str
    default: 24h
  dest:
    description:
      - Path prefix of the files to write, C(<dest>.crt) (certificate followed by the issuing CA)
        and C(<dest>.key) (mode 0600).
    type: path
  certificates:
    description:
      - Many certificates from O(role), each renewed on its own; O(renew_before) applies to each.
        Mutually exclusive with O(common_name), O(dest) and O(secret).
    type: list
    elements: dict
    suboptions:
      common_name:
        description: Common name of the certificate.
        type: str
        required: true
      alt_names:
        description: DNS subject alternative names.
        type: list
        elements: str
        default: []
      ip_sans:
        description: IP subject alternative names.
        type: list
        elements: str
        default: []
      ttl:
        description: Lifetime; the role's default when not given.
        type: str
      dest:
        description:
          - Path prefix of the files C(<dest>.crt) and C(<dest>.key) (0600); without it the
            certificate and key are returned and the task output is censored.
        type: path
  workers:
    description: With O(certificates), how many requests run at the same time.
    type: int
    default: 4
  secret:
    description:
      - A Kubernetes Secret to keep the certificate in, of type C(kubernetes.io/tls) - C(tls.crt)
        (certificate followed by the issuing CA), C(tls.key), C(ca.crt) - as cert-manager writes
        them. The present C(tls.crt) decides whether a new certificate is needed; the key goes
        from Vault to the API server in memory and is never returned.
      - Mutually exclusive with O(dest).
    type: dict
    suboptions:
      name:
        description: Name of the Secret.
        type: str
        required: true
      namespace:
        description: Its namespace.
        type: str
        default: default
      kubeconfig:
        description: Kubeconfig file of the cluster; C(K8S_AUTH_KUBECONFIG), C(KUBECONFIG) or C(~/.kube/config) when not given.
        type: path
      context:
        description: Kubeconfig context.
        type: str
"""

EXAMPLES = r"""
- name: A client certificate for etcd, kept on disk and renewed a week before it expires
  capstan.fleet.vault_pki_cert:
    mount: pki/clusters/lab-a/etcd
    role: etcd-client
    common_name: kube-apiserver-etcd-client
    ttl: 720h
    renew_before: 168h
    dest: /etc/kubernetes/pki/apiserver-etcd-client

- name: A serving certificate kept in a Secret of the management cluster
  capstan.fleet.vault_pki_cert:
    mount: pki/clusters/lab-a/kubernetes
    role: monitoring
    common_name: prometheus
    renew_before: 2h
    secret:
      name: prometheus-client-tls
      namespace: monitoring
      kubeconfig: ~/.kube/mgmt
"""

RETURN = r"""
certificates:
  description:
    - With O(certificates), one entry per certificate, in order - C(common_name), C(changed),
      C(reason), and when issued or found C(certificate), C(serial_number), C(not_after); without
      C(dest) also C(issuing_ca) and C(private_key) (the task output is then censored).
  returned: with certificates
  type: list
  elements: dict
certificate:
  description: The certificate (PEM).
  returned: when a certificate was issued or found
  type: str
issuing_ca:
  description: The issuing CA's certificate (PEM).
  returned: when a certificate was issued
  type: str
private_key:
  description: The private key (PEM); only without O(dest), and the task output is then censored.
  returned: when a certificate was issued without dest
  type: str
serial_number:
  description: Serial number of the certificate.
  returned: when a certificate was issued
  type: str
reason:
  description: Why a certificate was (or in check mode would be) issued.
  returned: always
  type: str
"""

from ansible_collections.capstan.fleet.plugins.module_utils._kube import KubeClient  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._pki import (  # noqa: E402
    CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY, default_issuer, ensure_certificate, ensure_certificates, seconds,
)
from ansible_collections.capstan.fleet.plugins.module_utils._vault import (  # noqa: E402
    HAS_HVAC, HVAC_IMPORT_ERROR, VAULT_AUTH_ARGSPEC, VaultError, vault_client,
)

CERT_ENTRY = dict(
    common_name=dict(type="str", required=True),
    alt_names=dict(type="list", elements="str", default=[]),
    ip_sans=dict(type="list", elements="str", default=[]),
    ttl=dict(type="str"),
    dest=dict(type="path"),
)


class VaultPkiCert(FleetModule):
    shared_specs = (VAULT_AUTH_ARGSPEC,)
    argument_spec = dict(
        mount=dict(type="str", required=True),
        role=dict(type="str", required=True),
        common_name=dict(type="str"),
        alt_names=dict(type="list", elements="str", default=[]),
        ip_sans=dict(type="list", elements="str", default=[]),
        ttl=dict(type="str"),
        renew_before=dict(type="str", default="24h"),
        dest=dict(type="path"),
        certificates=dict(type="list", elements="dict", options=CERT_ENTRY),
        workers=dict(type="int", default=4),
        secret=dict(type="dict", no_log=False, options=dict(
            name=dict(type="str", required=True),
            namespace=dict(type="str", default="default"),
            kubeconfig=dict(type="path", no_log=False),
            context=dict(type="str"),
        )),
    )
    module_kwargs = dict(mutually_exclusive=[("dest", "secret"), ("certificates", "common_name"),
                                             ("certificates", "secret"), ("certificates", "dest")],
                         required_one_of=[("common_name", "certificates")])
    required_libs = (("hvac", HAS_HVAC, HVAC_IMPORT_ERROR), ("cryptography", HAS_CRYPTOGRAPHY, CRYPTOGRAPHY_IMPORT_ERROR))

    def run(self):
        p = self.params
        renew_before = seconds(p["renew_before"], "renew_before")
        if p["workers"] < 1:
            raise VaultError("workers: at least 1, not %d" % p["workers"])
        client = vault_client(p)
        mount = p["mount"].strip("/")
        if p["certificates"] is not None:
            results = ensure_certificates(client, mount, p["role"], p["certificates"], renew_before,
                                          self.check_mode, p["workers"])
            for r in results:
                if r.get("private_key"):
                    self.result_no_log = True
                    self.module.no_log_values.add(r["private_key"])
            return dict(changed=any(r["changed"] for r in results), certificates=results)
        kube = None
        if p["secret"]:
            kube = KubeClient.from_options({"kubeconfig": p["secret"]["kubeconfig"], "context": p["secret"]["context"]})
        spec = {k: p[k] for k in CERT_ENTRY}
        out, before = ensure_certificate(client, mount, p["role"], spec, lambda: default_issuer(client, mount),
                                         renew_before, self.check_mode, kube, p["secret"])
        if out.get("private_key"):
            self.result_no_log = True
        if self.diff_mode:
            after = out.pop("_after", None) or {"common_name": p["common_name"], "issued": "(new)"}
            out["diff"] = {"before": before or {}, "after": after if out["changed"] else (before or {})}
        out.pop("_after", None)
        return out


def main():
    VaultPkiCert()()


if __name__ == "__main__":
    main()
