"""The vault_pki role on the lab inventory's tenant clusters, against the lab's real OpenBao (audit
log on) and kube-apiserver: the hierarchy, Cluster API's secrets, least privilege, and a tenant
served by the lab provisioner with the CAs the role made."""
import base64
import json
import re
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from conftest import REPO, remove_vault_pki, run_playbook

CLUSTERS = ("demo-vs-1", "demo-os-1", "demo-vs-2")
PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def writes_since(audit, start):
    entries = [json.loads(line) for line in audit.read_text()[start:].splitlines()]
    return [e["request"]["path"] for e in entries
            if e.get("type") == "request" and e["request"]["operation"] in ("create", "update", "delete")]


@pytest.fixture
def pki(lab, vault, kube, tmp_path):
    """A playbook running the role on the lab's tenant clusters, with mounts, KV, AppRole mount and
    namespace of this test's own; everything removed afterwards."""
    from kubernetes import client

    tag = uuid.uuid4().hex[:6]
    names = {
        "vault_pki_mount_prefix": f"pki/r{tag}/",
        "vault_pki_kv_mount": f"kv-{tag}",
        "vault_pki_approle_mount": f"approle-{tag}",
        "vault_pki_cluster_namespace": f"ns-{tag}",
        "vault_pki_policy_prefix": f"t{tag}-",
    }
    book = tmp_path / "pki.yml"
    book.write_text(yaml.safe_dump([{
        "name": "PKI", "hosts": "tenant_clusters", "gather_facts": False,
        "module_defaults": {"group/capstan.fleet.vault": "{{ capstan_vault }}"},
        "roles": [{"role": "capstan.fleet.vault_pki"}],
    }], sort_keys=False))

    def run(check=False, diff=False, verbosity=0, env=None, **extra):
        return run_playbook(book, tmp_path, check=check, diff=diff, verbosity=verbosity, env=env,
                            extra_vars=dict(names, **extra))

    run.names, run.tag = names, tag
    yield run
    remove_vault_pki(vault, names, CLUSTERS)
    try:
        client.CoreV1Api(kube).delete_namespace(names["vault_pki_cluster_namespace"])
    except client.exceptions.ApiException:
        pass


def secret_data(kube, ns, name):
    from kubernetes import client

    s = client.CoreV1Api(kube).read_namespaced_secret(name, ns)
    return s, {k: base64.b64decode(v).decode() for k, v in s.data.items()}


def whoami(lab, kubeconfig, ok=True):
    """``kubectl auth whoami`` with the lab's kubectl (Go's TLS takes the intermediate as the anchor,
    as every Kubernetes client does); its user info, or its error text when ``ok`` is false."""
    proc = subprocess.run([lab["binaries"]["kubectl"], "--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json"],
                          capture_output=True, text=True, timeout=60, check=False)
    if not ok:
        assert proc.returncode != 0, proc.stdout
        return proc.stderr
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["status"]["userInfo"]


def kv(vault, names, path):
    return vault.secrets.kv.v2.read_secret_version(
        path, mount_point=names["vault_pki_kv_mount"], raise_on_deleted_version=True)["data"]["data"]


