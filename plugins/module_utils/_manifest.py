# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: load a bundle of Kubernetes objects and converge it.

Objects are applied with server-side apply under the collection's field manager;
Namespaces and CustomResourceDefinitions go first and CRDs are waited for until
Established before anything that may need them; the other objects are applied in
parallel. Check mode is a server-side dry run. An ApplySet (kubectl's parent-object
scheme, same labels and annotations) records what a bundle applied, so that objects
dropped from the bundle can be pruned; waits cover workload rollouts and conditions.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError
from ansible_collections.capstan.fleet.plugins.module_utils._fetch import fetch, is_url
from ansible_collections.capstan.fleet.plugins.module_utils._kube import KubeError, yaml, yaml_load_all

FIRST_KINDS = ("Namespace", "CustomResourceDefinition")
NOISE_METADATA = ("resourceVersion", "managedFields", "generation", "uid", "creationTimestamp", "selfLink")


def load_documents(definition=None, src=None, validate_certs=True, ca_cert=None):
    """Return a list of (origin, object) pairs; origin names the file (or URL) and document index.

    ``src`` is a file, a directory, an HTTP(S) URL, or a list of them.
    """
    docs = []
    if definition is not None:
        items = definition if isinstance(definition, list) else [definition]
        for i, item in enumerate(items):
            if isinstance(item, str):
                try:
                    parsed = list(yaml_load_all(item))
                except yaml.YAMLError as e:
                    raise KubeError("definition[%d] is not valid YAML: %s" % (i, e))
                docs += [("definition[%d] document %d" % (i, j), d) for j, d in enumerate(parsed) if d]
            elif item:
                docs.append(("definition[%d]" % i, item))
    for location in ([] if src is None else src if isinstance(src, list) else [src]):
        if is_url(location):
            try:
                text = fetch(location, "src", validate_certs, ca_cert)
            except FleetError as e:
                raise KubeError(str(e))
            try:
                parsed = list(yaml_load_all(text))
            except yaml.YAMLError as e:
                raise KubeError("%s is not valid YAML: %s" % (location, e))
            docs += [("%s document %d" % (location, j), d) for j, d in enumerate(parsed) if d]
            continue
        paths = []
        location = os.path.expanduser(location)
        if os.path.isdir(location):
            for root, dirs, files in os.walk(location):
                dirs.sort()
                paths += [os.path.join(root, f) for f in sorted(files) if f.endswith((".yaml", ".yml", ".json"))]
        elif os.path.isfile(location):
            paths = [location]
        else:
            raise KubeError("src %s does not exist" % location)
        for path in paths:
            try:
                with open(path) as f:
                    parsed = list(yaml_load_all(f))
            except yaml.YAMLError as e:
                raise KubeError("%s is not valid YAML: %s" % (path, e))
            except OSError as e:
                raise KubeError("cannot read %s: %s" % (path, e))
            docs += [("%s document %d" % (path, j), d) for j, d in enumerate(parsed) if d]
    out = []
    for origin, obj in docs:
        if obj.get("kind") == "List" or (obj.get("kind", "").endswith("List") and "items" in obj):
            out += [("%s item %d" % (origin, k), o) for k, o in enumerate(obj.get("items") or [])]
        else:
            out.append((origin, obj))
    for origin, obj in docs:
        if not isinstance(obj, dict):
            raise KubeError("%s is not a Kubernetes object (a mapping)" % origin)
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
    ann.pop(DIGEST_ANNOTATION, None)
    if not ann:
        meta.pop("annotations", None)
    return o


REDACTED = "<redacted>"
REDACTED_CHANGED = "<redacted, changed>"


def redact(obj, before=None):
    """A Secret with its values replaced, for results and diffs (never the values, nor a hash of
    them: a hash of a short password is guessable); with ``before``, changed values say so."""
    if not obj or obj.get("kind") != "Secret":
        return obj
    out = dict(obj)
    for field in ("data", "stringData"):
        if isinstance(obj.get(field), dict):
            old = ((before or {}).get(field) or {}) if before is not None else None
            out[field] = {k: REDACTED_CHANGED if old is not None and old.get(k) != v else REDACTED
                          for k, v in obj[field].items()}
    return out


