# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: a tenant cluster's whole PKI in one call, for vault_pki_cluster.

The steps are those of the single-purpose modules, through the same functions: the three
intermediate CAs (``ensure_ca``, keys exported into KV), the service-account key pair
(``ensure_keypair``), the client-certificate roles (``ensure_role``), the cluster's policy
(``ensure_policy``) and AppRole (``ensure_approle``), then Cluster API's four Secrets read from KV
(``capi_secrets``) and laid into the management cluster (``converge``, never replacing a CA
that differs unless asked). One process and one Vault login serve every cluster of a run, so a
cluster that needs nothing costs its API reads and no module start-up.
"""
from __future__ import annotations

import base64

from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError
from ansible_collections.capstan.fleet.plugins.module_utils._kube import KubeClient
from ansible_collections.capstan.fleet.plugins.module_utils._manifest import converge, object_key, redact, secret_values
from ansible_collections.capstan.fleet.plugins.module_utils._pki import (
    CAPI_SECRETS, capi_secrets, ensure_ca, ensure_keypair, ensure_role, role_conflicts,
)
from ansible_collections.capstan.fleet.plugins.module_utils._vault import VaultError, ensure_approle, ensure_policy

# (mount under the cluster's prefix, KV name of its exported key, common name after the cluster's name)
CAS = (("kubernetes", "ca", "kubernetes CA"), ("etcd", "etcd", "etcd CA"), ("front-proxy", "proxy", "front-proxy CA"))
CA_MOUNTS = tuple(m for m, _kv, _cn in CAS)


def prefix_of(entry):
    return "%sclusters/%s" % (entry["mount_prefix"], entry["name"])


def policy_text(entry):
    prefix = prefix_of(entry)
    return "\n".join([
        "# capstan.fleet: what cluster %s may do in Vault" % entry["name"],
        'path "%s/+/issue/*" {' % prefix, '  capabilities = ["create", "update"]', "}",
        'path "%s/+/sign/*" {' % prefix, '  capabilities = ["create", "update"]', "}",
        'path "%s/+/cert/ca" {' % prefix, '  capabilities = ["read"]', "}",
        'path "%s/+/ca/pem" {' % prefix, '  capabilities = ["read"]', "}",
    ]) + "\n"


# a cluster's roles issue client certificates whose organisation is the RBAC group
CLIENT_ROLE = {"allow_any_name": True, "enforce_hostnames": False, "allow_ip_sans": False, "client_flag": True,
               "server_flag": False, "key_type": "rsa", "key_bits": 2048}


def client_role(role):
    return dict(CLIENT_ROLE, organization=role.get("organization") or [], ttl=role.get("ttl"),
                max_ttl=role.get("max_ttl"), no_store=bool(role.get("no_store")))


def check_entry(entry):
    """Input errors of one cluster's entry, found before anything is written; raises naming the role."""
    for i, role in enumerate(entry["roles"] or []):
        conflict = role_conflicts(client_role(role))
        if conflict:
            raise VaultError("roles[%d] (%s on %s): %s" % (i, role["name"], role["mount"], conflict))


def _diff(header, before, after):
    return {"before_header": header, "after_header": header, "before": before or {}, "after": after or {}}


