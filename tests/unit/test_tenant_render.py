"""Rendering of tenant cluster definitions and bootstrap objects (module_utils/_tenant.py), and
the GitOps writer (module_utils/_git.py). The shapes are also checked by the Kubernetes API
server against the installed CRDs in tests/integration/test_tenant.py."""
import copy
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.capstan.fleet.plugins.module_utils import _git, _tenant
from ansible_collections.capstan.fleet.plugins.module_utils._tenant import TenantError

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"

R2 = [{"name": "cluster-api", "type": "core", "version": "v1.13.2"},
      {"name": "kubeadm", "type": "bootstrap", "version": "v1.13.2"},
      {"name": "kubeadm", "type": "control-plane", "version": "v1.13.2"},
      {"name": "openstack", "type": "infrastructure", "version": "v0.14.4"},
      {"name": "vsphere", "type": "infrastructure", "version": "v1.14.0"}]
R1 = [dict(p, version="v1.10.5") if p["name"] in ("cluster-api", "kubeadm") else p for p in R2]


def tenant(infra="vsphere", providers=None, **config):
    infras = {
        "vsphere": {"type": "vsphere", "server": "vc.example", "datacenter": "DC0", "datastore": "DS0",
                    "network": "VM Network", "folder": "/DC0/vm", "template": "ubuntu-2404"},
        "openstack": {"type": "openstack", "cloud": "site1", "network": "nodes", "external_network": "public",
                      "image": "ubuntu-2404", "flavors": {"control_plane": "m1.medium", "workers": "m1.large"}},
        "metal3": {"type": "metal3", "image_url": "http://mirror/img.qcow2", "image_checksum": "abc",
                   "host_selector": {"rack": "r1"}},
    }
    cfg = {"control_plane": {"replicas": 3}, "node_pools": [{"name": "workers", "replicas": 2}],
           "networking": {"pod_cidrs": ["10.244.0.0/16"], "service_cidrs": ["10.96.0.0/12"], "dns_domain": "cluster.local"},
           "bootstrap": {"mode": "push"}}
    cfg.update(config)
    return {"fleet_name": "acme-01", "fleet_customer": "acme", "fleet_site": "fra1", "fleet_location": "fra",
            "fleet_environment": "prd", "fleet_management_cluster": "mgmt-prd", "fleet_release": "r2026-11",
            "fleet_versions": {"kubernetes": "v1.34.12", "providers": R2 if providers is None else providers},
            "fleet_infrastructure": infras[infra], "fleet_config": cfg}


def by_kind(objs):
    out = {}
    for o in objs:
        out.setdefault(o["kind"], []).append(o)
    return out


def test_api_versions_follow_the_core_provider():
    assert _tenant.api_versions(R2, "vsphere") == {"capi": "v1beta2", "infra": "v1beta1"}
    assert _tenant.api_versions(R1, "openstack") == {"capi": "v1beta1", "infra": "v1beta1"}
    with pytest.raises(TenantError, match="no metal3 infrastructure provider"):
        _tenant.api_versions(R2, "metal3")
    with pytest.raises(TenantError, match="infrastructure type 'aws'"):
        _tenant.api_versions(R2, "aws")


