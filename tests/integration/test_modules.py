"""The collection's modules, run through ansible-playbook against the lab's real servers.

Every behaviour is checked on the server with an independent client (the official
kubernetes client, hvac, pyvmomi): check mode writes nothing, a second run changes
nothing, --diff shows what changes, secrets stay out of the output, bad input fails
with one message that names the option, file or object.
"""
import base64
import json
import re
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import run_playbook, REPO


@pytest.fixture
def kube_defaults(kubeconfig):
    return {"group/capstan.fleet.kube": {"kubeconfig": kubeconfig}}


@pytest.fixture
def vault_defaults(lab):
    return {"group/capstan.fleet.vault": {
        "url": lab["vault"]["addr"], "ca_cert": lab["vault"]["ca_cert"],
        "token": Path(lab["vault"]["token_file"]).read_text().strip(),
    }}


def no_traceback(res):
    assert "Traceback" not in res.stdout + res.stderr
    for r in res.results:
        assert "exception" not in r["result"] or "Traceback" not in r["result"].get("msg", "")


# ---- manifest / kube_object_info -------------------------------------------------------------
def test_manifest_check_apply_rerun_diff(play, kube, kube_defaults):
    from kubernetes import client

    core = client.CoreV1Api(kube)
    ns = f"mod-{uuid.uuid4().hex[:6]}"
    task = {"name": "apply", "capstan.fleet.manifest": {"definition": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": ns}, "data": {"k": "v1"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
    ]}}
    try:
        # check mode on nothing: reports the creation, writes nothing
        res = play([task], check=True, module_defaults=kube_defaults)
        assert res.rc == 0, res.stdout
        assert res.task("apply")["result"]["changed"] is True
        assert ns not in [n.metadata.name for n in core.list_namespace().items]

        res = play([task], module_defaults=kube_defaults)
        r = res.task("apply")["result"]
        assert res.rc == 0 and r["changed"] is True
        # Namespaces first, whatever the order given
        assert [o["id"] for o in r["objects"]] == [f"Namespace/{ns}", f"ConfigMap/{ns}/cfg"]
        assert core.read_namespaced_config_map("cfg", ns).data == {"k": "v1"}
        rv = core.read_namespaced_config_map("cfg", ns).metadata.resource_version

        res = play([task], module_defaults=kube_defaults)
        assert res.rc == 0 and res.changed() == [], res.stdout
        assert core.read_namespaced_config_map("cfg", ns).metadata.resource_version == rv

        # a real change: check mode shows it in the diff and does not write it
        task["capstan.fleet.manifest"]["definition"][0]["data"]["k"] = "v2"
        res = play([task], check=True, diff=True, module_defaults=kube_defaults)
        r = res.task("apply")["result"]
        assert r["changed"] is True and r["changed_objects"] == [f"ConfigMap/{ns}/cfg"]
        assert r["diff"][0]["before"]["data"] == {"k": "v1"} and r["diff"][0]["after"]["data"] == {"k": "v2"}
        assert "resourceVersion" not in r["diff"][0]["after"]["metadata"]
        assert core.read_namespaced_config_map("cfg", ns).data == {"k": "v1"}

        res = play([task], module_defaults=kube_defaults)
        assert res.task("apply")["result"]["changed_objects"] == [f"ConfigMap/{ns}/cfg"]
        assert core.read_namespaced_config_map("cfg", ns).data == {"k": "v2"}
        fm = core.read_namespaced_config_map("cfg", ns).metadata.managed_fields
        assert any(f.manager == "capstan.fleet" and f.operation == "Apply" for f in fm)

        # read back through the collection
        info = {"name": "read", "capstan.fleet.kube_object_info": {"kind": "ConfigMap", "name": "cfg", "namespace": ns}}
        res = play([info], module_defaults=kube_defaults)
        assert res.task("read")["result"]["objects"][0]["data"] == {"k": "v2"}

        # state absent, then absent again is no change
        absent = {"name": "apply", "capstan.fleet.manifest": dict(task["capstan.fleet.manifest"], state="absent")}
        res = play([absent], module_defaults=kube_defaults)
        assert res.task("apply")["result"]["changed"] is True
    finally:
        try:
            core.delete_namespace(ns)
        except client.exceptions.ApiException:
            pass


