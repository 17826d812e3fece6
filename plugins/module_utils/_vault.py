# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: the one Vault/OpenBao client (hvac) and its auth methods."""
from __future__ import annotations

import os
import re

try:
    import hvac
    import hvac.exceptions

    HAS_HVAC = True
    HVAC_IMPORT_ERROR = None
except ImportError as e:
    HAS_HVAC = False
    HVAC_IMPORT_ERROR = e

from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError

VAULT_AUTH_ARGSPEC = dict(
    url=dict(type="str"),
    namespace=dict(type="str"),
    auth_method=dict(type="str", default="token", choices=["token", "approle", "kubernetes", "jwt", "cert"]),
    token=dict(type="str", no_log=True),
    role_id=dict(type="str", no_log=False),
    secret_id=dict(type="str", no_log=True),
    jwt=dict(type="str", no_log=True),
    kubernetes_token_path=dict(type="path"),
    cert_auth_public_key=dict(type="path"),
    cert_auth_private_key=dict(type="path", no_log=False),
    mount_point=dict(type="str"),
    ca_cert=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="int", default=30),
)


class VaultError(FleetError):
    pass


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(value, option="ttl"):
    """Vault's duration strings (``90``, ``45s``, ``8h``, ``30d``, ``1h30m``) as seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    parts = re.findall(r"(\d+)([smhd])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise VaultError("%s: %r is not a duration such as 45s, 8h or 30d" % (option, value))
    return sum(int(n) * _UNITS[u] for n, u in parts)


class _TokenAuth(object):
    def login(self, client, params):
        token = params.get("token") or os.environ.get("VAULT_TOKEN")
        if not token:
            path = os.path.expanduser("~/.vault-token")
            if os.path.exists(path):
                with open(path) as f:
                    token = f.read().strip()
        if not token:
            raise VaultError("auth_method=token needs the token option, VAULT_TOKEN or ~/.vault-token")
        client.token = token
        try:
            client.auth.token.lookup_self()
        except hvac.exceptions.Forbidden:
            raise VaultError("the Vault token was refused (403): it is invalid, expired or revoked")


class _AppRoleAuth(object):
    def login(self, client, params):
        role_id = params.get("role_id") or os.environ.get("VAULT_ROLE_ID")
        secret_id = params.get("secret_id") or os.environ.get("VAULT_SECRET_ID")
        if not role_id:
            raise VaultError("auth_method=approle needs role_id (or VAULT_ROLE_ID)")
        kwargs = {"role_id": role_id, "secret_id": secret_id}
        if params.get("mount_point"):
            kwargs["mount_point"] = params["mount_point"]
        client.auth.approle.login(**kwargs)


SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


class _KubernetesAuth(object):
    """A Kubernetes service account token (the Pod's own, or one given) for a role of the kubernetes method."""

    def login(self, client, params):
        role = params.get("role_id") or os.environ.get("VAULT_ROLE_ID")
        if not role:
            raise VaultError("auth_method=kubernetes needs role_id, the name of the Vault role")
        token = params.get("jwt")
        if not token:
            path = params.get("kubernetes_token_path") or SERVICE_ACCOUNT_TOKEN
            try:
                with open(path) as f:
                    token = f.read().strip()
            except OSError as e:
                raise VaultError("auth_method=kubernetes: no jwt given and the service account token %s cannot be "
                                 "read: %s" % (path, e.strerror))
        client.auth.kubernetes.login(role, token, mount_point=params.get("mount_point") or "kubernetes")


class _JwtAuth(object):
    def login(self, client, params):
        if not params.get("role_id") or not params.get("jwt"):
            raise VaultError("auth_method=jwt needs role_id (the Vault role) and jwt")
        client.auth.jwt.jwt_login(params["role_id"], params["jwt"], path=params.get("mount_point") or "jwt")


class _CertAuth(object):
    """TLS client certificate; the pair is given to the client when it is made (see vault_client)."""

    def login(self, client, params):
        body = {"name": params["role_id"]} if params.get("role_id") else {}
        resp = client.adapter.post("/v1/auth/%s/login" % (params.get("mount_point") or "cert"), json=body)
        client.token = resp["auth"]["client_token"]


AUTH_METHODS = {"token": _TokenAuth, "approle": _AppRoleAuth, "kubernetes": _KubernetesAuth, "jwt": _JwtAuth,
                "cert": _CertAuth}


def vault_client(params):
    """An authenticated hvac client from the shared VAULT_AUTH_ARGSPEC options."""
    url = params.get("url") or os.environ.get("VAULT_ADDR")
    if not url:
        raise VaultError("no Vault server given: set the url option or VAULT_ADDR")
    verify = params.get("validate_certs", True)
    if verify:
        verify = params.get("ca_cert") or os.environ.get("VAULT_CACERT") or True
    cert = None
    if params.get("auth_method") == "cert":
        pair = (params.get("cert_auth_public_key"), params.get("cert_auth_private_key"))
        if not all(pair):
            raise VaultError("auth_method=cert needs cert_auth_public_key and cert_auth_private_key")
        for path in pair:
            if not os.path.isfile(path):
                raise VaultError("auth_method=cert: %s does not exist" % path)
        cert = pair
    client = hvac.Client(
        url=url, verify=verify, timeout=params.get("timeout") or 30, cert=cert,
        namespace=params.get("namespace") or os.environ.get("VAULT_NAMESPACE"),
    )
    try:
        status = client.sys.read_health_status(method="GET")
        if hasattr(status, "json"):  # hvac returns a Response for non-200 health codes
            code = status.status_code
            if code == 503:
                raise VaultError("the Vault server at %s is sealed" % url)
            if code == 501:
                raise VaultError("the Vault server at %s is not initialised" % url)
        AUTH_METHODS[params.get("auth_method") or "token"]().login(client, params)
    except hvac.exceptions.VaultError as e:
        raise VaultError("Vault at %s: %s" % (url, _msg(e)))
    except VaultError:
        raise
    except Exception as e:  # requests' connection and TLS errors
        raise VaultError("cannot reach Vault at %s: %s" % (url, e))
    return client


def _msg(e):
    text = str(e).split(", on ", maxsplit=1)[0]
    return text or type(e).__name__


def call(what, fn, *args, **kwargs):
    """Run an hvac call and turn its exceptions into one VaultError naming ``what``."""
    try:
        return fn(*args, **kwargs)
    except hvac.exceptions.Forbidden as e:
        raise VaultError("%s: permission denied (403): %s" % (what, _msg(e)))
    except hvac.exceptions.VaultError as e:
        raise VaultError("%s: %s" % (what, _msg(e)))


def _policy_text(text):
    """Policy text as compared: trailing blanks and blank lines at the end do not count."""
    return "\n".join(line.rstrip() for line in (text or "").strip("\n").splitlines())


def ensure_policy(client, name, text, state, check_mode):
    """Create, update or delete an ACL policy; return (changed, before text or None, after text or None)."""
    try:
        current = client.sys.read_policy(name)["data"]["rules"]
    except hvac.exceptions.InvalidPath:
        current = None
    except hvac.exceptions.VaultError as e:
        raise VaultError("reading policy %s: %s" % (name, _msg(e)))
    if state == "absent":
        if current is not None and not check_mode:
            call("deleting policy %s" % name, client.sys.delete_policy, name)
        return current is not None, current, None
    if current is not None and _policy_text(current) == _policy_text(text):
        return False, current, current
    if not check_mode:
        call("writing policy %s" % name, client.sys.create_or_update_policy, name, text)
    return True, current, text


def kv_read(client, mount, path):
    """(data, version) of the latest version of a KV v2 secret; (None, current version or 0) when it
    does not exist or its latest version is deleted."""
    mount, path = mount.strip("/"), path.strip("/")
    try:
        resp = client.adapter.get("/v1/%s/data/%s" % (mount, path))
        return resp["data"]["data"], resp["data"]["metadata"]["version"]
    except hvac.exceptions.InvalidPath:
        pass
    except hvac.exceptions.VaultError as e:
        raise VaultError("reading %s/%s: %s" % (mount, path, _msg(e)))
    try:
        meta = client.adapter.get("/v1/%s/metadata/%s" % (mount, path))
        return None, meta["data"]["current_version"]
    except hvac.exceptions.InvalidPath:
        return None, 0
    except hvac.exceptions.VaultError as e:
        raise VaultError("reading %s/%s: %s" % (mount, path, _msg(e)))


def kv_write(client, mount, path, data, cas):
    """Write a KV v2 secret only if its current version is ``cas`` (0: only if it does not exist)."""
    mount, path = mount.strip("/"), path.strip("/")
    return call("writing %s/%s" % (mount, path), client.adapter.post, "/v1/%s/data/%s" % (mount, path),
                json={"options": {"cas": cas}, "data": data})


def _not_found(e):
    return isinstance(e, hvac.exceptions.InvalidPath)


def read_data(client, path, what):
    """The ``data`` of a GET, or None when the path does not exist (404)."""
    try:
        resp = client.adapter.get(path)
    except hvac.exceptions.VaultError as e:
        if _not_found(e):
            return None
        raise VaultError("%s: %s" % (what, _msg(e)))
    return (resp or {}).get("data")


def ensure_fields(client, path, what, wanted, durations=(), check_mode=False, merge=False, current=False):
    """Write the given fields of a Vault object (a PKI role, an AppRole role, a mount's config)
    when they differ from what is there; fields given as None are left alone. Durations compare
    as seconds, lists as sets of their items; the values are sent as given. ``merge`` sends the present fields along (for
    endpoints where a POST resets the fields it does not name); ``current`` is the object when the
    caller has read it already (None: it does not exist). Returns (changed, before or None, after)."""
    def norm(key, value):
        if key in durations:
            return seconds(value, key) if value not in (None, "") else 0
        return sorted(value or []) if isinstance(value, list) else value

    given = {k: v for k, v in wanted.items() if v is not None}
    want = {k: norm(k, v) for k, v in given.items()}
    if current is False:
        current = read_data(client, path, "reading " + what)
    before = None
    if current is not None:
        before = {k: norm(k, [] if isinstance(want[k], list) and current.get(k) is None else current.get(k))
                  for k in want}
        if before == want:
            return False, before, want
    if not check_mode:
        call("writing " + what, client.adapter.post, path, json=dict(current or {}, **given) if merge else given)
    return True, before, want


def list_keys(client, path, what):
    """The keys of a LIST request; [] when there is nothing (Vault answers 404 for an empty list)."""
    try:
        resp = client.adapter.list(path)
    except hvac.exceptions.VaultError as e:
        if _not_found(e):
            return []
        raise VaultError("%s: %s" % (what, _msg(e)))
    return ((resp or {}).get("data") or {}).get("keys") or []


def _enable(what, fn, exists, *args, **kwargs):
    """Enable a mount; another run doing the same at the same moment is not an error."""
    try:
        fn(*args, **kwargs)
    except hvac.exceptions.InvalidRequest as e:
        if "already in use" not in str(e) or not exists():
            raise VaultError("%s: %s" % (what, _msg(e)))
    except hvac.exceptions.VaultError as e:
        raise VaultError("%s: %s" % (what, _msg(e)))


def ensure_secrets_engine(client, path, engine, options, description, max_lease_ttl, state, check_mode):
    """A secrets engine at ``path``: enabled, tuned (description, max lease TTL) or disabled.
    ``options`` (such as KV's version) are set when it is enabled and checked after.
    Returns (changed, before or None, after or None)."""
    path = path.strip("/")

    def current():
        return call("listing secrets engines", client.sys.list_mounted_secrets_engines)["data"].get(path + "/")

    cur = current()
    before = None
    if cur is not None:
        before = {"type": cur.get("type"), "options": dict(cur.get("options") or {}),
                  "description": cur.get("description") or "",
                  "max_lease_ttl": (cur.get("config") or {}).get("max_lease_ttl", 0)}
    if state == "absent":
        if cur is not None and not check_mode:
            call("disabling %s" % path, client.sys.disable_secrets_engine, path)
        return cur is not None, before, None
    want_ttl = seconds(max_lease_ttl, "max_lease_ttl")
    after = {"type": engine, "options": dict(options or {}),
             "description": description if description is not None else (before or {}).get("description", ""),
             "max_lease_ttl": want_ttl if want_ttl is not None else (before or {}).get("max_lease_ttl", 0)}
    if cur is None:
        if not check_mode:
            config = {"max_lease_ttl": "%ds" % want_ttl} if want_ttl is not None else None
            _enable("enabling %s at %s" % (engine, path), client.sys.enable_secrets_engine, current,
                    engine, path=path, description=description, options=options or None, config=config)
        return True, None, after
    if before["type"] != engine:
        raise VaultError("mount %s exists but is a %s secrets engine, not %s" % (path, before["type"], engine))
    for key, value in (options or {}).items():
        if str(before["options"].get(key)) != str(value):
            raise VaultError("mount %s has %s=%s, not %s; that is set when a mount is enabled and is not changed "
                             "here" % (path, key, before["options"].get(key), value))
    after["options"] = before["options"]
    tune = {}
    if description is not None and description != before["description"]:
        tune["description"] = description
    if want_ttl is not None and want_ttl != before["max_lease_ttl"]:
        tune["max_lease_ttl"] = "%ds" % want_ttl
    if tune and not check_mode:
        call("tuning %s" % path, client.sys.tune_mount_configuration, path, **tune)
    return bool(tune), before, after


def ensure_auth_method(client, path, method, check_mode):
    """An auth method enabled at ``path``; returns whether it was (or would be) enabled."""
    path = path.strip("/")

    def current():
        return call("listing auth methods", client.sys.list_auth_methods)["data"].get(path + "/")

    cur = current()
    if cur is not None:
        if cur.get("type") != method:
            raise VaultError("auth mount %s exists but is a %s auth method, not %s" % (path, cur.get("type"), method))
        return False
    if not check_mode:
        _enable("enabling %s auth at %s" % (method, path), client.sys.enable_auth_method, current,
                method, path=path)
    return True


APPROLE_DURATIONS = ("token_ttl", "token_max_ttl", "secret_id_ttl", "token_period")


def ensure_approle(client, mount, name, wanted, state, check_mode):
    """An AppRole role with the given parameters (None: left as it is).
    Returns (changed, before or None, after or None, role_id or None)."""
    mount = mount.strip("/")
    path = "/v1/auth/%s/role/%s" % (mount, name)
    enabled = ensure_auth_method(client, mount, "approle", check_mode) if state == "present" else False
    current = None if enabled and check_mode else read_data(client, path, "reading AppRole %s at auth/%s" % (name, mount))
    if state == "absent":
        if current is not None and not check_mode:
            call("deleting AppRole %s at auth/%s" % (name, mount), client.adapter.delete, path)
        return current is not None, current, None, None
    changed, before, want = ensure_fields(client, path, "AppRole %s at auth/%s" % (name, mount), wanted,
                                          APPROLE_DURATIONS, check_mode, current=current)
    role_id = None
    if not (check_mode and current is None):
        role_id = call("reading the role ID of %s at auth/%s" % (name, mount), client.adapter.get,
                       path + "/role-id")["data"]["role_id"]
    return changed or enabled, before, want, role_id