@pytest.mark.parametrize("infra", ["vsphere", "openstack"])
def test_topology_v1beta2(infra):
    r = _tenant.render(tenant(infra, node_pools=[{"name": "big", "replicas": 4, "machine": {"cpus": 8, "flavor": "m1.xlarge"}}]))
    (cluster,) = r["cluster"]
    assert cluster["apiVersion"] == "cluster.x-k8s.io/v1beta2"
    topo = cluster["spec"]["topology"]
    assert topo["classRef"] == {"name": "fra1-r2026-11"} and "class" not in topo
    assert topo["version"] == "v1.34.12" and topo["controlPlane"]["replicas"] == 3
    (md,) = topo["workers"]["machineDeployments"]
    assert md["class"] == "worker" and md["name"] == "big" and md["replicas"] == 4
    # only the properties this infrastructure has are passed
    assert md["variables"]["overrides"] == [{"name": "workerMachine",
                                             "value": {"cpus": 8} if infra == "vsphere" else {"flavor": "m1.xlarge"}}]
    assert cluster["spec"]["clusterNetwork"] == {"pods": {"cidrBlocks": ["10.244.0.0/16"]},
                                                 "services": {"cidrBlocks": ["10.96.0.0/12"]}, "serviceDomain": "cluster.local"}
    labels = cluster["metadata"]["labels"]
    assert labels["cluster.x-k8s.io/cluster-name"] == "acme-01" and labels["fleet.capstan.io/bootstrap"] == "push"
    kinds = by_kind(r["clusterclass"])
    (cc,) = kinds["ClusterClass"]
    assert cc["spec"]["infrastructure"]["templateRef"]["kind"] == ("VSphereClusterTemplate" if infra == "vsphere" else "OpenStackClusterTemplate")
    assert cc["spec"]["workers"]["machineDeployments"][0]["bootstrap"]["templateRef"]["apiVersion"] == "bootstrap.cluster.x-k8s.io/v1beta2"
    # every template the class names is rendered beside it
    names = {(o["kind"], o["metadata"]["name"]) for o in r["clusterclass"]}
    refs = [cc["spec"]["infrastructure"]["templateRef"], cc["spec"]["controlPlane"]["templateRef"],
            cc["spec"]["controlPlane"]["machineInfrastructure"]["templateRef"],
            cc["spec"]["workers"]["machineDeployments"][0]["bootstrap"]["templateRef"],
            cc["spec"]["workers"]["machineDeployments"][0]["infrastructure"]["templateRef"]]
    assert all((ref["kind"], ref["name"]) in names for ref in refs)
    # the machine variables default to the site's values and are patched into the templates
    wm = [v for v in cc["spec"]["variables"] if v["name"] == "workerMachine"][0]
    props = wm["schema"]["openAPIV3Schema"]["properties"]
    if infra == "openstack":
        assert props["flavor"]["default"] == "m1.large" and props["image"]["default"] == "ubuntu-2404"
        cpm = [v for v in cc["spec"]["variables"] if v["name"] == "controlPlaneMachine"][0]
        assert cpm["schema"]["openAPIV3Schema"]["properties"]["flavor"]["default"] == "m1.medium"
    else:
        assert props["template"]["default"] == "ubuntu-2404" and props["cpus"]["default"] == 2


def test_topology_v1beta1_shapes():
    r = _tenant.render(tenant("openstack", providers=R1))
    (cluster,) = r["cluster"]
    assert cluster["apiVersion"] == "cluster.x-k8s.io/v1beta1"
    assert cluster["spec"]["topology"]["class"] == "fra1-r2026-11" and "classRef" not in cluster["spec"]["topology"]
    cc = by_kind(r["clusterclass"])["ClusterClass"][0]
    assert cc["apiVersion"] == "cluster.x-k8s.io/v1beta1"
    assert cc["spec"]["infrastructure"]["ref"]["kind"] == "OpenStackClusterTemplate"
    md = cc["spec"]["workers"]["machineDeployments"][0]
    assert md["template"]["bootstrap"]["ref"]["apiVersion"] == "bootstrap.cluster.x-k8s.io/v1beta1"


@pytest.mark.parametrize("providers,contract", [(R2, "v1beta2"), (R1, "v1beta1")])
def test_explicit_objects(providers, contract):
    pools = [{"name": "a", "replicas": 1}, {"name": "b", "replicas": 2, "taints": ["gpu=true:NoSchedule"]}]
    t = tenant("vsphere", providers=providers, node_pools=pools)
    r = _tenant.render(t, mode="explicit")
    assert r["clusterclass"] == [] and r["class_name"] is None
    kinds = by_kind(r["cluster"])
    assert len(kinds["MachineDeployment"]) == 2 and len(kinds["MachineHealthCheck"]) == 2
    assert len(kinds["KubeadmConfigTemplate"]) == 2 and len(kinds["VSphereMachineTemplate"]) == 3
    (cluster,) = kinds["Cluster"]
    (kcp,) = kinds["KubeadmControlPlane"]
    mhc = kinds["MachineHealthCheck"][0]["spec"]
    if contract == "v1beta2":
        assert cluster["spec"]["controlPlaneRef"] == {"apiGroup": "controlplane.cluster.x-k8s.io", "kind": "KubeadmControlPlane", "name": "acme-01"}
        infra_ref = kcp["spec"]["machineTemplate"]["spec"]["infrastructureRef"]
        assert "apiGroup" in infra_ref and mhc["checks"]["unhealthyNodeConditions"][0]["timeoutSeconds"] == 300
    else:
        assert cluster["spec"]["controlPlaneRef"]["apiVersion"] == "controlplane.cluster.x-k8s.io/v1beta1"
        infra_ref = kcp["spec"]["machineTemplate"]["infrastructureRef"]
        assert infra_ref["apiVersion"] == "infrastructure.cluster.x-k8s.io/v1beta1" and mhc["unhealthyConditions"][0]["timeout"] == "300s"
    names = {o["metadata"]["name"] for o in kinds["VSphereMachineTemplate"]}
    assert infra_ref["name"] in names
    b = [o for o in kinds["KubeadmConfigTemplate"] if o["metadata"]["name"].startswith("acme-01-b-")][0]
    assert b["spec"]["template"]["spec"]["joinConfiguration"]["nodeRegistration"]["taints"] == [
        {"key": "gpu", "value": "true", "effect": "NoSchedule"}]
    # a changed machine makes a new template name (templates are immutable), an unchanged one keeps it
    t2 = copy.deepcopy(t)
    t2["fleet_config"]["node_pools"][0]["machine"] = {"cpus": 16}
    names2 = {o["metadata"]["name"] for o in by_kind(_tenant.render(t2, mode="explicit")["cluster"])["VSphereMachineTemplate"]}
    assert len(names & names2) == 2 and len(names2 - names) == 1


