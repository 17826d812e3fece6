"""Session fixtures that hand tests the lab: real servers on 127.0.0.1.

The lab is started once per session through its command line (``python -m capstan_lab up``)
when it is not already running, and stopped at the end if this session started it
(``CAPSTAN_LAB_KEEP=1`` keeps it). Nothing here mocks Kubernetes, Vault or vSphere.
"""
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
TOOLS = REPO / "tools"
COLLECTIONS = REPO / ".build" / "collections"
for p in (str(TOOLS), str(COLLECTIONS)):
    if p not in sys.path:
        sys.path.insert(0, p)

TESTDATA = Path(os.environ.get("CAPSTAN_TESTDATA", REPO.parent / "shared" / "testdata"))


def lab_cli(*args, check=True, timeout=1800):
    env = dict(os.environ, PYTHONPATH=str(TOOLS) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "capstan_lab", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"capstan_lab {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}\n{proc.stdout}")
    return proc


@pytest.fixture(scope="session")
def lab():
    """The running lab's state (lab.json): ports, URLs and file paths."""
    was_up = lab_cli("status", check=False).returncode == 0
    if not was_up:
        lab_cli("up")
    state = json.loads(lab_cli("status", check=False).stdout)
    assert state["state"] == "up", state
    state.update(json.loads(Path(state["state_dir"], "lab.json").read_text()))
    yield state
    if not was_up and not os.environ.get("CAPSTAN_LAB_KEEP"):
        lab_cli("down")


@pytest.fixture(scope="session")
def kubeconfig(lab):
    return lab["kubeconfig"]


@pytest.fixture(scope="session")
def kube(kubeconfig):
    """An official-client ApiClient for the management cluster (independent of the collection)."""
    from kubernetes import config as kconfig

    return kconfig.new_client_from_config(config_file=kubeconfig)


@pytest.fixture(scope="session")
def vault_token(lab):
    return Path(lab["vault"]["token_file"]).read_text().strip()


@pytest.fixture(scope="session")
def vault(lab, vault_token):
    import hvac

    client = hvac.Client(url=lab["vault"]["addr"], verify=lab["vault"]["ca_cert"], token=vault_token)
    assert client.is_authenticated()
    return client


@pytest.fixture(scope="session")
def vsphere(lab):
    """Connection details of vcsim, as pyvmomi and the modules take them."""
    vs = dict(lab["vsphere"])
    vs["password"] = Path(vs["password_file"]).read_text()
    return vs


def crd_from_testdata(provider, version, name):
    path = next((TESTDATA / "capi-providers" / provider / version).glob("*-components.yaml"))
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "CustomResourceDefinition" and doc["metadata"]["name"] == name:
            return doc
    raise LookupError(f"{name} not in {path}")


@pytest.fixture(scope="session")
def cluster_crd(kube):
    """Cluster API's real Cluster CRD (v1.13.2, storing v1beta2), installed when missing."""
    from kubernetes import client

    ext = client.ApiextensionsV1Api(kube)
    name = "clusters.cluster.x-k8s.io"
    try:
        crd = ext.read_custom_resource_definition(name)
    except client.exceptions.ApiException as e:
        if e.status != 404:
            raise
        crd = ext.create_custom_resource_definition(crd_from_testdata("cluster-api", "v1.13.2", name))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        crd = ext.read_custom_resource_definition(name)
        if any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or [])):
            return next(v.name for v in crd.spec.versions if v.storage)
        time.sleep(0.2)
    raise TimeoutError("Cluster CRD not Established")


