"""The lab's real components answer as the rest of the project relies on."""
import json
import ssl
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import lab_cli, wait_for


def test_objects_applied_and_read_back(kube):
    from kubernetes import client

    core = client.CoreV1Api(kube)
    ns = f"lab-test-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    try:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "probe"}, "data": {"answer": "42"}})
        got = core.read_namespaced_config_map("probe", ns)
        assert got.data == {"answer": "42"}
        assert got.metadata.resource_version
    finally:
        core.delete_namespace(ns)


def test_apiserver_reports_its_pinned_version(kube, lab):
    from kubernetes import client

    info = client.VersionApi(kube).get_code()
    assert info.git_version == lab["versions"]["kubernetes"]


def test_deployment_becomes_available(kube):
    """kube-controller-manager, kube-scheduler and kwok together make a Deployment Available."""
    from kubernetes import client

    apps = client.AppsV1Api(kube)
    name = f"web-{uuid.uuid4().hex[:6]}"
    apps.create_namespaced_deployment("default", {
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "web", "image": "registry.invalid/web:1"}]}},
        },
    })
    try:
        def available():
            d = apps.read_namespaced_deployment(name, "default")
            conds = {c.type: c.status for c in (d.status.conditions or [])}
            return d.status.available_replicas == 2 and conds.get("Available") == "True"

        wait_for(available, 90, what=f"Deployment {name} Available")
        pods = client.CoreV1Api(kube).list_namespaced_pod("default", label_selector=f"app={name}").items
        assert {p.spec.node_name for p in pods} <= {"kwok-node-0", "kwok-node-1", "kwok-node-2"}
        assert all(p.status.phase == "Running" for p in pods)
    finally:
        apps.delete_namespaced_deployment(name, "default")


def test_pki_mount_issues_and_audit_log_records_it(vault, lab):
    mount = f"pki-test-{uuid.uuid4().hex[:6]}"
    vault.sys.enable_secrets_engine("pki", path=mount, config={"max_lease_ttl": "24h"})
    try:
        vault.secrets.pki.generate_root("internal", "lab test root", mount_point=mount)
        vault.secrets.pki.create_or_update_role("leaf", {"allow_any_name": True, "ttl": "1h"}, mount_point=mount)
        issued = vault.secrets.pki.generate_certificate("leaf", "probe.lab", mount_point=mount)["data"]
        assert "BEGIN CERTIFICATE" in issued["certificate"]
        audit = Path(lab["vault"]["audit_log"])

        def logged():
            for line in audit.read_text().splitlines():
                entry = json.loads(line)
                if entry.get("type") == "response" and entry["request"]["path"] == f"{mount}/issue/leaf":
                    return entry
            return None

        entry = wait_for(logged, 10, what="audit entry for the issue request")
        # the audit device HMACs secrets: the private key never appears in clear
        assert issued["private_key"] not in audit.read_text()
        assert entry["response"]["data"]["private_key"].startswith("hmac-sha256:")
    finally:
        vault.sys.disable_secrets_engine(mount)


def test_vcsim_login_and_template(vsphere):
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim

    ctx = ssl.create_default_context(cafile=vsphere["ca_cert"])
    si = SmartConnect(host=vsphere["host"], port=int(vsphere["port"]), user=vsphere["username"],
                      pwd=vsphere["password"], sslContext=ctx)
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        templates = [vm.name for vm in view.view if vm.config.template]
        view.Destroy()
        assert vsphere["template"] in templates
        assert [dc.name for dc in content.rootFolder.childEntity] == [vsphere["datacenter"]]
    finally:
        Disconnect(si)


def test_vcsim_refuses_a_wrong_password(vsphere):
    from pyVim.connect import SmartConnect
    from pyVmomi import vim

    ctx = ssl.create_default_context(cafile=vsphere["ca_cert"])
    with pytest.raises(vim.fault.InvalidLogin):
        SmartConnect(host=vsphere["host"], port=int(vsphere["port"]), user=vsphere["username"], pwd="wrong",
                     sslContext=ctx)


