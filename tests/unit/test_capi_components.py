"""Provider components processed by the collection equal what the real clusterctl writes.

clusterctl v1.13.2 is built from Go modules by the lab tooling and run offline on the real
upstream provider files of ../shared/testdata (clusterctl's local-repository layout).
`clusterctl generate provider` prints the processed components; the collection's
_capi_components.process must produce the same objects, object by object.
"""
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.capstan.fleet.plugins.module_utils import _capi_components as comp
from capstan_lab import build
from conftest import TESTDATA

REPO_DIR = TESTDATA / "capi-providers"
PROVIDERS = [  # (type, name, manifest label, version, components file)
    ("core", "cluster-api", "cluster-api", "v1.10.5", "core-components.yaml"),
    ("core", "cluster-api", "cluster-api", "v1.13.2", "core-components.yaml"),
    ("bootstrap", "kubeadm", "bootstrap-kubeadm", "v1.10.5", "bootstrap-components.yaml"),
    ("bootstrap", "kubeadm", "bootstrap-kubeadm", "v1.13.2", "bootstrap-components.yaml"),
    ("control-plane", "kubeadm", "control-plane-kubeadm", "v1.10.5", "control-plane-components.yaml"),
    ("control-plane", "kubeadm", "control-plane-kubeadm", "v1.13.2", "control-plane-components.yaml"),
    ("infrastructure", "openstack", "infrastructure-openstack", "v0.12.7", "infrastructure-components.yaml"),
    ("infrastructure", "openstack", "infrastructure-openstack", "v0.14.4", "infrastructure-components.yaml"),
]
FLAGS = {"core": "--core", "bootstrap": "--bootstrap", "control-plane": "--control-plane",
         "infrastructure": "--infrastructure"}
CLI_TYPES = {"core": "CoreProvider", "bootstrap": "BootstrapProvider", "control-plane": "ControlPlaneProvider",
             "infrastructure": "InfrastructureProvider"}


@pytest.fixture(scope="module")
def clusterctl(tmp_path_factory):
    binary = build.ensure_binaries(["clusterctl"])["clusterctl"]
    home = tmp_path_factory.mktemp("clusterctl-home")

    def run(args, env=None, config=None):
        cfg = home / "clusterctl.yaml"
        cfg.write_text(yaml.safe_dump(config or {}))
        run_env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "CLUSTERCTL_DISABLE_VERSIONCHECK": "true"}
        run_env.update(env or {})
        return subprocess.run([str(binary), *args, "--config", str(cfg)], capture_output=True, text=True,
                              env=run_env, check=False, timeout=120)

    return run


def providers_config(images=None):
    cfg = {"providers": [
        {"name": name, "type": CLI_TYPES[ptype], "url": "file://%s" % (REPO_DIR / label / version / fname)}
        for ptype, name, label, version, fname in PROVIDERS if version in ("v1.13.2", "v0.14.4")
    ]}
    # one entry per provider name and type: clusterctl picks the version from the command line
    if images:
        cfg["images"] = images
    return cfg


def key(obj):
    m = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], m.get("namespace", ""), m["name"])


def normalise(obj):
    """clusterctl round-trips some kinds through Go structs (CRDs, webhook configurations,
    Deployments, DaemonSets, bindings), which writes `creationTimestamp: null`, empty maps
    and a CRD `status` with empty accepted names; none of it changes what the API server
    stores (it sets a CRD's status itself)."""
    if obj.get("kind") == "CustomResourceDefinition":
        obj = dict(obj)
        obj.pop("status", None)

    def clean(node):
        if isinstance(node, dict):
            return {k: clean(v) for k, v in node.items()
                    if not (k == "creationTimestamp" and v is None) and v not in ({}, [], None)}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node
    return clean(obj)


def compare(ours, theirs):
    mine = {key(o): normalise(o) for o in ours}
    upstream = {key(o): normalise(o) for o in theirs}
    assert sorted(mine) == sorted(upstream)
    for k in upstream:
        assert mine[k] == upstream[k], k


@pytest.mark.parametrize("ptype,name,label,version,fname", PROVIDERS, ids=[p[2] + "-" + p[3] for p in PROVIDERS])
def test_generate_provider_equals_clusterctl(clusterctl, ptype, name, label, version, fname):
    env = {"EXP_MACHINE_POOL": "true", "CAPI_DIAGNOSTICS_ADDRESS": ":9443"}
    cfg = providers_config()
    for entry in cfg["providers"]:
        if entry["name"] == name and entry["type"] == CLI_TYPES[ptype]:
            entry["url"] = "file://%s" % (REPO_DIR / label / version / fname)
    proc = clusterctl(["generate", "provider", FLAGS[ptype], "%s:%s" % (name, version)], env=env, config=cfg)
    assert proc.returncode == 0, proc.stderr
    theirs = [o for o in yaml.safe_load_all(proc.stdout) if o]
    raw = (REPO_DIR / label / version / fname).read_text()
    ours = comp.process(raw, name, ptype, env.get)
    compare(ours["objects"], theirs)
    assert ours["label"] == label