def test_role_builds_each_clusters_hierarchy_and_capi_secrets(pki, vault, kube, lab):
    names, prefix = pki.names, pki.names["vault_pki_mount_prefix"]
    ns = names["vault_pki_cluster_namespace"]
    audit = Path(lab["vault"]["audit_log"])

    # --check on nothing: green, and not one write request reaches the server
    start = audit.stat().st_size
    res = pki(check=True, diff=True, vault_pki_root_mount=f"{prefix}root")
    assert res.rc == 0, res.stdout
    assert writes_since(audit, start) == []

    start = audit.stat().st_size
    res = pki(vault_pki_root_mount=f"{prefix}root")
    assert res.rc == 0, res.stdout
    root_pem = vault.adapter.get(f"/v1/{prefix}root/issuer/default/json")["data"]["certificate"]
    root = x509.load_pem_x509_certificate(root_pem.encode())
    for c in CLUSTERS:
        for mount, kv_name, secret in (("kubernetes", "ca", "ca"), ("etcd", "etcd", "etcd"),
                                       ("front-proxy", "proxy", "proxy")):
            stored = kv(vault, names, f"clusters/{c}/{kv_name}")
            cert = x509.load_pem_x509_certificate(stored["certificate"].encode())
            cert.verify_directly_issued_by(root)
            issuer = vault.adapter.get(f"/v1/{prefix}clusters/{c}/{mount}/issuer/default/json")["data"]["certificate"]
            assert issuer.strip() == stored["certificate"].strip()
            # the Secret carries the intermediate alone (kubeadm takes no bundle) and its key
            s, data = secret_data(kube, ns, f"{c}-{secret}")
            assert s.type == "kubernetes.io/tls" and s.metadata.labels["cluster.x-k8s.io/cluster-name"] == c
            assert data["tls.crt"].strip() == stored["certificate"].strip()
            assert data["tls.crt"].count("BEGIN CERTIFICATE") == 1
            assert data["tls.key"].strip() == stored["private_key"].strip()
        sa = kv(vault, names, f"clusters/{c}/sa")
        _s, data = secret_data(kube, ns, f"{c}-sa")
        assert data == {"tls.crt": sa["public_key"], "tls.key": sa["private_key"]}
        role = vault.adapter.get(f"/v1/{prefix}clusters/{c}/kubernetes/roles/group-platform-admins")["data"]
        assert role["organization"] == ["platform-admins"] and role["client_flag"] and not role["server_flag"]
        assert vault.adapter.get(f"/v1/{prefix}clusters/{c}/kubernetes/roles/admin")["data"]["no_store"] is True
        assert vault.adapter.get(f"/v1/{prefix}clusters/{c}/etcd/roles/etcd-client")["data"]["client_flag"]
    # the exported keys travelled inside requests and responses only: the audit log has none
    assert not PEM_KEY.search(audit.read_text()[start:])
    assert not PEM_KEY.search(res.stdout + res.stderr)

    res = pki(vault_pki_root_mount=f"{prefix}root")
    assert res.rc == 0 and res.changed() == [], res.stdout
    start = audit.stat().st_size
    res = pki(check=True, diff=True, vault_pki_root_mount=f"{prefix}root")
    assert res.rc == 0 and res.changed() == [], res.stdout
    assert writes_since(audit, start) == []

    # a Secret deleted in the management cluster is repaired from Vault, and nothing else changes
    from kubernetes import client

    client.CoreV1Api(kube).delete_namespaced_secret("demo-vs-1-etcd", ns)
    res = pki(vault_pki_root_mount=f"{prefix}root")
    assert res.rc == 0, res.stdout
    # one run served the three clusters; each host reports its own change: demo-vs-1's alone
    batch = res.task("The clusters' CAs, key pairs, roles, policies, AppRoles and Cluster API Secrets, in one run")
    assert sorted(c["name"] for c in batch["result"]["clusters"]) == sorted(CLUSTERS)
    assert {c["name"]: c["secrets"]["changed_objects"] for c in batch["result"]["clusters"]} == {
        "demo-vs-1": [f"Secret/{ns}/demo-vs-1-etcd"], "demo-os-1": [], "demo-vs-2": []}
    assert {r["host"] for r in res.results if r["task"] == "This cluster's result" and r["result"].get("changed")} \
        == {"demo-vs-1"}
    _s, data = secret_data(kube, ns, "demo-vs-1-etcd")
    assert data["tls.crt"].strip() == kv(vault, names, "clusters/demo-vs-1/etcd")["certificate"].strip()

    # a Secret that holds another CA than Vault's is not replaced: the run names it, shows no key
    other = kv(vault, names, "clusters/demo-os-1/ca")
    client.CoreV1Api(kube).patch_namespaced_secret("demo-vs-1-ca", ns, {"data": {
        "tls.crt": base64.b64encode(other["certificate"].encode()).decode(),
        "tls.key": base64.b64encode(other["private_key"].encode()).decode()}})
    res = pki(vault_pki_root_mount=f"{prefix}root")
    assert res.rc != 0
    failed = [r for r in res.results if r["status"] == "failed"]
    assert {r["host"] for r in failed} == {"demo-vs-1"}, res.stdout
    msg = failed[-1]["result"]["msg"]  # the role's last word: the cluster, the Secret, the fields, what to do
    assert msg.startswith("demo-vs-1: ") and f"Secret/{ns}/demo-vs-1-ca" in msg and "data.tls.crt" in msg, msg
    assert "plan a control-plane rollout" in msg and "vault_pki_capi_secrets_overwrite=true" in msg, msg
    assert not PEM_KEY.search(res.stdout + res.stderr)
    _s, data = secret_data(kube, ns, "demo-vs-1-ca")
    assert data["tls.crt"] == other["certificate"]  # left as it was