def test_tenant_answers_with_its_kubeconfig(tenant_factory, kube, lab, tmp_path):
    from kubernetes import client, config as kconfig

    name = f"tenant-{uuid.uuid4().hex[:5]}"
    kc = tenant_factory.create(name)
    # laid out as Cluster API writes it
    assert kc["current-context"] == f"{name}-admin@{name}"
    assert kc["clusters"][0]["name"] == name
    sec = client.CoreV1Api(kube).read_namespaced_secret(f"{name}-kubeconfig", "default")
    assert sec.type == "cluster.x-k8s.io/secret"
    assert sec.metadata.labels["cluster.x-k8s.io/cluster-name"] == name
    assert sec.metadata.owner_references[0].kind == "Cluster"
    # the tenant's own apiserver answers, with the CA of <cluster>-ca
    tenant = kconfig.new_client_from_config_dict(kc)
    namespaces = [n.metadata.name for n in client.CoreV1Api(tenant).list_namespace().items]
    assert "kube-system" in namespaces
    import base64

    ca = client.CoreV1Api(kube).read_namespaced_secret(f"{name}-ca", "default")
    assert base64.b64decode(kc["clusters"][0]["cluster"]["certificate-authority-data"]) == base64.b64decode(ca.data["tls.crt"])
    # the tenant is a different apiserver from the management cluster
    assert kc["clusters"][0]["cluster"]["server"] != lab["kubernetes"]["server"]
    cluster = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "cluster.x-k8s.io", tenant_factory.version, "default", "clusters", name)
    wait_for(lambda: client.CustomObjectsApi(kube).get_namespaced_custom_object(
        "cluster.x-k8s.io", tenant_factory.version, "default", "clusters", name).get("status", {}).get("phase")
        == "Provisioned", 30, what="phase Provisioned")
    assert cluster["spec"]["controlPlaneEndpoint"]["host"] == "127.0.0.1"


def test_deleting_a_tenant_stops_its_apiserver(tenant_factory, lab):
    name = f"tenant-{uuid.uuid4().hex[:5]}"
    kc = tenant_factory.create(name)
    port = int(kc["clusters"][0]["cluster"]["server"].rsplit(":", 1)[1])
    tdir = Path(lab["state_dir"]) / "tenants" / f"default_{name}"
    assert tdir.is_dir()
    tenant_factory.delete(name)
    wait_for(lambda: not tdir.exists(), 30, what="tenant directory removed")
    import socket

    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "the tenant apiserver still listens"
    assert tenant_factory.kubeconfig_secret(name, "default") is None


def test_openbao_restart_keeps_data_and_unseals(vault, lab, vault_token):
    import hvac

    key = f"lab-test-{uuid.uuid4().hex[:6]}"
    vault.sys.enable_secrets_engine("kv", path=key, options={"version": "2"})
    vault.secrets.kv.v2.create_or_update_secret(key, mount_point=key, secret={"kept": "yes"})
    before = lab_cli("status", check=False)
    old_pid = json.loads(Path(lab["state_dir"], "lab.json").read_text())["components"]["openbao"]["pid"]
    lab_cli("restart", "openbao")
    new_pid = json.loads(Path(lab["state_dir"], "lab.json").read_text())["components"]["openbao"]["pid"]
    assert new_pid != old_pid and before.returncode == 0
    client = hvac.Client(url=lab["vault"]["addr"], verify=lab["vault"]["ca_cert"], token=vault_token)
    assert not client.sys.read_seal_status()["sealed"]
    got = client.secrets.kv.v2.read_secret_version(key, mount_point=key, raise_on_deleted_version=True)
    assert got["data"]["data"] == {"kept": "yes"}
    client.sys.disable_secrets_engine(key)


def test_second_up_is_a_noop(lab):
    before = json.loads(Path(lab["state_dir"], "lab.json").read_text())
    out = json.loads(lab_cli("up").stdout)
    after = json.loads(Path(lab["state_dir"], "lab.json").read_text())
    assert out["changed"] is False
    assert {k: v["pid"] for k, v in before["components"].items()} == {k: v["pid"] for k, v in after["components"].items()}