def test_manifest_installs_a_crd_and_its_objects_in_one_run(play, kube, kube_defaults):
    """CRDs are applied first and waited for until Established, so their objects follow at once."""
    from kubernetes import client

    group = f"t{uuid.uuid4().hex[:6]}.capstan.test"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                     "type": "object", "properties": {"spec": {"type": "object", "properties": {
                         "size": {"type": "integer"}}}}}}}]},
    }
    widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"},
              "spec": {"size": 3}}
    task = {"name": "crd", "capstan.fleet.manifest": {"definition": [widget, crd]}}
    try:
        res = play([task], module_defaults=kube_defaults)
        assert res.rc == 0, res.stdout
        got = client.CustomObjectsApi(kube).get_namespaced_custom_object(group, "v1", "default", "widgets", "w")
        assert got["spec"]["size"] == 3
        assert play([task], module_defaults=kube_defaults).changed() == []
        # the server's schema validation is reported with the object and its source
        widget["spec"]["size"] = "three"
        res = play([task], module_defaults=kube_defaults)
        msg = res.task("crd")["result"]["msg"]
        assert res.rc != 0
        assert "definition[0]" in msg and "Widget/default/w" in msg and "spec.size" in msg
        no_traceback(res)
    finally:
        client.ApiextensionsV1Api(kube).delete_custom_resource_definition(f"widgets.{group}")


@pytest.mark.parametrize("args,expect", [
    ({"definition": {"apiVersion": "v1", "kind": "Gizmo", "metadata": {"name": "g"}}},
     r"definition\[0\] \(Gizmo/g\): the server has no kind Gizmo in v1"),
    ({"definition": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "no-such-ns"}}},
     r"ConfigMap/no-such-ns/c.*namespaces \\?\"no-such-ns\\?\" not found"),
    ({"src": "/nonexistent/bundle.yaml"}, r"src /nonexistent/bundle.yaml does not exist"),
    ({"definition": "kind: [", "kubeconfig": "/nonexistent/kc"}, r"definition\[0\] is not valid YAML"),
])
def test_manifest_bad_input(play, kube_defaults, args, expect):
    res = play([{"name": "bad", "capstan.fleet.manifest": args}], module_defaults=kube_defaults)
    assert res.rc != 0
    assert re.search(expect, res.task("bad")["result"]["msg"]), res.task("bad")["result"]["msg"]
    no_traceback(res)