def test_a_clusters_approle_issues_from_its_own_mounts_only(pki, vault, lab):
    names, prefix = pki.names, pki.names["vault_pki_mount_prefix"]
    res = pki(vault_pki_root_mount=f"{prefix}root", vault_pki_capi_secrets=False)
    assert res.rc == 0, res.stdout
    mount = names["vault_pki_approle_mount"]
    role_id = vault.auth.approle.read_role_id(f"t{pki.tag}-demo-vs-1", mount_point=mount)["data"]["role_id"]
    secret_id = vault.auth.approle.generate_secret_id(f"t{pki.tag}-demo-vs-1", mount_point=mount)["data"]["secret_id"]
    import hvac

    a = hvac.Client(url=lab["vault"]["addr"], verify=lab["vault"]["ca_cert"])
    a.auth.approle.login(role_id, secret_id, mount_point=mount)
    own = a.adapter.post(f"/v1/{prefix}clusters/demo-vs-1/kubernetes/issue/monitoring",
                         json={"common_name": "prometheus"})["data"]
    cert = x509.load_pem_x509_certificate(own["certificate"].encode())
    assert cert.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATION_NAME)[0].value == "capstan:monitoring"
    with pytest.raises(hvac.exceptions.Forbidden):
        a.adapter.post(f"/v1/{prefix}clusters/demo-os-1/kubernetes/issue/monitoring", json={"common_name": "x"})
    with pytest.raises(hvac.exceptions.Forbidden):
        a.adapter.post(f"/v1/{prefix}root/root/sign-intermediate", json={"csr": "x"})
    with pytest.raises(hvac.exceptions.Forbidden):
        a.secrets.kv.v2.read_secret_version("clusters/demo-vs-1/ca", mount_point=names["vault_pki_kv_mount"])


def test_tenant_created_after_the_role_is_served_with_its_vault_cas(pki, vault, kube, lab, tenant_factory, tmp_path):
    """The lab provisioner serves a tenant whose Cluster is created after the role ran: its
    <cluster>-kubeconfig and a cluster_kubeconfig from the group role both log in with the
    expected user and groups; a certificate from the other cluster's CA is refused."""
    names, prefix = pki.names, pki.names["vault_pki_mount_prefix"]
    ns = names["vault_pki_cluster_namespace"]
    res = pki(vault_pki_root_mount=f"{prefix}root")
    assert res.rc == 0, res.stdout
    tenant = tenant_factory.create("demo-vs-1", namespace=ns)
    server = tenant["clusters"][0]["cluster"]["server"]
    stored = kv(vault, names, "clusters/demo-vs-1/ca")
    assert base64.b64decode(tenant["clusters"][0]["cluster"]["certificate-authority-data"]).decode().strip() \
        == stored["certificate"].strip()
    own = tmp_path / "own.kubeconfig"
    own.write_text(yaml.safe_dump(tenant))
    own.chmod(0o600)
    info = whoami(lab, own)
    assert info["username"] == "kubernetes-admin" and "system:masters" in info["groups"], info

    chain = tmp_path / "chain.pem"
    chain.write_text(stored["certificate"].strip() + "\n" + stored["issuing_ca"].strip() + "\n")
    vault_conn = {"url": lab["vault"]["addr"], "ca_cert": lab["vault"]["ca_cert"],
                  "token": Path(lab["vault"]["token_file"]).read_text().strip()}
    book = tmp_path / "login.yml"
    tasks = []
    for name, c in (("mine", "demo-vs-1"), ("other", "demo-os-1")):
        tasks.append({"name": name, "capstan.fleet.cluster_kubeconfig": dict(
            vault_conn, mount=f"{prefix}clusters/{c}/kubernetes", role="group-platform-admins", user="sre-alice",
            server=server, cluster_name="demo-vs-1", server_ca_cert=str(chain),
            dest=str(tmp_path / f"{name}.kubeconfig"))})
    book.write_text(yaml.safe_dump([{"name": "login", "hosts": "lab-mgmt", "gather_facts": False, "tasks": tasks}]))
    res = run_playbook(book, tmp_path)
    assert res.rc == 0, res.stdout
    info = whoami(lab, tmp_path / "mine.kubeconfig")
    assert info["username"] == "sre-alice" and "platform-admins" in info["groups"], info
    refused = whoami(lab, tmp_path / "other.kubeconfig", ok=False)
    assert "Unauthorized" in refused, refused


