"""capstan.fleet.capi_provider against a lab of its own, with the real upstream provider files
and the real clusterctl (built from Go modules) as the judge of interoperability.

The tests of this file run in order on one management cluster: empty, then v1.10.5 installed,
then upgraded to v1.13.2.
"""
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from capstan_lab import build
from conftest import TESTDATA, lab_cli, run_playbook

REPO_DIR = TESTDATA / "capi-providers"
V1_10 = [("cluster-api", "core", "v1.10.5"), ("kubeadm", "bootstrap", "v1.10.5"),
         ("kubeadm", "control-plane", "v1.10.5"), ("openstack", "infrastructure", "v0.12.7")]
V1_13 = [("cluster-api", "core", "v1.13.2"), ("kubeadm", "bootstrap", "v1.13.2"),
         ("kubeadm", "control-plane", "v1.13.2"), ("openstack", "infrastructure", "v0.14.4")]
LABELS = {"core": "cluster-api", "bootstrap": "bootstrap-kubeadm", "control-plane": "control-plane-kubeadm",
          "infrastructure": "infrastructure-openstack"}


@pytest.fixture(scope="module")
def mgmt(tmp_path_factory):
    """A fresh lab (its own etcd, apiserver, controllers) with cert-manager installed."""
    state = tmp_path_factory.mktemp("capi-lab") / "lab"
    lab_cli("--state-dir", str(state), "up")
    info = json.loads((state / "lab.json").read_text())
    yield info
    lab_cli("--state-dir", str(state), "down", check=False)


@pytest.fixture
def play_on(mgmt, tmp_path):
    def run(tasks, check=False, diff=False):
        book = [{"name": "t", "hosts": "lab-mgmt", "gather_facts": False,
                 "module_defaults": {"group/capstan.fleet.kube": {"kubeconfig": mgmt["kubeconfig"]}}, "tasks": tasks}]
        path = tmp_path / "play.yml"
        path.write_text(yaml.safe_dump(book, sort_keys=False))
        return run_playbook(path, tmp_path, check=check, diff=diff)
    return run


def provider_task(name, ptype, version, **extra):
    args = {"name": name, "type": ptype, "version": version, "repository": str(REPO_DIR), "wait_timeout": 120}
    args.update(extra)
    return {"name": "%s-%s" % (ptype, version), "capstan.fleet.capi_provider": args}


@pytest.fixture(scope="module")
def kube(mgmt):
    from kubernetes import config as kconfig

    return kconfig.new_client_from_config(config_file=mgmt["kubeconfig"])


def clusterctl(mgmt, tmp_path, *args):
    binary = build.ensure_binaries(["clusterctl"])["clusterctl"]
    cfg = tmp_path / "clusterctl.yaml"
    cfg.write_text(yaml.safe_dump({"providers": [
        {"name": n, "type": {"core": "CoreProvider", "bootstrap": "BootstrapProvider",
                             "control-plane": "ControlPlaneProvider", "infrastructure": "InfrastructureProvider"}[t],
         "url": "file://%s" % next((REPO_DIR / LABELS[t] / v).glob("*-components.yaml"))} for n, t, v in V1_13]}))
    env = {"HOME": str(tmp_path), "PATH": os.environ.get("PATH", ""), "CLUSTERCTL_DISABLE_VERSIONCHECK": "true"}
    return subprocess.run([str(binary), *args, "--kubeconfig", mgmt["kubeconfig"], "--config", str(cfg)],
                          capture_output=True, text=True, env=env, check=False, timeout=120)


def provider_objects(kube, label):
    """resourceVersions of everything a provider owns (namespaced kinds of its components)."""
    from kubernetes import client

    out = {}
    apps, core, rbac = client.AppsV1Api(kube), client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)
    sel = "cluster.x-k8s.io/provider=%s" % label
    for kind, items in (("Deployment", apps.list_deployment_for_all_namespaces(label_selector=sel).items),
                        ("Service", core.list_service_for_all_namespaces(label_selector=sel).items),
                        ("ServiceAccount", core.list_service_account_for_all_namespaces(label_selector=sel).items),
                        ("ClusterRole", rbac.list_cluster_role(label_selector=sel).items),
                        ("ClusterRoleBinding", rbac.list_cluster_role_binding(label_selector=sel).items)):
        for o in items:
            out[(kind, o.metadata.namespace, o.metadata.name)] = o.metadata.resource_version
    return out


