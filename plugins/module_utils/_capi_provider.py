# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: install, upgrade and delete one Cluster API provider as clusterctl does.

Repositories have clusterctl's local-repository layout, on disk or behind HTTP(S):
``<manifest label>/<version>/{<type>-components.yaml, metadata.yaml}``. A clusterctl
configuration file adds ``providers:`` overrides (a URL per provider), ``images:`` overrides
and variables, as clusterctl reads it.
"""
from __future__ import annotations

import os
import re

from ansible_collections.capstan.fleet.plugins.module_utils import _capi_components as comp
from ansible_collections.capstan.fleet.plugins.module_utils._clusterctl_inventory import MANIFEST as INVENTORY_CRD
from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError
from ansible_collections.capstan.fleet.plugins.module_utils._kube import KubeError, yaml, yaml_load, yaml_load_all
from ansible_collections.capstan.fleet.plugins.module_utils._fetch import fetch
from ansible_collections.capstan.fleet.plugins.module_utils._manifest import converge, wait_ready

INVENTORY_API = "clusterctl.cluster.x-k8s.io/v1alpha3"
COMPONENT_FILES = {
    "core": "core-components.yaml", "bootstrap": "bootstrap-components.yaml",
    "control-plane": "control-plane-components.yaml", "infrastructure": "infrastructure-components.yaml",
    "ipam": "ipam-components.yaml", "runtime-extension": "runtime-extension-components.yaml",
    "addon": "addon-components.yaml",
}
TYPES_BY_KIND = {v: k for k, v in comp.PROVIDER_TYPES.items()}
VERSION_RE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$")


class ProviderError(FleetError):
    pass


def compatible_contracts(contract):
    """sigs.k8s.io/cluster-api internal/contract.GetCompatibleVersions (v1.13)."""
    return {contract, "v1beta1"} if contract == "v1beta2" else {contract}


# ---- repositories ------------------------------------------------------------------------------
class ClusterctlConfig(object):
    """What this collection reads of a clusterctl configuration file."""

    def __init__(self, path=None):
        self.providers, self.images, self.variables = {}, {}, {}
        if not path:
            return
        text = fetch(path, "the clusterctl configuration")
        try:
            data = yaml_load(text) or {}
        except yaml.YAMLError as e:
            raise ProviderError("clusterctl configuration %s is not valid YAML: %s" % (path, e))
        if not isinstance(data, dict):
            raise ProviderError("clusterctl configuration %s must hold a mapping" % path)
        for i, p in enumerate(data.get("providers") or []):
            if not isinstance(p, dict) or not p.get("name") or not p.get("url") or p.get("type") not in TYPES_BY_KIND:
                raise ProviderError("clusterctl configuration %s: providers[%d] needs name, url and a type such as "
                                    "CoreProvider" % (path, i))
            self.providers[(p["name"], TYPES_BY_KIND[p["type"]])] = p["url"]
        self.images = data.get("images") or {}
        self.variables = {k: v for k, v in data.items() if k not in ("providers", "images") and not isinstance(v, (dict, list))}


class Repository(object):
    """One provider's releases in clusterctl's layout (a base directory or URL, or a config override)."""

    def __init__(self, base, name, provider_type, config=None):
        self.name, self.type = name, provider_type
        self.label = comp.manifest_label(name, provider_type)
        self.file = COMPONENT_FILES[provider_type]
        override = (config.providers if config else {}).get((name, provider_type))
        if override:
            # the URL names a components file inside <label>/<version or latest>/
            self.root = override.rsplit("/", 2)[0]
            self.file = override.rsplit("/", 1)[1]
        elif base:
            self.root = base.rstrip("/") + "/" + self.label
        else:
            raise ProviderError("provider %s: no repository given and no providers: entry for it in the clusterctl "
                                "configuration" % self.label)

    def _location(self, version, name):
        return "%s/%s/%s" % (self.root, version, name)

    def components(self, version):
        return fetch(self._location(version, self.file), "%s %s components" % (self.label, version))

    def metadata(self, version):
        cache = self.__dict__.setdefault("_metadata", {})
        if version not in cache:
            text = fetch(self._location(version, "metadata.yaml"), "%s %s metadata.yaml" % (self.label, version))
            try:
                cache[version] = yaml_load(text) or {}
            except yaml.YAMLError as e:
                raise ProviderError("%s %s metadata.yaml is not valid YAML: %s" % (self.label, version, e))
        return cache[version]

    def versions(self):
        """Versions present in a local repository (HTTP repositories are not listed)."""
        path = self.root[len("file://"):] if self.root.startswith("file://") else self.root
        if re.match(r"^https?://", path) or not os.path.isdir(path):
            return []
        return sorted((v for v in os.listdir(path) if VERSION_RE.match(v)), key=parse_version)

    def contract(self, version):
        m = VERSION_RE.match(version or "")
        if not m:
            raise ProviderError("provider %s: %r is not a version such as v1.10.5" % (self.label, version))
        major, minor = int(m.group(1)), int(m.group(2))
        series = self.metadata(version).get("releaseSeries") or []
        for s in series:
            if s.get("major") == major and s.get("minor") == minor:
                return s.get("contract")
        raise ProviderError("provider %s: metadata.yaml of %s has no release series for %d.%d (it has %s)" % (
            self.label, version, major, minor,
            ", ".join("%s.%s" % (s.get("major"), s.get("minor")) for s in series) or "none"))


def parse_version(v):
    m = VERSION_RE.match(v)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


# ---- the cluster side ----------------------------------------------------------------------------
def installed_providers(client):
    """The inventory, whoever wrote it (clusterctl or this collection)."""
    try:
        return client.list(INVENTORY_API, "Provider")
    except KubeError as e:
        if e.status == 404:
            return []
        raise


def ensure_inventory_crd(client, check_mode):
    docs = [("clusterctl inventory CRD", d) for d in yaml_load_all(INVENTORY_CRD) if d]
    for _origin, d in docs:
        d.setdefault("metadata", {}).setdefault("labels", {})[comp.CLUSTERCTL_LABEL + "/core"] = "inventory"
    if client.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", docs[0][1]["metadata"]["name"]):
        return False
    converge(client, docs, check_mode=check_mode)
    return True


def wait_deployments(client, namespace, label, timeout):
    """Provider Deployments rolled out and Available, as `clusterctl init --wait-providers`."""
    deployments = client.list("apps/v1", "Deployment", namespace,
                              label_selector="%s=%s" % (comp.PROVIDER_LABEL, label))
    for d in deployments:
        d["apiVersion"], d["kind"] = "apps/v1", "Deployment"
    try:
        wait_ready(client, deployments, timeout)
    except KubeError as e:
        raise ProviderError("provider %s: Deployments %s" % (label, e))


def check_contract(repo, contract, cores, core_repo_for, core_contract=None):
    """Refuse what clusterctl refuses: a provider whose contract the core provider is not compatible with.

    ``core_contract`` is the contract of the core provider the same run installs or upgrades to;
    without it, the installed core provider's."""
    if repo.type == "core":
        return
    if core_contract is None:
        if not cores:
            raise ProviderError("provider %s: no core provider is installed; install cluster-api first" % repo.label)
        core = cores[0]
        core_contract = core_repo_for(core).contract(core["version"])
    allowed = compatible_contracts(core_contract)
    if contract not in allowed:
        raise ProviderError(
            "installing provider %r could lead to a non functioning management cluster: the target version for the "
            "provider implements the %s contract version, while the core provider is compatible with %s contract "
            "versions" % (repo.label, contract, ",".join(sorted(allowed))))


