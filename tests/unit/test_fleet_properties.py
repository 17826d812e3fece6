"""Property: whatever is broken in a fleet tree, only the fleet's own validation errors come out."""
import datetime
import re
import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.capstan.fleet.plugins.module_utils._fleet import FleetValidationError, load_fleet

EXAMPLE = Path(__file__).resolve().parents[2] / "fleets" / "example"
FILES = sorted(str(p.relative_to(EXAMPLE)) for p in EXAMPLE.rglob("*.yml"))
TODAY = datetime.date(2026, 11, 23)

KNOWN = re.compile(
    r"^\S+?(:\d+)?: (.*?: )?("
    r"unknown key|must be |names the |is required|is not valid YAML|cannot be read|must hold a mapping|"
    r"\w[\w ]* name .* is not a valid Kubernetes object name|cluster name .* is already (used by|the name of)|"
    r"its folder names the|its site .* is served by no management cluster|site .* is already served by|"
    r".* overlaps .* on the same site|.* is outside what release|rollout policy: |release .* has no promotion date|"
    r"release .* is promoted to|.* is not a CIDR|the fleet directory does not exist)"
)

junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
              st.dates().map(str)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)


def paths_of(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths_of(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths_of(v, prefix + (i,))


def set_at(node, path, value):
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def delete_at(node, path):
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]


mutation = st.tuples(
    st.sampled_from(FILES),
    st.sampled_from(["replace", "delete", "unknown-key", "raw-text", "new-cluster", "remove-file"]),
    st.integers(min_value=0, max_value=10_000),
    junk,
    st.text(max_size=40),
    st.from_regex(r"[A-Za-z0-9_.-]{1,20}", fullmatch=True),
)


def apply(root, mut):
    rel, kind, pick, value, text, name = mut
    path = root / rel
    if kind == "raw-text":
        path.write_text(text)
        return
    if kind == "remove-file":
        path.unlink()
        return
    if kind == "new-cluster":
        site = rel.split("/")[1] if rel.startswith("clusters/") else "fra1"
        target = root / "clusters" / site / "acme" / (name + ".yml")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(value if isinstance(value, dict) else {"labels": {"x": "y"}}))
        return
    try:  # an earlier mutation may have left the file unreadable as YAML or not a mapping
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict):
        data = {}
    candidates = [p for p in paths_of(data) if p]
    if kind == "unknown-key" or not candidates:
        data[name] = value
    else:
        target = candidates[pick % len(candidates)]
        if kind == "replace":
            set_at(data, target, value)
        else:
            delete_at(data, target)
    path.write_text(yaml.safe_dump(data, default_flow_style=False))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutation, min_size=1, max_size=4))
def test_only_fleet_errors_come_out(mutations):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "fleet"
        shutil.copytree(EXAMPLE, root)
        for mut in mutations:
            if (root / mut[0]).exists():
                apply(root, mut)
        try:
            fleet = load_fleet(str(root), today=TODAY)
        except FleetValidationError as e:
            assert e.problems, "an error without problems"
            for problem in e.problems:
                assert KNOWN.match(problem), problem
        else:
            for host in fleet.hosts.values():
                assert host["fleet_role"] in ("tenant", "management")
