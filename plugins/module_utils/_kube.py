# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: the one Kubernetes client of capstan.fleet.

A kubeconfig is accepted as a path, as parsed content (a dict) or as YAML text, and
client certificates and keys given as data are never written to disk: they are loaded
into the TLS context through an anonymous in-memory file (``memfd``). The client
speaks plain HTTPS (urllib3) so that server-side apply, dry-run and discovery are one
request each, with no per-request code generation.
"""
from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import threading
import time
from urllib.parse import urlencode

try:
    import urllib3

    HAS_URLLIB3 = True
    URLLIB3_IMPORT_ERROR = None
except ImportError as e:  # pragma: no cover - urllib3 ships with the kubernetes client
    HAS_URLLIB3 = False
    URLLIB3_IMPORT_ERROR = e

try:
    import yaml

    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as e:  # pragma: no cover
    yaml = None
    HAS_YAML = False
    YAML_IMPORT_ERROR = e

from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError

# libyaml's parser when PyYAML has it (ten times the pure-Python one on megabyte manifests);
# the same safe constructor either way.
_LOADER = getattr(yaml, "CSafeLoader", None) or getattr(yaml, "SafeLoader", None)


def yaml_load(text):
    return yaml.load(text, Loader=_LOADER)


def yaml_load_all(text):
    return yaml.load_all(text, Loader=_LOADER)


FIELD_MANAGER = "capstan.fleet"

# Options shared by every module that talks to a Kubernetes API server.
KUBE_AUTH_ARGSPEC = dict(
    # A path is no secret, and error messages must be able to name it; content is.
    kubeconfig=dict(type="path", no_log=False),
    kubeconfig_content=dict(type="raw", no_log=True),
    # names where a kubeconfig is, not the kubeconfig
    kubeconfig_secret=dict(type="dict", no_log=False, options=dict(
        name=dict(type="str", required=True),
        namespace=dict(type="str", default="default"),
        key=dict(type="str", default="value", no_log=False),
    )),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
    validate_certs=dict(type="bool", default=True, aliases=["verify_ssl"]),
    request_timeout=dict(type="float", default=30.0),
)


class KubeError(FleetError):
    """``retryable``: the server did not answer (refused, reset, timed out), kept saying 429 (not
    now) or a kubeconfig Secret is not written yet - waiting may mend it; TLS, authorisation and
    other API errors are not."""
    def __init__(self, msg, status=None, reason=None, body=None, retryable=False):
        super().__init__(msg)
        self.status = status
        self.reason = reason
        self.body = body
        self.retryable = retryable

    @property
    def extra(self):
        # returned beside msg by the module, for roles that retry (until: result.retryable)
        return {"retryable": True} if self.retryable else {}

    def within(self, context):
        """The same error, its message prefixed with where it happened."""
        return KubeError("%s: %s" % (context, self), status=self.status, reason=self.reason, body=self.body,
                         retryable=self.retryable)


MAX_429_RETRIES = 10


def retry_after(value, default=1.0, cap=10.0):
    """Seconds to wait from a Retry-After header (whole seconds; a date or nonsense: ``default``)."""
    try:
        return min(max(float(value), 0.1), cap)
    except (TypeError, ValueError):
        return default


# what urllib3 raises when a server does not answer; an SSLError is not among them
_UNANSWERED = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError,
               urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError) if HAS_URLLIB3 else ()


def _unanswered(err):
    reason = getattr(err, "reason", None)  # MaxRetryError wraps the cause
    return isinstance(err, _UNANSWERED) or isinstance(reason, _UNANSWERED)


def _load_pem_into_context(ctx, cert_pem, key_pem):
    """Load a client certificate and key from memory into ``ctx`` without touching disk."""
    if hasattr(os, "memfd_create"):
        fds = []
        try:
            paths = []
            for data in (cert_pem, key_pem):
                fd = os.memfd_create("capstan-kube-cred", 0)
                fds.append(fd)
                os.write(fd, data)
                paths.append("/proc/self/fd/%d" % fd)
            ctx.load_cert_chain(paths[0], paths[1])
        finally:
            for fd in fds:
                os.close(fd)
        return
    # Platforms without memfd (macOS): a private directory that lives only while the
    # context loads the pair.
    with tempfile.TemporaryDirectory(prefix="capstan-") as d:
        os.chmod(d, 0o700)
        paths = []
        for name, data in (("c", cert_pem), ("k", key_pem)):
            p = os.path.join(d, name)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            paths.append(p)
        ctx.load_cert_chain(paths[0], paths[1])


def _b64(value, what):
    try:
        return base64.b64decode(value)
    except (TypeError, ValueError):
        raise KubeError("kubeconfig: %s is not valid base64" % what)


def parse_kubeconfig(kubeconfig, context=None):
    """Return (server, ca_pem or ca_path, cert_pem, key_pem, token, insecure) for a kubeconfig.

    ``kubeconfig`` is a path, a dict, or YAML text (as read from a Secret).
    """
    source = "kubeconfig"
    base_dir = os.getcwd()
    if isinstance(kubeconfig, dict):
        data = kubeconfig
    elif isinstance(kubeconfig, (str, bytes)):
        text = kubeconfig.decode() if isinstance(kubeconfig, bytes) else kubeconfig
        if "\n" not in text and os.path.exists(os.path.expanduser(text)):
            path = os.path.expanduser(text)
            source = "kubeconfig file %s" % path
            base_dir = os.path.dirname(os.path.abspath(path))
            try:
                with open(path) as f:
                    text = f.read()
            except OSError as e:
                raise KubeError("cannot read %s: %s" % (source, e))
        elif "\n" not in text and "apiVersion" not in text:
            raise KubeError("kubeconfig file %s does not exist" % text)
        try:
            data = yaml_load(text)
        except yaml.YAMLError as e:
            raise KubeError("%s is not valid YAML: %s" % (source, e))
    else:
        raise KubeError("kubeconfig must be a path, a dict or YAML text, not %s" % type(kubeconfig).__name__)
    if not isinstance(data, dict) or "clusters" not in data:
        raise KubeError("%s has no clusters" % source)

    def pick(section, name):
        for item in data.get(section) or []:
            if item.get("name") == name:
                return item.get(section[:-1]) or {}
        raise KubeError("%s: no %s named %r" % (source, section[:-1], name))

    ctx_name = context or data.get("current-context")
    if ctx_name:
        ctx = pick("contexts", ctx_name)
        cluster = pick("clusters", ctx.get("cluster"))
        user = pick("users", ctx.get("user")) if ctx.get("user") else {}
    else:
        if len(data.get("clusters") or []) != 1:
            raise KubeError("%s has no current-context; name one with the context option" % source)
        cluster = data["clusters"][0].get("cluster") or {}
        users = data.get("users") or []
        user = (users[0].get("user") or {}) if len(users) == 1 else {}

    def material(node, data_key, file_key, what):
        if node.get(data_key):
            return _b64(node[data_key], what)
        if node.get(file_key):
            p = node[file_key]
            p = p if os.path.isabs(p) else os.path.join(base_dir, p)
            try:
                with open(p, "rb") as f:
                    return f.read()
            except OSError as e:
                raise KubeError("%s: cannot read %s %s: %s" % (source, what, p, e))
        return None

    server = cluster.get("server")
    if not server:
        raise KubeError("%s: the cluster has no server" % source)
    return dict(
        server=server.rstrip("/"),
        ca_pem=material(cluster, "certificate-authority-data", "certificate-authority", "certificate-authority"),
        cert_pem=material(user, "client-certificate-data", "client-certificate", "client-certificate"),
        key_pem=material(user, "client-key-data", "client-key", "client-key"),
        token=user.get("token"),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
    )


class KubeClient(object):
    """A small, fast Kubernetes REST client with discovery, get/list, server-side apply and delete."""

    def __init__(self, server, ca_pem=None, ca_file=None, cert_pem=None, key_pem=None, token=None,
                 validate_certs=True, timeout=30.0):
        if not HAS_URLLIB3:
            raise KubeError("the urllib3 Python library is required")
        self.server = server.rstrip("/")
        ctx = ssl.create_default_context(cafile=ca_file, cadata=ca_pem.decode() if ca_pem else None)
        if (ca_pem or ca_file) and hasattr(ssl, "VERIFY_X509_PARTIAL_CHAIN"):
            # The CA of a kubeconfig is a trust anchor even when it is an intermediate (a tenant
            # cluster's CA issued by Vault under the fleet root): Go's crypto/x509, and so kubectl,
            # trust any certificate of the pool; OpenSSL does only with this flag.
            ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        if not validate_certs:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if cert_pem and key_pem:
            try:
                _load_pem_into_context(ctx, cert_pem, key_pem)
            except ssl.SSLError as e:
                raise KubeError("the client certificate or key of the kubeconfig is not usable: %s" % e)
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = "Bearer %s" % token
        self.timeout = timeout
        self.http = urllib3.PoolManager(ssl_context=ctx, maxsize=8, retries=False)
        self._resources = {}
        self._groups = None
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, params):
        """Build a client from the shared KUBE_AUTH_ARGSPEC options."""
        ref = params.get("kubeconfig_secret")
        if ref:
            holder = cls.from_options(dict(params, kubeconfig_secret=None, context=None))
            where = "kubeconfig_secret %s/%s" % (ref.get("namespace") or "default", ref["name"])
            try:
                secret = holder.get("v1", "Secret", ref["name"], ref.get("namespace") or "default")
            except KubeError as e:
                raise e.within(where)
            key = ref.get("key") or "value"
            if secret is None:
                raise KubeError("%s does not exist" % where, status=404, retryable=True)
            if key not in (secret.get("data") or {}):
                raise KubeError("%s has no key %s (it has: %s)" % (where, key, ", ".join(sorted(secret.get("data") or {})) or "none"))
            content = _b64(secret["data"][key], "%s key %s" % (where, key)).decode("utf-8", "replace")
            return cls.from_options({"kubeconfig_content": content, "context": params.get("context"),
                                     "request_timeout": params.get("request_timeout"),
                                     "validate_certs": params.get("validate_certs", True)})
        # content wins over a path, so that module_defaults can name the management
        # cluster's file while a task reaches a tenant with the content of its Secret
        kubeconfig = params.get("kubeconfig_content")
        if kubeconfig is not None:
            if isinstance(kubeconfig, str) and "\n" not in kubeconfig and "apiVersion" not in kubeconfig:
                raise KubeError("kubeconfig_content is neither a kubeconfig mapping nor YAML text; "
                                "give a file path with the kubeconfig option")
        else:
            kubeconfig = params.get("kubeconfig")
        if kubeconfig is None and params.get("host") is None:
            kubeconfig = os.environ.get("K8S_AUTH_KUBECONFIG") or os.environ.get("KUBECONFIG") or "~/.kube/config"
            kubeconfig = kubeconfig.split(os.pathsep)[0]
            if not os.path.exists(os.path.expanduser(kubeconfig)):
                raise KubeError("no kubeconfig given and %s does not exist; set the kubeconfig option" % kubeconfig)
        conf = {}
        if kubeconfig is not None:
            conf = parse_kubeconfig(kubeconfig, params.get("context"))
        server = params.get("host") or conf.get("server")
        return cls(
            server,
            ca_pem=None if params.get("ca_cert") else conf.get("ca_pem"),
            ca_file=params.get("ca_cert"),
            cert_pem=conf.get("cert_pem"),
            key_pem=conf.get("key_pem"),
            token=params.get("api_key") or conf.get("token"),
            validate_certs=params.get("validate_certs", True) and not conf.get("insecure"),
            timeout=params.get("request_timeout") or 30.0,
        )

    # ---- HTTP ---------------------------------------------------------------------
    def request(self, method, path, body=None, query=None, content_type="application/json", ok=(200, 201, 202)):
        url = self.server + path
        if query:
            url += "?" + urlencode([(k, v) for k, v in query.items() if v is not None])
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            headers["Content-Type"] = content_type
        # 429 is the server saying "not now" before it handles the request (priority and
        # fairness, or a resource whose storage is (re)initializing - a CRD created a moment
        # ago): asked again after its Retry-After, as client-go does, within the request timeout
        deadline = time.monotonic() + self.timeout
        for attempt in range(MAX_429_RETRIES + 1):
            try:
                r = self.http.request(method, url, body=data, headers=headers, timeout=self.timeout)
            except urllib3.exceptions.HTTPError as e:
                # host:port rather than the URL: a kubeconfig given as content is no_log, and
                # Ansible masks its values (the server URL among them) in every message
                raise KubeError("cannot reach the Kubernetes API at %s: %s" % (self.server.split("://", 1)[-1], e),
                                retryable=_unanswered(e))
            pause = retry_after(r.headers.get("Retry-After"))
            if r.status != 429 or attempt == MAX_429_RETRIES or time.monotonic() + pause > deadline:
                break
            time.sleep(pause)
        text = r.data.decode("utf-8", "replace")
        try:
            payload = json.loads(text) if text else {}
        except ValueError:
            payload = {"message": text}
        if r.status not in ok:
            msg = payload.get("message") if isinstance(payload, dict) else text
            raise KubeError(
                "%s %s: %s %s" % (method, path, r.status, msg or r.reason),
                status=r.status, reason=(payload.get("reason") if isinstance(payload, dict) else None), body=payload,
                retryable=r.status == 429,
            )
        return payload

    def version(self):
        return self.request("GET", "/version")

    # ---- discovery -------------------------------------------------------------------
    def _group_versions(self):
        if self._groups is None:
            groups = [("", "v1")]
            apis = self.request("GET", "/apis")
            for g in apis.get("groups", []):
                preferred = (g.get("preferredVersion") or {}).get("version")
                versions = [v["version"] for v in g.get("versions", [])]
                for v in sorted(versions, key=lambda v: v != preferred):
                    groups.append((g["name"], v))
            self._groups = groups
        return self._groups

    def resource(self, api_version, kind, refresh=False):
        """Return {'name', 'namespaced', 'path_prefix'} for a kind, from discovery (cached)."""
        key = (api_version, kind)
        with self._lock:
            if key in self._resources and not refresh:
                return self._resources[key]
            path = "/api/v1" if api_version == "v1" else "/apis/%s" % api_version
            try:
                listing = self.request("GET", path)
            except KubeError as e:
                if e.status == 404:
                    raise KubeError("the server does not serve %s (is its CRD installed?)" % api_version, status=404)
                raise
            for res in listing.get("resources", []):
                if "/" in res["name"]:
                    continue
                self._resources[(api_version, res["kind"])] = {
                    "name": res["name"], "namespaced": res["namespaced"], "path_prefix": path,
                }
            if key not in self._resources:
                raise KubeError("the server has no kind %s in %s" % (kind, api_version), status=404)
            return self._resources[key]

    def resource_for_group_kind(self, group, kind):
        """(apiVersion, resource) of a kind in a group, in the group's preferred version first."""
        for attempt in (0, 1):
            if attempt:
                self._groups = None  # a group created since discovery ran (a CRD of this run)
            for g, v in self._group_versions():
                if g != group:
                    continue
                api_version = "%s/%s" % (g, v) if g else v
                try:
                    return api_version, self.resource(api_version, kind)
                except KubeError as e:
                    if e.status != 404:
                        raise
        raise KubeError("the server has no kind %s in group %s" % (kind, group or "core"), status=404)

    def path(self, api_version, kind, name=None, namespace=None, subresource=None):
        res = self.resource(api_version, kind)
        p = res["path_prefix"]
        if res["namespaced"]:
            if not namespace and name is not None:
                raise KubeError("%s %s is namespaced; give it a namespace" % (kind, name))
            if namespace:
                p += "/namespaces/%s" % namespace
        p += "/" + res["name"]
        if name is not None:
            p += "/" + name
        if subresource:
            p += "/" + subresource
        return p

    # ---- verbs -------------------------------------------------------------------------
    def get(self, api_version, kind, name, namespace=None):
        """The object, or None when it does not exist."""
        try:
            return self.request("GET", self.path(api_version, kind, name, namespace))
        except KubeError as e:
            if e.status == 404 and e.reason == "NotFound":
                return None
            raise

    def list(self, api_version, kind, namespace=None, label_selector=None, field_selector=None):
        query = {}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        return self.request("GET", self.path(api_version, kind, None, namespace), query=query).get("items", [])

    def apply(self, obj, dry_run=False, force=True, field_manager=FIELD_MANAGER):
        """Server-side apply of one object; returns the object as the server has (or would have) it."""
        meta = obj.get("metadata") or {}
        query = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            query["dryRun"] = "All"
        return self.request(
            "PATCH", self.path(obj["apiVersion"], obj["kind"], meta.get("name"), meta.get("namespace")),
            body=obj, query=query, content_type="application/apply-patch+yaml",
        )

    def delete(self, api_version, kind, name, namespace=None, dry_run=False):
        query = {"dryRun": "All"} if dry_run else None
        try:
            return self.request("DELETE", self.path(api_version, kind, name, namespace), query=query)
        except KubeError as e:
            if e.status == 404:
                return None
            raise