def _key(obj):
    m = obj["metadata"]
    return (obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else "", obj["kind"], m.get("namespace"), m["name"])


def _stale_objects(client, repo, old_version, new_objects, lookup, images, namespace):
    """Objects of the installed version that the new one no longer has (CRDs and the Namespace stay)."""
    keep = {_key(o) for o in new_objects}
    try:
        old = comp.process(repo.components(old_version), repo.name, repo.type, lookup, images, namespace)["objects"]
    except FleetError:
        old = []  # the old release is not in the repository: look the objects up by label instead
    if not old:
        for kind in sorted({(o["apiVersion"], o["kind"]) for o in new_objects}):
            try:
                res = client.resource(*kind)
            except KubeError:
                continue
            old += client.list(kind[0], kind[1], namespace if res["namespaced"] else None,
                               label_selector="%s=%s" % (comp.PROVIDER_LABEL, repo.label))
    return [o for o in old if o["kind"] not in ("CustomResourceDefinition", "Namespace") and _key(o) not in keep]


def ensure_provider(client, repo, version, lookup, images=None, target_namespace=None, state="present",
                    wait=True, timeout=300, check_mode=False, core_repo_for=None, delete_crds=False,
                    core_contract=None, inventory=None):
    """Converge one provider; returns a result dict (changed, action, objects, removed, inventory).

    ``inventory`` is clusterctl's inventory as read before (read here when not given)."""
    if inventory is None:
        inventory = installed_providers(client)
    current = next((p for p in inventory if p.get("providerName") == repo.name
                    and p.get("type") == comp.PROVIDER_TYPES[repo.type]), None)
    if state == "absent":
        if current is None:
            return {"changed": False, "action": "none", "objects": [], "removed": []}
        cur_version = current.get("version")
        namespace = current["metadata"]["namespace"]
        objs = comp.process(repo.components(cur_version), repo.name, repo.type, lookup, images, namespace)["objects"]
        doomed = [o for o in objs if o["kind"] != "Namespace" and (delete_crds or o["kind"] != "CustomResourceDefinition")]
        doomed.append(current)
        results, changed = converge(client, [("installed", o) for o in doomed], state="absent", check_mode=check_mode)
        return {"changed": changed, "action": "delete", "objects": [], "removed": [r["id"] for r in results if r["changed"]]}

    processed = comp.process(repo.components(version), repo.name, repo.type, lookup, images, target_namespace
                             or (current["metadata"]["namespace"] if current else None))
    contract = repo.contract(version)
    cores = [p for p in inventory if p.get("type") == "CoreProvider"]
    if repo.type != "core":
        check_contract(repo, contract, cores, core_repo_for, core_contract)
    elif current is None and cores:
        raise ProviderError("there must be one core provider: %s is already installed in %s"
                            % (cores[0]["metadata"]["name"], cores[0]["metadata"]["namespace"]))
    crd_changed = ensure_inventory_crd(client, check_mode)
    results, changed = converge(client, [("%s %s" % (repo.label, version), o) for o in processed["objects"]],
                                check_mode=check_mode)
    removed = []
    action = "install" if current is None else ("upgrade" if current.get("version") != version else "none")
    if action == "upgrade":
        stale = _stale_objects(client, repo, current["version"], processed["objects"], lookup, images,
                               processed["namespace"])
        if stale:
            res, _ch = converge(client, [("stale", o) for o in stale], state="absent", check_mode=check_mode)
            removed = [r["id"] for r in res if r["changed"]]
    inv = comp.inventory_object(repo.name, repo.type, version, processed["namespace"])
    if current is not None:
        # keep what clusterctl may have recorded (watchedNamespace) and its own labels
        inv["metadata"]["labels"] = dict(current["metadata"].get("labels") or {}, **inv["metadata"]["labels"])
        if current.get("watchedNamespace"):
            inv["watchedNamespace"] = current["watchedNamespace"]
    if crd_changed and check_mode:
        inv_changed = True  # the inventory CRD does not exist yet: nothing to dry-run against
    else:
        _inv_results, inv_changed = converge(client, [("inventory", inv)], check_mode=check_mode)
    if wait and not check_mode:
        wait_deployments(client, processed["namespace"], repo.label, timeout)
    changed = changed or bool(removed) or inv_changed or crd_changed
    return {
        "changed": changed,
        "action": action if changed else "none",
        "label": repo.label,
        "version": version,
        "previous_version": current.get("version") if current else None,
        "contract": contract,
        "namespace": processed["namespace"],
        "images": processed["images"],
        "objects": [r["id"] for r in results if r["changed"]],
        "removed": removed,
        "diffs": [r for r in results if r["changed"]],
    }


