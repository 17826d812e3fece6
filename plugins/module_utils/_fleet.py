# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: the fleet model.

A fleet is a directory of YAML files::

    defaults.yml
    releases/<release>.yml
    environments/<environment>.yml
    locations/<location>.yml
    sites/<site>.yml
    management_clusters/<management cluster>.yml
    customers/<customer>.yml
    clusters/<site>/<customer>/<cluster>.yml

Every layer may carry a ``config`` mapping; a cluster's merged configuration is the deep
merge of the layers, lowest first: defaults, release, environment, location, site,
management cluster, customer, cluster (dicts merge, lists and scalars replace). Every
merged leaf records the file, line and key path that set it (its provenance).

``load_fleet()`` reads and validates the whole tree and reports every problem of one run
together as one ``FleetValidationError``.
"""
from __future__ import annotations

import datetime
import difflib
import ipaddress
import os
import re

try:
    import yaml

    try:
        _BaseLoader = yaml.CSafeLoader
    except AttributeError:  # pragma: no cover - PyYAML without libyaml
        _BaseLoader = yaml.SafeLoader
    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False
    _BaseLoader = object

from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError

LAYERS = ("defaults", "release", "environment", "location", "site", "management_cluster", "customer", "cluster")
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
VERSION_RE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")

# ---- schema ------------------------------------------------------------------------------------
# A schema node is a type (str, int, bool), a dict of key -> node (a mapping with known keys),
# ("map", node) for a mapping with free keys, ("list", node) for a list, or ("enum", values).
STR, INT, BOOL = str, int, bool
MACHINE = {"cpus": INT, "memory_mib": INT, "disk_gib": INT, "flavor": STR, "template": STR, "image": STR}
CONFIG_SCHEMA = {
    "kubernetes": {"version": STR},
    "control_plane": {"replicas": INT, "machine": MACHINE, "endpoint": STR},
    "node_pools": ("list", {"name": STR, "replicas": INT, "machine": MACHINE, "labels": ("map", STR),
                            "taints": ("list", STR), "min_replicas": INT, "max_replicas": INT}),
    "cni": {"type": ("enum", ("calico", "cilium")), "version": STR},
    "networking": {"pod_cidrs": ("list", STR), "service_cidrs": ("list", STR), "node_cidr": STR,
                   "dns_domain": STR},
    "labels": ("map", STR),
    "annotations": ("map", STR),
    "bootstrap": {"mode": ("enum", ("push", "remote", "clusterresourceset"))},
    "flux": {"repository": STR, "branch": STR, "path": STR, "interval": STR},
    "vault": {"address": STR, "mount_prefix": STR, "auth_method": STR, "role": STR},
    "user_groups": ("list", STR),
    "certificates": {"ttl": STR, "renew_before": STR},
}
PROVIDER = {"name": STR, "type": ("enum", ("core", "bootstrap", "control-plane", "infrastructure", "ipam",
                                           "runtime-extension", "addon")), "version": STR, "namespace": STR}
INFRA = {
    "vsphere": {"type": STR, "server": STR, "datacenter": STR, "cluster": STR, "resource_pool": STR,
                "datastore": STR, "network": STR, "folder": STR, "template": STR, "thumbprint": STR},
    "openstack": {"type": STR, "cloud": STR, "network": STR, "external_network": STR, "image": STR,
                  "flavors": ("map", STR), "availability_zones": ("list", STR)},
    "metal3": {"type": STR, "namespace": STR, "image_url": STR, "image_checksum": STR, "host_selector": ("map", STR),
               "provisioning_network": STR},
}
FILE_SCHEMAS = {
    "defaults": {"config": CONFIG_SCHEMA},
    "release": {
        "kubernetes": {"version": STR, "supported_minors": ("list", STR)},
        "providers": ("list", PROVIDER),
        "cert_manager": {"version": STR},
        "cni": ("map", STR),
        "flux": {"version": STR},
        "promotions": ("map", STR),
        "description": STR,
        "config": CONFIG_SCHEMA,
    },
    "environment": {
        "release": STR,
        "rollout": {"after": STR, "min_days": INT},
        "production": BOOL,
        "description": STR,
        "config": CONFIG_SCHEMA,
    },
    "location": {"description": STR, "region": STR, "config": CONFIG_SCHEMA},
    "site": {
        "location": STR,
        "infrastructure": ("infra",),
        "network_zone": ("enum", ("intranet", "internet", "dmz")),
        "address_pools": ("list", {"name": STR, "cidr": STR, "gateway": STR}),
        "vip_range": STR,
        "description": STR,
        "config": CONFIG_SCHEMA,
    },
    "management_cluster": {
        "environment": STR,
        "sites": ("list", STR),
        "access": {"kubeconfig": STR, "context": STR, "lab": BOOL},
        "vault": {"address": STR, "namespace": STR, "mount_prefix": STR},
        "git": {"url": STR, "branch": STR, "definitions_path": STR, "components_path": STR},
        "description": STR,
        "config": CONFIG_SCHEMA,
    },
    "customer": {"description": STR, "contact": STR, "config": CONFIG_SCHEMA},
    "cluster": dict(CONFIG_SCHEMA, hold_release=STR, description=STR),
}
FOLDERS = {
    "release": "releases", "environment": "environments", "location": "locations", "site": "sites",
    "management_cluster": "management_clusters", "customer": "customers",
}


class FleetValidationError(FleetError):
    """All problems of one fleet, each as 'file:line: key.path: message'."""

    def __init__(self, problems):
        self.problems = problems
        super().__init__("the fleet has %d problem(s):\n  %s" % (len(problems), "\n  ".join(problems)))


# ---- YAML with line numbers --------------------------------------------------------------------
class _Loader(_BaseLoader):
    """Safe loader that remembers the line of every mapping key."""


class LineDict(dict):
    __slots__ = ("lines",)


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)
    out = LineDict()
    out.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


if HAS_YAML:
    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    # dates stay strings: the model compares them itself, and text survives a round trip
    _Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_str)


# ---- helpers ---------------------------------------------------------------------------------
class Problems(object):
    def __init__(self, root):
        self.root = root
        self.items = []

    def add(self, path, key_path, msg, line=None):
        rel = os.path.relpath(path, self.root) if path else "<fleet>"
        where = "%s:%d" % (rel, line) if line else rel
        self.items.append("%s: %s: %s" % (where, key_path or "(file)", msg) if key_path else "%s: %s" % (where, msg))


_PLAIN_KEY = re.compile(r"^[\w./-]+$")


def _kp(prefix, key):
    """A key path element: ``a.b`` for plain keys, ``a['odd key']`` for the rest."""
    if isinstance(key, str) and _PLAIN_KEY.match(key):
        return "%s.%s" % (prefix, key) if prefix else key
    return "%s[%r]" % (prefix, key)


def _line(mapping, key):
    return getattr(mapping, "lines", {}).get(key)


def _type_name(node):
    if node is STR:
        return "a string"
    if node is INT:
        return "an integer"
    if node is BOOL:
        return "a boolean"
    if isinstance(node, dict):
        return "a mapping"
    if node[0] == "list":
        return "a list"
    if node[0] == "map":
        return "a mapping"
    if node[0] == "enum":
        return "one of %s" % ", ".join(node[1])
    return "a mapping"


def validate(value, node, path, key_path, problems, line=None):
    """Check ``value`` against a schema node; report every mismatch. Returns True when it fits."""
    if node is STR:
        ok = isinstance(value, str)
    elif node is INT:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif node is BOOL:
        ok = isinstance(value, bool)
    elif isinstance(node, dict):
        if not isinstance(value, dict):
            problems.add(path, key_path, "must be a mapping, not %s" % _kind(value), line)
            return False
        good = True
        for k, v in value.items():
            kp = _kp(key_path, k)
            if k not in node:
                hint = difflib.get_close_matches(str(k), list(node), n=1)
                problems.add(path, kp, "unknown key%s" % (" (did you mean %r?)" % hint[0] if hint else ""),
                             _line(value, k) or line)
                good = False
                continue
            good = validate(v, node[k], path, kp, problems, _line(value, k) or line) and good
        return good
    elif node[0] == "list":
        if not isinstance(value, list):
            problems.add(path, key_path, "must be a list, not %s" % _kind(value), line)
            return False
        good = True  # every item is checked, so that every problem is reported
        for i, v in enumerate(value):
            good = validate(v, node[1], path, "%s[%d]" % (key_path, i), problems, line) and good
        return good
    elif node[0] == "map":
        if not isinstance(value, dict):
            problems.add(path, key_path, "must be a mapping, not %s" % _kind(value), line)
            return False
        good = True
        for k, v in value.items():
            good = validate(v, node[1], path, _kp(key_path, k), problems, _line(value, k) or line) and good
        return good
    elif node[0] == "enum":
        if value not in node[1]:
            problems.add(path, key_path, "must be one of %s, not %r" % (", ".join(node[1]), value), line)
            return False
        return True
    elif node[0] == "infra":
        if not isinstance(value, dict) or not isinstance(value.get("type"), str) or value["type"] not in INFRA:
            problems.add(path, key_path, "must be a mapping whose type is one of %s" % ", ".join(sorted(INFRA)), line)
            return False
        return validate(value, INFRA[value["type"]], path, key_path, problems, line)
    else:  # pragma: no cover
        raise AssertionError(node)
    if not ok:
        problems.add(path, key_path, "must be %s, not %s" % (_type_name(node), _kind(value)), line)
    return ok


def _kind(value):
    if value is None:
        return "empty"
    return {str: "a string", int: "an integer", bool: "a boolean", float: "a number", list: "a list"}.get(
        type(value), "a mapping" if isinstance(value, dict) else type(value).__name__)


def merge(layers):
    """Deep-merge ``[(source, dict)]`` lowest first; return (merged, provenance).

    ``source`` is a callable ``key_path -> str`` naming where a leaf was set.
    Dicts merge, everything else (lists included) replaces.
    """
    merged = {}
    provenance = {}

    def walk(dst, src, prefix, where):
        for k, v in src.items():
            kp = prefix + str(k)
            if isinstance(v, dict):
                if not isinstance(dst.get(k), dict):
                    dst[k] = {}
                    _drop(provenance, kp)
                walk(dst[k], v, kp + ".", where)
            else:
                dst[k] = _plain(v) if isinstance(v, list) else v
                _drop(provenance, kp)
                provenance[kp] = where(kp, src, k)

    for where, data in layers:
        if data:
            walk(merged, data, "", where)
    return merged, provenance


def _plain(value):
    """Plain dicts and lists (no line bookkeeping) for host variables."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _drop(provenance, key_path):
    """Forget provenance of leaves below ``key_path`` that a new value replaces."""
    if key_path in provenance:
        del provenance[key_path]
    prefix = key_path + "."
    for k in [k for k in provenance if k.startswith(prefix)]:
        del provenance[k]