def test_metal3_renders():
    r = _tenant.render(tenant("metal3", providers=R2 + [{"name": "metal3", "type": "infrastructure", "version": "v1.10.0"}]))
    tmpl = [o for o in r["clusterclass"] if o["kind"] == "Metal3MachineTemplate"][0]
    assert tmpl["spec"]["template"]["spec"]["hostSelector"] == {"matchLabels": {"rack": "r1"}}


def test_bad_input_names_the_cluster():
    with pytest.raises(TenantError, match="acme-01: mode 'fancy'"):
        _tenant.render(tenant(), mode="fancy")
    with pytest.raises(TenantError, match="acme-01: node_pools need unique names"):
        _tenant.render(tenant(node_pools=[{"name": "a"}, {"name": "a"}]))
    with pytest.raises(TenantError, match="acme-01: node pool 'a': taint 'oops'"):
        _tenant.render(tenant(node_pools=[{"name": "a", "taints": ["oops"]}]), mode="explicit")
    with pytest.raises(TenantError, match="acme-01: the release has no vsphere infrastructure provider"):
        _tenant.render(tenant("vsphere", providers=R2[:4]))


def test_calico_pod_cidr_on_the_upstream_file():
    text = (TESTDATA / "cni/calico/v3.32.1/calico.yaml").read_text()
    out = _tenant.calico(text, "10.241.0.0/16")
    docs = [d for d in yaml.safe_load_all(out) if d]
    ds = [d for d in docs if d["kind"] == "DaemonSet" and d["metadata"]["name"] == "calico-node"][0]
    node = [c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == "calico-node"][0]
    assert {"name": "CALICO_IPV4POOL_CIDR", "value": "10.241.0.0/16"} in node["env"]
    # nothing else changed: the same lines but the two
    changed = [(a, b) for a, b in zip(text.splitlines(), out.splitlines()) if a != b]
    assert len(changed) == 2 and len(text.splitlines()) == len(out.splitlines())
    with pytest.raises(TenantError, match="found 0"):
        _tenant.calico(out, "10.0.0.0/8")
    with pytest.raises(TenantError, match="no pod CIDR"):
        _tenant.calico(text, "")


def test_remote_and_crs_objects():
    t = tenant()
    ks = _tenant.remote_kustomizations(t, "acme", "cluster-components", "./bootstrap/cni", "./bootstrap/flux",
                                       "./bootstrap/flux-sync", "10.244.0.0/16", git={"url": "https://git/x", "branch": "main"})
    assert [k["metadata"]["name"] for k in ks] == ["acme-01-cni", "acme-01-flux", "acme-01-flux-sync"]
    assert all(k["spec"]["kubeConfig"] == {"secretRef": {"name": "acme-01-kubeconfig", "key": "value"}} for k in ks)
    assert "10.244.0.0/16" in ks[0]["spec"]["patches"][0]["patch"]
    assert ks[2]["spec"]["postBuild"]["substitute"]["CLUSTER_PATH"] == "./fra/fra1/acme-01"
    assert ks[1]["spec"]["dependsOn"] == [{"name": "acme-01-cni"}]
    objs = _tenant.crs_objects(t, "acme", [("calico", "a: 1\n"), ("flux", "b: 2\n")])
    crs = objs[-1]
    assert crs["kind"] == "ClusterResourceSet" and crs["spec"]["strategy"] == "Reconcile"
    assert crs["spec"]["clusterSelector"] == {"matchLabels": {"cluster.x-k8s.io/cluster-name": "acme-01"}}
    assert crs["spec"]["resources"] == [{"kind": "ConfigMap", "name": "acme-01-calico"}, {"kind": "ConfigMap", "name": "acme-01-flux"}]
    # objects are written as one YAML stream
    (cm, _crs) = _tenant.crs_objects(t, "acme", [("sync", [{"kind": "A"}, {"kind": "B"}])])
    assert [d["kind"] for d in yaml.safe_load_all(cm["data"]["sync.yaml"]) if d] == ["A", "B"]
    with pytest.raises(TenantError, match="over a ConfigMap's 1 MiB"):
        _tenant.crs_objects(t, "acme", [("big", "x" * (1024 * 1024))])
    assert _tenant.definitions_path(t) == "mgmt-prd/sites/fra1/acme/acme-01"