def wait_for(fn, timeout=90, interval=0.25, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class TenantFactory:
    """Creates tenant clusters through the lab provisioner and removes them afterwards."""

    def __init__(self, kube, version):
        from kubernetes import client

        self.client = client
        self.core = client.CoreV1Api(kube)
        self.custom = client.CustomObjectsApi(kube)
        self.version = version
        self.created = []

    def kubeconfig_secret(self, name, namespace):
        try:
            return self.core.read_namespaced_secret(f"{name}-kubeconfig", namespace)
        except self.client.exceptions.ApiException as e:
            if e.status == 404:
                return None
            raise

    def create(self, name, namespace="default", timeout=120):
        body = {
            "apiVersion": f"cluster.x-k8s.io/{self.version}", "kind": "Cluster",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"clusterNetwork": {"pods": {"cidrBlocks": ["10.244.0.0/16"]}}},
        }
        self.custom.create_namespaced_custom_object("cluster.x-k8s.io", self.version, namespace, "clusters", body)
        self.created.append((name, namespace))
        sec = wait_for(lambda: self.kubeconfig_secret(name, namespace), timeout, what=f"{name}-kubeconfig")
        return yaml.safe_load(base64.b64decode(sec.data["value"]))

    def delete(self, name, namespace="default", timeout=60):
        try:
            self.custom.delete_namespaced_custom_object("cluster.x-k8s.io", self.version, namespace, "clusters", name)
        except self.client.exceptions.ApiException as e:
            if e.status != 404:
                raise

        def gone():
            try:
                self.custom.get_namespaced_custom_object("cluster.x-k8s.io", self.version, namespace, "clusters", name)
                return False
            except self.client.exceptions.ApiException as e:
                return e.status == 404

        wait_for(gone, timeout, what=f"Cluster {name} deleted")


@pytest.fixture
def tenant_factory(kube, cluster_crd):
    factory = TenantFactory(kube, cluster_crd)
    yield factory
    for name, ns in factory.created:
        factory.delete(name, ns)


def remove_vault_pki(vault, names, clusters):
    """Remove what a vault_pki run with test-own ``names`` (the role's variables) made in Vault."""
    for path in list(vault.sys.list_mounted_secrets_engines()["data"]):
        if path.startswith(names["vault_pki_mount_prefix"]) or path == names["vault_pki_kv_mount"] + "/":
            vault.sys.disable_secrets_engine(path)
    if names["vault_pki_approle_mount"] + "/" in vault.sys.list_auth_methods()["data"]:
        vault.sys.disable_auth_method(names["vault_pki_approle_mount"])
    for c in clusters:
        vault.sys.delete_policy(names["vault_pki_policy_prefix"] + c)


# ---- running the collection's modules and playbooks --------------------------------
class PlayResult:
    def __init__(self, proc, results):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.results = results  # one dict per task result, as callbacks see it

    def task(self, name):
        found = [r for r in self.results if r["task"] == name]
        assert found, f"no result for task {name!r}; tasks: {[r['task'] for r in self.results]}\n{self.stdout}"
        return found[-1]

    def changed(self):
        return [r["task"] for r in self.results if r["result"].get("changed")]


def run_playbook(playbook, tmp_path, check=False, diff=False, extra_vars=None, inventory=None, verbosity=0, env=None):
    capture = tmp_path / f"capture-{time.monotonic_ns()}.jsonl"
    run_env = dict(os.environ)
    run_env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_CALLBACK_PLUGINS=str(REPO / "tests" / "plugins" / "callback"),
        ANSIBLE_CALLBACKS_ENABLED="capstan_capture",
        ANSIBLE_NOCOLOR="1",
        CAPSTAN_CAPTURE=str(capture),
        PYTHONPATH=str(TOOLS),
    )
    run_env.update(env or {})
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(playbook)]
    cmd += ["-i", str(inventory or REPO / "inventories" / "lab")]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    for k, v in (extra_vars or {}).items():
        cmd += ["-e", json.dumps({k: v})]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env, cwd=str(REPO), timeout=900, check=False)
    results = [json.loads(line) for line in capture.read_text().splitlines()] if capture.exists() else []
    return PlayResult(proc, results)


@pytest.fixture
def play(tmp_path):
    """Run a list of tasks as a play on the lab host: ``play(tasks, check=..., diff=...)``."""

    def _play(tasks, check=False, diff=False, vars=None, verbosity=0, module_defaults=None):
        book = [{
            "name": "test", "hosts": "lab-mgmt", "gather_facts": False,
            "vars": vars or {}, "module_defaults": module_defaults or {}, "tasks": tasks,
        }]
        path = tmp_path / f"play-{time.monotonic_ns()}.yml"
        path.write_text(yaml.safe_dump(book, sort_keys=False))
        return run_playbook(path, tmp_path, check=check, diff=diff, verbosity=verbosity)

    return _play