def ensure_providers(client, entries, lookup, images=None, state="present", wait=True, timeout=300,
                     check_mode=False, core_repo_for=None, delete_crds=False):
    """Converge a set of providers in one go, as `clusterctl init` takes a set: the core provider
    first (and, when the set holds it, its new contract is the one the others are checked
    against, so a whole release moves across a contract change in one run), then the others,
    then one wait for all their Deployments. ``entries`` holds (Repository, version, namespace)."""
    if state == "absent":
        order = sorted(entries, key=lambda e: e[0].type == "core")  # the core provider last
    else:
        order = sorted(entries, key=lambda e: e[0].type != "core")
        labels = [e[0].label for e in entries]
        twice = sorted(set(x for x in labels if labels.count(x) > 1))
        if twice:
            raise ProviderError("providers: %s listed more than once" % ", ".join(twice))
    core = next((e for e in order if e[0].type == "core"), None)
    core_contract = core[0].contract(core[1]) if core is not None and state == "present" else None
    results = []
    # each provider looks up its own entry only, which the others do not change: read it once
    inventory = installed_providers(client)
    for repo, version, namespace in order:
        try:
            res = ensure_provider(client, repo, version, lookup, images, namespace, state, False, timeout, check_mode,
                                  core_repo_for, delete_crds, core_contract, inventory)
        except FleetError as e:
            done = ", ".join("%s %s" % (r["label"], r["action"]) for r in results if r.get("changed"))
            raise type(e)("%s%s" % (e, " (already done in this run: %s)" % done if done else ""))
        res.setdefault("label", repo.label)
        results.append(res)
    if wait and state == "present" and not check_mode:
        for res in results:
            wait_deployments(client, res["namespace"], res["label"], timeout)
    return results