def test_role_at_vvv_leaves_no_key_or_token_in_output_temp_files_or_fact_cache(pki, vault, lab, tmp_path):
    names, prefix = pki.names, pki.names["vault_pki_mount_prefix"]
    local_tmp, remote_tmp, cache = tmp_path / "local-tmp", tmp_path / "remote-tmp", tmp_path / "facts"
    for d in (local_tmp, remote_tmp, cache):
        d.mkdir()
    env = {"ANSIBLE_LOCAL_TEMP": str(local_tmp), "ANSIBLE_REMOTE_TMP": str(remote_tmp),
           "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache),
           "ANSIBLE_GATHERING": "smart"}
    res = pki(verbosity=3, env=env, vault_pki_root_mount=f"{prefix}root")
    assert res.rc == 0, res.stdout
    token = Path(lab["vault"]["token_file"]).read_text().strip()
    role_ids = [vault.auth.approle.read_role_id(f"t{pki.tag}-{c}", mount_point=names["vault_pki_approle_mount"])
                ["data"]["role_id"] for c in CLUSTERS]
    keys = [kv(vault, names, f"clusters/{c}/{k}")["private_key"] for c in CLUSTERS for k in ("ca", "etcd", "proxy", "sa")]
    texts = {"stdout": res.stdout, "stderr": res.stderr}
    for d in (local_tmp, remote_tmp, cache):
        for f in d.rglob("*"):
            if f.is_file():
                texts[str(f)] = f.read_text(errors="replace")
    # the Secrets were read from Vault and laid in this run (their keys passed through the module)
    batch = res.task("The clusters' CAs, key pairs, roles, policies, AppRoles and Cluster API Secrets, in one run")
    assert all(c["secrets"]["laid"] for c in batch["result"]["clusters"]), batch
    for where, text in texts.items():
        assert not PEM_KEY.search(text), where
        assert token not in text, where
        assert not any(k.strip().splitlines()[1] in text for k in keys), where
    # role IDs are not secrets on their own, but the role never prints a secret ID: there is none
    assert all(rid for rid in role_ids)


def test_role_bad_input_is_a_clear_message(pki, vault, lab, tmp_path):
    names, prefix = pki.names, pki.names["vault_pki_mount_prefix"]
    res = pki(vault_pki_parent_mount=f"{prefix}missing", vault_pki_capi_secrets=False)
    assert res.rc != 0
    failed = [r for r in res.results if r["status"] == "failed"]
    assert failed and all("has no CA to sign the intermediate" in json.dumps(r["result"]) for r in failed), res.stdout
    assert "Traceback" not in res.stdout + res.stderr

    res = pki(vault_pki_root_mount=f"{prefix}root", vault_pki_capi_secrets=False,
              vault_pki_extra_roles=[{"mount": "kubernetes", "name": "bad", "ttl": "48h", "max_ttl": "1h"}])
    assert res.rc != 0
    msg = json.dumps([r["result"] for r in res.results if r["status"] == "failed"])
    assert "ttl (48h) is longer than max_ttl (1h)" in msg, res.stdout
    # fixing the input is enough: the rerun finishes what the failed run left
    res = pki(vault_pki_root_mount=f"{prefix}root", vault_pki_capi_secrets=False)
    assert res.rc == 0, res.stdout

    # a sealed server: one clear message per host, then the server is unsealed again
    init = json.loads(Path(lab["vault"]["init_file"]).read_text())
    vault.sys.seal()
    try:
        res = pki(vault_pki_root_mount=f"{prefix}root", vault_pki_capi_secrets=False)
    finally:
        for key in init["keys_base64"]:
            if not vault.sys.read_seal_status()["sealed"]:
                break
            vault.sys.submit_unseal_key(key)
    assert not vault.sys.read_seal_status()["sealed"]
    assert res.rc != 0
    msg = json.dumps([r["result"] for r in res.results if r["status"] == "failed"])
    assert f"the Vault server at {lab['vault']['addr']} is sealed" in msg, res.stdout
    assert "Traceback" not in res.stdout + res.stderr


