"""The port of clusterctl's variable dialect against the Go library clusterctl uses.

The reference is github.com/drone/envsubst/v2 itself, built from Go modules by the lab tooling
(tools/capstan_lab/gomod/envsubst-ref-*): every case goes through both and must come out the
same, output, errors and the variables clusterctl would ask for.
"""
import json
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.capstan.fleet.plugins.module_utils import _envsubst
from capstan_lab import build
from conftest import TESTDATA


@pytest.fixture(scope="module")
def reference():
    binary = build.ensure_binaries(["envsubst-ref"])["envsubst-ref"]
    proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(text, env):
        proc.stdin.write(json.dumps({"text": text, "env": env}) + "\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    yield ask
    proc.stdin.close()
    proc.wait(timeout=10)


def ours(text, env):
    try:
        return {"out": _envsubst.evaluate(text, lambda n: env.get(n, "")), "err": "",
                "vars": _envsubst.variables(text)}
    except _envsubst.SubstitutionError as e:
        return {"out": None, "err": str(e), "vars": None}


def same(reference, text, env):
    want, got = reference(text, env), ours(text, env)
    assert bool(got["err"]) == bool(want["err"]), (text, want, got)
    if not want["err"]:
        assert got["out"] == want["out"], (text, want, got)
        assert got["vars"] == want["vars"], (text, want, got)


ENV = {"NAME": "banana", "EMPTY": "", "PATH_V": "a/b/c.tar.gz", "MIXED": "Hello World", "N": "3"}
CASES = [
    "plain text", "${NAME}", "$NAME", "$${NAME}", "$$", "a$b", "${MISSING}", "${MISSING:=def}", "${MISSING:-d}",
    "${MISSING=d}", "${EMPTY:=x}", "${NAME:=x}", "${MISSING:=${NAME}}", "${MISSING:=a${NAME}b}", "${NAME+x}",
    "${NAME:+x}", "${NAME:?x}", "${MISSING-x}", "${#NAME}", "${NAME:1}", "${NAME:1:3}", "${NAME:-2}",
    "${NAME: -2}", "${NAME:10}", "${NAME:1:100}", "${NAME/an/AN}", "${NAME//an/AN}", "${NAME/#ba/BA}",
    "${NAME/%na/NA}", "${NAME/an}", "${PATH_V#*/}", "${PATH_V##*/}", "${PATH_V%.*}", "${PATH_V%%.*}",
    "${PATH_V#[ab]/}", "${MIXED,}", "${MIXED,,}", "${MIXED^}", "${MIXED^^}", "${PATH_V//\\//-}",
    "${NAME", "${}", "${ NAME}", "${NAME:=}", "${1BAD}", "}", "${NAME}}", "${{NAME}}", "${NAME:x:y}",
    "x: ${CAPI_DIAGNOSTICS_ADDRESS:=:8443}", "--feature-gates=MachinePool=${EXP_MACHINE_POOL:=true},X=${X:=false}",
    "image: ${REGISTRY:=registry.k8s.io}/cluster-api/controller:${TAG:=v1.13.2}",
]


@pytest.mark.parametrize("text", CASES)
def test_hand_written_cases(reference, text):
    same(reference, text, ENV)


def test_real_provider_components(reference):
    files = sorted(TESTDATA.glob("capi-providers/*/*/*-components.yaml"))
    assert files, "no provider components in %s" % TESTDATA
    for path in files:
        text = _envsubst.convert_legacy_vars(path.read_text())
        same(reference, text, {"EXP_MACHINE_POOL": "false", "CAPO_LOGLEVEL": "4"})


@settings(max_examples=int(__import__("os").environ.get("CAPSTAN_FUZZ_EXAMPLES", "400")), deadline=None)
@given(st.text(alphabet="${}:=-?+/#%,^\\ab_AB019 .*[]", max_size=24),
       st.dictionaries(st.sampled_from(["a", "b", "ab", "A", "a1"]), st.text(alphabet="ab/.*$ ", max_size=6), max_size=3))
def test_any_text_evaluates_as_clusterctl_does(reference, text, env):
    same(reference, text, env)


def test_legacy_variables_are_normalised():
    assert _envsubst.convert_legacy_vars("${ A } ${B } ${ C} ${D}") == "${A} ${B} ${C} ${D}"