def secret_values(docs):
    """The values of the Secrets in a bundle (and the decoded form of ``data``), for Ansible to mask
    wherever they would show - the echoed module arguments at -v included."""
    found = set()
    for _origin, obj in docs:
        if obj.get("kind") != "Secret":
            continue
        for v in (obj.get("stringData") or {}).values():
            found.add(str(v))
        for v in (obj.get("data") or {}).values():
            found.add(str(v))
            try:
                found.add(base64.b64decode(str(v)).decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                pass
    return set(v for v in found if v)


# ---- skipping applies that would change nothing -----------------------------------------------
# Every applied object carries the digest of the configuration applied to it. When the live
# object carries the digest of the configuration about to be applied (so the set of fields this
# collection owns is the same) and still holds every value of that configuration, the apply
# would change nothing and is not sent: a re-run costs one read instead of one write per object.
# Anything else - another value, a field someone removed, a configuration that lost a field -
# goes to the server as usual.
DIGEST_ANNOTATION = "capstan.fleet/applied-digest"


def config_digest(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]


# The API server hands some values back in another form than they were applied in: a field set
# to its zero value is left out of the object (omitempty: Calico's CRDs say
# preserveUnknownFields: false, volume mounts readOnly: false), and a resource quantity comes
# back canonical (Flux's cpu limit "1000m" reads "1", a ResourceQuota's 1000 pods "1k"). Neither
# is a difference; without this, a re-run re-sent 29 of the 70 objects of a CNI and Flux push.
# Quantities are compared by value only where Kubernetes keeps quantities (resource maps, sizeLimit).
QUANTITY_MAPS = frozenset(("limits", "requests", "hard", "capacity", "allocatable", "overhead",
                           "max", "min", "default", "defaultRequest", "maxLimitRequestRatio"))
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:[eE]([+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$")
_SUFFIX = dict({"": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3")},
               **{s: Decimal(10) ** (3 * (i + 1)) for i, s in enumerate("kMGTPE")},
               **{s + "i": Decimal(2) ** (10 * (i + 1)) for i, s in enumerate("KMGTPE")})


def quantity(value):
    """A Kubernetes resource quantity's value (a Decimal), or None when ``value`` is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    m = _QUANTITY.match(str(value).strip())
    if not m:
        return None
    number = Decimal(m.group(1))
    return number * (Decimal(10) ** int(m.group(2)) if m.group(2) else _SUFFIX[m.group(3) or ""])


def _zero(value):
    """A value the server leaves out of the object it returns (omitempty)."""
    if isinstance(value, bool):
        return value is False
    return value in (0, "") or value == [] or value == {}


def _child_quantities(key, value, quantities):
    return key in QUANTITY_MAPS if isinstance(value, dict) else (quantities or key == "sizeLimit")


def contained(want, have, quantities=False):
    """Whether every value of ``want`` is in ``have`` (extra keys of ``have`` are defaults; a
    zero value may be left out, a quantity may be written another way - see above)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            (have.get(k) is None) if v is None else
            (contained(v, have[k], _child_quantities(k, v, quantities)) if k in have else _zero(v))
            for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(contained(w, h) for w, h in zip(want, have))
    if isinstance(want, bool) or isinstance(have, bool):
        return want is have
    if want == have or not quantities:
        return want == have
    value = quantity(want)
    return value is not None and value == quantity(have)


def _spec_of(config):
    """The configuration as the server applies it: a ``status`` in a manifest (Calico's CRDs have
    an empty one) is not written by an apply and never matches the live status."""
    return {k: v for k, v in config.items() if k != "status"}


def unchanged(config, live):
    want = (config["metadata"].get("annotations") or {}).get(DIGEST_ANNOTATION)
    have = ((live.get("metadata") or {}).get("annotations") or {}).get(DIGEST_ANNOTATION)
    return want is not None and want == have and contained(_spec_of(config), live)


def differing(want, have, path="", quantities=False):
    """The dotted paths where ``have`` does not hold the values of ``want`` (names only, never values)."""
    if not path and isinstance(want, dict) and "status" in want:
        want = _spec_of(want)
    if isinstance(want, dict) and isinstance(have, dict):
        out = []
        for k, v in want.items():
            sub = "%s.%s" % (path, k) if path else k
            if v is None:
                if have.get(k) is not None:
                    out.append(sub)
            elif k not in have:
                if not _zero(v):
                    out.append(sub)
            else:
                out += differing(v, have[k], sub, _child_quantities(k, v, quantities))
        return out
    return [] if contained(want, have, quantities) else [path or "."]


def group_of(api_version):
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def group_kind(obj):
    """kubectl's GroupKind string: ``Kind.group``, or ``Kind`` for the core group."""
    group = group_of(obj["apiVersion"])
    return "%s.%s" % (obj["kind"], group) if group else obj["kind"]


def ordered(docs):
    rank = {k: i for i, k in enumerate(FIRST_KINDS)}
    return sorted(docs, key=lambda d: rank.get(d[1].get("kind"), len(FIRST_KINDS)))


def _backoff(first=0.02, factor=1.5, cap=0.5):
    delay = first
    while True:
        yield delay
        delay = min(delay * factor, cap)


def wait_crds_established(client, names, timeout=60):
    """Wait until every named CRD is Established (usually milliseconds: poll fast, then slower)."""
    deadline = time.monotonic() + timeout
    pending = list(names)
    delays = _backoff()
    while pending:
        waiting = []
        for name in pending:
            crd = client.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
            conds = _conds(crd)
            if conds.get("Established", {}).get("status") != "True":
                waiting.append((name, conds.get("NamesAccepted", {}).get("message") or "not Established"))
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise KubeError("CustomResourceDefinition %s is not Established after %ss: %s"
                            % (waiting[0][0], timeout, waiting[0][1]))
        pending = [n for n, _why in waiting]
        time.sleep(next(delays))


# ---- ApplySet ---------------------------------------------------------------------------------
# kubectl's ApplySet scheme (KEP-3659), read from k8s.io/kubectl pkg/cmd/apply/applyset.go: a
# parent object carries the set's id label and the kinds and namespaces of its members; every
# member carries the part-of label. The tooling annotation keeps kubectl and this collection from
# pruning each other's sets.
APPLYSET_ID_LABEL = "applyset.kubernetes.io/id"
APPLYSET_PART_OF_LABEL = "applyset.kubernetes.io/part-of"
APPLYSET_TOOLING = "applyset.kubernetes.io/tooling"
APPLYSET_GKS = "applyset.kubernetes.io/contains-group-kinds"
APPLYSET_NAMESPACES = "applyset.kubernetes.io/additional-namespaces"
TOOLING = "capstan.fleet/v1"
DELETE_LAST = {"CustomResourceDefinition": 1, "Namespace": 2}


class ApplySet(object):
    def __init__(self, name, namespace, kind="Secret"):
        if kind not in ("Secret", "ConfigMap"):
            raise KubeError("applyset.kind must be Secret or ConfigMap, not %s" % kind)
        self.name, self.namespace, self.kind = name, namespace, kind
        raw = ".".join([name, namespace, kind, ""]).encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")
        self.id = "applyset-%s-v1" % digest
        self.gks, self.namespaces, self.exists = set(), set(), False

    @property
    def ref(self):
        return "%s/%s/%s" % (self.kind, self.namespace, self.name)

    def read(self, client):
        parent = client.get("v1", self.kind, self.name, self.namespace)
        if parent is None:
            return self
        meta = parent.get("metadata") or {}
        labels, ann = meta.get("labels") or {}, meta.get("annotations") or {}
        if labels.get(APPLYSET_ID_LABEL) not in (None, self.id):
            raise KubeError("%s carries applyset id %s, not %s" % (self.ref, labels[APPLYSET_ID_LABEL], self.id))
        tooling = ann.get(APPLYSET_TOOLING)
        if tooling and tooling.split("/", 1)[0] != TOOLING.split("/", 1)[0]:
            raise KubeError("%s is the ApplySet of %s, not of capstan.fleet; give another applyset name"
                            % (self.ref, tooling))
        self.exists = APPLYSET_ID_LABEL in labels
        self.gks = set(x for x in (ann.get(APPLYSET_GKS) or "").split(",") if x)
        self.namespaces = set(x for x in (ann.get(APPLYSET_NAMESPACES) or "").split(",") if x)
        return self

    def parent(self, gks, namespaces):
        return {
            "apiVersion": "v1", "kind": self.kind,
            "metadata": {
                "name": self.name, "namespace": self.namespace,
                "labels": {APPLYSET_ID_LABEL: self.id},
                "annotations": {
                    APPLYSET_TOOLING: TOOLING,
                    APPLYSET_GKS: ",".join(sorted(gks)),
                    APPLYSET_NAMESPACES: ",".join(sorted(set(namespaces) - {self.namespace})),
                },
            },
        }

    def members(self, client, gks, namespaces):
        """Every object of the given kinds (in the given namespaces) labelled as part of this set."""
        found = []
        selector = "%s=%s" % (APPLYSET_PART_OF_LABEL, self.id)
        for gk in sorted(gks):
            kind, _sep, group = gk.partition(".")
            try:
                api_version, res = client.resource_for_group_kind(group, kind)
            except KubeError as e:
                if e.status == 404:
                    continue  # the kind is gone (its CRD was deleted): nothing left to prune
                raise
            scopes = sorted(set(namespaces) | {self.namespace}) if res["namespaced"] else [None]
            for ns in scopes:
                for item in client.list(api_version, kind, ns, label_selector=selector):
                    item["apiVersion"], item["kind"] = api_version, kind
                    found.append(item)
        return found


# ---- waits -----------------------------------------------------------------------------------
def _conds(obj):
    return {c.get("type"): c for c in ((obj or {}).get("status") or {}).get("conditions") or []}


def rollout_pending(obj):
    """None when a workload is rolled out, else why not (the logic of `kubectl rollout status`)."""
    kind, spec, status = obj["kind"], obj.get("spec") or {}, obj.get("status") or {}
    if kind not in WORKLOAD_KINDS:
        return None
    meta = obj.get("metadata") or {}
    if meta.get("generation", 0) > status.get("observedGeneration", -1):
        return "waiting for the controller to observe generation %s" % meta.get("generation")
    if kind == "Deployment":
        prog = _conds(obj).get("Progressing") or {}
        if prog.get("reason") == "ProgressDeadlineExceeded":
            return "exceeded its progress deadline: %s" % prog.get("message")
        want = spec.get("replicas", 1)
        if status.get("updatedReplicas", 0) < want:
            return "%d of %d replicas updated" % (status.get("updatedReplicas", 0), want)
        if status.get("replicas", 0) > status.get("updatedReplicas", 0):
            return "%d old replicas pending termination" % (status["replicas"] - status.get("updatedReplicas", 0))
        if status.get("availableReplicas", 0) < status.get("updatedReplicas", 0):
            avail = _conds(obj).get("Available") or {}
            return "%d of %d updated replicas available%s" % (
                status.get("availableReplicas", 0), status.get("updatedReplicas", 0),
                " (%s: %s)" % (avail.get("reason"), avail.get("message")) if avail else "")
        return None
    if kind == "StatefulSet":
        want = spec.get("replicas", 1)
        if status.get("readyReplicas", 0) < want:
            return "%d of %d pods ready" % (status.get("readyReplicas", 0), want)
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate" and \
                not (strategy.get("rollingUpdate") or {}).get("partition") and \
                status.get("updateRevision") != status.get("currentRevision"):
            return "%d of %d pods at the new revision" % (status.get("updatedReplicas", 0), want)
        return None
    if kind == "DaemonSet":
        want = status.get("desiredNumberScheduled", 0)
        if status.get("updatedNumberScheduled", 0) < want:
            return "%d of %d pods updated" % (status.get("updatedNumberScheduled", 0), want)
        if status.get("numberAvailable", 0) < want:
            return "%d of %d updated pods available" % (status.get("numberAvailable", 0), want)
        return None
    return None


def condition_pending(obj, condition):
    cond = _conds(obj).get(condition["type"])
    want = condition.get("status") or "True"
    if cond is None:
        return "no %s condition yet" % condition["type"]
    if cond.get("status") != want:
        return "%s=%s (%s)" % (condition["type"], cond.get("status"),
                               cond.get("message") or cond.get("reason") or "no message")
    if condition.get("reason") and cond.get("reason") != condition["reason"]:
        return "%s reason %s, not %s" % (condition["type"], cond.get("reason"), condition["reason"])
    return None


def wait_ready(client, objects, timeout=300, condition=None):
    """Wait until every workload among ``objects`` is rolled out and, when ``condition`` is given,
    every object it selects has the condition. Raises naming each object that is not ready and why."""
    watched = []
    for obj in objects:
        if condition and condition.get("kind") in (None, obj["kind"]):
            watched.append((obj, lambda o: condition_pending(o, condition)))
        elif obj["kind"] in WORKLOAD_KINDS:
            watched.append((obj, rollout_pending))
    deadline = time.monotonic() + timeout
    delays = _backoff(0.1, 1.5, 1.0)
    while watched:
        waiting = []
        for obj, check in watched:
            meta = obj["metadata"]
            live = client.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
            why = "does not exist" if live is None else check(live)
            if why:
                waiting.append((obj, check, why))
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise KubeError("not ready after %ss: %s" % (
                timeout, "; ".join("%s: %s" % (ident(o), why) for o, _c, why in waiting)))
        watched = [(o, c) for o, c, _w in waiting]
        time.sleep(next(delays))


def wait_gone(client, objects, timeout=300):
    """Wait until none of ``objects`` exists any more (finalizers done). Raises naming the ones left
    and the finalizers that hold them."""
    deadline = time.monotonic() + timeout
    delays = _backoff(0.1, 1.5, 2.0)
    left = list(objects)
    while left:
        still = []
        for obj in left:
            meta = obj["metadata"]
            live = client.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
            if live is not None:
                still.append((obj, live))
        if not still:
            return
        if time.monotonic() > deadline:
            raise KubeError("still there after %ss: %s" % (timeout, "; ".join(
                "%s (finalizers: %s)" % (ident(o), ", ".join((live.get("metadata") or {}).get("finalizers") or []) or "none")
                for o, live in still)))
        left = [o for o, _l in still]
        time.sleep(next(delays))


# ---- converge --------------------------------------------------------------------------------
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
PREFETCH_MIN = 4  # objects of one kind in one namespace from which one LIST beats a GET each


def _key(obj):
    meta = obj.get("metadata") or {}
    return (group_of(obj["apiVersion"]), obj["kind"], meta.get("namespace") or "", meta["name"])


class _Run(object):
    def __init__(self, client, state, check_mode, namespace, applyset, overwrite=True):
        self.client, self.state, self.check_mode = client, state, check_mode
        self.overwrite = overwrite
        self.namespace, self.applyset = namespace, applyset
        self.pending_ns, self.pending_kinds = set(), set()
        self.before = {}

    def prepare(self, obj):
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if obj.get("kind") == "ClusterRole" and obj.get("aggregationRule"):
            # the aggregation controller owns the rules of an aggregated ClusterRole: applying
            # the manifest's (usually empty) rules would fight it on every run
            obj.pop("rules", None)
        if self.namespace and not meta.get("namespace"):
            try:
                if self.client.resource(obj["apiVersion"], obj["kind"])["namespaced"]:
                    meta["namespace"] = self.namespace
            except KubeError:
                pass  # reported with the object when it is applied
        if self.applyset is not None and self.state == "present":
            meta.setdefault("labels", {})[APPLYSET_PART_OF_LABEL] = self.applyset.id
        if self.state == "present":
            meta.setdefault("annotations", {})[DIGEST_ANNOTATION] = config_digest(obj)
        return obj

    def prefetch(self, objs):
        """One LIST per (kind, namespace) that many objects share, instead of a GET each."""
        groups = {}
        for obj in objs:
            meta = obj["metadata"]
            groups.setdefault((obj["apiVersion"], obj["kind"], meta.get("namespace")), []).append(obj)
        for (api_version, kind, ns), members in groups.items():
            members = [o for o in members if _key(o) not in self.before]  # read by the caller already
            if len(members) < PREFETCH_MIN or self.is_pending(members[0]):
                continue
            try:
                if self.client.resource(api_version, kind)["namespaced"] and not ns:
                    continue
                items = self.client.list(api_version, kind, ns)
            except KubeError:
                continue  # the objects are tried one by one and report their own error
            known = dict.fromkeys((_key(o) for o in members))
            for item in items:
                item["apiVersion"], item["kind"] = api_version, kind
                k = _key(item)
                if k in known:
                    self.before[k] = item
            for k in known:
                self.before.setdefault(k, None)

    def is_pending(self, obj):
        meta = obj["metadata"]
        return self.check_mode and self.state == "present" and (
            meta.get("namespace") in self.pending_ns or (group_of(obj["apiVersion"]), obj["kind"]) in self.pending_kinds)

    def one(self, origin, obj):
        meta = obj["metadata"]
        if self.is_pending(obj):
            # In check mode nothing is created, so an object that needs a Namespace or a CRD of
            # the same bundle cannot be dry-run by the server: it is reported as to be created.
            return {"origin": origin, "id": ident(obj), "changed": True, "before": None,
                    "after": normalize(obj), "result": obj, "object": obj}
        client = self.client
        try:
            k = _key(obj)
            if k in self.before:
                before = self.before[k]
            else:
                before = client.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
            if self.state == "absent":
                after = None
                if before is not None:
                    client.delete(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"),
                                  dry_run=self.check_mode)
                obj_changed = before is not None
            elif before is not None and unchanged(obj, before):
                after, obj_changed = copy.deepcopy(before), False
            elif before is not None and not self.overwrite:
                config = copy.deepcopy(obj)
                config["metadata"]["annotations"].pop(DIGEST_ANNOTATION, None)
                if not config["metadata"]["annotations"]:
                    del config["metadata"]["annotations"]
                fields = differing(config, before)
                if fields:
                    raise KubeError("exists with other values than this configuration in %s, and overwrite=false "
                                    "leaves existing objects alone" % ", ".join(fields))
                after, obj_changed = copy.deepcopy(before), False
            else:
                try:
                    after = client.apply(obj, dry_run=self.check_mode)
                except KubeError as e:
                    if not (self.check_mode and before is None and e.status == 404 and meta.get("namespace")
                            and 'namespaces "%s" not found' % meta["namespace"] in str(e)):
                        raise
                    # check mode: its Namespace does not exist yet - an earlier task of a real run
                    # makes it (a play's first run in --check) - so it is reported as to be created
                    self.pending_ns.add(meta["namespace"])
                    return {"origin": origin, "id": ident(obj), "changed": True, "before": None,
                            "after": normalize(obj), "result": obj, "object": obj}
                # Content, not resourceVersion: the server bumps the latter for bookkeeping
                # alone (the one-time "before-first-apply" managedFields entry on the second
                # apply of an object that admission added fields to), which is no change.
                obj_changed = before is None or normalize(before) != normalize(after)
        except KubeError as e:
            raise e.within("%s (%s)" % (origin, ident(obj)))
        if self.check_mode and before is None and self.state == "present":
            if obj["kind"] == "Namespace":
                self.pending_ns.add(meta["name"])
            elif obj["kind"] == "CustomResourceDefinition":
                spec = obj.get("spec") or {}
                self.pending_kinds.add((spec.get("group"), (spec.get("names") or {}).get("kind")))
        if after is not None:
            # managedFields is bookkeeping, often the larger half of an object: out of the result
            (after.get("metadata") or {}).pop("managedFields", None)
        return {"origin": origin, "id": ident(obj), "changed": obj_changed, "before": normalize(before),
                "after": normalize(after), "result": after, "object": obj}


def _run_parallel(fn, items, workers):
    """fn(*item) for every item, ``workers`` at a time; results in order; the first error (in
    order) raised once all have run, naming how many others failed too."""
    if workers <= 1 or len(items) <= 1:
        outcomes = []
        for item in items:
            try:
                outcomes.append((fn(*item), None))
            except KubeError as e:
                outcomes.append((None, e))
    else:
        def guarded(item):
            try:
                return fn(*item), None
            except KubeError as e:
                return None, e
        with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
            outcomes = list(pool.map(guarded, items))
    errors = [e for _r, e in outcomes if e is not None]
    if errors:
        more = " (and %d more object(s) failed)" % (len(errors) - 1) if len(errors) > 1 else ""
        raise KubeError(str(errors[0]) + more, status=errors[0].status, reason=errors[0].reason,
                        retryable=all(e.retryable for e in errors))
    return [r for r, _e in outcomes]


def _apply_parent(client, applyset, gks, namespaces):
    if applyset.exists and (set(gks), set(namespaces) - {applyset.namespace}) == (applyset.gks, applyset.namespaces):
        return  # the parent already says so: no write
    try:
        client.apply(applyset.parent(gks, namespaces))
    except KubeError as e:
        raise e.within("ApplySet parent %s" % applyset.ref)


def object_key(obj):
    """What identifies an object (a definition or a live one) for ``converge``'s ``known``."""
    return _key(obj)


def converge(client, docs, state="present", check_mode=False, namespace=None, applyset=None,
             prune=False, workers=8, overwrite=True, known=None):
    """Apply (or delete) each object; return per-object results and whether anything changed.

    With ``applyset`` (an ApplySet) the objects are recorded as its members; with ``prune`` the
    members that are no longer in ``docs`` are deleted (all of them for ``state=absent``), and
    their results carry ``pruned: True``. With ``overwrite=False`` an object that exists is left as
    it is when it holds the configured values, and is an error (naming the fields) when it does not.
    ``known``: live objects the caller has just read ({object_key: object, or None when absent}),
    not read again.
    """
    run = _Run(client, state, check_mode, namespace, applyset, overwrite)
    run.before.update(known or {})
    docs = ordered(docs) if state == "present" else list(reversed(ordered(docs)))
    first = [(o, run.prepare(d)) for o, d in docs if d.get("kind") in FIRST_KINDS]
    rest = [(o, run.prepare(d)) for o, d in docs if d.get("kind") not in FIRST_KINDS]
    everything = first + rest
    cur_gks = set(group_kind(d) for _o, d in everything)
    cur_nss = set(d["metadata"].get("namespace") for _o, d in everything) - {None}
    prior = None
    if applyset is not None:
        applyset.read(client)
        prior = (set(applyset.gks), set(applyset.namespaces))
        if state == "present" and not check_mode:
            # the superset first, so that a run that fails half-way still knows every member
            _apply_parent(client, applyset, prior[0] | cur_gks, prior[1] | cur_nss)
    results = []
    if state == "present":
        # Namespaces one by one, then the CRDs together, then wait for the CRDs to be Established
        # before anything that may be one of their objects
        results += [run.one(o, d) for o, d in first if d["kind"] == "Namespace"]
        crds = _run_parallel(run.one, [(o, d) for o, d in first if d["kind"] != "Namespace"], workers)
        results += crds
        if not check_mode:
            wait_crds_established(client, [r["object"]["metadata"]["name"] for r in crds if r["changed"]])
        run.prefetch([d for _o, d in rest])
        results += _run_parallel(run.one, rest, workers)
    else:
        run.prefetch([d for _o, d in rest])
        results += _run_parallel(run.one, rest, workers)
        results += [run.one(o, d) for o, d in first]
    changed = any(r["changed"] for r in results)
    if applyset is not None:
        kept = set(_key(r["object"]) for r in results) if state == "present" else set()
        if prune or state == "absent":
            stale = [m for m in applyset.members(client, prior[0] | cur_gks, prior[1] | cur_nss)
                     if _key(m) not in kept]
            stale.sort(key=lambda m: DELETE_LAST.get(m["kind"], 0))
            for m in stale:
                meta = m["metadata"]
                try:
                    client.delete(m["apiVersion"], m["kind"], meta["name"], meta.get("namespace"), dry_run=check_mode)
                except KubeError as e:
                    raise e.within("pruning %s of ApplySet %s" % (ident(m), applyset.ref))
                results.append({"origin": "ApplySet %s" % applyset.ref, "id": ident(m), "changed": True,
                                "before": normalize(m), "after": None, "result": None, "object": m, "pruned": True})
            changed = changed or bool(stale)
        if state == "absent":
            if applyset.exists:
                client.delete("v1", applyset.kind, applyset.name, applyset.namespace, dry_run=check_mode)
                changed = True
        else:
            latest = (cur_gks | prior[0], cur_nss | prior[1]) if not prune else (cur_gks, cur_nss)
            parent_changed = not applyset.exists or prior != (latest[0], latest[1] - {applyset.namespace})
            if parent_changed and not check_mode:
                _apply_parent(client, applyset, *latest)
            changed = changed or parent_changed
    return results, changed