def test_cert_manager_first(play_on):
    res = play_on([{"name": "cm", "capstan.fleet.manifest": {
        "src": str(TESTDATA / "cert-manager" / "v1.14.4" / "cert-manager.yaml")}}])
    assert res.rc == 0, res.stdout


def test_check_mode_on_an_empty_cluster_writes_nothing(play_on, kube):
    from kubernetes import client

    """The release as one set: every provider reported as to be installed (the others are checked
    against the contract of the core provider the same run would install), nothing written."""
    res = play_on([
        {"name": "set", "capstan.fleet.capi_provider": {
            "repository": str(REPO_DIR), "providers": [{"name": n, "type": t, "version": v} for n, t, v in V1_10]}},
        {"name": "noversion", "capstan.fleet.capi_provider": {
            "repository": str(REPO_DIR), "providers": [{"name": "cluster-api", "type": "core", "version": "v1.10.5"},
                                                       {"name": "kubeadm", "type": "bootstrap"}]},
         "ignore_errors": True},
    ], check=True)
    r = res.task("set")["result"]
    assert r["changed"] is True, res.stdout
    assert [(p["label"], p["action"]) for p in r["providers"]] == [(LABELS[t], "install") for _n, t, _v in V1_10]
    assert res.task("noversion")["result"]["msg"] == \
        "providers[1] (bootstrap kubeadm): version is required with state=present"
    assert "capi-system" not in [n.metadata.name for n in client.CoreV1Api(kube).list_namespace().items]
    crds = [c.metadata.name for c in client.ApiextensionsV1Api(kube).list_custom_resource_definition().items]
    assert "providers.clusterctl.cluster.x-k8s.io" not in crds and "clusters.cluster.x-k8s.io" not in crds


def test_install_then_no_change_and_no_write(play_on, kube):
    from kubernetes import client

    res = play_on([provider_task(*p) for p in V1_10])
    assert res.rc == 0, res.stdout
    assert [r["result"]["action"] for r in res.results] == ["install"] * 4
    inv = client.CustomObjectsApi(kube).list_cluster_custom_object("clusterctl.cluster.x-k8s.io", "v1alpha3", "providers")
    assert sorted((p["metadata"]["name"], p["version"]) for p in inv["items"]) == sorted(
        (LABELS[t], v) for _n, t, v in V1_10)
    deployments = client.AppsV1Api(kube).list_deployment_for_all_namespaces(label_selector="clusterctl.cluster.x-k8s.io").items
    assert len(deployments) == 4 and all(d.status.available_replicas == 1 for d in deployments)
    before = {label: provider_objects(kube, label) for label in LABELS.values()}
    again = play_on([provider_task(*p) for p in V1_10])
    assert again.rc == 0 and again.changed() == [], again.stdout
    assert {label: provider_objects(kube, label) for label in LABELS.values()} == before


def test_clusterctl_recognises_what_the_module_installed(mgmt, tmp_path):
    proc = clusterctl(mgmt, tmp_path, "upgrade", "plan")
    assert proc.returncode == 0, proc.stderr
    for _n, t, v in V1_10:
        assert any(line.split()[:1] == [LABELS[t]] and v in line.split() for line in proc.stdout.splitlines()), proc.stdout


def test_provider_info_lists_what_clusterctl_plans(play_on, mgmt, tmp_path):
    res = play_on([{"name": "info", "capstan.fleet.capi_provider_info": {"repository": str(REPO_DIR)}}])
    assert res.rc == 0, res.stdout
    info = {p["label"]: p for p in res.task("info")["result"]["providers"]}
    assert {k: (v["version"], v["contract"]) for k, v in info.items()} == {
        LABELS[t]: (v, "v1beta1") for _n, t, v in V1_10}
    # the same next versions as `clusterctl upgrade plan` shows for the v1beta2 contract
    plan = clusterctl(mgmt, tmp_path, "upgrade", "plan").stdout
    assert "for the v1beta2 Cluster API contract" in plan, plan
    plan = plan.split("for the v1beta2 Cluster API contract", 1)[1]  # the table of that contract
    for label, entry in info.items():
        row = next(line.split() for line in plan.splitlines() if line.split()[:1] == [label])
        assert entry["upgrades"].get("v1beta2") == row[-1], (label, entry, row)


