# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: load a bundle of Kubernetes objects and converge it.

Objects are applied with server-side apply under the collection's field manager;
Namespaces and CustomResourceDefinitions go first and CRDs are waited for until
Established before anything that may need them. Check mode is a server-side dry run.
"""
from __future__ import annotations

import copy
import os
import time

from ansible_collections.capstan.fleet.plugins.module_utils._kube import KubeError, yaml

FIRST_KINDS = ("Namespace", "CustomResourceDefinition")
NOISE_METADATA = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp", "selfLink")


def load_documents(definition=None, src=None):
    """Return a list of (origin, object) pairs; origin names the file and document index."""
    docs = []
    if definition is not None:
        items = definition if isinstance(definition, list) else [definition]
        for i, item in enumerate(items):
            if isinstance(item, str):
                try:
                    parsed = list(yaml.safe_load_all(item))
                except yaml.YAMLError as e:
                    raise KubeError("definition[%d] is not valid YAML: %s" % (i, e))
                docs += [("definition[%d] document %d" % (i, j), d) for j, d in enumerate(parsed) if d]
            elif item:
                docs.append(("definition[%d]" % i, item))
    if src is not None:
        paths = []
        if os.path.isdir(src):
            for root, _dirs, files in sorted(os.walk(src)):
                paths += [os.path.join(root, f) for f in sorted(files) if f.endswith((".yaml", ".yml", ".json"))]
        elif os.path.isfile(src):
            paths = [src]
        else:
            raise KubeError("src %s does not exist" % src)
        for path in paths:
            try:
                with open(path) as f:
                    parsed = list(yaml.safe_load_all(f))
            except yaml.YAMLError as e:
                raise KubeError("%s is not valid YAML: %s" % (path, e))
            docs += [("%s document %d" % (path, j), d) for j, d in enumerate(parsed) if d]
    out = []
    for origin, obj in docs:
        if obj.get("kind") == "List" or (obj.get("kind", "").endswith("List") and "items" in obj):
            out += [("%s item %d" % (origin, k), o) for k, o in enumerate(obj.get("items") or [])]
        else:
            out.append((origin, obj))
    for origin, obj in out:
        if not isinstance(obj, dict):
            raise KubeError("%s is not a Kubernetes object (a mapping)" % origin)
        missing = [k for k in ("apiVersion", "kind") if not obj.get(k)] + (
            [] if (obj.get("metadata") or {}).get("name") else ["metadata.name"]
        )
        if missing:
            raise KubeError("%s lacks %s" % (origin, ", ".join(missing)))
    return out


def ident(obj):
    m = obj.get("metadata") or {}
    ns = m.get("namespace")
    return "%s/%s%s" % (obj.get("kind"), (ns + "/") if ns else "", m.get("name"))


def normalize(obj):
    """The object without fields the server keeps changing, for diffs and comparisons."""
    if obj is None:
        return None
    o = copy.deepcopy(obj)
    meta = o.get("metadata") or {}
    for k in NOISE_METADATA:
        meta.pop(k, None)
    ann = meta.get("annotations") or {}
    ann.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if not ann:
        meta.pop("annotations", None)
    return o


def ordered(docs):
    rank = {k: i for i, k in enumerate(FIRST_KINDS)}
    return sorted(docs, key=lambda d: rank.get(d[1].get("kind"), len(FIRST_KINDS)))


def wait_crd_established(client, name, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        crd = client.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        conds = {c["type"]: c for c in ((crd or {}).get("status") or {}).get("conditions") or []}
        if conds.get("Established", {}).get("status") == "True":
            return
        if time.monotonic() > deadline:
            why = conds.get("NamesAccepted", {}).get("message") or "not Established"
            raise KubeError("CustomResourceDefinition %s is not Established after %ss: %s" % (name, timeout, why))
        time.sleep(0.2)


def converge(client, docs, state="present", check_mode=False, namespace=None):
    """Apply (or delete) each object; return per-object results and whether anything changed."""
    results = []
    changed = False
    # In check mode nothing is created, so objects that need a Namespace or a CRD of the
    # same bundle cannot be dry-run by the server: they are reported as to be created.
    pending_ns, pending_kinds = set(), set()
    for origin, obj in ordered(docs):
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if obj.get("kind") == "ClusterRole" and obj.get("aggregationRule"):
            # the aggregation controller owns the rules of an aggregated ClusterRole: applying
            # the manifest's (usually empty) rules would fight it on every run
            obj.pop("rules", None)
        if namespace and not meta.get("namespace"):
            try:
                if client.resource(obj["apiVersion"], obj["kind"])["namespaced"]:
                    meta["namespace"] = namespace
            except KubeError:
                pass  # reported with the object below
        group = obj["apiVersion"].rsplit("/", 1)[0] if "/" in obj["apiVersion"] else ""
        if check_mode and state == "present" and (meta.get("namespace") in pending_ns
                                                  or (group, obj["kind"]) in pending_kinds):
            changed = True
            results.append({"origin": origin, "id": ident(obj), "changed": True, "before": None,
                            "after": normalize(obj), "result": obj})
            continue
        try:
            before = client.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
            if state == "absent":
                after = None
                if before is not None:
                    client.delete(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"), dry_run=check_mode)
                obj_changed = before is not None
            else:
                after = client.apply(obj, dry_run=check_mode)
                # Content, not resourceVersion: the server bumps the latter for bookkeeping
                # alone (the one-time "before-first-apply" managedFields entry on the second
                # apply of an object that admission added fields to), which is no change.
                obj_changed = before is None or normalize(before) != normalize(after)
                if obj["kind"] == "CustomResourceDefinition" and not check_mode:
                    wait_crd_established(client, meta["name"])
        except KubeError as e:
            raise KubeError("%s (%s): %s" % (origin, ident(obj), e), status=e.status, reason=e.reason)
        if check_mode and before is None and state == "present":
            if obj["kind"] == "Namespace":
                pending_ns.add(meta["name"])
            elif obj["kind"] == "CustomResourceDefinition":
                spec = obj.get("spec") or {}
                pending_kinds.add((spec.get("group"), (spec.get("names") or {}).get("kind")))
        changed = changed or obj_changed
        results.append({
            "origin": origin, "id": ident(obj), "changed": obj_changed,
            "before": normalize(before), "after": normalize(after),
            "result": after if after is not None else None,
        })
    return results, changed