def test_rotate_certs_renews_what_is_due_and_reports_the_fleet(pki, vault, kube, lab, kubeconfig, tmp_path):
    """playbooks/rotate_certs.yml: the cluster CAs under the threshold are made anew (key in KV,
    old issuer kept), a listed leaf certificate is renewed, Cluster API's Secrets are not
    touched, and the report (JSON and table) lists every CA with its expiry."""
    names, prefix = pki.names, pki.names["vault_pki_mount_prefix"]
    ns = names["vault_pki_cluster_namespace"]
    res = pki(vault_pki_root_mount=f"{prefix}root", vault_pki_ca_ttl="6h")
    assert res.rc == 0, res.stdout
    before = {c: kv(vault, names, f"clusters/{c}/ca")["certificate"] for c in CLUSTERS}
    _s, secret_before = secret_data(kube, ns, "demo-vs-1-ca")
    report_dir = tmp_path / "reports"
    leaf = {"mount": f"{prefix}clusters/demo-vs-1/kubernetes", "role": "monitoring", "common_name": "prometheus",
            "ttl": "2h", "secret": {"name": "prom-client", "namespace": ns, "kubeconfig": kubeconfig}}
    extra = dict(names, vault_pki_root_mount=f"{prefix}root", vault_pki_ca_ttl="6h", rotate_report_dir=str(report_dir),
                 rotate_certificates=[leaf])

    res = run_playbook(REPO / "playbooks" / "rotate_certs.yml", tmp_path, extra_vars=dict(extra, rotate_threshold="1h"))
    assert res.rc == 0, res.stdout
    changed = {(r["task"], r["host"]) for r in res.results if r["result"].get("changed")}
    # nothing due among the CAs: the leaf (new) and the report's directory are the only changes
    assert changed == {("Renew the listed certificates that are due", "localhost"),
                       ("A directory for the report", "localhost")}, changed
    report = json.loads((report_dir / "expiry.json").read_text())
    assert report["due"] == 0 and report["renewed_cas"] == {}
    mounts = {row["mount"] for row in report["report"] if row["kind"] == "issuer"}
    wanted = {f"{prefix}clusters/{c}/{m}" for c in CLUSTERS for m in ("kubernetes", "etcd", "front-proxy")}
    assert mounts == wanted | {f"{prefix}root"}
    assert any("prometheus" in line for line in res.task("Expiry of the fleet's CAs and certificates")["result"]["msg"])
    assert oct((report_dir / "expiry.json").stat().st_mode & 0o777) == "0o600"

    res = run_playbook(REPO / "playbooks" / "rotate_certs.yml", tmp_path, extra_vars=dict(extra, rotate_threshold="7h"))
    assert res.rc == 0, res.stdout
    report = json.loads((report_dir / "expiry.json").read_text())
    assert report["renewed_cas"] == {c: ["kubernetes", "etcd", "front-proxy"] for c in CLUSTERS}
    for c in CLUSTERS:
        after = kv(vault, names, f"clusters/{c}/ca")["certificate"]
        assert after != before[c]
        issuers = vault.adapter.list(f"/v1/{prefix}clusters/{c}/kubernetes/issuers")["data"]["keys"]
        assert len(issuers) == 2  # the old CA stays until it expires
    # the leaf certificate had 2h of 2h left: under 7h, renewed; Cluster API's Secret is untouched
    assert ("Renew the listed certificates that are due", "localhost") in {
        (r["task"], r["host"]) for r in res.results if r["result"].get("changed")}
    assert secret_data(kube, ns, "demo-vs-1-ca")[1] == secret_before
    assert "demo-vs-1: renewed kubernetes, etcd, front-proxy" in res.stdout