def git_log(repo):
    return subprocess.run(["git", "log", "--format=%s"], cwd=repo, capture_output=True, text=True, check=True).stdout.split("\n")[:-1]


def test_gitops_commit_only_on_change(tmp_path):
    repo = tmp_path / "defs"
    files = [{"path": "m/sites/s/c/x/cluster/cluster.yaml", "content": [{"kind": "Cluster", "metadata": {"name": "x"}}]}]
    res = _git.commit_files(str(repo), files, ["m/sites/s/c/x/cluster"], "x: definitions")
    assert res["changed"] and res["written"] == ["m/sites/s/c/x/cluster/cluster.yaml"] and res["commit"]
    again = _git.commit_files(str(repo), files, ["m/sites/s/c/x/cluster"], "x: definitions")
    assert not again["changed"] and again["commit"] == res["commit"] and git_log(repo) == ["x: definitions"]
    # check mode: reports, writes nothing
    files[0]["content"][0]["metadata"]["name"] = "y"
    dry = _git.commit_files(str(repo), files, ["m/sites/s/c/x/cluster"], "x: y", check_mode=True)
    assert dry["changed"] and "+  name: y" in dry["diff"] and len(git_log(repo)) == 1
    res = _git.commit_files(str(repo), files, ["m/sites/s/c/x/cluster"], "x: y")
    assert res["changed"] and git_log(repo) == ["x: y", "x: definitions"]
    # a file the owned folder no longer has is removed, in a commit of its own
    extra = files + [{"path": "m/sites/s/c/x/cluster/old.yaml", "content": "a: 1\n"}]
    _git.commit_files(str(repo), extra, ["m/sites/s/c/x/cluster"], "x: old")
    res = _git.commit_files(str(repo), files, ["m/sites/s/c/x/cluster"], "x: without old")
    assert res["removed"] == ["m/sites/s/c/x/cluster/old.yaml"] and not (repo / "m/sites/s/c/x/cluster/old.yaml").exists()
    assert git_log(repo) == ["x: without old", "x: old", "x: y", "x: definitions"]
    tree = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    assert tree == ["m/sites/s/c/x/cluster/cluster.yaml"]
    with pytest.raises(_git.GitError, match="outside the owned folders"):
        _git.commit_files(str(repo), [{"path": "elsewhere.yaml", "content": "a"}], ["m"], "nope")
    with pytest.raises(_git.GitError, match="relative path inside"):
        _git.commit_files(str(repo), [{"path": "../escape.yaml", "content": "a"}], [], "nope")


def _first_writer(args):
    repo, name, barrier = args
    barrier.wait()
    try:
        return _git.commit_files(repo, [{"path": "%s/cluster.yaml" % name, "content": {"name": name}}], [name],
                                 "%s: definitions" % name)["changed"]
    except _git.GitError as e:
        return str(e)


def test_gitops_forks_create_one_repository_at_once(tmp_path):
    """Forks of one play find the repository missing together; each must get its commit (in CI,
    two `git init` on one path at once failed with 'cannot copy ... File exists')."""
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    for attempt in range(4):
        repo = str(tmp_path / ("defs%d" % attempt))
        names = ["c%d" % i for i in range(6)]
        barrier = ctx.Barrier(len(names))
        procs, results = [], ctx.Queue()
        for name in names:
            p = ctx.Process(target=lambda n=name: results.put((n, _first_writer((repo, n, barrier)))))
            p.start()
            procs.append(p)
        for p in procs:
            p.join(60)
        got = dict(results.get(timeout=5) for _name in names)
        assert got == {n: True for n in names}, got
        assert sorted(git_log(repo)) == sorted("%s: definitions" % n for n in names)
        assert sorted(os.listdir(repo)) == sorted(names + [".git"])  # no temporary directory left
