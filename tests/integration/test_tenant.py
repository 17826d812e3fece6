"""Tenant clusters end to end on the lab: the roles vault_pki, tenant_cluster and tenant_bootstrap
on the lab inventory's tenants (one per bootstrap mode, on vSphere and OpenStack sites), in a
namespace and Vault mounts of the test's own. The lab provisioner serves each Cluster with a
real kube-apiserver; the pushed objects are read back from there with the lab's kubectl."""
import base64
import json
import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest
import yaml

from conftest import REPO, remove_vault_pki, run_playbook, wait_for

PUSH, REMOTE, CRS = "demo-vs-1", "demo-os-1", "demo-vs-2"
TENANTS = (PUSH, REMOTE, CRS)


def write_book(path, hosts="tenant_clusters", pki=True, roles=("tenant_cluster", "tenant_bootstrap")):
    plays = []
    if pki:
        plays.append({"name": "PKI", "hosts": hosts, "gather_facts": False,
                      "module_defaults": {"group/capstan.fleet.vault": "{{ capstan_vault }}"},
                      "roles": [{"role": "capstan.fleet.vault_pki"}]})
    plays.append({"name": "Tenants", "hosts": hosts, "gather_facts": False,
                  "roles": [{"role": "capstan.fleet." + r} for r in roles]})
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def management(lab, tmp_path_factory):
    """The lab's management cluster converged as site.yml does first: cert-manager, the providers
    of release lab-r2 (vSphere and OpenStack among them) and Flux."""
    tmp = tmp_path_factory.mktemp("management")
    book = tmp / "mgmt.yml"
    book.write_text(yaml.safe_dump([{"name": "Management", "hosts": "management_clusters", "gather_facts": False,
                                     "roles": [{"role": "capstan.fleet.management_cluster"}]}]))
    res = run_playbook(book, tmp)
    assert res.rc == 0, res.stdout[-3000:]


@pytest.fixture
def fleet(lab, vault, kube, tmp_path, management):
    """Runs playbooks against the lab inventory with this test's own namespace and Vault mounts."""
    from kubernetes import client

    tag = uuid.uuid4().hex[:6]
    ns = f"t-{tag}"
    names = {
        "vault_pki_mount_prefix": f"pki/t{tag}/", "vault_pki_kv_mount": f"kv-{tag}",
        "vault_pki_approle_mount": f"approle-{tag}", "vault_pki_policy_prefix": f"t{tag}-",
        "vault_pki_cluster_namespace": ns, "tenant_cluster_namespace": ns, "tenant_bootstrap_namespace": ns,
        "tenant_bootstrap_retry_delay": 2,
    }

    def run(book, check=False, diff=False, inventory=None, **extra):
        return run_playbook(book, tmp_path, check=check, diff=diff, inventory=inventory, extra_vars=dict(names, **extra))

    run.ns, run.tag, run.tmp = ns, tag, tmp_path
    run.custom = client.CustomObjectsApi(kube)
    run.core = client.CoreV1Api(kube)
    yield run
    for c in TENANTS:  # the provisioner stops the tenants' API servers when their Cluster goes
        try:
            run.custom.delete_namespaced_custom_object("cluster.x-k8s.io", "v1beta2", ns, "clusters", c)
        except client.exceptions.ApiException:
            pass
    for c in TENANTS:
        wait_for(lambda: not cluster(run, c), 60, what=f"Cluster {c} gone")
    try:
        run.core.delete_namespace(ns)
    except client.exceptions.ApiException:
        pass
    remove_vault_pki(vault, names, TENANTS)


def cluster(run, name, group="cluster.x-k8s.io", version="v1beta2", plural="clusters"):
    from kubernetes import client

    try:
        return run.custom.get_namespaced_custom_object(group, version, run.ns, plural, name)
    except client.exceptions.ApiException as e:
        if e.status == 404:
            return None
        raise


def objects(run, group, version, plural):
    return run.custom.list_namespaced_custom_object(group, version, run.ns, plural)["items"]