def test_status_reports_every_component_healthy(lab):
    out = json.loads(lab_cli("status").stdout)
    assert out["state"] == "up"
    assert set(out["components"]) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
                                      "openbao", "vcsim", "provisioner"}
    assert set(out["components"].values()) == {"healthy"}


def test_secrets_of_the_lab_are_private(lab):
    for path in [lab["kubeconfig"], lab["vault"]["token_file"], lab["vault"]["init_file"],
                 Path(lab["state_dir"]) / "pki" / "ca.key", lab["vsphere"]["password_file"]]:
        assert Path(path).stat().st_mode & 0o777 == 0o600, path
    assert Path(lab["state_dir"]).stat().st_mode & 0o777 == 0o700


def test_binaries_report_their_real_versions(lab):
    out = subprocess.run([lab["binaries"]["kube-apiserver"], "--version"], capture_output=True, text=True, check=False).stdout
    assert out.strip() == f"Kubernetes {lab['versions']['kubernetes']}"
    out = subprocess.run([lab["binaries"]["etcd"], "--version"], capture_output=True, text=True, check=False).stdout
    assert f"etcd Version: {lab['versions']['etcd'].lstrip('v')}" in out


def test_status_of_a_lab_that_never_ran(tmp_path):
    proc = lab_cli("--state-dir", str(tmp_path / "none"), "status", check=False)
    assert proc.returncode == 3
    assert json.loads(proc.stdout)["state"] == "down"


def test_down_of_a_killed_run_stops_what_is_left(tmp_path):
    """A stale state directory (its lab killed mid-way) is detected and cleaned up."""
    state_dir = tmp_path / "stale"
    state_dir.mkdir()
    sleeper = subprocess.Popen(["sleep", "300"], start_new_session=True)
    (state_dir / "lab.json").write_text(json.dumps({"components": {
        "etcd": {"pid": sleeper.pid, "argv": ["sleep", "300"], "port": 1},
        "kube-apiserver": {"pid": 999999, "argv": ["kube-apiserver"], "port": 2},
    }}))
    st = json.loads(lab_cli("--state-dir", str(state_dir), "status", check=False).stdout)
    assert st["state"] == "degraded"
    assert st["components"]["kube-apiserver"] == "dead"
    out = json.loads(lab_cli("--state-dir", str(state_dir), "down").stdout)
    assert "etcd" in out["stopped"]
    assert sleeper.wait(timeout=10) is not None
    assert not state_dir.exists()
    # and a second down is a no-op
    assert json.loads(lab_cli("--state-dir", str(state_dir), "down").stdout)["changed"] is False


def test_up_after_a_killed_run_cleans_up_and_starts_afresh(lab, tmp_path):
    """A second lab in its own state directory: kill parts of it, and `up` recovers."""
    import os
    import signal

    state_dir = tmp_path / "lab2"
    try:
        first = json.loads(lab_cli("--state-dir", str(state_dir), "up").stdout)
        assert first["state"] == "up" and first["changed"] is True
        comps = json.loads((state_dir / "lab.json").read_text())["components"]
        for name in ("etcd", "vcsim"):
            os.kill(comps[name]["pid"], signal.SIGKILL)
        wait_for(lambda: json.loads(lab_cli("--state-dir", str(state_dir), "status", check=False).stdout)["state"]
                 == "degraded", 10, what="status degraded")
        again = json.loads(lab_cli("--state-dir", str(state_dir), "up").stdout)
        assert again["state"] == "up" and again["changed"] is True
        new = json.loads((state_dir / "lab.json").read_text())["components"]
        assert all(new[n]["pid"] != comps[n]["pid"] for n in comps)
        # nothing of the killed run is left running
        assert not any(procs_alive(c["pid"]) for c in comps.values())
    finally:
        lab_cli("--state-dir", str(state_dir), "down", check=False)
    assert not state_dir.exists()


def procs_alive(pid):
    from capstan_lab import procs

    return procs.alive(pid)
