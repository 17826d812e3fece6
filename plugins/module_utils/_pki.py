# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: Vault PKI mounts, CAs, roles and issue/renew decisions."""
from __future__ import annotations

import datetime

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.x509.oid import NameOID

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as e:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = e

from ansible_collections.capstan.fleet.plugins.module_utils._vault import (  # noqa: F401 (seconds: used by modules)
    VaultError, call, ensure_fields, ensure_secrets_engine, kv_read, kv_write, list_keys, seconds,
)


def read_mounts(client):
    return call("listing secrets engines", client.sys.list_mounted_secrets_engines)["data"]


def ensure_mount(client, path, max_lease_ttl, description, check_mode):
    """Enable a PKI mount or tune it; return (changed, before, after)."""
    return ensure_secrets_engine(client, path, "pki", None, description, max_lease_ttl, "present", check_mode)


def load_cert(pem):
    return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)


def cert_summary(pem):
    c = load_cert(pem)
    cn = c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return {
        "common_name": cn[0].value if cn else None,
        # as Vault writes it: the minimal big-endian bytes (a leading 0x0a stays "0a")
        "serial_number": ":".join("%02x" % b for b in c.serial_number.to_bytes(
            max(1, (c.serial_number.bit_length() + 7) // 8), "big")),
        "not_after": c.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "issuer": c.issuer.rfc4514_string(),
    }


def default_issuer(client, mount):
    """The mount's default issuer's certificate PEM, or None when it has none."""
    try:
        resp = client.adapter.get("/v1/%s/issuer/default/json" % mount.strip("/"))
    except Exception as e:  # hvac raises InvalidRequest/InvalidPath for a mount without issuers
        if "no default issuer" in str(e) or "unable to find" in str(e) or "not found" in str(e).lower():
            return None
        raise VaultError("reading the default issuer of %s: %s" % (mount, str(e).split(", on ", maxsplit=1)[0]))
    cert = (resp or {}).get("data", {}).get("certificate")
    return cert or None


def ensure_root(client, mount, pem, common_name, ttl, key_type, key_bits, issuer_name, check_mode):
    """Generate an internal root CA when the mount has none (``pem``: its present default issuer);
    return (changed, ca_pem or None)."""
    if pem is not None:
        existing = cert_summary(pem)["common_name"]
        if existing != common_name:
            raise VaultError(
                "mount %s already has a root CA with common name %r, not %r; a root is never replaced "
                "in place (use another mount)" % (mount, existing, common_name)
            )
        return False, pem
    if check_mode:
        return True, None
    body = {"common_name": common_name, "ttl": "%ds" % seconds(ttl), "key_type": key_type, "issuer_name": issuer_name}
    if key_bits:
        body["key_bits"] = key_bits
    resp = call("generating the root CA of %s" % mount, client.adapter.post,
                "/v1/%s/root/generate/internal" % mount.strip("/"), json=body)
    return True, resp["data"]["certificate"]


def _signed_by(cert_pem, ca_pem):
    try:
        load_cert(cert_pem).verify_directly_issued_by(load_cert(ca_pem))
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def intermediate_status(pem, parent_pem, common_name, renew_before):
    """Why the mount's intermediate must be (re)made, or None when it still serves."""
    if pem is None:
        return "the mount has no CA yet"
    existing = cert_summary(pem)["common_name"]
    if existing != common_name:
        raise VaultError("the mount's CA has common name %r, not %r; an issuer is never renamed in place "
                         "(use another mount)" % (existing, common_name))
    if parent_pem is not None and not _signed_by(pem, parent_pem):
        return "the parent mount's CA is not the one that signed it"
    left = load_cert(pem).not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    if left.total_seconds() < (renew_before or 0):
        return "it expires in %s, within the renewal threshold" % str(left).split(".", maxsplit=1)[0]
    return None


def _patch_issuer(client, mount, issuer_id, fields):
    """PATCH an issuer (hvac has no method for it; a POST would reset the fields it does not name)."""
    call("updating issuer %s of %s" % (issuer_id, mount), client.adapter.request, "PATCH",
         "/v1/%s/issuer/%s" % (mount, issuer_id), json=fields,
         headers={"Content-Type": "application/merge-patch+json"})


def _same_pem(a, b):
    return (a or "").strip() == (b or "").strip()


def _exported_key_state(client, mount, export, pem, parent_pem):
    """Where the exported key of the mount's intermediate stands in KV: (data, version, problem)."""
    data, version = kv_read(client, export["kv_mount"], export["path"])
    where = "%s/%s" % (export["kv_mount"].strip("/"), export["path"].strip("/"))
    if pem is None:
        return data, version, None
    if data is None:
        return data, version, ("the key of the intermediate of %s is not in %s (it is exported once, when the "
                               "intermediate is made); put it back there, or make a new intermediate by setting "
                               "renew_before to its whole lifetime" % (mount, where))
    if not _same_pem(data.get("certificate"), pem):
        kv_cert = data.get("certificate") or ""
        if kv_cert and parent_pem and _signed_by(kv_cert, parent_pem) and \
                load_cert(kv_cert).not_valid_before_utc >= load_cert(pem).not_valid_before_utc:
            return data, version, "finish"  # a run stopped between writing KV and set-signed
        return data, version, "%s holds another certificate than the intermediate of %s" % (where, mount)
    return data, version, None


def _set_signed(client, mount, certificate, issuer_name, old_pem):
    imported = call("setting the signed intermediate of %s" % mount, client.adapter.post,
                    "/v1/%s/intermediate/set-signed" % mount, json={"certificate": certificate})["data"]
    new_ids = imported.get("imported_issuers") or []
    if not new_ids:  # already imported (a finished run repeated): find it among the issuers
        for issuer_id in call("listing the issuers of %s" % mount, client.adapter.list,
                              "/v1/%s/issuers" % mount)["data"]["keys"]:
            cert = call("reading issuer %s of %s" % (issuer_id, mount), client.adapter.get,
                        "/v1/%s/issuer/%s" % (mount, issuer_id))["data"]["certificate"]
            if _same_pem(cert, certificate):
                new_ids = [issuer_id]
        if not new_ids:
            raise VaultError("%s did not import the signed intermediate as an issuer" % mount)
    if old_pem is not None:
        old = call("reading the default issuer of %s" % mount, client.adapter.get,
                   "/v1/%s/issuer/default" % mount)["data"]
        if old.get("issuer_name") == issuer_name and old["issuer_id"] != new_ids[0]:
            _patch_issuer(client, mount, old["issuer_id"], {
                "issuer_name": "%s-%s" % (issuer_name, cert_summary(old_pem)["serial_number"].replace(":", "")[:16])})
    _patch_issuer(client, mount, new_ids[0], {"issuer_name": issuer_name})
    call("making the new issuer the default of %s" % mount, client.adapter.post, "/v1/%s/config/issuers" % mount,
         json={"default": new_ids[0]})


def ensure_intermediate(client, mount, pem, parent, common_name, ttl, key_type, key_bits, issuer_name,
                        renew_before, check_mode, export=None):
    """An intermediate CA signed by the parent mount's default issuer.

    Made when the mount has none; made anew (a new key, signed again) when the present one is
    within ``renew_before`` of its expiry or was signed by another parent CA. The new issuer
    becomes the default and takes ``issuer_name``; the old one stays (renamed with its serial)
    until it expires, so certificates it issued keep verifying.

    The key stays inside Vault, unless ``export`` ({kv_mount, path}) asks for it: then it is
    exported once, when the intermediate is made, and written with the certificate to that KV v2
    secret (check-and-set, before the mount takes the certificate, so that a run stopped half-way
    is finished by the next) - never returned. ``pem`` is the mount's present default issuer.
    Returns (reason or None, pem).
    """
    mount, parent = mount.strip("/"), parent.strip("/")
    parent_pem = default_issuer(client, parent)
    if parent_pem is None and not check_mode:  # in check mode an earlier task may be about to make it
        raise VaultError("parent mount %s has no CA to sign the intermediate of %s" % (parent, mount))
    reason = intermediate_status(pem, parent_pem, common_name, seconds(renew_before, "renew_before"))
    kv_version = 0
    if export is not None:
        kv_data, kv_version, problem = _exported_key_state(client, mount, export, pem, parent_pem)
        if problem == "finish":
            if not check_mode:
                _set_signed(client, mount, kv_data["certificate"], issuer_name, pem)
            return "a previous run stored the new intermediate in KV but did not finish", kv_data["certificate"]
        if problem is not None and reason is None:
            raise VaultError(problem)  # with a reason to renew, the renewal writes KV anew
    if reason is None or check_mode:
        return reason, pem
    body = {"common_name": common_name, "key_type": key_type}
    if key_bits:
        body["key_bits"] = key_bits
    kind = "exported" if export is not None else "internal"
    generated = call("generating the intermediate key and CSR of %s" % mount, client.adapter.post,
                     "/v1/%s/intermediate/generate/%s" % (mount, kind), json=body)["data"]
    signed = call("signing the intermediate of %s with %s" % (mount, parent), client.adapter.post,
                  "/v1/%s/root/sign-intermediate" % parent,
                  json={"csr": generated["csr"], "common_name": common_name, "ttl": "%ds" % seconds(ttl),
                        "format": "pem"})["data"]
    if export is not None:
        kv_write(client, export["kv_mount"], export["path"], {
            "certificate": signed["certificate"], "private_key": generated["private_key"],
            "issuing_ca": parent_pem, "key_id": generated.get("key_id", "")}, kv_version)
    _set_signed(client, mount, signed["certificate"], issuer_name, pem)
    return reason, signed["certificate"]


def ensure_config(client, mount, endpoint, wanted, durations, check_mode):
    """Set the given fields of a mount's ``config/<endpoint>`` (urls, crl, auto-tidy). hvac has no
    method for crl or auto-tidy; the HTTP API is called through its adapter. Returns (changed,
    before, after); (False, None, None) without ``wanted``."""
    if not wanted:
        return False, None, None
    path = "/v1/%s/config/%s" % (mount.strip("/"), endpoint)
    return ensure_fields(client, path, "config/%s of %s" % (endpoint, mount), wanted, durations, check_mode,
                         current=call("reading config/%s of %s" % (endpoint, mount), client.adapter.get, path)["data"])


ROLE_DURATIONS = ("ttl", "max_ttl", "not_before_duration")


def ensure_ca(client, p, check_mode, diff_mode):
    """A root or intermediate CA in its own mount, as vault_pki_ca describes: the mount, the CA
    (made, or renewed when due), and its URL/CRL/auto-tidy settings. ``p`` holds the module's options.
    Returns the module's result (changed, reason, certificate, ca, and diff when ``diff_mode``)."""
    mount = p["mount"].strip("/")
    m_changed, m_before, m_after = ensure_mount(client, mount, p["max_lease_ttl"], p["description"], check_mode)
    had_mount = m_before is not None
    urls = {k: v for k, v in (p["urls"] or {}).items() if v is not None} or None
    settings = [("urls", urls, ()),
                ("crl", {k: v for k, v in (p["crl"] or {}).items() if v is not None} or None,
                 ("expiry", "auto_rebuild_grace_period")),
                ("auto-tidy", {k: v for k, v in (p["auto_tidy"] or {}).items() if v is not None} or None,
                 ("interval_duration", "safety_buffer"))]
    if p["export_key"] and p["type"] != "intermediate":
        raise VaultError("export_key: only the key of an intermediate (type=intermediate) is exported")
    issuer_name = p["issuer_name"] or p["type"]
    old_pem = default_issuer(client, mount) if had_mount else None
    if not had_mount and check_mode:  # nothing inside a mount that does not exist yet
        reason, pem = "the mount has no CA yet", None
        configs = [(name, bool(wanted), None, wanted) for name, wanted, _d in settings]
    else:
        if p["type"] == "root":
            ca_changed, pem = ensure_root(client, mount, old_pem, p["common_name"], p["ttl"], p["key_type"], p["key_bits"],
                                          issuer_name, check_mode)
            reason = "the mount has no CA yet" if ca_changed else None
        else:
            reason, pem = ensure_intermediate(client, mount, old_pem, p["parent_mount"], p["common_name"], p["ttl"],
                                              p["key_type"], p["key_bits"], issuer_name, p["renew_before"],
                                              check_mode, p["export_key"])
        configs = [(name,) + ensure_config(client, mount, name, wanted, durations, check_mode)
                   for name, wanted, durations in settings]
    ca_changed = reason is not None
    out = dict(changed=m_changed or ca_changed or any(c[1] for c in configs), reason=reason)
    if pem and not (check_mode and ca_changed and p["type"] == "intermediate"):
        out["certificate"] = pem
        out["ca"] = cert_summary(pem)
    if diff_mode:
        key = "%s_ca" % p["type"]
        before = {"mount": m_before, key: cert_summary(old_pem) if old_pem else None}
        if not ca_changed:
            after_ca = before[key]
        elif pem and not check_mode:
            after_ca = dict(cert_summary(pem), reason=reason)
        else:
            after_ca = {"common_name": p["common_name"], "reason": reason}
        after = {"mount": m_after, key: after_ca}
        for name, _changed, c_before, c_after in configs:
            if c_after is not None:
                before[name.replace("-", "_")], after[name.replace("-", "_")] = c_before, c_after
        out["diff"] = {"before": before if had_mount else {}, "after": after}
    return out


# a PKI mount's config/auto-tidy parameters the modules manage (vault_pki_ca, vault_pki_cluster)
AUTO_TIDY_OPTIONS = dict(
    enabled=dict(type="bool"),
    interval_duration=dict(type="str"),
    tidy_cert_store=dict(type="bool"),
    tidy_revoked_certs=dict(type="bool"),
    safety_buffer=dict(type="str"),
)

# the PKI role parameters the modules manage (vault_pki_role, vault_pki_cluster)
ROLE_OPTIONS = dict(
    ttl=dict(type="str"),
    max_ttl=dict(type="str"),
    key_type=dict(type="str", choices=["rsa", "ec", "ed25519", "any"]),
    key_bits=dict(type="int"),
    allowed_domains=dict(type="list", elements="str"),
    allow_subdomains=dict(type="bool"),
    allow_bare_domains=dict(type="bool"),
    allow_any_name=dict(type="bool"),
    allow_localhost=dict(type="bool"),
    allow_ip_sans=dict(type="bool"),
    enforce_hostnames=dict(type="bool"),
    server_flag=dict(type="bool"),
    client_flag=dict(type="bool"),
    organization=dict(type="list", elements="str"),
    ou=dict(type="list", elements="str"),
    no_store=dict(type="bool"),
    require_cn=dict(type="bool"),
)


def role_conflicts(wanted):
    """Role parameters that contradict each other, as one message naming them; None when none do."""
    problems = []
    ttl, max_ttl = seconds(wanted.get("ttl"), "ttl"), seconds(wanted.get("max_ttl"), "max_ttl")
    if ttl and max_ttl and ttl > max_ttl:
        problems.append("ttl (%s) is longer than max_ttl (%s)" % (wanted["ttl"], wanted["max_ttl"]))
    if wanted.get("allow_any_name") and wanted.get("allowed_domains"):
        problems.append("allow_any_name=true ignores allowed_domains; give one of them")
    if wanted.get("server_flag") is False and wanted.get("client_flag") is False:
        problems.append("server_flag=false and client_flag=false make certificates that serve no TLS use")
    if wanted.get("key_type") == "ec" and wanted.get("key_bits") not in (None, 0, 224, 256, 384, 521):
        problems.append("key_bits=%s is not an EC curve size (224, 256, 384, 521)" % wanted["key_bits"])
    if wanted.get("key_type") == "rsa" and wanted.get("key_bits") not in (None, 0, 2048, 3072, 4096, 8192):
        problems.append("key_bits=%s is not an RSA size Vault accepts (2048, 3072, 4096, 8192)" % wanted["key_bits"])
    return "; ".join(problems) or None


def ensure_role(client, mount, name, wanted, check_mode):
    """Create or update a PKI role so that every given parameter matches; return (changed, before, after).
    A POST to a PKI role resets what it does not name, so the present parameters are sent along."""
    return ensure_fields(client, "/v1/%s/roles/%s" % (mount.strip("/"), name), "role %s on %s" % (name, mount),
                         wanted, ROLE_DURATIONS, check_mode, merge=True)


def needs_renewal(cert_pem, ca_pem, common_name, alt_names, ip_sans, renew_before):
    """Why a certificate must be (re)issued, or None when the present one still serves."""
    try:
        cert = load_cert(cert_pem)
    except ValueError:
        return "the present certificate is not valid PEM"
    if ca_pem and not _signed_by(cert_pem, ca_pem):  # the signature, not the name: a re-keyed CA keeps its name
        return "the present certificate comes from another issuer"
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cn or cn[0].value != common_name:
        return "the common name differs"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = set(san.get_values_for_type(x509.DNSName))
        ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
    except x509.ExtensionNotFound:
        dns, ips = set(), set()
    # Vault copies the common name into the DNS names unless the request excludes it
    if dns - {common_name} != set(alt_names or []) - {common_name} or set(ip_sans or []) != ips:
        return "the subject alternative names differ"
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    if left.total_seconds() < renew_before:
        return "it expires in %s, within the renewal threshold" % str(left).split(".", maxsplit=1)[0]
    return None


def issue(client, mount, role, common_name, alt_names=(), ip_sans=(), ttl=None):
    """Issue a certificate from a role; the response data (certificate, issuing_ca, private_key, ...)."""
    mount = mount.strip("/")
    body = {"common_name": common_name}
    if alt_names:
        body["alt_names"] = ",".join(alt_names)
    if ip_sans:
        body["ip_sans"] = ",".join(ip_sans)
    if ttl:
        body["ttl"] = "%ds" % seconds(ttl)
    return call("issuing from %s/roles/%s" % (mount, role), client.adapter.post,
                "/v1/%s/issue/%s" % (mount, role), json=body)["data"]


def cert_organizations(pem):
    return sorted(a.value for a in load_cert(pem).subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))


def role_organizations(client, mount, role):
    data = call("reading role %s on %s" % (role, mount), client.adapter.get,
                "/v1/%s/roles/%s" % (mount.strip("/"), role))["data"]
    return sorted(data.get("organization") or [])


def ensure_keypair(client, kv_mount, path, key_type, key_bits, check_mode):
    """A key pair made once, in memory, into a KV v2 secret; never replaced.
    Returns (changed, public key PEM or None, version)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    data, version = kv_read(client, kv_mount, path)
    if data is not None:
        if not data.get("private_key") or not data.get("public_key"):
            raise VaultError("%s/%s exists but holds no private_key and public_key" % (kv_mount, path))
        return False, data["public_key"], version
    if check_mode:
        return True, None, version
    if key_type == "rsa":
        if key_bits < 2048:
            raise VaultError("key_bits: an RSA key needs at least 2048 bits, not %d" % key_bits)
        key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    else:
        curves = {256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}
        if key_bits not in curves:
            raise VaultError("key_bits: an EC key is 256, 384 or 521 bits, not %d" % key_bits)
        key = ec.generate_private_key(curves[key_bits]())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL
                                if key_type == "rsa" else serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    resp = kv_write(client, kv_mount, path, {"private_key": private, "public_key": public}, version)
    return True, public, (resp or {}).get("data", {}).get("version", version + 1)


# ---- Cluster API's certificate Secrets ------------------------------------------------------
# What kubeadm's control-plane provider reads before it generates its own (cluster-api
# util/secret, "Using Custom Certificates"): <cluster>-ca, -etcd, -proxy with the CA's
# certificate and key, <cluster>-sa with the service-account public and private key (PEM), each
# with tls.crt/tls.key and the cluster-name label. Type kubernetes.io/tls, not
# cluster.x-k8s.io/secret: Cluster API garbage-collects the latter with the Cluster as its own.
CAPI_SECRETS = ("ca", "etcd", "proxy", "sa")
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"


def _public_key_pem(key_pem, what):
    from cryptography.hazmat.primitives import serialization
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise VaultError("%s: private_key is not a PEM private key" % what)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def capi_secrets(client, kv_mount, path, cluster, namespace, trusted=None):
    """The four Secrets from the key material kept in KV v2 under ``path`` (ca, etcd, proxy, sa).
    Each private key is checked against its certificate (public key) - loading an RSA key with
    its consistency checks costs tens of milliseconds - except for the names ``trusted(name,
    certificate, key)`` accepts (the caller saw that exact pair already laid, so checked before).
    Returns (definitions, summary); the summary holds no secret."""
    import base64
    from cryptography.hazmat.primitives import serialization

    definitions, summary = [], {}
    for name in CAPI_SECRETS:
        where = "%s/%s/%s" % (kv_mount.strip("/"), path.strip("/"), name)
        data, _version = kv_read(client, kv_mount, "%s/%s" % (path.strip("/"), name))
        if data is None:
            raise VaultError("%s does not exist: the key material of %s-%s is made by vault_pki_ca with export_key "
                             "(ca, etcd, proxy) or vault_keypair (sa) before the Secrets" % (where, cluster, name))
        crt = data.get("public_key" if name == "sa" else "certificate")
        key = data.get("private_key")
        if not crt or not key:
            raise VaultError("%s holds no %s and private_key" % (where, "public_key" if name == "sa" else "certificate"))
        if name == "sa":
            summary[name] = {"kv": where}
        else:
            summary[name] = dict(cert_summary(crt), kv=where)
        if not (trusted and trusted(name, crt, key)):
            public = _public_key_pem(key, where)
            if name == "sa":
                matches = public.strip() == crt.strip()
            else:
                matches = public.strip() == load_cert(crt).public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode().strip()
            if not matches:
                what = "public_key" if name == "sa" else "certificate"
                raise VaultError("%s: private_key does not belong to its %s" % (where, what))
        definitions.append({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "%s-%s" % (cluster, name), "namespace": namespace,
                         "labels": {CLUSTER_NAME_LABEL: cluster}},
            "data": {"tls.crt": base64.b64encode(crt.encode()).decode(),
                     "tls.key": base64.b64encode(key.encode()).decode()},
        })
    return definitions, summary


# ---- leaf certificates --------------------------------------------------------------------------
def _present(spec, kube, secret):
    """(present certificate PEM or None, reason when there is none) where ``spec`` keeps it."""
    import os

    if spec.get("dest"):
        crt, key = spec["dest"] + ".crt", spec["dest"] + ".key"
        if os.path.exists(crt) and os.path.exists(key):
            with open(crt) as f:
                return f.read(), None
        return None, "%s or %s does not exist" % (crt, key)
    if secret:
        return tls_secret_certificate(kube, secret["name"], secret["namespace"])
    return None, "no destination is kept: every run issues a certificate"


def ensure_certificate(client, mount, role, spec, issuer_pem, renew_before, check_mode, kube=None, secret=None):
    """Issue a certificate unless the present one (at ``spec['dest']`` or in ``secret``) still
    serves; place it there. ``issuer_pem`` is a callable (read once, only when needed).
    Returns (result, summary of the present certificate or None); the result carries the
    private key only when there is no place to keep it."""
    from ansible_collections.capstan.fleet.plugins.module_utils._files import write_private

    present, reason = _present(spec, kube, secret)
    before = None
    if present is not None:
        before = cert_summary(present)
        reason = needs_renewal(present, issuer_pem(), spec["common_name"], spec.get("alt_names") or [],
                               spec.get("ip_sans") or [], renew_before)
        if reason is None:
            return dict(changed=False, certificate=present, reason="the present certificate still serves"), before
    if check_mode:
        return dict(changed=True, reason=reason), before
    data = issue(client, mount, role, spec["common_name"], spec.get("alt_names") or [], spec.get("ip_sans") or [],
                 spec.get("ttl"))
    out = dict(changed=True, reason=reason, certificate=data["certificate"], issuing_ca=data["issuing_ca"],
               serial_number=data["serial_number"], _after=cert_summary(data["certificate"]))
    if spec.get("dest"):
        write_private(spec["dest"] + ".key", data["private_key"])
        write_private(spec["dest"] + ".crt", data["certificate"] + "\n" + data["issuing_ca"] + "\n")
    elif secret:
        put_tls_secret(kube, secret["name"], secret["namespace"], data)
    else:
        out["private_key"] = data["private_key"]
    return out, before


def ensure_certificates(client, mount, role, specs, renew_before, check_mode, workers):
    """ensure_certificate for many entries, ``workers`` at a time; results in order. The mount's
    issuer is read once. The first failure (in order) is raised, naming its entry."""
    from concurrent.futures import ThreadPoolExecutor
    import threading

    lock, cache = threading.Lock(), []

    def issuer():
        with lock:
            if not cache:
                cache.append(default_issuer(client, mount))
            return cache[0]

    def one(index, spec):
        try:
            out, _before = ensure_certificate(client, mount, role, spec, issuer, renew_before, check_mode)
        except VaultError as e:
            return None, VaultError("certificates[%d] (%s): %s" % (index, spec["common_name"], e))
        after = out.pop("_after", None)
        out["common_name"] = spec["common_name"]
        if after:
            out["not_after"] = after["not_after"]
        return out, None

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(specs) or 1))) as pool:
        outcomes = list(pool.map(lambda item: one(*item), enumerate(specs)))
    errors = [e for _o, e in outcomes if e is not None]
    if errors:
        more = " (and %d more failed)" % (len(errors) - 1) if len(errors) > 1 else ""
        raise VaultError(str(errors[0]) + more)
    return [o for o, _e in outcomes]


# ---- certificates kept in Kubernetes Secrets --------------------------------------------------
def tls_secret_certificate(kube, name, namespace):
    """(certificate PEM or None, reason) of a kubernetes.io/tls Secret, read through ``kube``."""
    import base64

    where = "Secret %s/%s" % (namespace, name)
    secret = kube.get("v1", "Secret", name, namespace)
    if secret is None:
        return None, "%s does not exist" % where
    data = secret.get("data") or {}
    if not data.get("tls.crt") or not data.get("tls.key"):
        return None, "%s holds no tls.crt and tls.key" % where
    try:
        return base64.b64decode(data["tls.crt"]).decode(), None
    except (ValueError, UnicodeDecodeError):
        return None, "%s: tls.crt is not base64 PEM" % where


def put_tls_secret(kube, name, namespace, issued):
    """Write an issued certificate (Vault's response data) into a kubernetes.io/tls Secret."""
    import base64

    def b64(text):
        return base64.b64encode(text.encode()).decode()

    from ansible_collections.capstan.fleet.plugins.module_utils._kube import KubeError

    secret = {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "capstan.fleet"}},
        "data": {"tls.crt": b64(issued["certificate"].strip() + "\n" + issued["issuing_ca"].strip() + "\n"),
                 "tls.key": b64(issued["private_key"]), "ca.crt": b64(issued["issuing_ca"])},
    }
    try:
        kube.apply(secret)
    except KubeError as e:
        raise e.within("writing Secret %s/%s" % (namespace, name))


# ---- expiry report ---------------------------------------------------------------------------
def expiry_report(client, mounts, certificates, renew_before, now=None):
    """Every issuer of ``mounts`` and, with ``certificates``, every certificate they store, with
    its expiry; ``due`` when it expires within ``renew_before`` seconds."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    rows = []

    def row(mount, kind, name, pem, default=False):
        s = cert_summary(pem)
        left = load_cert(pem).not_valid_after_utc - now
        rows.append({"mount": mount, "kind": kind, "name": name, "common_name": s["common_name"],
                     "serial_number": s["serial_number"], "not_after": s["not_after"], "default": default,
                     "seconds_left": int(left.total_seconds()),
                     "due": left.total_seconds() < renew_before})

    for mount in mounts:
        mount = mount.strip("/")
        default_pem = default_issuer(client, mount)
        for issuer_id in list_keys(client, "/v1/%s/issuers" % mount, "listing the issuers of %s" % mount):
            data = call("reading issuer %s of %s" % (issuer_id, mount), client.adapter.get,
                        "/v1/%s/issuer/%s" % (mount, issuer_id))["data"]
            row(mount, "issuer", data.get("issuer_name") or issuer_id, data["certificate"],
                _same_pem(data["certificate"], default_pem))
        if not certificates:
            continue
        for serial in list_keys(client, "/v1/%s/certs" % mount, "listing the certificates of %s" % mount):
            pem = call("reading certificate %s of %s" % (serial, mount), client.adapter.get,
                       "/v1/%s/cert/%s" % (mount, serial))["data"]["certificate"]
            if not pem.strip() or _is_ca(pem):
                continue  # the mount's own CAs are listed as issuers
            if load_cert(pem).not_valid_after_utc < now:
                continue  # expired: tidy's business, not a renewal
            row(mount, "certificate", serial, pem)
    rows.sort(key=lambda r: (r["seconds_left"], r["mount"], r["name"]))
    return rows


def _is_ca(pem):
    try:
        return load_cert(pem).extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _left(secs):
    if secs < 0:
        return "expired"
    days, rest = divmod(secs, 86400)
    return "%dd%02dh" % (days, rest // 3600) if days else "%dh%02dm" % (rest // 3600, (rest % 3600) // 60)


def report_table(rows):
    """The report as aligned text lines (a header, then a line per row)."""
    head = ("MOUNT", "KIND", "NAME", "COMMON NAME", "NOT AFTER", "LEFT", "DUE")
    lines = [(r["mount"], r["kind"], r["name"], r["common_name"] or "", r["not_after"], _left(r["seconds_left"]),
              "yes" if r["due"] else "") for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    return ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [head] + lines]