def tenant_kubectl(lab, run, name, *args, check=True):
    """kubectl inside a tenant with the kubeconfig Cluster API's <cluster>-kubeconfig holds (a test
    file; Go's TLS takes the Vault intermediate as the trust anchor)."""
    sec = run.core.read_namespaced_secret(f"{name}-kubeconfig", run.ns)
    path = run.tmp / f"{name}.kubeconfig"
    path.write_bytes(base64.b64decode(sec.data["value"]))
    path.chmod(0o600)
    proc = subprocess.run([lab["binaries"]["kubectl"], "--kubeconfig", str(path), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    if not check and proc.returncode != 0:
        return None
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if "-o" in args and "json" in args else proc.stdout


def resource_versions(run, lab):
    """Every object of the test's namespace in the management cluster and of the push tenant, with
    its resourceVersion: equal before and after means nothing was written."""
    out = {}
    for group, version, plural in (("cluster.x-k8s.io", "v1beta2", "clusters"), ("cluster.x-k8s.io", "v1beta2", "clusterclasses"),
                                   ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"),
                                   ("addons.cluster.x-k8s.io", "v1beta2", "clusterresourcesets")):
        for o in objects(run, group, version, plural):
            out[(plural, o["metadata"]["name"])] = o["metadata"]["resourceVersion"]
    for o in run.core.list_namespaced_config_map(run.ns).items:
        out[("configmaps", o.metadata.name)] = o.metadata.resource_version
    inside = tenant_kubectl(lab, run, PUSH, "get", "daemonsets,deployments,gitrepositories,kustomizations,secrets",
                            "-A", "-o", "json")
    for o in inside["items"]:
        out[(PUSH, o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])] = o["metadata"]["resourceVersion"]
    return out


def test_three_modes_end_to_end_rerun_and_check(fleet, lab, tmp_path):
    book = write_book(tmp_path / "site.yml")
    res = fleet(book)
    assert res.rc == 0, res.stdout[-4000:]
    # new clusters were waited for (capi_cluster_info ran for each)
    wait_task = "Wait | control plane initialised and the <cluster>-kubeconfig Secret written"
    assert {r["host"] for r in res.results if r["task"] == wait_task and r["status"] == "ok"} == {PUSH, REMOTE, CRS}

    # definitions: topology Clusters on the ClusterClass of their site and release, served by the lab
    classes = {o["metadata"]["name"] for o in objects(fleet, "cluster.x-k8s.io", "v1beta2", "clusterclasses")}
    assert classes == {"lab-vsphere-lab-r2", "lab-openstack-lab-r2"}
    for name, cls, pods in ((PUSH, "lab-vsphere-lab-r2", "10.241.0.0/16"), (REMOTE, "lab-openstack-lab-r2", "10.242.0.0/16"),
                            (CRS, "lab-vsphere-lab-r2", "10.243.0.0/16")):
        c = cluster(fleet, name)
        assert c["spec"]["topology"]["classRef"]["name"] == cls
        assert c["spec"]["clusterNetwork"]["pods"]["cidrBlocks"] == [pods]
        assert c["status"]["phase"] == "Provisioned"
        # Cluster API's secrets from Vault were there before the Cluster: the provisioner served with them
        ca = fleet.core.read_namespaced_secret(f"{name}-ca", fleet.ns)
        assert ca.type == "kubernetes.io/tls"
    crs_cluster = cluster(fleet, CRS)
    assert crs_cluster["spec"]["topology"]["workers"]["machineDeployments"][0]["variables"]["overrides"] == [
        {"name": "workerMachine", "value": {"cpus": 4, "memory_mib": 8192}}]

    # push: Calico with the cluster's pod CIDR, Flux, and Flux's sync objects inside the tenant
    ds = tenant_kubectl(lab, fleet, PUSH, "get", "daemonset", "-n", "kube-system", "calico-node", "-o", "json")
    env = {e["name"]: e.get("value") for c in ds["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}
    assert env["CALICO_IPV4POOL_CIDR"] == "10.241.0.0/16"
    deps = tenant_kubectl(lab, fleet, PUSH, "get", "deployments", "-n", "flux-system", "-o", "json")
    controllers = {"source-controller", "kustomize-controller", "helm-controller", "notification-controller"}
    assert {d["metadata"]["name"] for d in deps["items"]} == controllers
    repo = tenant_kubectl(lab, fleet, PUSH, "get", "gitrepositories.source.toolkit.fluxcd.io", "-n", "flux-system",
                          "flux-system", "-o", "json")
    ks = tenant_kubectl(lab, fleet, PUSH, "get", "kustomizations.kustomize.toolkit.fluxcd.io", "-n", "flux-system",
                        "flux-system", "-o", "json")
    assert repo["spec"]["url"].endswith("/cluster-components.git") and repo["spec"]["ref"] == {"branch": "main"}
    assert ks["spec"]["path"] == "./local/lab-vsphere/demo-vs-1" and ks["spec"]["sourceRef"]["name"] == "flux-system"
    crds = tenant_kubectl(lab, fleet, PUSH, "get", "crd", "-o", "json")
    established = {c["metadata"]["name"] for c in crds["items"]
                   if any(x["type"] == "Established" and x["status"] == "True" for x in c["status"]["conditions"])}
    assert {"ippools.crd.projectcalico.org", "kustomizations.kustomize.toolkit.fluxcd.io"} <= established

    # remote: Kustomizations in the management cluster reaching the tenant through <cluster>-kubeconfig
    kss = {k["metadata"]["name"]: k for k in objects(fleet, "kustomize.toolkit.fluxcd.io", "v1", "kustomizations")}
    assert set(kss) == {f"{REMOTE}-cni", f"{REMOTE}-flux", f"{REMOTE}-flux-sync"}
    assert all(k["spec"]["kubeConfig"]["secretRef"] == {"name": f"{REMOTE}-kubeconfig", "key": "value"} for k in kss.values())
    assert "10.242.0.0/16" in kss[f"{REMOTE}-cni"]["spec"]["patches"][0]["patch"]
    assert kss[f"{REMOTE}-flux-sync"]["spec"]["postBuild"]["substitute"]["CLUSTER_PATH"] == "./local/lab-openstack/demo-os-1"

    # clusterresourceset: ConfigMaps and a CRS whose selector matches the Cluster's labels
    (crs,) = objects(fleet, "addons.cluster.x-k8s.io", "v1beta2", "clusterresourcesets")
    assert crs["spec"]["strategy"] == "Reconcile"
    sel = crs["spec"]["clusterSelector"]["matchLabels"]
    assert all(crs_cluster["metadata"]["labels"].get(k) == v for k, v in sel.items())
    assert not all(cluster(fleet, PUSH)["metadata"]["labels"].get(k) == v for k, v in sel.items())
    cms = {cm.metadata.name: cm for cm in fleet.core.list_namespaced_config_map(fleet.ns).items}
    assert {r["name"] for r in crs["spec"]["resources"]} == {f"{CRS}-calico", f"{CRS}-flux", f"{CRS}-flux-sync"} <= set(cms)
    assert 'value: "10.243.0.0/16"' in cms[f"{CRS}-calico"].data["calico.yaml"]
    # the bundles are what a ClusterResourceSet controller can apply (the lab plays it): Calico
    # with the pod CIDR and Flux's sync objects end up inside the tenant
    ds = wait_for(lambda: tenant_kubectl(lab, fleet, CRS, "get", "daemonset", "-n", "kube-system", "calico-node",
                                         "-o", "json", check=False), 90, what="Calico applied by the ClusterResourceSet")
    env = {e["name"]: e.get("value") for c in ds["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}
    assert env["CALICO_IPV4POOL_CIDR"] == "10.243.0.0/16"
    ks = wait_for(lambda: tenant_kubectl(lab, fleet, CRS, "get", "kustomizations.kustomize.toolkit.fluxcd.io", "-n",
                                         "flux-system", "flux-system", "-o", "json", check=False), 90, what="Flux sync")
    assert ks["spec"]["path"] == "./local/lab-vsphere/demo-vs-2"

    # the second run changes nothing
    res = fleet(book)
    assert res.rc == 0 and res.changed() == [], res.changed()
    # running clusters are not read a second time: the apply's live Cluster says they are initialised
    assert {r["status"] for r in res.results if r["task"] == wait_task} == {"skipped"}
    states = {r["host"]: r["result"]["ansible_facts"]["tenant_cluster_info"] for r in res.results
              if r["task"] == "Wait | the cluster's state (phase, endpoint, conditions)"}
    assert {h: (s["phase"], s["control_plane_initialized"], s["blocking"]) for h, s in states.items()} == {
        h: ("Provisioned", True, None) for h in (PUSH, REMOTE, CRS)}
    # one PKI module run for the three clusters
    assert [r["host"] for r in res.results if r["task"].endswith("in one run")] in ([PUSH], [REMOTE], [CRS])

    # --check writes nothing to either cluster, and reports what a run would mend
    tenant_kubectl(lab, fleet, PUSH, "delete", "daemonset", "-n", "kube-system", "calico-node")
    fleet.custom.delete_namespaced_custom_object("kustomize.toolkit.fluxcd.io", "v1", fleet.ns, "kustomizations", f"{REMOTE}-cni")
    before = resource_versions(fleet, lab)
    res = fleet(book, check=True, diff=True)
    assert res.rc == 0, res.stdout[-3000:]
    assert {(r["task"], r["host"]) for r in res.results if r["result"].get("changed")} == {
        ("Push | Calico with the cluster's pod CIDR, Flux, and Flux's sync objects", PUSH),
        ("Pull | apply them to the management cluster", REMOTE)}
    assert resource_versions(fleet, lab) == before
    # and a real run mends both
    res = fleet(book)
    assert res.rc == 0 and sorted(r["host"] for r in res.results if r["result"].get("changed")) == [REMOTE, PUSH]


def test_check_mode_on_a_new_fleet_writes_nothing(fleet, lab, vault, tmp_path):
    """--check before anything exists: every role runs through, nothing is written to the
    management cluster or Vault, and push does not wait for tenants that are not there."""
    res = fleet(write_book(tmp_path / "site.yml"), check=True, diff=True)
    assert res.rc == 0, res.stdout[-4000:]
    from kubernetes import client

    with pytest.raises(client.exceptions.ApiException) as e:
        fleet.core.read_namespace(fleet.ns)
    assert e.value.status == 404
    assert not [p for p in vault.sys.list_mounted_secrets_engines()["data"] if p.startswith(f"pki/t{fleet.tag}/")]
    for name in TENANTS:
        assert cluster(fleet, name) is None
    # what a real run would do is reported
    assert {r["host"] for r in res.results if r["result"].get("changed")} >= set(TENANTS)
    assert res.task("Push | Calico with the cluster's pod CIDR, Flux, and Flux's sync objects")["status"] == "skipped"


def test_push_waits_for_a_tenant_that_is_down_or_fails_naming_it(fleet, lab, tmp_path):
    res = fleet(write_book(tmp_path / "site.yml", hosts=PUSH))
    assert res.rc == 0, res.stdout[-3000:]
    stopped = {"metadata": {"annotations": {"lab.capstan.fleet/stopped": "true"}}}
    started = {"metadata": {"annotations": {"lab.capstan.fleet/stopped": None}}}
    server = "https://" + cluster(fleet, PUSH)["spec"]["controlPlaneEndpoint"]["host"] + ":" + \
        str(cluster(fleet, PUSH)["spec"]["controlPlaneEndpoint"]["port"])

    def answers():
        import urllib3

        try:
            urllib3.PoolManager(cert_reqs="CERT_NONE", retries=False, timeout=1).request("GET", server + "/readyz")
            return True
        except urllib3.exceptions.HTTPError:
            return False

    bootstrap = write_book(tmp_path / "bootstrap.yml", hosts=PUSH, pki=False, roles=("tenant_bootstrap",))
    fleet.custom.patch_namespaced_custom_object("cluster.x-k8s.io", "v1beta2", fleet.ns, "clusters", PUSH, stopped)
    wait_for(lambda: not answers(), 60, what="the tenant's API server stopped")
    # down for good: the push gives up after its timeout, naming the cluster
    res = fleet(bootstrap, tenant_bootstrap_timeout=6)
    assert res.rc != 0
    msg = res.task("Push | say which cluster failed")["result"]["msg"]
    assert msg.startswith(f"{PUSH}: the CNI and Flux could not be pushed - its API server did not answer "
                          "(or its kubeconfig Secret did not appear) within 6s")
    assert "Connection refused" in msg
    # down at first, up later: the push waits and then succeeds
    timer = threading.Timer(8, lambda: fleet.custom.patch_namespaced_custom_object(
        "cluster.x-k8s.io", "v1beta2", fleet.ns, "clusters", PUSH, started))
    timer.start()
    t0 = time.monotonic()
    res = fleet(bootstrap, tenant_bootstrap_timeout=120)
    timer.join()
    assert res.rc == 0, res.stdout[-3000:]
    push = res.task("Push | Calico with the cluster's pod CIDR, Flux, and Flux's sync objects")["result"]
    assert push["attempts"] > 1 and time.monotonic() - t0 > 8


def git_log(repo):
    return subprocess.run(["git", "log", "--format=%s"], cwd=repo, capture_output=True, text=True, check=True).stdout.splitlines()


def test_gitops_delivery_one_commit_per_change(fleet, lab, tmp_path):
    defs, comps = tmp_path / "cluster-definitions", tmp_path / "cluster-components"
    book = write_book(tmp_path / "site.yml", pki=False)
    extra = {"tenant_cluster_delivery": "gitops", "tenant_cluster_gitops_repo": str(defs),
             "tenant_bootstrap_components_repo": str(comps)}
    res = fleet(book, **extra)
    assert res.rc == 0, res.stdout[-3000:]
    base = "lab-mgmt/sites"
    files = sorted(subprocess.run(["git", "ls-files"], cwd=defs, capture_output=True, text=True, check=True).stdout.split())
    assert files == sorted([
        f"{base}/lab-openstack/demo/clusterclass-lab-openstack-lab-r2.yaml", f"{base}/lab-openstack/demo/namespace.yaml",
        f"{base}/lab-openstack/demo/{REMOTE}/bootstrap/bootstrap.yaml", f"{base}/lab-openstack/demo/{REMOTE}/cluster/cluster.yaml",
        f"{base}/lab-vsphere/demo/clusterclass-lab-vsphere-lab-r2.yaml", f"{base}/lab-vsphere/demo/namespace.yaml",
        f"{base}/lab-vsphere/demo/{CRS}/bootstrap/bootstrap.yaml", f"{base}/lab-vsphere/demo/{CRS}/cluster/cluster.yaml",
        f"{base}/lab-vsphere/demo/{PUSH}/cluster/cluster.yaml"])
    docs = list(yaml.safe_load_all((defs / f"{base}/lab-vsphere/demo/{PUSH}/cluster/cluster.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Cluster"] and docs[0]["metadata"]["namespace"] == fleet.ns
    first = git_log(defs)
    assert len(first) == 2 + 3 + 2  # shared files per site, definitions per cluster, bootstrap of remote and CRS
    assert sorted(subprocess.run(["git", "ls-files"], cwd=comps, capture_output=True, text=True, check=True).stdout.split()) == [
        "bootstrap/cni/calico/v3.32.1/calico.yaml", "bootstrap/flux-sync/sync.yaml", "bootstrap/flux/v2.7.5/gotk-components.yaml"]
    # nothing is applied to the management cluster but Flux's objects pointing at the repository
    assert cluster(fleet, PUSH) is None
    repo = fleet.custom.get_namespaced_custom_object("source.toolkit.fluxcd.io", "v1", "flux-system", "gitrepositories",
                                                     "cluster-definitions")
    assert repo["spec"]["url"] == "https://git.capstan-lab.invalid/fleet/cluster-definitions.git"
    ks = fleet.custom.get_namespaced_custom_object("kustomize.toolkit.fluxcd.io", "v1", "flux-system", "kustomizations",
                                                   "cluster-definitions")
    assert ks["spec"]["path"] == "./lab-mgmt"
    # push waits for the management cluster's Flux: skipped until the cluster is defined there
    assert res.task("Push | Calico with the cluster's pod CIDR, Flux, and Flux's sync objects")["status"] == "skipped"

    # unchanged: no commit
    res = fleet(book, **extra)
    assert res.rc == 0 and git_log(defs) == first and res.changed() == []
    # one real change per cluster (explicit objects instead of topology): one commit per cluster
    res = fleet(book, tenant_cluster_definitions="explicit", **extra)
    assert res.rc == 0, res.stdout[-3000:]
    new = git_log(defs)[:len(git_log(defs)) - len(first)]
    assert sorted(m.split(":")[0] for m in new) == sorted(TENANTS) and all("explicit" in m for m in new)
    res = fleet(book, tenant_cluster_definitions="explicit", **extra)
    assert res.rc == 0 and len(git_log(defs)) == len(first) + 3
    # deleting one cluster removes its folder in one commit
    res = fleet(write_book(tmp_path / "absent.yml", hosts=CRS, pki=False), tenant_cluster_state="absent", **extra)
    assert res.rc == 0, res.stdout[-3000:]
    log = git_log(defs)
    assert log[0] == f"{CRS}: removed" and len(log) == len(first) + 4  # its definitions and bootstrap objects at once
    assert not any((defs / f"{base}/lab-vsphere/demo/{CRS}").rglob("*.yaml"))


def test_delete_waits_and_refuses_production_and_management_clusters(fleet, lab, tmp_path):
    res = fleet(write_book(tmp_path / "site.yml", hosts=CRS))
    assert res.rc == 0, res.stdout[-3000:]
    absent = write_book(tmp_path / "absent.yml", hosts=CRS, pki=False)
    res = fleet(absent, tenant_cluster_state="absent", fleet_production=True)
    assert res.rc != 0
    assert "demo-vs-2: refusing to delete a cluster of the production environment 'lab'" in res.stdout
    assert cluster(fleet, CRS) is not None
    res = fleet(write_book(tmp_path / "mgmt.yml", hosts="lab-mgmt", pki=False, roles=("tenant_cluster",)),
                tenant_cluster_state="absent")
    assert res.rc != 0 and "lab-mgmt: not a tenant cluster of the fleet model (fleet_role=management" in res.stdout
    res = fleet(absent, tenant_cluster_state="absent")
    assert res.rc == 0, res.stdout[-3000:]
    # the Cluster is gone when the task ends (its finalizer done), so are its definitions and bootstrap objects
    assert cluster(fleet, CRS) is None
    assert objects(fleet, "addons.cluster.x-k8s.io", "v1beta2", "clusterresourcesets") == []
    assert [cm.metadata.name for cm in fleet.core.list_namespaced_config_map(fleet.ns).items if cm.metadata.name.startswith(CRS)] == []
    # other clusters' shared ClusterClass stays
    assert {o["metadata"]["name"] for o in objects(fleet, "cluster.x-k8s.io", "v1beta2", "clusterclasses")} == {"lab-vsphere-lab-r2"}
    res = fleet(absent, tenant_cluster_state="absent")
    assert res.rc == 0 and res.changed() == []


def test_bad_input_names_the_cluster(fleet, lab, tmp_path):
    # a release whose providers are not installed: a Metal3 site in a copy of the lab fleet
    fdir = tmp_path / "fleet"
    shutil.copytree(REPO / "fleets" / "lab", fdir)
    (fdir / "sites" / "lab-metal3.yml").write_text(yaml.safe_dump({
        "location": "local", "network_zone": "intranet",
        "infrastructure": {"type": "metal3", "image_url": "http://127.0.0.1/img.qcow2", "image_checksum": "0" * 64}}))
    mgmt = yaml.safe_load((fdir / "management_clusters" / "lab-mgmt.yml").read_text())
    mgmt["sites"].append("lab-metal3")
    (fdir / "management_clusters" / "lab-mgmt.yml").write_text(yaml.safe_dump(mgmt))
    rel = yaml.safe_load((fdir / "releases" / "lab-r2.yml").read_text())
    rel["providers"].append({"name": "metal3", "type": "infrastructure", "version": "v1.10.1"})
    (fdir / "releases" / "lab-r2.yml").write_text(yaml.safe_dump(rel))
    (fdir / "clusters" / "lab-metal3" / "demo").mkdir(parents=True)
    (fdir / "clusters" / "lab-metal3" / "demo" / "demo-m3-1.yml").write_text(yaml.safe_dump(
        {"networking": {"pod_cidrs": ["10.250.0.0/16"], "service_cidrs": ["10.100.0.0/16"]}}))
    inv = tmp_path / "inventory"
    (inv / "group_vars").mkdir(parents=True)
    shutil.copy(REPO / "inventories" / "lab" / "group_vars" / "all.yml", inv / "group_vars" / "all.yml")
    (inv / "fleet.yml").write_text(f"plugin: capstan.fleet.fleet\nfleet_dir: {fdir}\n")
    res = fleet(write_book(tmp_path / "m3.yml", hosts="demo-m3-1", pki=False, roles=("tenant_cluster",)), inventory=inv)
    assert res.rc != 0
    msg = res.task("Definitions | say which cluster failed")["result"]["msg"]
    assert msg.startswith("demo-m3-1: its definitions could not be applied to the management cluster lab-mgmt")
    assert "Metal3" in msg and "are the providers of release lab-r2" in msg

    # a site that no management cluster serves: the fleet model refuses it, naming the cluster's file
    mgmt["sites"].remove("lab-metal3")
    (fdir / "management_clusters" / "lab-mgmt.yml").write_text(yaml.safe_dump(mgmt))
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-inventory"), "-i", str(inv), "--list"],
                          capture_output=True, text=True, cwd=str(REPO), check=False,
                          env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / ".build" / "collections"),
                                   ANSIBLE_INVENTORY_UNPARSED_FAILED="true"))
    assert proc.returncode != 0
    assert "clusters/lab-metal3/demo/demo-m3-1.yml: its site 'lab-metal3' is served by no management cluster" in proc.stderr

    # a missing kubeconfig secret: push retries, then names the cluster and the Secret
    res = fleet(write_book(tmp_path / "push.yml", hosts=PUSH, pki=False, roles=("tenant_bootstrap",)), tenant_bootstrap_timeout=4)
    assert res.rc != 0
    msg = res.task("Push | say which cluster failed")["result"]["msg"]
    assert msg.startswith(f"{PUSH}: the CNI and Flux could not be pushed")
    assert f"kubeconfig_secret {fleet.ns}/{PUSH}-kubeconfig does not exist" in msg


@pytest.mark.parametrize("mode", ["topology", "explicit"])
def test_rendered_objects_pass_strict_validation(fleet, lab, mode):
    """Every object the filter renders for the lab's tenants - both modes, vSphere and OpenStack -
    passes the management cluster's server-side dry run with strict field validation against the
    CRDs of the release's providers (an unknown or misplaced field fails it)."""
    import sys

    sys.path.insert(0, str(REPO / ".build" / "collections"))
    from ansible_collections.capstan.fleet.plugins.module_utils import _tenant

    inv = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-inventory"), "-i", str(REPO / "inventories" / "lab"),
                          "--list", "--export"], capture_output=True, text=True, cwd=str(REPO), check=True)

    def plain(v):  # ansible-inventory marks strings as {"__ansible_unsafe": ...}
        if isinstance(v, dict):
            return v["__ansible_unsafe"] if set(v) == {"__ansible_unsafe"} else {k: plain(x) for k, x in v.items()}
        return [plain(x) for x in v] if isinstance(v, list) else v

    hostvars = plain(json.loads(inv.stdout)["_meta"]["hostvars"])
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": fleet.ns}}]
    for name in TENANTS:
        rendered = _tenant.render(hostvars[name], mode=mode, namespace=fleet.ns)
        docs += rendered["clusterclass"] + rendered["cluster"]
    fleet.core.create_namespace({"metadata": {"name": fleet.ns}})
    proc = subprocess.run([lab["binaries"]["kubectl"], "--kubeconfig", lab["kubeconfig"], "apply", "--server-side",
                           "--dry-run=server", "--validate=strict", "-f", "-"], input=yaml.safe_dump_all(docs[1:]),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("serverside-applied (server dry run)") == len(docs) - 1