def provider_info(client, repo_for):
    """The inventory with each provider's contract and the newer versions its repository holds.

    ``repo_for(name, type)`` returns a Repository or None. ``upgrades`` maps each contract the
    management cluster can move to (those of the core provider's newer versions, and its own) to
    the newest version of the provider compatible with it - the NEXT VERSION column of
    `clusterctl upgrade plan` for that contract.
    """
    out = []
    for p in sorted(installed_providers(client), key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"])):
        ptype = TYPES_BY_KIND.get(p.get("type"))
        entry = {
            "name": p.get("providerName"), "type": ptype, "label": p["metadata"]["name"],
            "namespace": p["metadata"]["namespace"], "version": p.get("version"),
            "watched_namespace": p.get("watchedNamespace", ""), "contract": None, "upgrades": {}, "newer": [],
        }
        repo = repo_for(entry["name"], ptype) if ptype else None
        if repo is not None:
            try:
                entry["contract"] = repo.contract(entry["version"])
            except FleetError as e:
                entry["error"] = str(e)
            for v in repo.versions():
                if parse_version(v) <= parse_version(entry["version"] or "v0.0.0"):
                    continue
                try:
                    entry["newer"].append({"version": v, "contract": repo.contract(v)})
                except FleetError:
                    continue
        out.append(entry)
    core = next((e for e in out if e["type"] == "core"), None)
    targets = set()
    if core is not None:
        targets = {n["contract"] for n in core["newer"]} | ({core["contract"]} if core["contract"] else set())
    for entry in out:
        for target in targets:
            allowed = compatible_contracts(target)
            fitting = [n["version"] for n in entry["newer"] if n["contract"] in allowed]
            if fitting:
                entry["upgrades"][target] = fitting[-1]  # versions() is sorted: the newest
    return out
