#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_pki_cluster
short_description: The whole PKI of one or many tenant clusters in Vault/OpenBao, in one run
version_added: 0.1.0
description:
  - For each entry of O(clusters), converges what the single-purpose modules do one by one, with
    the same code and the same rules, in one process and one Vault login -
    the cluster's three intermediate CAs C(kubernetes), C(etcd) and C(front-proxy) under
    C(<mount_prefix>clusters/<name>/), signed by O(clusters[].parent_mount), their keys exported once into KV v2
    (as M(capstan.fleet.vault_pki_ca) with C(export_key)); the service-account key pair (as
    M(capstan.fleet.vault_keypair)); the client-certificate roles (as M(capstan.fleet.vault_pki_role));
    the cluster's policy, which may issue and sign from its own mounts and read their CAs and
    nothing else (as M(capstan.fleet.vault_policy)); its AppRole with that policy only (as
    M(capstan.fleet.vault_approle)); and, with O(clusters[].capi_secrets), Cluster API's Secrets
    C(<cluster>-ca), C(-etcd), C(-proxy), C(-sa) read from KV and laid into the management cluster (as
    M(capstan.fleet.vault_capi_secrets) and M(capstan.fleet.manifest) with C(overwrite=false)).
  - A cluster that needs nothing costs its API reads and no module start-up, which is why the
    P(capstan.fleet.vault_pki#role) role runs this module once for all hosts of a play.
  - A Secret already in the management cluster that differs from Vault (a CA renewed in Vault) is
    never replaced unless O(clusters[].capi_secrets.overwrite) - a running cluster does not take a
    new CA by itself.
  - With C(--diff), one entry per object that changes, headed by its path or object.
  - In check mode nothing is written; a CA that would be made leaves its cluster's Secrets
    unread (their key material is not in KV yet) and reported as to be laid.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.vault_auth
  - capstan.fleet.attributes
options:
  clusters:
    description: The clusters, one entry each.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The cluster's name (a DNS label); it names its mounts, KV path, policy and Secrets.
        type: str
        required: true
      namespace:
        description: Namespace of the cluster's objects in its management cluster (where the Secrets go).
        type: str
        default: default
      mount_prefix:
        description: The cluster's CAs are mounted at C(<mount_prefix>clusters/<name>/<ca>).
        type: str
        default: pki/
      parent_mount:
        description: The PKI mount whose CA signs the cluster's intermediates (the fleet's root or a site's intermediate).
        type: str
        required: true
      kv_mount:
        description: The KV v2 mount that keeps the key material under C(clusters/<name>/) (C(ca), C(etcd), C(proxy), C(sa)).
        type: str
        default: fleet
      ca:
        description: The intermediates' settings.
        type: dict
        suboptions:
          ttl:
            description: Lifetime of each intermediate (also the mount's maximum lease).
            type: str
            default: 43800h
          renew_before:
            description: An intermediate with less than this left is made anew (its key exported again).
            type: str
            default: 0s
          key_type:
            description: Key type of the intermediates.
            type: str
            choices: [rsa, ec, ed25519]
            default: rsa
          key_bits:
            description: Key size of the intermediates.
            type: int
          auto_tidy:
            description: Auto-tidy of each CA mount (C(config/auto-tidy)), as O(capstan.fleet.vault_pki_ca#module:auto_tidy); only the given fields are set.
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
      sa_key_bits:
        description: Size of the service-account RSA key pair (made once, never replaced).
        type: int
        default: 2048
      roles:
        description:
          - Client-certificate roles on the cluster's mounts (any name, no IP SANs, client flag only,
            RSA 2048); the organisation of a certificate is the Kubernetes group it acts as.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: The role's name.
            type: str
            required: true
          mount:
            description: Which of the cluster's CAs issues from the role.
            type: str
            required: true
            choices: [kubernetes, etcd, front-proxy]
          organization:
            description: Organisation (Kubernetes group) of the issued certificates.
            type: list
            elements: str
            default: []
          ttl:
            description: Default lifetime of issued certificates.
            type: str
          max_ttl:
            description: Maximum lifetime of issued certificates.
            type: str
          no_store:
            description: Whether Vault keeps no copy of issued certificates (short-lived user certificates).
            type: bool
            default: false
      policy:
        description: Name of the cluster's policy; C(cluster-<name>) when not given.
        type: str
      approle:
        description: The cluster's AppRole, whose tokens carry the cluster's policy only.
        type: dict
        suboptions:
          mount:
            description: Path of the AppRole auth method (enabled when missing).
            type: str
            default: approle
          name:
            description: Name of the AppRole; the policy's name when not given.
            type: str
          token_ttl:
            description: Lifetime of its tokens.
            type: str
          token_max_ttl:
            description: Maximum lifetime of its tokens.
            type: str
      capi_secrets:
        description:
          - Lay Cluster API's Secrets into the management cluster reached with this kubeconfig. Not
            given - the Secrets are not laid.
        type: dict
        suboptions:
          kubeconfig:
            description: Path of the management cluster's kubeconfig.
            type: path
            required: true
          context:
            description: Context of the kubeconfig (its current one when not given).
            type: str
          overwrite:
            description: Replace a Secret that differs from Vault (plan a control-plane rollout first).
            type: bool
            default: false
  keep_going:
    description:
      - A cluster that fails (a parent with no CA, a Secret that differs) is reported in its entry
        of RV(clusters) with C(failed) and C(msg), and the others are still converged; the module
        then fails only for what concerns every cluster (Vault unreachable, bad options).
      - When false, the first cluster that fails fails the module with a message naming it.
    type: bool
    default: false
  workers:
    description:
      - How many clusters are converged at once (each cluster's own steps stay in order).
      - Without O(keep_going), the failure reported is that of the first failing cluster in the
        order given; the clusters converged beside it are left converged.
    type: int
    default: 4
notes:
  - Bad role settings (O(clusters[].roles[].ttl) longer than its O(clusters[].roles[].max_ttl)) are refused for every
    cluster before anything is written.
"""

EXAMPLES = r"""
- name: The PKI of two tenant clusters, their Secrets laid into the management cluster
  capstan.fleet.vault_pki_cluster:
    clusters:
      - name: demo-vs-1
        namespace: demo
        parent_mount: pki/fleet-root
        roles:
          - {name: admin, mount: kubernetes, organization: ["kubeadm:cluster-admins"], no_store: true, ttl: 8h}
        capi_secrets:
          kubeconfig: /etc/capstan/lab-mgmt.kubeconfig
      - name: demo-os-1
        namespace: demo
        parent_mount: pki/fleet-root
        capi_secrets:
          kubeconfig: /etc/capstan/lab-mgmt.kubeconfig
  register: pki
"""

RETURN = r"""
clusters:
  description: One entry per cluster, in the order given. No private key or token is returned.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The cluster.
      type: str
    changed:
      description: Whether anything of this cluster changed (or would, in check mode).
      type: bool
    failed:
      description: With O(keep_going), whether this cluster failed; RV(clusters[].msg) says why.
      type: bool
    msg:
      description: With O(keep_going), why the cluster failed.
      type: str
    mounts:
      description: The cluster's CA mounts.
      type: list
      elements: str
    cas:
      description: Per CA, C(mount), C(changed), C(reason) (why it was made, or null) and C(ca) (subject, expiry).
      type: list
      elements: dict
    key_pair:
      description: The service-account key pair - C(kv), C(changed), C(version).
      type: dict
    roles:
      description: Per role, C(mount), C(name), C(changed).
      type: list
      elements: dict
    policy:
      description: C(name), C(changed).
      type: dict
    approle:
      description: C(name), C(mount), C(changed), C(role_id) (not a secret; null in check mode before it exists).
      type: dict
    secrets:
      description: C(laid), C(changed), C(changed_objects), C(certificates) (the CAs' subjects and expiry).
      type: dict
"""

from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from ansible_collections.capstan.fleet.plugins.module_utils._cluster_pki import (  # noqa: E402
    check_entry, ensure_cluster, kube_client,
)
from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._pki import (  # noqa: E402
    AUTO_TIDY_OPTIONS, CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY,
)
from ansible_collections.capstan.fleet.plugins.module_utils._vault import (  # noqa: E402
    HAS_HVAC, HVAC_IMPORT_ERROR, VAULT_AUTH_ARGSPEC, VaultError, vault_client,
)


class VaultPkiCluster(FleetModule):
    shared_specs = (VAULT_AUTH_ARGSPEC,)
    argument_spec = dict(
        clusters=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            namespace=dict(type="str", default="default"),
            mount_prefix=dict(type="str", default="pki/"),
            parent_mount=dict(type="str", required=True),
            kv_mount=dict(type="str", default="fleet"),
            ca=dict(type="dict", apply_defaults=True, options=dict(
                ttl=dict(type="str", default="43800h"),
                renew_before=dict(type="str", default="0s"),
                key_type=dict(type="str", default="rsa", choices=["rsa", "ec", "ed25519"]),
                key_bits=dict(type="int"),
                auto_tidy=dict(type="dict", options=AUTO_TIDY_OPTIONS),
            )),
            sa_key_bits=dict(type="int", default=2048),
            roles=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                mount=dict(type="str", required=True, choices=["kubernetes", "etcd", "front-proxy"]),
                organization=dict(type="list", elements="str", default=[]),
                ttl=dict(type="str"),
                max_ttl=dict(type="str"),
                no_store=dict(type="bool", default=False),
            )),
            policy=dict(type="str"),
            approle=dict(type="dict", apply_defaults=True, options=dict(
                mount=dict(type="str", default="approle"),
                name=dict(type="str"),
                token_ttl=dict(type="str", no_log=False),
                token_max_ttl=dict(type="str", no_log=False),
            )),
            capi_secrets=dict(type="dict", no_log=False, options=dict(
                kubeconfig=dict(type="path", required=True, no_log=False),
                context=dict(type="str"),
                overwrite=dict(type="bool", default=False),
            )),
        )),
        keep_going=dict(type="bool", default=False),
        workers=dict(type="int", default=4),
    )
    required_libs = (("hvac", HAS_HVAC, HVAC_IMPORT_ERROR), ("cryptography", HAS_CRYPTOGRAPHY, CRYPTOGRAPHY_IMPORT_ERROR))

    def run(self):
        p = self.params
        entries = p["clusters"]
        names = [e["name"] for e in entries]
        twice = sorted(set(n for n in names if names.count(n) > 1))
        if twice:
            raise VaultError("clusters: %s given more than once" % ", ".join(twice))
        bad = {}
        for e in entries:
            try:
                check_entry(e)
            except FleetError as err:
                if not p["keep_going"]:
                    raise VaultError("%s: %s" % (e["name"], err))
                bad[e["name"]] = str(err)
        client = vault_client(p)
        kubes = {}
        for e in entries:  # one client per management cluster, made before the workers start
            if e["capi_secrets"] and e["name"] not in bad:
                kube_client(e["capi_secrets"], kubes)

        def one(e):
            if e["name"] in bad:
                return FleetError(bad[e["name"]])
            try:
                kube = kube_client(e["capi_secrets"], kubes) if e["capi_secrets"] else None
                return ensure_cluster(client, e, self.check_mode, kube, self.module.no_log_values)
            except FleetError as err:
                return err

        # the clusters are independent: a few at a time, so a fleet's run waits on the servers
        # rather than on one request after another
        with ThreadPoolExecutor(max_workers=max(1, min(p["workers"], len(entries)))) as pool:
            outcomes = list(pool.map(one, entries))
        results, diffs = [], []
        for e, outcome in zip(entries, outcomes):
            if isinstance(outcome, FleetError):
                if not p["keep_going"]:
                    raise FleetError("%s: %s" % (e["name"], outcome))
                results.append({"name": e["name"], "changed": False, "failed": True, "msg": "%s: %s" % (e["name"], outcome)})
                continue
            res, cdiffs = outcome
            results.append(res)
            diffs += [dict(d, before_header="%s: %s" % (e["name"], d["before_header"]),
                           after_header="%s: %s" % (e["name"], d["after_header"])) for d in cdiffs]
        out = dict(changed=any(r["changed"] for r in results), clusters=results)
        if self.diff_mode:
            out["diff"] = diffs
        return out


def main():
    VaultPkiCluster()()


if __name__ == "__main__":
    main()
