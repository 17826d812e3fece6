#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_capi_secrets
short_description: Cluster API's four certificate Secrets of a cluster, rendered from Vault/OpenBao KV v2
version_added: 0.1.0
description:
  - Reads the key material of a cluster kept in a KV v2 mount - the Kubernetes, etcd and
    front-proxy CAs exported by M(capstan.fleet.vault_pki_ca) (O(capstan.fleet.vault_pki_ca#module:export_key))
    and the service-account key pair made by M(capstan.fleet.vault_keypair) - and returns the
    Secrets C(<cluster>-ca), C(<cluster>-etcd), C(<cluster>-proxy) and C(<cluster>-sa) in the
    format Cluster API's kubeadm providers read before they would generate their own - data keys
    C(tls.crt) and C(tls.key), the C(cluster.x-k8s.io/cluster-name) label, type C(kubernetes.io/tls).
  - Checks that each private key belongs to its certificate or public key.
  - Writes nothing. The definitions carry private keys, so the task's output is censored as with
    C(no_log) while the registered variable keeps them; apply them with M(capstan.fleet.manifest)
    and O(capstan.fleet.manifest#module:overwrite=false), which creates missing Secrets, leaves
    matching ones alone and refuses to replace a CA that differs.
  - The Secrets are not of type C(cluster.x-k8s.io/secret), which Cluster API treats as its own and
    deletes with the Cluster; removing them is the owner's (the collection's) job.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.vault_auth
  - capstan.fleet.attributes
options:
  cluster:
    description: Name of the Cluster object.
    type: str
    required: true
  cluster_namespace:
    description:
      - Namespace of the Cluster object in the management cluster (O(namespace) is Vault's).
    type: str
    required: true
  kv_mount:
    description: The KV v2 mount.
    type: str
    required: true
  path:
    description:
      - Where the cluster's entries C(ca), C(etcd), C(proxy) and C(sa) are in the mount;
        C(clusters/<cluster>) when not given.
    type: str
notes:
  - Check mode is supported; the module only reads.
"""

EXAMPLES = r"""
- name: Read the cluster's Secrets from Vault
  capstan.fleet.vault_capi_secrets:
    cluster: demo-vs-1
    cluster_namespace: demo
    kv_mount: fleet
  register: capi_secrets

- name: Lay them into the management cluster (never replacing a CA that differs)
  capstan.fleet.manifest:
    kubeconfig: ~/.kube/mgmt
    definition: "{{ capi_secrets.definitions }}"
    overwrite: false
"""

RETURN = r"""
definitions:
  description: The four Secret objects (with private keys; the task output is censored).
  returned: success
  type: list
  elements: dict
certificates:
  description: For C(ca), C(etcd), C(proxy) the certificate's subject, serial and expiry; for each, where in KV it is.
  returned: success
  type: dict
"""

from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._pki import (  # noqa: E402
    CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY, capi_secrets,
)
from ansible_collections.capstan.fleet.plugins.module_utils._vault import (  # noqa: E402
    HAS_HVAC, HVAC_IMPORT_ERROR, VAULT_AUTH_ARGSPEC, vault_client,
)


class VaultCapiSecrets(FleetModule):
    shared_specs = (VAULT_AUTH_ARGSPEC,)
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        cluster_namespace=dict(type="str", required=True),
        kv_mount=dict(type="str", required=True),
        path=dict(type="str"),
    )
    required_libs = (("hvac", HAS_HVAC, HVAC_IMPORT_ERROR), ("cryptography", HAS_CRYPTOGRAPHY, CRYPTOGRAPHY_IMPORT_ERROR))

    def run(self):
        p = self.params
        client = vault_client(p)
        definitions, summary = capi_secrets(client, p["kv_mount"], p["path"] or "clusters/%s" % p["cluster"],
                                            p["cluster"], p["cluster_namespace"])
        self.result_no_log = True
        return dict(changed=False, definitions=definitions, certificates=summary)


def main():
    VaultCapiSecrets()()


if __name__ == "__main__":
    main()