def ensure_cluster(client, entry, check_mode, kube=None, no_log_values=None):
    """Converge one cluster's PKI. ``kube``: a KubeClient of its management cluster (for the Secrets);
    ``no_log_values``: a set that receives the Secrets' values, so the module censors them anywhere.
    Returns (result without secrets, diffs)."""
    name, prefix, kv_mount = entry["name"], prefix_of(entry), entry["kv_mount"]
    kv_path = "clusters/%s" % name
    ca = entry["ca"] or {}
    out = {"name": name, "mounts": ["%s/%s" % (prefix, m) for m in CA_MOUNTS], "cas": []}
    diffs = []
    for mount, kv, cn in CAS:
        full = "%s/%s" % (prefix, mount)
        res = ensure_ca(client, {
            "mount": full, "description": None, "max_lease_ttl": ca.get("ttl"), "common_name": "%s %s" % (name, cn),
            "ttl": ca.get("ttl"), "key_type": ca.get("key_type"), "key_bits": ca.get("key_bits"),
            "issuer_name": mount, "type": "intermediate", "parent_mount": entry["parent_mount"],
            "renew_before": ca.get("renew_before"), "export_key": {"kv_mount": kv_mount, "path": "%s/%s" % (kv_path, kv)},
            "urls": None, "crl": None, "auto_tidy": ca.get("auto_tidy"),
        }, check_mode, True)
        out["cas"].append({"mount": full, "changed": res["changed"], "reason": res["reason"], "ca": res.get("ca")})
        if res["changed"]:
            diffs.append(_diff(full, res["diff"]["before"], res["diff"]["after"]))

    changed, _public, version = ensure_keypair(client, kv_mount, "%s/sa" % kv_path, "rsa", entry["sa_key_bits"], check_mode)
    out["key_pair"] = {"kv": "%s/%s/sa" % (kv_mount, kv_path), "changed": changed, "version": version}
    if changed:
        diffs.append(_diff("%s/%s/sa" % (kv_mount, kv_path), {}, {"key_pair": "%s/%s/sa" % (kv_mount, kv_path)}))

    out["roles"] = []
    for role in entry["roles"] or []:
        mount = "%s/%s" % (prefix, role["mount"])
        changed, before, after = ensure_role(client, mount, role["name"], client_role(role), check_mode)
        out["roles"].append({"mount": mount, "name": role["name"], "changed": changed})
        if changed:
            diffs.append(_diff("%s/roles/%s" % (mount, role["name"]), before, after))

    policy = entry["policy"] or "cluster-%s" % name
    changed, before, after = ensure_policy(client, policy, policy_text(entry), "present", check_mode)
    out["policy"] = {"name": policy, "changed": changed}
    if changed:
        diffs.append(_diff("sys/policies/acl/%s" % policy, {"policy": before} if before else {}, {"policy": after}))

    approle = entry["approle"] or {}
    role_name = approle.get("name") or policy
    wanted = {"token_policies": [policy], "token_ttl": approle.get("token_ttl"),
              "token_max_ttl": approle.get("token_max_ttl")}
    changed, before, after, role_id = ensure_approle(client, approle.get("mount") or "approle", role_name, wanted,
                                                     "present", check_mode)
    out["approle"] = {"name": role_name, "mount": approle.get("mount") or "approle", "changed": changed, "role_id": role_id}
    if changed:
        diffs.append(_diff("auth/%s/role/%s" % (out["approle"]["mount"], role_name), before, after))

    out["secrets"] = _lay_secrets(client, entry, kv_mount, kv_path, check_mode, kube, out, diffs,
                                  no_log_values if no_log_values is not None else set())
    # every change above left a diff; the Secrets in check mode can be due without one (CAs first)
    out["changed"] = bool(diffs) or out["secrets"].get("changed", False)
    return out, diffs


def _lay_secrets(client, entry, kv_mount, kv_path, check_mode, kube, out, diffs, no_log_values):
    capi = entry["capi_secrets"]
    if not capi:
        return {"laid": False, "changed": False}
    if check_mode and any(c["changed"] for c in out["cas"]):
        # an intermediate that would be made is not in KV yet: nothing to read, nothing to compare
        return {"laid": False, "changed": True, "reason": "the cluster's CAs are made first"}
    name, namespace = entry["name"], entry["namespace"]
    live, known = {}, {}
    for suffix in CAPI_SECRETS:
        ref = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "%s-%s" % (name, suffix), "namespace": namespace}}
        try:
            obj = kube.get("v1", "Secret", ref["metadata"]["name"], namespace)
        except FleetError:
            continue  # unreadable here: converge below reads it again and reports it
        live[suffix] = (obj or {}).get("data") or {}
        known[object_key(ref)] = obj  # converge compares with it instead of reading it again

    def laid_already(suffix, crt, key):
        # the exact pair is in the management cluster: it was checked when it was laid
        have = live.get(suffix) or {}
        return have.get("tls.crt") == _b64(crt) and have.get("tls.key") == _b64(key)

    definitions, summary = capi_secrets(client, kv_mount, kv_path, name, namespace, trusted=laid_already)
    docs = [("namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})]
    docs += [("Vault %s/%s" % (kv_mount, kv_path), d) for d in definitions]
    no_log_values.update(secret_values(docs))
    try:
        results, changed = converge(kube, docs, "present", check_mode, overwrite=capi.get("overwrite", False),
                                    known=known)
    except FleetError as e:
        raise FleetError("laying its Cluster API Secrets into the management cluster: %s" % e)
    for r in results:
        if r["changed"]:
            diffs.append(_diff(r["id"], redact(r["before"]), redact(r["after"], r["before"])))
    return {"laid": True, "changed": changed, "certificates": summary,
            "changed_objects": [r["id"] for r in results if r["changed"]]}


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def kube_client(capi, cache):
    """One client per (kubeconfig, context) of a run."""
    key = (capi.get("kubeconfig"), capi.get("context"))
    if key not in cache:
        cache[key] = KubeClient.from_options({"kubeconfig": key[0], "context": key[1], "validate_certs": True,
                                              "request_timeout": 30.0})
    return cache[key]