def test_contract_mismatch_is_refused_before_any_write(play_on, kube):
    from kubernetes import client

    res = play_on([provider_task("kubeadm", "bootstrap", "v1.13.2")])
    msg = res.task("bootstrap-v1.13.2")["result"]["msg"]
    assert res.rc != 0
    assert ("installing provider 'bootstrap-kubeadm' could lead to a non functioning management cluster: the target "
            "version for the provider implements the v1beta2 contract version, while the core provider is compatible "
            "with v1beta1 contract versions") in msg
    inv = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "clusterctl.cluster.x-k8s.io", "v1alpha3", "capi-kubeadm-bootstrap-system", "providers", "bootstrap-kubeadm")
    assert inv["version"] == "v1.10.5"


def test_bad_input(play_on, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(REPO_DIR / "infrastructure-openstack" / "v0.14.4", repo / "infrastructure-openstack" / "v0.14.4")
    (repo / "infrastructure-openstack" / "v0.14.4" / "infrastructure-components.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\nkind: [\n")
    needs = repo / "infrastructure-openstack" / "v0.99.0"
    needs.mkdir(parents=True)
    (needs / "infrastructure-components.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: capo-system\n---\napiVersion: v1\nkind: ConfigMap\n"
        "metadata:\n  name: c\ndata:\n  a: ${OPENSTACK_REGION}\n  b: ${OPENSTACK_CLOUD}\n")
    (needs / "metadata.yaml").write_text("releaseSeries:\n  - {major: 0, minor: 99, contract: v1beta1}\n")
    res = play_on([
        dict(provider_task("gardener", "infrastructure", "v1.0.0"), ignore_errors=True),
        dict(provider_task("openstack", "infrastructure", "v0.13.0"), ignore_errors=True),
        dict(provider_task("openstack", "infrastructure", "v0.14.4", repository=str(repo)), ignore_errors=True),
        dict(provider_task("openstack", "infrastructure", "v0.99.0", repository=str(repo)), ignore_errors=True),
    ])
    msgs = [r["result"]["msg"] for r in res.results]
    assert "infrastructure-gardener v1.0.0 components" in msgs[0] and "No such file" in msgs[0]
    assert "infrastructure-openstack v0.13.0 components" in msgs[1]
    assert "failed to parse yaml" in msgs[2]
    assert "value for variables [OPENSTACK_CLOUD, OPENSTACK_REGION] is not set" in msgs[3]
    assert "Traceback" not in res.stdout


def test_upgrade_across_the_contract_change(play_on, kube, mgmt, tmp_path):
    from kubernetes import client

    res = play_on([provider_task(*p) for p in V1_13])
    assert res.rc == 0, res.stdout
    results = [r["result"] for r in res.results]
    assert [r["action"] for r in results] == ["upgrade"] * 4
    assert [r["previous_version"] for r in results] == [v for _n, _t, v in V1_10]
    inv = client.CustomObjectsApi(kube).list_cluster_custom_object("clusterctl.cluster.x-k8s.io", "v1alpha3", "providers")
    assert sorted((p["metadata"]["name"], p["version"]) for p in inv["items"]) == sorted(
        (LABELS[t], v) for _n, t, v in V1_13)
    # CRDs stay and now store v1beta2
    crd = client.ApiextensionsV1Api(kube).read_custom_resource_definition("clusters.cluster.x-k8s.io")
    assert [v.name for v in crd.spec.versions if v.storage] == ["v1beta2"]
    # objects the new version no longer has are gone; every Deployment runs the new image
    for r in results:
        for removed in r["removed"]:
            assert not removed.startswith("CustomResourceDefinition/")
    for d in client.AppsV1Api(kube).list_deployment_for_all_namespaces(label_selector="clusterctl.cluster.x-k8s.io").items:
        assert d.spec.template.spec.containers[0].image.endswith((":v1.13.2", ":v0.14.4")), d.metadata.name
    again = play_on([provider_task(*p) for p in V1_13])
    assert again.changed() == [], again.stdout
    proc = clusterctl(mgmt, tmp_path, "upgrade", "plan")
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout or "Latest release available" in proc.stdout, proc.stdout


def test_delete_keeps_crds(play_on, kube):
    from kubernetes import client

    res = play_on([{"name": "del", "capstan.fleet.capi_provider": {
        "name": "openstack", "type": "infrastructure", "state": "absent", "repository": str(REPO_DIR)}}])
    assert res.rc == 0, res.stdout
    assert res.task("del")["result"]["action"] == "delete"
    apps = client.AppsV1Api(kube)
    assert apps.list_namespaced_deployment("capo-system").items == []
    crds = [c.metadata.name for c in client.ApiextensionsV1Api(kube).list_custom_resource_definition().items]
    assert "openstackclusters.infrastructure.cluster.x-k8s.io" in crds
    again = play_on([{"name": "del", "capstan.fleet.capi_provider": {
        "name": "openstack", "type": "infrastructure", "state": "absent", "repository": str(REPO_DIR)}}])
    assert again.changed() == []
    assert Path(REPO_DIR).is_dir()


def test_module_recognises_what_clusterctl_installed(play_on, mgmt, kube, tmp_path):
    """clusterctl init installs the OpenStack provider; the module, reading clusterctl's own
    configuration file, sees it at its version and contract and has nothing to change.

    Its first apply still writes once per object: the server records capstan.fleet beside
    clusterctl's manager in managedFields (field ownership, no content). From then on nothing
    is written."""
    proc = clusterctl(mgmt, tmp_path, "init", "--infrastructure", "openstack:v0.14.4",
                      "--wait-providers", "--wait-provider-timeout", "120")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cfg = str(tmp_path / "clusterctl.yaml")
    info = play_on([{"name": "info", "capstan.fleet.capi_provider_info": {"clusterctl_config": cfg}}])
    assert info.rc == 0, info.stdout
    capo = next(p for p in info.task("info")["result"]["providers"] if p["name"] == "openstack")
    assert (capo["version"], capo["contract"], capo["namespace"]) == ("v0.14.4", "v1beta1", "capo-system")
    before = provider_objects(kube, "infrastructure-openstack")
    res = play_on([{"name": "same", "capstan.fleet.capi_provider": {
        "name": "openstack", "type": "infrastructure", "version": "v0.14.4", "clusterctl_config": cfg,
        "wait_timeout": 120}}])
    r = res.task("same")["result"]
    assert res.rc == 0 and r["action"] == "none" and r["changed"] is False, r.get("objects") or res.stdout
    from kubernetes import client

    dep = client.AppsV1Api(kube).read_namespaced_deployment("capo-controller-manager", "capo-system")
    assert {f.manager for f in dep.metadata.managed_fields} >= {"capstan.fleet", "clusterctl"}
    assert set(provider_objects(kube, "infrastructure-openstack")) == set(before)
    adopted = provider_objects(kube, "infrastructure-openstack")
    again = play_on([{"name": "same", "capstan.fleet.capi_provider": {
        "name": "openstack", "type": "infrastructure", "version": "v0.14.4", "clusterctl_config": cfg}}])
    assert again.rc == 0 and again.changed() == [], again.stdout
    assert provider_objects(kube, "infrastructure-openstack") == adopted


def test_http_repository(play_on, tmp_path):
    """The same repository served over HTTP, as a site mirror would serve it."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(REPO_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        res = play_on([
            {"name": "kubeadm", "capstan.fleet.capi_provider": {
                "name": "kubeadm", "type": "bootstrap", "version": "v1.13.2", "repository": url, "wait_timeout": 120}},
            {"name": "missing", "capstan.fleet.capi_provider": {
                "name": "kubeadm", "type": "bootstrap", "version": "v1.99.0", "repository": url},
             "ignore_errors": True},
        ], check=True)
        assert res.task("kubeadm")["status"] == "ok" and res.task("kubeadm")["result"]["changed"] is False, res.stdout
        msg = res.task("missing")["result"]["msg"]
        assert f"{url}/bootstrap-kubeadm/v1.99.0/" in msg and "HTTP 404" in msg, msg
    finally:
        server.shutdown()