def test_unreachable_cluster_and_missing_kubeconfig(play, tmp_path, kubeconfig):
    import yaml

    kc = yaml.safe_load(Path(kubeconfig).read_text())
    kc["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
    res = play([
        {"name": "down", "capstan.fleet.kube_object_info": {"kind": "Namespace", "kubeconfig_content": kc}, "ignore_errors": True},
        {"name": "nofile", "capstan.fleet.kube_object_info": {"kind": "Namespace", "kubeconfig": str(tmp_path / "none")}},
    ])
    assert "cannot reach the Kubernetes API at 127.0.0.1:9:" in res.task("down")["result"]["msg"]
    assert f"kubeconfig file {tmp_path / 'none'} does not exist" in res.task("nofile")["result"]["msg"]
    no_traceback(res)


def test_kubeconfig_content_from_a_secret_is_used_in_memory(play, tenant_factory, kube_defaults, tmp_path):
    """A tenant's <cluster>-kubeconfig read from the management cluster reaches the tenant, no file written."""
    name = f"tenant-{uuid.uuid4().hex[:5]}"
    tenant_factory.create(name)
    res = play([
        {"name": "secret", "capstan.fleet.kube_object_info": {
            "kind": "Secret", "name": f"{name}-kubeconfig", "namespace": "default", "include_secret_data": True},
         "register": "sec"},
        {"name": "tenant", "capstan.fleet.manifest": {
            "kubeconfig_content": "{{ sec.objects[0].data.value | b64decode }}",
            "definition": {"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "pushed", "namespace": "kube-system"}, "data": {"from": "mgmt"}}}},
        {"name": "readback", "capstan.fleet.kube_object_info": {
            "kubeconfig_content": "{{ sec.objects[0].data.value | b64decode }}", "kind": "ConfigMap", "name": "pushed",
            "namespace": "kube-system"}},
    ], module_defaults=kube_defaults)
    assert res.rc == 0, res.stdout
    # the secret's data is censored in what the user sees, yet usable by later tasks
    assert res.task("secret")["result"].get("censored")
    assert "client-key-data" not in res.stdout
    assert res.task("readback")["result"]["objects"][0]["data"] == {"from": "mgmt"}


def test_secret_data_redacted_unless_asked(play, kube_defaults):
    res = play([{"name": "s", "capstan.fleet.kube_object_info": {"kind": "Secret", "namespace": "kube-system"}}],
               module_defaults=kube_defaults)
    for obj in res.task("s")["result"]["objects"]:
        assert set((obj.get("data") or {}).values()) <= {"<redacted>"}


# ---- Vault PKI ----------------------------------------------------------------------------------
def test_vault_pki_ca_role_cert(play, vault, vault_defaults, lab, tmp_path):
    mount = f"pki/test-{uuid.uuid4().hex[:6]}"
    dest = tmp_path / "certs" / "leaf"
    dest.parent.mkdir()
    tasks = [
        {"name": "ca", "capstan.fleet.vault_pki_ca": {"mount": mount, "common_name": "Test Root", "ttl": "48h",
                                                      "max_lease_ttl": "48h",
                                                      "urls": {"issuing_certificates": ["https://pki.example/ca"]}}},
        {"name": "role", "capstan.fleet.vault_pki_role": {"mount": mount, "name": "svc", "allowed_domains": ["svc.lab"],
                                                          "allow_subdomains": True, "server_flag": True,
                                                          "client_flag": False, "ttl": "2h", "max_ttl": "4h",
                                                          "organization": ["lab"]}},
        {"name": "cert", "capstan.fleet.vault_pki_cert": {"mount": mount, "role": "svc", "common_name": "a.svc.lab",
                                                          "alt_names": ["b.svc.lab"], "ttl": "2h",
                                                          "renew_before": "1h", "dest": str(dest)}},
    ]
    audit = Path(lab["vault"]["audit_log"])
    try:
        start = audit.stat().st_size
        res = play(tasks, check=True, diff=True, module_defaults=vault_defaults)
        assert res.rc == 0, res.stdout
        assert res.changed() == ["ca", "role", "cert"]
        assert mount + "/" not in vault.sys.list_mounted_secrets_engines()["data"]
        # the audit log shows no write request during check mode
        writes = [json.loads(line) for line in audit.read_text()[start:].splitlines()]
        writes = [e for e in writes if e.get("type") == "request" and e["request"]["operation"] in ("create", "update", "delete")]
        assert writes == [], [e["request"]["path"] for e in writes]

        res = play(tasks, module_defaults=vault_defaults)
        assert res.rc == 0, res.stdout
        assert res.changed() == ["ca", "role", "cert"]
        crt = dest.with_suffix(".crt")
        key = dest.with_suffix(".key")
        assert key.stat().st_mode & 0o777 == 0o600 and crt.stat().st_mode & 0o777 == 0o600
        from cryptography import x509

        leaf = x509.load_pem_x509_certificate(crt.read_bytes())
        assert leaf.issuer.rfc4514_string() == "CN=Test Root"
        role = vault.secrets.pki.read_role("svc", mount_point=mount)["data"]
        assert role["organization"] == ["lab"] and role["ttl"] == 7200

        res = play(tasks, module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == [], res.stdout
        assert x509.load_pem_x509_certificate(crt.read_bytes()).serial_number == leaf.serial_number

        # a role change shows in the diff; asking for another SAN reissues the certificate
        tasks[1]["capstan.fleet.vault_pki_role"]["ttl"] = "3h"
        tasks[2]["capstan.fleet.vault_pki_cert"]["alt_names"] = ["c.svc.lab"]
        res = play(tasks, diff=True, module_defaults=vault_defaults)
        assert res.changed() == ["role", "cert"]
        assert res.task("role")["result"]["diff"]["before"]["ttl"] == 7200
        assert res.task("role")["result"]["diff"]["after"]["ttl"] == 10800
        assert res.task("cert")["result"]["reason"] == "the subject alternative names differ"
        # the private key never shows in the output
        assert "PRIVATE KEY" not in res.stdout
    finally:
        vault.sys.disable_secrets_engine(mount)


def test_vault_cert_without_dest_is_censored(play, vault, vault_defaults):
    mount = f"pki/test-{uuid.uuid4().hex[:6]}"
    tasks = [
        {"name": "ca", "capstan.fleet.vault_pki_ca": {"mount": mount, "common_name": "R"}},
        {"name": "role", "capstan.fleet.vault_pki_role": {"mount": mount, "name": "any", "allow_any_name": True}},
        {"name": "cert", "capstan.fleet.vault_pki_cert": {"mount": mount, "role": "any", "common_name": "user"},
         "register": "c"},
        {"name": "use", "ansible.builtin.assert": {"that": ["c.private_key is search('PRIVATE KEY')"]}},
    ]
    try:
        res = play(tasks, verbosity=3, module_defaults=vault_defaults)
        assert res.rc == 0, res.stdout
        assert res.task("cert")["result"].get("censored")
        assert "PRIVATE KEY" not in res.stdout
        assert vault_defaults["group/capstan.fleet.vault"]["token"] not in res.stdout
    finally:
        vault.sys.disable_secrets_engine(mount)


def test_vault_bad_input(play, vault_defaults, lab, vault):
    mount = f"pki/test-{uuid.uuid4().hex[:6]}"
    bad_token = dict(vault_defaults["group/capstan.fleet.vault"], token="s.not-a-token")
    vault.sys.enable_secrets_engine("kv", path=mount)
    try:
        res = play([
            {"name": "token", "capstan.fleet.vault_pki_ca": dict(bad_token, mount="pki/x", common_name="x"),
             "ignore_errors": True},
            {"name": "notpki", "capstan.fleet.vault_pki_ca": {"mount": mount, "common_name": "x"}, "ignore_errors": True},
            {"name": "ttl", "capstan.fleet.vault_pki_cert": {"mount": mount, "role": "r", "common_name": "x",
                                                             "renew_before": "soon"}, "ignore_errors": True},
            {"name": "unreachable", "capstan.fleet.vault_pki_ca": {"url": "https://127.0.0.1:9", "mount": "pki/x",
                                                                   "common_name": "x"}},
        ], module_defaults=vault_defaults)
        assert "token was refused (403)" in res.task("token")["result"]["msg"]
        assert f"mount {mount} exists but is a kv secrets engine, not pki" in res.task("notpki")["result"]["msg"]
        assert "renew_before: 'soon' is not a duration" in res.task("ttl")["result"]["msg"]
        assert "cannot reach Vault at https://127.0.0.1:9" in res.task("unreachable")["result"]["msg"]
        no_traceback(res)
    finally:
        vault.sys.disable_secrets_engine(mount)


def test_root_ca_is_never_replaced_in_place(play, vault, vault_defaults):
    mount = f"pki/test-{uuid.uuid4().hex[:6]}"
    try:
        assert play([{"name": "a", "capstan.fleet.vault_pki_ca": {"mount": mount, "common_name": "First"}}],
                    module_defaults=vault_defaults).rc == 0
        res = play([{"name": "b", "capstan.fleet.vault_pki_ca": {"mount": mount, "common_name": "Second"}}],
                   module_defaults=vault_defaults)
        assert res.rc != 0
        assert "already has a root CA with common name 'First', not 'Second'" in res.task("b")["result"]["msg"]
    finally:
        vault.sys.disable_secrets_engine(mount)


# ---- vSphere -------------------------------------------------------------------------------------
def test_vsphere_info(play, vsphere):
    conn = {k: vsphere[k] for k in ("username", "password", "ca_cert")}
    conn["hostname"] = f"{vsphere['host']}:{vsphere['port']}"
    res = play([
        {"name": "all", "capstan.fleet.vsphere_info": conn},
        {"name": "missing", "capstan.fleet.vsphere_info": dict(conn, datacenter="DC9"), "ignore_errors": True},
        {"name": "login", "capstan.fleet.vsphere_info": dict(conn, password="wrong"), "ignore_errors": True},
        {"name": "tls", "capstan.fleet.vsphere_info": {k: v for k, v in conn.items() if k != "ca_cert"},
         "ignore_errors": True},
    ])
    dcs = res.task("all")["result"]["datacenters"]
    assert [d["name"] for d in dcs] == [vsphere["datacenter"]]
    assert vsphere["template"] in dcs[0]["templates"] and vsphere["cluster"] in dcs[0]["clusters"]
    assert vsphere["datastore"] in dcs[0]["datastores"]
    assert "vCenter has no datacenter named 'DC9'" in res.task("missing")["result"]["msg"]
    assert f"refused the login of {vsphere['username']}" in res.task("login")["result"]["msg"]
    assert "CERTIFICATE_VERIFY_FAILED" in res.task("tls")["result"]["msg"]
    assert vsphere["password"] not in res.stdout
    no_traceback(res)


# ---- the main playbook ---------------------------------------------------------------------------
def test_demo_playbook_runs_green_and_then_changes_nothing(lab, tmp_path):
    first = run_playbook(REPO / "playbooks" / "site.yml", tmp_path)
    assert first.rc == 0, first.stdout + first.stderr
    second = run_playbook(REPO / "playbooks" / "site.yml", tmp_path)
    assert second.rc == 0 and second.changed() == [], second.stdout
    check = run_playbook(REPO / "playbooks" / "site.yml", tmp_path, check=True, diff=True)
    assert check.rc == 0 and check.changed() == [], check.stdout


def test_set_based_label_selectors_filter_on_the_server(play, kube, kube_defaults):
    """kube_object_info passes a set-based selector (spaces, parentheses, commas) to the server."""
    from kubernetes import client

    core = client.CoreV1Api(kube)
    ns = f"sel-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    try:
        for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
            core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": {"app": "x", "tier": tier}}})
        res = play([{"name": "sel", "capstan.fleet.kube_object_info": {
            "kind": "ConfigMap", "namespace": ns, "label_selector": "app=x,tier notin (db, cache)"}}], module_defaults=kube_defaults)
        assert sorted(o["metadata"]["name"] for o in res.task("sel")["result"]["objects"]) == ["a", "c"]
    finally:
        core.delete_namespace(ns)


def test_capi_cluster_info_waits_for_a_tenant_and_hands_its_kubeconfig_in_memory(play, kube, kubeconfig, tenant_factory):
    """A Cluster created without waiting: capi_cluster_info waits until the lab provisioner has
    initialised it and written <cluster>-kubeconfig, returns the kubeconfig censored, and the next
    task reaches the tenant with it; a missing Cluster times out naming what blocks."""
    from kubernetes import client

    name = f"ci-{uuid.uuid4().hex[:6]}"
    client.CustomObjectsApi(kube).create_namespaced_custom_object(
        "cluster.x-k8s.io", tenant_factory.version, "default", "clusters",
        {"apiVersion": f"cluster.x-k8s.io/{tenant_factory.version}", "kind": "Cluster",
         "metadata": {"name": name, "namespace": "default"},
         "spec": {"clusterNetwork": {"pods": {"cidrBlocks": ["10.244.0.0/16"]}}}})
    tenant_factory.created.append((name, "default"))
    defaults = {"group/capstan.fleet.kube": {"kubeconfig": kubeconfig}}
    res = play([
        {"name": "wait", "capstan.fleet.capi_cluster_info": {"name": name, "wait": True, "wait_timeout": 120,
                                                             "include_kubeconfig": True}, "register": "tenant"},
        {"name": "inside", "capstan.fleet.kube_object_info": {
            "kubeconfig_content": "{{ tenant.kubeconfig }}", "kind": "Namespace", "name": "kube-system"}},
        {"name": "facts", "ansible.builtin.debug": {"msg": "{{ tenant | dict2items | rejectattr('key', 'eq', "
                                                           "'kubeconfig') | items2dict }}"}},
        {"name": "missing", "capstan.fleet.capi_cluster_info": {"name": "nowhere", "wait": True, "wait_timeout": 2},
         "ignore_errors": True},
        {"name": "absent", "capstan.fleet.capi_cluster_info": {"name": "nowhere"}},
    ], verbosity=3, module_defaults=defaults)
    assert res.rc == 0, res.stdout
    assert res.task("wait")["result"].get("censored")
    value = client.CoreV1Api(kube).read_namespaced_secret(f"{name}-kubeconfig", "default").data["value"]
    key_data = yaml.safe_load(base64.b64decode(value))["users"][0]["user"]["client-key-data"]
    assert key_data not in res.stdout and "PRIVATE KEY" not in res.stdout
    assert res.task("inside")["result"]["objects"][0]["metadata"]["name"] == "kube-system"
    facts = res.task("facts")["result"]["msg"]
    assert facts["control_plane_initialized"] is True and facts["blocking"] is None and facts["phase"] == "Provisioned"
    assert facts["api_version"] == f"cluster.x-k8s.io/{tenant_factory.version}"
    assert facts["control_plane_endpoint"]["host"] == "127.0.0.1"
    assert res.task("missing")["result"]["msg"] == \
        "Cluster default/nowhere is not ready after 2s: the Cluster does not exist"
    assert res.task("absent")["result"]["exists"] is False