def test_target_namespace_and_image_overrides_equal_clusterctl(clusterctl):
    images = {"all": {"repository": "registry.example.net/mirror/"},
              "infrastructure-openstack": {"tag": "v0.14.4-patched"},
              "cluster-api/cluster-api-controller": {"name": "capi-controller"}}
    for ptype, name, label, version, fname in PROVIDERS:
        if version not in ("v1.13.2", "v0.14.4"):
            continue
        proc = clusterctl(["generate", "provider", FLAGS[ptype], "%s:%s" % (name, version),
                           "--target-namespace", "fleet-system"], config=providers_config(images))
        assert proc.returncode == 0, proc.stderr
        theirs = [o for o in yaml.safe_load_all(proc.stdout) if o]
        ours = comp.process((REPO_DIR / label / version / fname).read_text(), name, ptype, lambda n: None,
                            images_config=images, target_namespace="fleet-system")
        compare(ours["objects"], theirs)
        assert all(i.startswith("registry.example.net/mirror/") for i in ours["images"]), ours["images"]


def test_missing_variables_all_listed_like_clusterctl(clusterctl, tmp_path):
    raw = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${NS}\n---\napiVersion: v1\nkind: ConfigMap\n" \
          "metadata:\n  name: ${ NAME }\n  namespace: ${NS}\ndata:\n  a: ${A:=x}\n  b: ${B}\n"
    with pytest.raises(comp.ComponentsError) as err:
        comp.process(raw, "demo", "addon", lambda n: None)
    ours = str(err.value)
    assert "value for variables [B, NAME, NS] is not set" in ours
    # the same file in a local repository of clusterctl's layout: clusterctl says the same
    version_dir = tmp_path / "addon-demo" / "v0.1.0"
    version_dir.mkdir(parents=True)
    (version_dir / "addon-components.yaml").write_text(raw)
    (version_dir / "metadata.yaml").write_text(
        "apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3\nkind: Metadata\nreleaseSeries:\n"
        "  - {major: 0, minor: 1, contract: v1beta2}\n")
    cfg = {"providers": [{"name": "demo", "type": "AddonProvider",
                          "url": "file://%s" % (version_dir / "addon-components.yaml")}]}
    proc = clusterctl(["generate", "provider", "--addon", "demo:v0.1.0"], config=cfg)
    assert proc.returncode != 0
    assert "value for variables [B, NAME, NS] is not set" in proc.stderr, proc.stderr


def test_inventory_object():
    inv = comp.inventory_object("kubeadm", "control-plane", "v1.13.2", "capi-kubeadm-control-plane-system")
    assert inv["metadata"]["name"] == "control-plane-kubeadm"
    assert inv["type"] == "ControlPlaneProvider" and inv["providerName"] == "kubeadm"
    assert inv["metadata"]["labels"]["clusterctl.cluster.x-k8s.io/core"] == "inventory"


@pytest.mark.parametrize("image,parsed", [
    ("registry.k8s.io/cluster-api/cluster-api-controller:v1.13.2",
     ("registry.k8s.io/cluster-api", "cluster-api-controller", "v1.13.2", "")),
    ("localhost:5000/capi/x@sha256:" + "a" * 64, ("localhost:5000/capi", "x", "", "sha256:" + "a" * 64)),
    ("quay.io/jetstack/cert-manager-webhook:v1.14.4", ("quay.io/jetstack", "cert-manager-webhook", "v1.14.4", "")),
])
def test_parse_image(image, parsed):
    assert comp.parse_image(image) == parsed
    assert comp.image_string(*parsed) == image


@pytest.mark.parametrize("bad", ["nginx", "nginx:1.25", "Registry.k8s.io/X:1"])
def test_non_canonical_images_are_refused(bad):
    with pytest.raises(comp.ComponentsError, match="couldn't parse image name"):
        comp.parse_image(bad)


def test_two_namespaces_or_none_are_refused():
    two = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n"
    with pytest.raises(comp.ComponentsError, match="no more than one resource with Kind Namespace"):
        comp.process(two, "x", "addon", lambda n: None)
    with pytest.raises(comp.ComponentsError, match="target namespace can't be defaulted"):
        comp.process("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "x", "addon", lambda n: None)
    assert Path(__file__).exists()
