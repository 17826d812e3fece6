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

import os  # noqa: E402

from ansible_collections.capstan.fleet.plugins.module_utils._files import write_private  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._kube import KubeClient  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._pki import (  # noqa: E402
    CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY, cert_summary, default_issuer, issue, needs_renewal, put_tls_secret,
    seconds, tls_secret_certificate,
)
from ansible_collections.capstan.fleet.plugins.module_utils._vault import (  # noqa: E402
    HAS_HVAC, HVAC_IMPORT_ERROR, VAULT_AUTH_ARGSPEC, vault_client,
)


class VaultPkiCert(FleetModule):
    shared_specs = (VAULT_AUTH_ARGSPEC,)
    argument_spec = dict(
        mount=dict(type="str", required=True),
        role=dict(type="str", required=True),
        common_name=dict(type="str", required=True),
        alt_names=dict(type="list", elements="str", default=[]),
        ip_sans=dict(type="list", elements="str", default=[]),
        ttl=dict(type="str"),
        renew_before=dict(type="str", default="24h"),
        dest=dict(type="path"),
        secret=dict(type="dict", no_log=False, options=dict(
            name=dict(type="str", required=True),
            namespace=dict(type="str", default="default"),
            kubeconfig=dict(type="path", no_log=False),
            context=dict(type="str"),
        )),
    )
    module_kwargs = dict(mutually_exclusive=[("dest", "secret")])
    required_libs = (("hvac", HAS_HVAC, HVAC_IMPORT_ERROR), ("cryptography", HAS_CRYPTOGRAPHY, CRYPTOGRAPHY_IMPORT_ERROR))

    def run(self):
        p = self.params
        renew_before = seconds(p["renew_before"], "renew_before")
        client = vault_client(p)
        mount = p["mount"].strip("/")
        reason = "no destination is kept: every run issues a certificate"
        before = None
        if p["dest"]:
            crt, key = p["dest"] + ".crt", p["dest"] + ".key"
            if os.path.exists(crt) and os.path.exists(key):
                with open(crt) as f:
                    present = f.read()
                before = cert_summary(present)
                reason = needs_renewal(present, default_issuer(client, mount), p["common_name"], p["alt_names"],
                                       p["ip_sans"], renew_before)
                if reason is None:
                    return dict(changed=False, certificate=present, reason="the present certificate still serves")
            else:
                reason = "%s or %s does not exist" % (crt, key)
        kube = None
        if p["secret"]:
            kube = KubeClient.from_options({"kubeconfig": p["secret"]["kubeconfig"], "context": p["secret"]["context"]})
            present, reason = tls_secret_certificate(kube, p["secret"]["name"], p["secret"]["namespace"])
            if present is not None:
                before = cert_summary(present)
                reason = needs_renewal(present, default_issuer(client, mount), p["common_name"], p["alt_names"],
                                       p["ip_sans"], renew_before)
                if reason is None:
                    return dict(changed=False, certificate=present, reason="the present certificate still serves")
        if self.check_mode:
            out = dict(changed=True, reason=reason)
            if self.diff_mode:
                out["diff"] = {"before": before or {}, "after": {"common_name": p["common_name"], "issued": "(new)"}}
            return out
        data = issue(client, mount, p["role"], p["common_name"], p["alt_names"], p["ip_sans"], p["ttl"])
        out = dict(changed=True, reason=reason, certificate=data["certificate"], issuing_ca=data["issuing_ca"],
                   serial_number=data["serial_number"])
        if p["dest"]:
            write_private(p["dest"] + ".key", data["private_key"])
            write_private(p["dest"] + ".crt", data["certificate"] + "\n" + data["issuing_ca"] + "\n")
        elif kube is not None:
            self.module.no_log_values.add(data["private_key"])
            put_tls_secret(kube, p["secret"]["name"], p["secret"]["namespace"], data)
        else:
            out["private_key"] = data["private_key"]
            self.result_no_log = True
        if self.diff_mode:
            out["diff"] = {"before": before or {}, "after": cert_summary(data["certificate"])}
        return out


def main():
    VaultPkiCert()()


if __name__ == "__main__":
    main()