def _date(text):
    return datetime.datetime.strptime(str(text), "%Y-%m-%d").date()


def _minor(version):
    m = VERSION_RE.match(version or "")
    return "v%s.%s" % (m.group(1), m.group(2)) if m else None


# ---- the model -----------------------------------------------------------------------------
class Fleet(object):
    """The validated fleet: entities, tenant clusters and management clusters with merged config."""

    def __init__(self, root):
        self.root = root
        self.files = {}  # (layer, name) -> (path, data)
        self.clusters = {}  # name -> dict(site, customer, path, data)
        self.hosts = {}  # host name -> host vars


def _read(path, problems):
    try:
        with open(path, "rb") as f:
            data = yaml.load(f, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problems.add(path, None, "is not valid YAML: %s" % (getattr(e, "problem", None) or e),
                     mark.line + 1 if mark else None)
        return None
    except OSError as e:
        problems.add(path, None, "cannot be read: %s" % e)
        return None
    if data is None:
        data = LineDict()
        data.lines = {}
    if not isinstance(data, dict):
        problems.add(path, None, "must hold a mapping, not %s" % _kind(data))
        return None
    return data


def _yaml_files(folder):
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [(n.rsplit(".", 1)[0], os.path.join(folder, n)) for n in names if n.endswith((".yml", ".yaml"))]


def load_fleet(root, today=None):
    """Read and validate the fleet at ``root``; raise FleetValidationError listing every problem."""
    if not HAS_YAML:  # pragma: no cover
        raise FleetError("the fleet model needs PyYAML")
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise FleetValidationError(["%s: the fleet directory does not exist" % root])
    problems = Problems(root)
    fleet = Fleet(root)

    def check_name(path, key_path, name, what, line=None):
        if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 63:
            problems.add(path, key_path, "%s name %r is not a valid Kubernetes object name (lowercase letters, "
                         "digits and '-', starting and ending with a letter or digit, at most 63 characters)"
                         % (what, name), line)
            return False
        return True

    defaults_path = None
    for candidate in ("defaults.yml", "defaults.yaml"):
        if os.path.isfile(os.path.join(root, candidate)):
            defaults_path = os.path.join(root, candidate)
    if defaults_path:
        data = _read(defaults_path, problems)
        if data is not None and validate(data, FILE_SCHEMAS["defaults"], defaults_path, "", problems):
            fleet.files[("defaults", "defaults")] = (defaults_path, data)

    for layer, folder in FOLDERS.items():
        for name, path in _yaml_files(os.path.join(root, folder)):
            data = _read(path, problems)
            if data is None:
                continue
            check_name(path, None, name, layer.replace("_", " "))
            if validate(data, FILE_SCHEMAS[layer], path, "", problems):
                fleet.files[(layer, name)] = (path, data)
            else:
                fleet.files[(layer, name)] = (path, None)  # exists, but invalid: no dangling-ref noise

    def exists(layer, name):
        return (layer, name) in fleet.files

    def data_of(layer, name):
        return fleet.files.get((layer, name), (None, None))[1]

    def ref(path, data, key, layer, line_of=None):
        name = data.get(key)
        if name is None:
            problems.add(path, key, "is required", _line(data, key))
            return None
        if not exists(layer, name):
            known = sorted(n for (lay, n) in fleet.files if lay == layer)
            hint = difflib.get_close_matches(str(name), known, n=1)
            problems.add(path, key, "names the %s %r, which does not exist%s" % (
                layer.replace("_", " "), name, " (did you mean %r?)" % hint[0] if hint else ""), _line(data, key))
            return None
        return name

    # releases: versions and promotions
    for (layer, name), (path, data) in list(fleet.files.items()):
        if layer != "release" or data is None:
            continue
        k8s = data.get("kubernetes") or {}
        if not VERSION_RE.match(k8s.get("version") or ""):
            problems.add(path, "kubernetes.version", "must be a version such as v1.34.2", _line(k8s, "version"))
        for i, prov in enumerate(data.get("providers") or []):
            if not VERSION_RE.match(prov.get("version") or ""):
                problems.add(path, "providers[%d].version" % i, "must be a version such as v1.10.5")
        for env, when in (data.get("promotions") or {}).items():
            try:
                _date(when)
            except ValueError:
                problems.add(path, "promotions.%s" % env, "must be a date such as 2026-10-01, not %r" % when,
                             _line(data["promotions"], env))

    # environments: pinned release and rollout policy
    for (layer, name), (path, data) in list(fleet.files.items()):
        if layer != "environment" or data is None:
            continue
        rel = ref(path, data, "release", "release")
        rollout = data.get("rollout")
        if rollout and rollout.get("after") is not None and not exists("environment", rollout["after"]):
            problems.add(path, "rollout.after", "names the environment %r, which does not exist" % rollout["after"],
                         _line(rollout, "after"))
            continue
        if rel and data_of("release", rel) is not None:
            promotions = data_of("release", rel).get("promotions") or {}
            if name not in promotions:
                problems.add(path, "release", "release %r is pinned here but has no promotion date for %r"
                             % (rel, name), _line(data, "release"))
            elif rollout and rollout.get("after"):
                after, days = rollout["after"], rollout.get("min_days", 0)
                try:
                    here = _date(promotions[name])
                    there = _date(promotions[after]) if after in promotions else None
                except ValueError:
                    continue  # reported with the release
                if there is None:
                    problems.add(path, "release", "rollout policy: release %r must be pinned in %r first, and it "
                                 "was never promoted there" % (rel, after), _line(data, "release"))
                elif (here - there).days < days:
                    problems.add(path, "release", "rollout policy: release %r may be pinned here only %d days after "
                                 "%r (%s), not on %s" % (rel, days, after, there, here), _line(data, "release"))
        if today is not None and rel and data_of("release", rel) is not None:
            when = (data_of("release", rel).get("promotions") or {}).get(name)
            try:
                if when and _date(when) > today:
                    problems.add(path, "release", "release %r is promoted to %r only on %s" % (rel, name, when),
                                 _line(data, "release"))
            except ValueError:
                pass

    # sites and management clusters
    served_by = {}
    for (layer, name), (path, data) in list(fleet.files.items()):
        if data is None:
            continue
        if layer == "site":
            ref(path, data, "location", "location")
            if data.get("infrastructure") is None:
                problems.add(path, "infrastructure", "is required")
            for key in ("vip_range",):
                if data.get(key):
                    try:
                        ipaddress.ip_network(data[key], strict=False)
                    except ValueError:
                        problems.add(path, key, "%r is not a CIDR" % data[key], _line(data, key))
        if layer == "management_cluster":
            ref(path, data, "environment", "environment")
            for i, site in enumerate(data.get("sites") or []):
                if not exists("site", site):
                    problems.add(path, "sites[%d]" % i, "names the site %r, which does not exist" % site,
                                 _line(data, "sites"))
                    continue
                if site in served_by:
                    problems.add(path, "sites[%d]" % i, "site %r is already served by management cluster %r"
                                 % (site, served_by[site]), _line(data, "sites"))
                    continue
                served_by[site] = name

    # tenant clusters: clusters/<site>/<customer>/<cluster>.yml
    clusters_dir = os.path.join(root, "clusters")
    seen = {}
    for site in sorted(os.listdir(clusters_dir)) if os.path.isdir(clusters_dir) else []:
        site_dir = os.path.join(clusters_dir, site)
        if not os.path.isdir(site_dir):
            continue
        for customer in sorted(os.listdir(site_dir)):
            cust_dir = os.path.join(site_dir, customer)
            if not os.path.isdir(cust_dir):
                continue
            for name, path in _yaml_files(cust_dir):
                data = _read(path, problems)
                if data is None:
                    continue
                if not check_name(path, None, name, "cluster"):
                    continue
                if name in seen:
                    problems.add(path, None, "cluster name %r is already used by %s"
                                 % (name, os.path.relpath(seen[name], root)))
                    continue
                if (name in served_by.values()) or exists("management_cluster", name):
                    problems.add(path, None, "cluster name %r is already the name of a management cluster" % name)
                    continue
                seen[name] = path
                valid = validate(data, FILE_SCHEMAS["cluster"], path, "", problems)
                if not exists("site", site):
                    problems.add(path, None, "its folder names the site %r, which does not exist" % site)
                    valid = False
                elif site not in served_by:
                    problems.add(path, None, "its site %r is served by no management cluster" % site)
                    valid = False
                if not exists("customer", customer):
                    problems.add(path, None, "its folder names the customer %r, which does not exist" % customer)
                    valid = False
                if valid:
                    fleet.clusters[name] = {"site": site, "customer": customer, "path": path, "data": data}

    # merged configuration of every cluster, then the checks that need it
    by_site = {}
    for name, c in sorted(fleet.clusters.items()):
        host = _tenant_host(fleet, name, c, served_by, problems)
        if host is None:
            continue
        fleet.hosts[name] = host
        by_site.setdefault(c["site"], []).append(name)
    for site, names in by_site.items():
        _check_cidrs(fleet, site, names, problems)
    for (layer, name), (path, data) in sorted(fleet.files.items()):
        if layer == "management_cluster" and data is not None:
            fleet.hosts[name] = _management_host(fleet, name, path, data)

    if problems.items:
        raise FleetValidationError(problems.items)
    return fleet


def _where(path, root, prefix=""):
    """Provenance of a leaf: ``<file>:<line> <prefix><key path>`` (the prefix is ``config.`` for layers)."""
    rel = os.path.relpath(path, root)

    def where(key_path, mapping, key):
        line = _line(mapping, key)
        full = prefix + key_path
        return "%s:%s %s" % (rel, line, full) if line else "%s %s" % (rel, full)

    return where


def _layers_for(fleet, env, release, location, site, mgmt, customer):
    out = []
    for layer, name in (("defaults", "defaults"), ("release", release), ("environment", env), ("location", location),
                        ("site", site), ("management_cluster", mgmt), ("customer", customer)):
        if name is None or (layer, name) not in fleet.files:
            continue
        path, data = fleet.files[(layer, name)]
        if data is not None and data.get("config"):
            out.append((_where(path, fleet.root, "config."), data["config"]))
    return out


def _tenant_host(fleet, name, c, served_by, problems):
    site = c["site"]
    site_data = fleet.files[("site", site)][1]
    mgmt = served_by[site]
    mgmt_data = fleet.files[("management_cluster", mgmt)][1]
    env = mgmt_data.get("environment")
    env_data = fleet.files.get(("environment", env), (None, None))[1]
    if site_data is None or env_data is None:
        return None
    data = c["data"]
    release = data.get("hold_release") or env_data.get("release")
    if data.get("hold_release") and ("release", data["hold_release"]) not in fleet.files:
        problems.add(c["path"], "hold_release", "names the release %r, which does not exist" % data["hold_release"],
                     _line(data, "hold_release"))
        return None
    rel_data = fleet.files.get(("release", release), (None, None))[1]
    if rel_data is None:
        return None
    location = site_data.get("location")
    layers = _layers_for(fleet, env, release, location, site, mgmt, c["customer"])
    own = LineDict((k, v) for k, v in data.items() if k not in ("hold_release", "description"))
    own.lines = getattr(data, "lines", {})
    if own:
        layers.append((_where(c["path"], fleet.root), own))
    config, provenance = merge(layers)
    k8s = (config.get("kubernetes") or {}).get("version")
    rel_k8s = (rel_data.get("kubernetes") or {})
    if k8s is None:
        k8s = rel_k8s.get("version")
        config.setdefault("kubernetes", {})["version"] = k8s
        provenance["kubernetes.version"] = "%s kubernetes.version" % os.path.relpath(
            fleet.files[("release", release)][0], fleet.root)
    supported = rel_k8s.get("supported_minors") or [_minor(rel_k8s.get("version"))]
    if _minor(k8s) not in supported:
        problems.add(c["path"], "kubernetes.version", "%s is outside what release %r supports (%s)"
                     % (k8s, release, ", ".join(s for s in supported if s)), _line(data.get("kubernetes") or {}, "version"))
        return None
    return {
        "ansible_connection": "local",
        "fleet_role": "tenant",
        "fleet_name": name,
        "fleet_site": site,
        "fleet_location": location,
        "fleet_customer": c["customer"],
        "fleet_environment": env,
        "fleet_management_cluster": mgmt,
        # how the tenant path reaches its management cluster and its GitOps repository
        "fleet_management_access": _plain(mgmt_data.get("access") or {}),
        "fleet_management_git": _plain(mgmt_data.get("git") or {}),
        "fleet_release": release,
        "fleet_release_held": bool(data.get("hold_release")),
        "fleet_versions": _versions(rel_data),
        "fleet_infrastructure": _plain(site_data.get("infrastructure") or {}),
        "fleet_network_zone": site_data.get("network_zone"),
        "fleet_production": bool(env_data.get("production")),
        "fleet_config": config,
        "fleet_provenance": provenance,
        "fleet_file": os.path.relpath(c["path"], fleet.root),
    }


def _versions(rel_data):
    return {
        "kubernetes": (rel_data.get("kubernetes") or {}).get("version"),
        "providers": _plain(rel_data.get("providers") or []),
        "cert_manager": (rel_data.get("cert_manager") or {}).get("version"),
        "cni": _plain(rel_data.get("cni") or {}),
        "flux": (rel_data.get("flux") or {}).get("version"),
    }


def _management_host(fleet, name, path, data):
    env = data.get("environment")
    env_data = fleet.files.get(("environment", env), (None, None))[1] or {}
    release = env_data.get("release")
    rel_data = fleet.files.get(("release", release), (None, None))[1] or {}
    layers = _layers_for(fleet, env, release, None, None, name, None)
    config, provenance = merge(layers)
    infra_types = sorted({(fleet.files[("site", s)][1] or {}).get("infrastructure", {}).get("type")
                          for s in data.get("sites") or [] if fleet.files.get(("site", s), (None, None))[1]} - {None})
    return {
        "ansible_connection": "local",
        "fleet_role": "management",
        "fleet_name": name,
        "fleet_environment": env,
        "fleet_release": release,
        "fleet_versions": _versions(rel_data),
        # the providers to install: the release's, limited to infrastructure providers of the sites served
        "fleet_providers": [_plain(p) for p in rel_data.get("providers") or []
                            if p.get("type") != "infrastructure" or p.get("name") in infra_types],
        "fleet_sites": list(data.get("sites") or []),
        "fleet_access": _plain(data.get("access") or {}),
        "fleet_vault": _plain(data.get("vault") or {}),
        "fleet_git": _plain(data.get("git") or {}),
        "fleet_production": bool(env_data.get("production")),
        "fleet_config": config,
        "fleet_provenance": provenance,
        "fleet_file": os.path.relpath(path, fleet.root),
    }


def _check_cidrs(fleet, site, names, problems):
    nets = []
    for name in names:
        net = fleet.hosts[name]["fleet_config"].get("networking") or {}
        for kind in ("pod_cidrs", "service_cidrs"):
            for cidr in net.get(kind) or []:
                nets.append((name, kind, cidr))
        if net.get("node_cidr"):
            nets.append((name, "node_cidr", net["node_cidr"]))
    parsed = []
    for name, kind, cidr in nets:
        path = fleet.clusters[name]["path"]
        try:
            parsed.append((name, kind, ipaddress.ip_network(cidr, strict=False)))
        except ValueError:
            problems.add(path, "networking.%s" % kind, "%r is not a CIDR" % cidr)
    for i, (n1, k1, a) in enumerate(parsed):
        for n2, k2, b in parsed[i + 1:]:
            if n1 != n2 and a.version == b.version and a.overlaps(b):
                problems.add(fleet.clusters[n2]["path"], "networking.%s" % k2, "%s overlaps %s (%s) of cluster %r "
                             "on the same site %r" % (b, a, k1, n1, site))
