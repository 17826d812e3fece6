"""Vault PKI hierarchies against the lab's real OpenBao (audit log on): intermediates signed by a
parent mount, renewed before they expire, with the previous issuer kept."""
import base64
import json
import uuid
from pathlib import Path

import pytest
from cryptography import x509


@pytest.fixture
def vault_defaults(lab):
    return {"group/capstan.fleet.vault": {
        "url": lab["vault"]["addr"], "ca_cert": lab["vault"]["ca_cert"],
        "token": Path(lab["vault"]["token_file"]).read_text().strip(),
    }}


def writes_since(audit, start):
    entries = [json.loads(line) for line in audit.read_text()[start:].splitlines()]
    return [e["request"]["path"] for e in entries
            if e.get("type") == "request" and e["request"]["operation"] in ("create", "update", "delete")]


def test_intermediate_signed_by_its_parent_and_renewed_in_time(play, vault, vault_defaults, lab):
    root, inter = f"pki/root-{uuid.uuid4().hex[:6]}", f"pki/int-{uuid.uuid4().hex[:6]}"
    ca = {"name": "root", "capstan.fleet.vault_pki_ca": {"mount": root, "common_name": "Fleet Root", "ttl": "72h",
                                                         "max_lease_ttl": "72h"}}

    def intermediate(renew_before="0s"):
        return {"name": "int", "capstan.fleet.vault_pki_ca": {
            "mount": inter, "type": "intermediate", "parent_mount": root, "common_name": "demo kubernetes CA",
            "ttl": "24h", "max_lease_ttl": "24h", "renew_before": renew_before}}

    audit = Path(lab["vault"]["audit_log"])
    try:
        start = audit.stat().st_size
        res = play([ca, intermediate()], check=True, diff=True, module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == ["root", "int"], res.stdout
        assert res.task("int")["result"]["reason"] == "the mount has no CA yet"
        assert writes_since(audit, start) == []

        res = play([ca, intermediate()], module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == ["root", "int"], res.stdout
        root_pem = res.task("root")["result"]["certificate"]
        first = x509.load_pem_x509_certificate(res.task("int")["result"]["certificate"].encode())
        first.verify_directly_issued_by(x509.load_pem_x509_certificate(root_pem.encode()))
        assert first.issuer.rfc4514_string() == "CN=Fleet Root"
        assert first.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
        default = vault.adapter.get(f"/v1/{inter}/issuer/default")["data"]
        assert default["issuer_name"] == "intermediate"

        res = play([ca, intermediate("1h")], module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == [], res.stdout

        # less than renew_before left: a new key, signed again, made the default; the old issuer stays
        start = audit.stat().st_size
        res = play([intermediate("30h")], diff=True, module_defaults=vault_defaults)
        r = res.task("int")["result"]
        assert res.rc == 0 and r["changed"] is True, res.stdout
        assert "within the renewal threshold" in r["reason"]
        assert r["diff"]["before"]["intermediate_ca"]["serial_number"] != r["diff"]["after"]["intermediate_ca"]["serial_number"]
        second = x509.load_pem_x509_certificate(r["certificate"].encode())
        assert second.serial_number != first.serial_number
        assert second.public_key().public_numbers() != first.public_key().public_numbers()
        second.verify_directly_issued_by(x509.load_pem_x509_certificate(root_pem.encode()))
        issuers = vault.adapter.list(f"/v1/{inter}/issuers")["data"]["key_info"]
        names = sorted(i["issuer_name"] for i in issuers.values())
        assert len(names) == 2 and names[0] == "intermediate" and names[1].startswith("intermediate-"), names
        default = vault.adapter.get(f"/v1/{inter}/issuer/default/json")["data"]["certificate"]
        assert x509.load_pem_x509_certificate(default.encode()).serial_number == second.serial_number
        # the key is generated inside Vault (intermediate/generate/internal): none reaches the output
        assert "PRIVATE KEY-----" not in res.stdout + json.dumps(r)
        assert f"{inter}/intermediate/generate/internal" in writes_since(audit, start)

        # renewed: a run with the same threshold as before leaves it alone
        res = play([intermediate("1h")], module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == [], res.stdout

        res = play([{"name": "orphan", "capstan.fleet.vault_pki_ca": {
            "mount": inter + "-x", "type": "intermediate", "parent_mount": "pki/no-such-parent",
            "common_name": "x"}, "ignore_errors": True},
            {"name": "noparent", "capstan.fleet.vault_pki_ca": {
                "mount": inter, "type": "intermediate", "common_name": "x"}, "ignore_errors": True}],
            module_defaults=vault_defaults)
        assert "parent mount pki/no-such-parent has no CA to sign the intermediate of " + inter + "-x" \
            in res.task("orphan")["result"]["msg"]
        assert "type is intermediate but all of the following are missing: parent_mount" \
            in res.task("noparent")["result"]["msg"]
    finally:
        for m in (inter, inter + "-x", root):
            try:
                vault.sys.disable_secrets_engine(m)
            except Exception:  # noqa: BLE001 - clean-up only
                pass


# ---- auth methods ---------------------------------------------------------------------------
POLICY = 'path "%s/*" { capabilities = ["create", "read", "update", "list"] }\npath "sys/mounts" { capabilities = ["read"] }\n'


@pytest.fixture
def pki_mount(vault):
    """A PKI mount with a root, and a policy that may write its roles: what each login must reach."""
    mount = f"pki/auth-{uuid.uuid4().hex[:6]}"
    vault.sys.enable_secrets_engine("pki", path=mount)
    vault.adapter.post(f"/v1/{mount}/root/generate/internal", json={"common_name": "Auth Test Root", "ttl": "24h"})
    vault.sys.create_or_update_policy(mount.replace("/", "-"), POLICY % mount)
    yield mount
    vault.sys.disable_secrets_engine(mount)
    vault.sys.delete_policy(mount.replace("/", "-"))


def role_task(name, mount, auth):
    return {"name": name, "capstan.fleet.vault_pki_role": dict(
        {"mount": mount, "name": name, "allow_any_name": True, "ttl": "1h", "max_ttl": "2h"}, **auth),
        "ignore_errors": True}


def test_approle_jwt_and_cert_logins(play, vault, lab, pki_mount, tmp_path):
    import base64
    import time

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    conn = {"url": lab["vault"]["addr"], "ca_cert": lab["vault"]["ca_cert"]}
    policy = pki_mount.replace("/", "-")
    tag = uuid.uuid4().hex[:6]
    # AppRole
    vault.sys.enable_auth_method("approle", path=f"approle-{tag}")
    vault.auth.approle.create_or_update_approle("ci", token_policies=[policy], mount_point=f"approle-{tag}")
    role_id = vault.auth.approle.read_role_id("ci", mount_point=f"approle-{tag}")["data"]["role_id"]
    secret_id = vault.auth.approle.generate_secret_id("ci", mount_point=f"approle-{tag}")["data"]["secret_id"]
    # JWT, validated with a key of the test's own
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    vault.sys.enable_auth_method("jwt", path=f"jwt-{tag}")
    vault.adapter.post(f"/v1/auth/jwt-{tag}/config", json={"jwt_validation_pubkeys": [pub.decode()]})
    vault.adapter.post(f"/v1/auth/jwt-{tag}/role/deploy", json={
        "role_type": "jwt", "user_claim": "sub", "bound_audiences": ["capstan"], "token_policies": [policy]})

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    def jwt(aud):
        head = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
        body = b64(json.dumps({"sub": "ci", "aud": aud, "iat": int(time.time()), "exp": int(time.time()) + 300}).encode())
        sig = key.sign(head + b"." + body, padding.PKCS1v15(), hashes.SHA256())
        return (head + b"." + body + b"." + b64(sig)).decode()
    # TLS client certificate, from a CA that the cert method trusts
    vault.adapter.post(f"/v1/{pki_mount}/roles/client", json={"allow_any_name": True, "client_flag": True, "ttl": "1h"})
    issued = vault.adapter.post(f"/v1/{pki_mount}/issue/client", json={"common_name": "ops"})["data"]
    (tmp_path / "c.crt").write_text(issued["certificate"])
    (tmp_path / "c.key").write_text(issued["private_key"])
    (tmp_path / "c.key").chmod(0o600)
    vault.sys.enable_auth_method("cert", path=f"cert-{tag}")
    vault.adapter.post(f"/v1/auth/cert-{tag}/certs/ops", json={
        "certificate": issued["issuing_ca"], "token_policies": [policy]})
    try:
        approle = dict(conn, auth_method="approle", role_id=role_id, mount_point=f"approle-{tag}")
        by_jwt = dict(conn, auth_method="jwt", role_id="deploy", mount_point=f"jwt-{tag}")
        by_cert = dict(conn, auth_method="cert", role_id="ops", mount_point=f"cert-{tag}",
                       cert_auth_public_key=str(tmp_path / "c.crt"), cert_auth_private_key=str(tmp_path / "c.key"))
        res = play([
            role_task("by-approle", pki_mount, dict(approle, secret_id=secret_id)),
            role_task("by-jwt", pki_mount, dict(by_jwt, jwt=jwt("capstan"))),
            role_task("by-cert", pki_mount, by_cert),
            role_task("bad-secret", pki_mount, dict(approle, secret_id="wrong")),
            role_task("bad-aud", pki_mount, dict(by_jwt, jwt=jwt("other"))),
        ])
        for name in ("by-approle", "by-jwt", "by-cert"):
            assert res.task(name)["status"] == "ok" and res.task(name)["result"]["changed"] is True, \
                (name, res.task(name)["result"].get("msg"))
            assert vault.secrets.pki.read_role(name, mount_point=pki_mount)["data"]["ttl"] == 3600
        assert res.task("bad-secret")["status"] == "failed" and "invalid" in res.task("bad-secret")["result"]["msg"].lower()
        assert res.task("bad-aud")["status"] == "failed" and "aud" in res.task("bad-aud")["result"]["msg"].lower()
        assert secret_id not in res.stdout and "PRIVATE KEY-----" not in res.stdout
    finally:
        for path in (f"approle-{tag}", f"jwt-{tag}", f"cert-{tag}"):
            vault.sys.disable_auth_method(path)


def test_kubernetes_login_with_a_service_account_token(play, vault, lab, kube, pki_mount, tmp_path):
    """OpenBao's kubernetes method checks the token with the lab's kube-apiserver (TokenReview)."""
    from kubernetes import client

    core, rbac = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)
    tag = uuid.uuid4().hex[:6]
    ns = "default"
    for sa in (f"reviewer-{tag}", f"ci-{tag}"):
        core.create_namespaced_service_account(ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=sa)))
    rbac.create_cluster_role_binding(client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=f"reviewer-{tag}"),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="system:auth-delegator"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name=f"reviewer-{tag}", namespace=ns)]))

    def token(sa):
        req = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))
        return core.create_namespaced_service_account_token(sa, ns, req).status.token

    vault.sys.enable_auth_method("kubernetes", path=f"k8s-{tag}")
    vault.adapter.post(f"/v1/auth/k8s-{tag}/config", json={
        "kubernetes_host": lab["kubernetes"]["server"], "kubernetes_ca_cert": Path(lab["vault"]["ca_cert"]).read_text(),
        "token_reviewer_jwt": token(f"reviewer-{tag}"), "disable_local_ca_jwt": True})
    vault.adapter.post(f"/v1/auth/k8s-{tag}/role/ci", json={
        "bound_service_account_names": [f"ci-{tag}"], "bound_service_account_namespaces": [ns],
        "token_policies": [pki_mount.replace("/", "-")]})
    (tmp_path / "token").write_text(token(f"ci-{tag}"))
    conn = {"url": lab["vault"]["addr"], "ca_cert": lab["vault"]["ca_cert"], "auth_method": "kubernetes",
            "role_id": "ci", "mount_point": f"k8s-{tag}"}
    try:
        res = play([
            role_task("by-k8s", pki_mount, dict(conn, kubernetes_token_path=str(tmp_path / "token"))),
            role_task("wrong-sa", pki_mount, dict(conn, jwt=token(f"reviewer-{tag}"))),
            role_task("no-token", pki_mount, dict(conn, kubernetes_token_path=str(tmp_path / "none"))),
        ])
        assert res.task("by-k8s")["status"] == "ok", res.task("by-k8s")["result"].get("msg")
        assert vault.secrets.pki.read_role("by-k8s", mount_point=pki_mount)["data"]["max_ttl"] == 7200
        assert res.task("wrong-sa")["status"] == "failed"
        assert "service account name not authorized" in res.task("wrong-sa")["result"]["msg"]
        assert res.task("no-token")["result"]["msg"] == (
            f"auth_method=kubernetes: no jwt given and the service account token {tmp_path / 'none'} cannot be read: "
            "No such file or directory")
    finally:
        vault.sys.disable_auth_method(f"k8s-{tag}")
        rbac.delete_cluster_role_binding(f"reviewer-{tag}")
        for sa in (f"reviewer-{tag}", f"ci-{tag}"):
            core.delete_namespaced_service_account(sa, ns)


def test_vault_policy(play, vault, vault_defaults, lab):
    name = f"cluster-{uuid.uuid4().hex[:6]}"
    text = 'path "pki/clusters/%s/+/issue/*" {\n  capabilities = ["create", "update"]\n}\n' % name
    task = {"name": "pol", "capstan.fleet.vault_policy": {"name": name, "policy": text}}
    audit = Path(lab["vault"]["audit_log"])
    try:
        start = audit.stat().st_size
        res = play([task], check=True, diff=True, module_defaults=vault_defaults)
        assert res.task("pol")["result"]["changed"] is True and res.task("pol")["result"]["diff"]["after"] == text
        assert writes_since(audit, start) == [] and name not in vault.sys.list_policies()["data"]["policies"]
        res = play([task], module_defaults=vault_defaults)
        assert res.changed() == ["pol"] and vault.sys.read_policy(name)["data"]["rules"] == text
        # trailing blank lines and spaces are no change
        again = {"name": "pol", "capstan.fleet.vault_policy": {"name": name, "policy": text.replace("}\n", "}  \n\n\n")}}
        res = play([again], module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == [], res.stdout
        wider = text.replace('["create", "update"]', '["create", "update", "read"]')
        res = play([{"name": "pol", "capstan.fleet.vault_policy": {"name": name, "policy": wider}}], diff=True,
                   module_defaults=vault_defaults)
        d = res.task("pol")["result"]["diff"]
        assert res.changed() == ["pol"] and d["before"] == text and d["after"] == wider
        res = play([{"name": "bad", "capstan.fleet.vault_policy": {"name": name + "-bad", "policy": 'path "x" {'},
                     "ignore_errors": True}], module_defaults=vault_defaults)
        assert res.task("bad")["result"]["msg"].startswith(f"writing policy {name}-bad: ")
        res = play([{"name": "gone", "capstan.fleet.vault_policy": {"name": name, "state": "absent"}},
                    {"name": "gone2", "capstan.fleet.vault_policy": {"name": name, "state": "absent"}}],
                   module_defaults=vault_defaults)
        assert res.changed() == ["gone"] and name not in vault.sys.list_policies()["data"]["policies"]
    finally:
        vault.sys.delete_policy(name)


def test_cluster_kubeconfig_logs_in_with_the_roles_groups(play, vault, vault_defaults, lab, tmp_path):
    """A Vault mount holding the lab cluster's CA issues an 8-hour kubeconfig that the real
    kube-apiserver accepts as the user with the role's groups; a certificate from another CA is
    refused."""
    from kubernetes import client, config as kconfig

    mount, other = f"pki/kc-{uuid.uuid4().hex[:6]}", f"pki/kc-other-{uuid.uuid4().hex[:6]}"
    pk = Path(lab["state_dir"]) / "pki"
    vault.sys.enable_secrets_engine("pki", path=mount, config={"max_lease_ttl": "48h"})
    vault.adapter.post(f"/v1/{mount}/config/ca", json={
        "pem_bundle": (pk / "ca.key").read_text() + (pk / "ca.crt").read_text()})
    vault.sys.enable_secrets_engine("pki", path=other)
    vault.adapter.post(f"/v1/{other}/root/generate/internal", json={"common_name": "Another CA", "ttl": "24h"})
    for m in (mount, other):
        vault.adapter.post(f"/v1/{m}/roles/sre", json={
            "allow_any_name": True, "client_flag": True, "server_flag": False, "organization": ["capstan:sre"],
            "max_ttl": "24h"})
    dest = tmp_path / "lab.kubeconfig"
    args = {"mount": mount, "role": "sre", "user": "alice", "server": lab["kubernetes"]["server"],
            "cluster_name": "lab", "dest": str(dest), "server_ca_cert": lab["vault"]["ca_cert"]}

    def whoami(path):
        api = kconfig.new_client_from_config(config_file=str(path))
        review = client.AuthenticationV1Api(api).create_self_subject_review(client.V1SelfSubjectReview())
        return review.status.user_info.username, review.status.user_info.groups

    try:
        res = play([{"name": "kc", "capstan.fleet.cluster_kubeconfig": args}], check=True, module_defaults=vault_defaults)
        assert res.task("kc")["result"]["changed"] is True and not dest.exists()

        res = play([{"name": "kc", "capstan.fleet.cluster_kubeconfig": args}], module_defaults=vault_defaults)
        r = res.task("kc")["result"]
        assert res.rc == 0 and r["changed"] is True, res.stdout
        assert dest.stat().st_mode & 0o777 == 0o600 and r["groups"] == ["capstan:sre"]
        user, groups = whoami(dest)
        assert user == "alice" and "capstan:sre" in groups
        first = dest.read_text()

        res = play([{"name": "kc", "capstan.fleet.cluster_kubeconfig": args}], module_defaults=vault_defaults)
        assert res.changed() == [] and dest.read_text() == first
        assert res.task("kc")["result"]["reason"] == "the present kubeconfig still serves"

        # the role's groups change: a new certificate
        vault.adapter.post(f"/v1/{mount}/roles/sre", json={
            "allow_any_name": True, "client_flag": True, "server_flag": False,
            "organization": ["capstan:sre", "capstan:oncall"], "max_ttl": "24h"})
        res = play([{"name": "kc", "capstan.fleet.cluster_kubeconfig": args}], diff=True, module_defaults=vault_defaults)
        assert res.task("kc")["result"]["reason"] == "the groups differ"
        d = res.task("kc")["result"]["diff"]
        assert d["before"]["groups"] == ["capstan:sre"] and d["after"]["groups"] == ["capstan:oncall", "capstan:sre"]
        assert "PRIVATE KEY-----" not in json.dumps(d)
        assert set(whoami(dest)[1]) >= {"capstan:sre", "capstan:oncall"}

        # without dest: nothing on disk, the output censored, the registered variable usable
        res = play([
            {"name": "mem", "capstan.fleet.cluster_kubeconfig": dict(args, dest=None), "register": "kc"},
            {"name": "use", "ansible.builtin.copy": {"content": "{{ kc.kubeconfig }}", "dest": str(tmp_path / "copy"),
                                                     "mode": "0600"}, "no_log": True},
        ], module_defaults=vault_defaults)
        assert res.rc == 0 and "client-key-data" not in res.stdout and "PRIVATE KEY-----" not in res.stdout
        assert res.task("mem")["result"].get("censored")
        assert whoami(tmp_path / "copy")[0] == "alice"

        # a certificate from another CA: the API server refuses it
        res = play([{"name": "other", "capstan.fleet.cluster_kubeconfig": dict(args, mount=other,
                                                                               dest=str(tmp_path / "other"))}],
                   module_defaults=vault_defaults)
        assert res.rc == 0
        with pytest.raises(client.exceptions.ApiException) as err:
            whoami(tmp_path / "other")
        assert err.value.status == 401
    finally:
        for m in (mount, other):
            vault.sys.disable_secrets_engine(m)


def test_intermediate_key_exported_once_into_kv(play, vault, vault_defaults, lab):
    """The CA key Cluster API needs: exported when the intermediate is made, kept in KV v2
    (check-and-set), never in the output; a lost key is an error, a stopped run is finished."""
    from cryptography.hazmat.primitives import serialization

    tag = uuid.uuid4().hex[:6]
    root, inter, kv = f"pki/xroot-{tag}", f"pki/xint-{tag}", f"kv-{tag}"
    vault.sys.enable_secrets_engine("kv", path=kv, options={"version": "2"})
    export = {"kv_mount": kv, "path": "clusters/demo/kubernetes-ca"}

    def task(**extra):
        return {"name": "int", "capstan.fleet.vault_pki_ca": dict({
            "mount": inter, "type": "intermediate", "parent_mount": root, "common_name": "demo kubernetes CA",
            "ttl": "24h", "export_key": export}, **extra), "ignore_errors": True}

    def kv_secret():
        return vault.secrets.kv.v2.read_secret_version(export["path"], mount_point=kv, raise_on_deleted_version=True)

    def same_key(cert_pem, key_pem):
        pub = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
        key = serialization.load_pem_private_key(key_pem.encode(), None)
        return key.public_key().public_numbers() == pub.public_numbers()

    audit = Path(lab["vault"]["audit_log"])
    try:
        play([{"name": "root", "capstan.fleet.vault_pki_ca": {"mount": root, "common_name": "X Root", "ttl": "72h"}}],
             module_defaults=vault_defaults)
        start = audit.stat().st_size
        res = play([task()], check=True, module_defaults=vault_defaults)
        assert res.task("int")["result"]["changed"] is True and writes_since(audit, start) == []

        res = play([task()], module_defaults=vault_defaults)
        r = res.task("int")["result"]
        assert res.task("int")["status"] == "ok" and r["changed"] is True, r.get("msg")
        assert "PRIVATE KEY-----" not in res.stdout + json.dumps(r)
        stored = kv_secret()
        assert stored["data"]["metadata"]["version"] == 1
        assert stored["data"]["data"]["certificate"].strip() == r["certificate"].strip()
        assert same_key(r["certificate"], stored["data"]["data"]["private_key"])

        res = play([task()], module_defaults=vault_defaults)
        assert res.changed() == [] and kv_secret()["data"]["metadata"]["version"] == 1

        # renewal: a new key, a new KV version
        res = play([task(renew_before="30h")], module_defaults=vault_defaults)
        r2 = res.task("int")["result"]
        assert r2["changed"] is True and kv_secret()["data"]["metadata"]["version"] == 2
        assert same_key(r2["certificate"], kv_secret()["data"]["data"]["private_key"])
        assert not same_key(r["certificate"], kv_secret()["data"]["data"]["private_key"])

        # a run that stopped after writing KV: the next one finishes it (the mount takes KV's certificate)
        gen = vault.adapter.post(f"/v1/{inter}/intermediate/generate/exported",
                                 json={"common_name": "demo kubernetes CA", "key_type": "rsa"})["data"]
        signed = vault.adapter.post(f"/v1/{root}/root/sign-intermediate",
                                    json={"csr": gen["csr"], "common_name": "demo kubernetes CA", "ttl": "24h",
                                          "format": "pem"})["data"]
        vault.secrets.kv.v2.create_or_update_secret(export["path"], mount_point=kv, cas=2, secret={
            "certificate": signed["certificate"], "private_key": gen["private_key"], "issuing_ca": "", "key_id": ""})
        res = play([task()], module_defaults=vault_defaults)
        r3 = res.task("int")["result"]
        assert r3["changed"] is True and r3["reason"] == "a previous run stored the new intermediate in KV but did not finish"
        default = vault.adapter.get(f"/v1/{inter}/issuer/default/json")["data"]["certificate"]
        assert default.strip() == signed["certificate"].strip()
        res = play([task()], module_defaults=vault_defaults)
        assert res.changed() == []

        # the key lost from KV: an error that says what to do, nothing changed
        vault.secrets.kv.v2.delete_metadata_and_all_versions(export["path"], mount_point=kv)
        res = play([task()], module_defaults=vault_defaults)
        msg = res.task("int")["result"]["msg"]
        assert res.task("int")["status"] == "failed" and "is not in " + kv + "/clusters/demo/kubernetes-ca" in msg, msg
        res = play([{"name": "root-export", "capstan.fleet.vault_pki_ca": {
            "mount": root, "common_name": "X Root", "export_key": export}, "ignore_errors": True}],
            module_defaults=vault_defaults)
        assert res.task("root-export")["result"]["msg"] == \
            "export_key: only the key of an intermediate (type=intermediate) is exported"
    finally:
        for m in (inter, root, kv):
            vault.sys.disable_secrets_engine(m)


def test_keypair_made_once_never_replaced(play, vault, vault_defaults, lab):
    from cryptography.hazmat.primitives import serialization

    kv = f"kv-{uuid.uuid4().hex[:6]}"
    vault.sys.enable_secrets_engine("kv", path=kv, options={"version": "2"})
    task = {"name": "sa", "capstan.fleet.vault_keypair": {"kv_mount": kv, "path": "clusters/demo/sa"},
            "ignore_errors": True}
    audit = Path(lab["vault"]["audit_log"])
    try:
        start = audit.stat().st_size
        res = play([task], check=True, module_defaults=vault_defaults)
        assert res.task("sa")["result"]["changed"] is True and writes_since(audit, start) == []
        res = play([task], module_defaults=vault_defaults)
        r = res.task("sa")["result"]
        assert res.task("sa")["status"] == "ok" and r["changed"] is True and r["version"] == 1, r.get("msg")
        assert "PRIVATE KEY-----" not in res.stdout + json.dumps(r)
        stored = vault.secrets.kv.v2.read_secret_version(
            "clusters/demo/sa", mount_point=kv, raise_on_deleted_version=True)["data"]["data"]
        key = serialization.load_pem_private_key(stored["private_key"].encode(), None)
        assert key.key_size == 2048
        public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert public.decode() == r["public_key"] == stored["public_key"]
        res = play([task], module_defaults=vault_defaults)
        assert res.changed() == [] and res.task("sa")["result"]["public_key"] == r["public_key"]
        res = play([dict(task, **{"capstan.fleet.vault_keypair": {"kv_mount": kv, "path": "other", "key_bits": 1024}})],
                   module_defaults=vault_defaults)
        assert res.task("sa")["result"]["msg"] == "key_bits: an RSA key needs at least 2048 bits, not 1024"
    finally:
        vault.sys.disable_secrets_engine(kv)


def test_tenant_served_with_the_vault_intermediate(play, vault, vault_defaults, lab, kube, tenant_factory, tmp_path):
    """The chain the vault_pki role is built on, end to end: an intermediate whose key is exported
    into KV, laid into <cluster>-ca before the Cluster exists, serves the tenant; an eight-hour
    kubeconfig from that intermediate's user role logs in to the tenant with the role's groups."""
    from kubernetes import client, config as kconfig

    tag = uuid.uuid4().hex[:6]
    root, inter, kv, cluster = f"pki/troot-{tag}", f"pki/tint-{tag}", f"kv-{tag}", f"vt-{tag}"
    vault.sys.enable_secrets_engine("kv", path=kv, options={"version": "2"})
    try:
        res = play([
            {"name": "root", "capstan.fleet.vault_pki_ca": {"mount": root, "common_name": "Fleet Root", "ttl": "72h"}},
            {"name": "int", "capstan.fleet.vault_pki_ca": {
                "mount": inter, "type": "intermediate", "parent_mount": root, "common_name": f"{cluster} kubernetes CA",
                "ttl": "48h", "export_key": {"kv_mount": kv, "path": f"clusters/{cluster}/ca"}}},
            {"name": "role", "capstan.fleet.vault_pki_role": {
                "mount": inter, "name": "admin", "allow_any_name": True, "client_flag": True, "server_flag": False,
                "organization": ["system:masters"], "ttl": "8h", "max_ttl": "8h"}},
        ], module_defaults=vault_defaults)
        assert res.rc == 0, res.stdout
        stored = vault.secrets.kv.v2.read_secret_version(
            f"clusters/{cluster}/ca", mount_point=kv, raise_on_deleted_version=True)["data"]["data"]
        client.CoreV1Api(kube).create_namespaced_secret("default", client.V1Secret(
            metadata=client.V1ObjectMeta(name=f"{cluster}-ca", labels={"cluster.x-k8s.io/cluster-name": cluster}),
            type="kubernetes.io/tls", string_data={"tls.crt": stored["certificate"], "tls.key": stored["private_key"]}))
        tenant = tenant_factory.create(cluster)
        server = tenant["clusters"][0]["cluster"]["server"]
        chain = tmp_path / "chain.pem"
        chain.write_text(stored["certificate"].strip() + "\n" + stored["issuing_ca"].strip() + "\n")
        res = play([{"name": "kc", "capstan.fleet.cluster_kubeconfig": {
            "mount": inter, "role": "admin", "user": "sre-alice", "server": server, "cluster_name": cluster,
            "server_ca_cert": str(chain), "dest": str(tmp_path / "tenant.kubeconfig")}}], module_defaults=vault_defaults)
        assert res.rc == 0, res.stdout
        api = kconfig.new_client_from_config(config_file=str(tmp_path / "tenant.kubeconfig"))
        info = client.AuthenticationV1Api(api).create_self_subject_review(client.V1SelfSubjectReview()).status.user_info
        assert info.username == "sre-alice" and "system:masters" in info.groups
        # the tenant's own <cluster>-kubeconfig carries the same intermediate as its CA
        import base64

        ca_data = base64.b64decode(tenant["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
        assert ca_data.strip() == stored["certificate"].strip()
    finally:
        for m in (inter, root, kv):
            vault.sys.disable_secrets_engine(m)


def test_mount_approle_and_expiry_report_modules(play, vault, vault_defaults, lab):
    """vault_mount, vault_approle and vault_pki_info: check mode writes nothing, a second run changes
    nothing, a conflicting existing mount is named; the report lists CAs and stored certificates."""
    tag = uuid.uuid4().hex[:6]
    kv, am, root = f"kv-{tag}", f"approle-{tag}", f"pki/rep-{tag}"
    audit = Path(lab["vault"]["audit_log"])
    tasks = [
        {"name": "kv", "capstan.fleet.vault_mount": {"path": kv, "description": "fleet keys"}},
        {"name": "approle", "capstan.fleet.vault_approle": {
            "name": "cluster-a", "approle_mount": am, "token_policies": ["cluster-a"], "token_ttl": "20m",
            "token_max_ttl": "1h"}},
    ]
    try:
        start = audit.stat().st_size
        res = play(tasks, check=True, diff=True, module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == ["kv", "approle"], res.stdout
        assert writes_since(audit, start) == []
        res = play(tasks, diff=True, module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == ["kv", "approle"], res.stdout
        assert vault.sys.list_mounted_secrets_engines()["data"][kv + "/"]["options"]["version"] == "2"
        role = vault.auth.approle.read_role("cluster-a", mount_point=am)["data"]
        assert role["token_policies"] == ["cluster-a"] and role["token_ttl"] == 1200
        assert res.task("approle")["result"]["role_id"] == \
            vault.auth.approle.read_role_id("cluster-a", mount_point=am)["data"]["role_id"]
        res = play(tasks, module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == [], res.stdout
        changed = [dict(tasks[1]["capstan.fleet.vault_approle"], token_ttl="30m")]
        res = play([{"name": "approle", "capstan.fleet.vault_approle": changed[0]}], diff=True,
                   module_defaults=vault_defaults)
        r = res.task("approle")["result"]
        assert r["changed"] and r["diff"]["before"]["token_ttl"] == 1200 and r["diff"]["after"]["token_ttl"] == 1800

        res = play([
            {"name": "v1", "capstan.fleet.vault_mount": {"path": kv, "kv_version": 1}, "ignore_errors": True},
            {"name": "type", "capstan.fleet.vault_mount": {"path": kv, "type": "pki"}, "ignore_errors": True},
        ], module_defaults=vault_defaults)
        assert f"mount {kv} has version=2, not 1" in res.task("v1")["result"]["msg"]
        assert f"mount {kv} exists but is a kv secrets engine, not pki" in res.task("type")["result"]["msg"]

        res = play([
            {"name": "root", "capstan.fleet.vault_pki_ca": {
                "mount": root, "common_name": "Report Root", "ttl": "48h", "max_lease_ttl": "48h"}},
            {"name": "role", "capstan.fleet.vault_pki_role": {
                "mount": root, "name": "svc", "allow_any_name": True, "ttl": "2h", "max_ttl": "2h"}},
            {"name": "cert", "capstan.fleet.vault_pki_cert": {
                "mount": root, "role": "svc", "common_name": "svc-1", "ttl": "2h"}},
            {"name": "report", "capstan.fleet.vault_pki_info": {
                "mounts": [root, "pki/none-" + tag], "renew_before": "24h"}},
        ], module_defaults=vault_defaults)
        assert res.rc == 0, res.stdout
        r = res.task("report")["result"]
        assert r["changed"] is False and r["missing"] == ["pki/none-" + tag]
        kinds = [(row["kind"], row["common_name"], row["due"]) for row in r["report"]]
        assert kinds == [("certificate", "svc-1", True), ("issuer", "Report Root", False)], kinds
        assert r["due"] == 1 and r["table"][0].startswith("MOUNT") and "svc-1" in r["table"][1]
        listed = vault.adapter.list(f"/v1/{root}/certs")["data"]["keys"]
        assert r["report"][0]["serial_number"] == r["report"][0]["name"] and r["report"][0]["name"] in listed
        res = play([{"name": "gone", "capstan.fleet.vault_mount": {"path": kv, "state": "absent"}}],
                   module_defaults=vault_defaults)
        assert res.changed() == ["gone"] and kv + "/" not in vault.sys.list_mounted_secrets_engines()["data"]
    finally:
        for m in (kv, root):
            if m + "/" in vault.sys.list_mounted_secrets_engines()["data"]:
                vault.sys.disable_secrets_engine(m)
        if am + "/" in vault.sys.list_auth_methods()["data"]:
            vault.sys.disable_auth_method(am)


def test_certificate_kept_in_a_kubernetes_secret(play, vault, vault_defaults, kube, kubeconfig, lab):
    """vault_pki_cert with secret: a kubernetes.io/tls Secret (chain, key, ca.crt) written once,
    left alone while the certificate serves, renewed when the request changes; no key in output."""
    from kubernetes import client

    core = client.CoreV1Api(kube)
    tag = uuid.uuid4().hex[:6]
    mount, ns = f"pki/sec-{tag}", f"sec-{tag}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))

    def cert(cn="prometheus"):
        return {"name": "cert", "capstan.fleet.vault_pki_cert": {
            "mount": mount, "role": "mon", "common_name": cn, "ttl": "2h", "renew_before": "1h",
            "secret": {"name": "prom-tls", "namespace": ns, "kubeconfig": kubeconfig}}}
    try:
        res = play([
            {"name": "ca", "capstan.fleet.vault_pki_ca": {"mount": mount, "common_name": "Sec Root", "ttl": "24h"}},
            {"name": "role", "capstan.fleet.vault_pki_role": {
                "mount": mount, "name": "mon", "allow_any_name": True, "ttl": "2h", "max_ttl": "4h"}},
            cert(),
        ], verbosity=3, module_defaults=vault_defaults)
        assert res.rc == 0 and res.task("cert")["result"]["changed"] is True, res.stdout
        assert "PRIVATE KEY" not in res.stdout
        s = core.read_namespaced_secret("prom-tls", ns)
        data = {k: base64.b64decode(v).decode() for k, v in s.data.items()}
        assert s.type == "kubernetes.io/tls" and "PRIVATE KEY" in data["tls.key"]
        assert data["tls.crt"].count("BEGIN CERTIFICATE") == 2
        leaf = x509.load_pem_x509_certificate(data["tls.crt"].encode())
        leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(data["ca.crt"].encode()))
        assert leaf.subject.rfc4514_string() == "CN=prometheus"
        rv = s.metadata.resource_version

        res = play([cert()], module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == [], res.stdout
        res = play([cert("alertmanager")], check=True, diff=True, module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == ["cert"] and "common name differs" in res.task("cert")["result"]["reason"]
        assert core.read_namespaced_secret("prom-tls", ns).metadata.resource_version == rv
        res = play([cert("alertmanager")], module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == ["cert"]
        renewed = base64.b64decode(core.read_namespaced_secret("prom-tls", ns).data["tls.crt"])
        assert x509.load_pem_x509_certificate(renewed).subject.rfc4514_string() == "CN=alertmanager"
    finally:
        vault.sys.disable_secrets_engine(mount)
        core.delete_namespace(ns)


def test_many_certificates_in_one_task(play, vault, vault_defaults, tmp_path):
    """certificates: entries with dest are kept and renewed on their own; entries without are
    issued every run and returned (output censored); an entry the role refuses is named."""
    mount = f"pki/many-{uuid.uuid4().hex[:6]}"
    entries = [{"common_name": f"node-{i}", "alt_names": [f"node-{i}.lab"], "dest": str(tmp_path / f"node-{i}")}
               for i in range(5)] + [{"common_name": "returned"}]
    task = {"name": "many", "capstan.fleet.vault_pki_cert": {
        "mount": mount, "role": "nodes", "certificates": entries, "ttl": "2h", "renew_before": "1h", "workers": 3}}
    try:
        res = play([
            {"name": "ca", "capstan.fleet.vault_pki_ca": {"mount": mount, "common_name": "Many Root", "ttl": "24h"}},
            {"name": "role", "capstan.fleet.vault_pki_role": {
                "mount": mount, "name": "nodes", "allowed_domains": ["lab"], "allow_subdomains": True,
                "allow_bare_domains": False, "enforce_hostnames": False, "ttl": "2h", "max_ttl": "4h",
                "require_cn": False}},
            dict(task, register="many_out"),
            {"name": "show", "ansible.builtin.debug": {"msg": "{{ many_out.certificates | map(attribute='changed') | list }}"}},
        ], verbosity=2, module_defaults=vault_defaults)
        assert res.rc != 0  # the role allows *.lab names only: node-0 is refused, named with its index
        msg = res.task("many")["result"]["msg"]
        assert "certificates[0] (node-0)" in msg and "(and 5 more failed)" in msg, msg
        entries = [dict(e, common_name=e["alt_names"][0]) if e.get("alt_names") else dict(e, common_name="r.lab")
                   for e in entries]
        task["capstan.fleet.vault_pki_cert"]["certificates"] = entries
        res = play([dict(task, register="many_out"),
                    {"name": "show", "ansible.builtin.debug": {
                        "msg": "{{ many_out.certificates | map(attribute='changed') | list }}"}}],
                   module_defaults=vault_defaults)
        assert res.rc == 0, res.stdout
        assert res.task("many")["result"].get("censored")  # one entry carries its key
        assert res.task("show")["result"]["msg"] == [True] * 6
        assert "PRIVATE KEY" not in res.stdout
        for i in range(5):
            pem = (tmp_path / f"node-{i}.crt").read_bytes()
            assert x509.load_pem_x509_certificate(pem).subject.rfc4514_string() == f"CN=node-{i}.lab"
            assert oct((tmp_path / f"node-{i}.key").stat().st_mode & 0o777) == "0o600"
        res = play([dict(task, register="many_out"),
                    {"name": "show", "ansible.builtin.debug": {
                        "msg": "{{ many_out.certificates | map(attribute='changed') | list }}"}}],
                   module_defaults=vault_defaults)
        assert res.task("show")["result"]["msg"] == [False] * 5 + [True]
    finally:
        vault.sys.disable_secrets_engine(mount)


def test_crl_and_auto_tidy_settings(play, vault, vault_defaults, lab):
    """crl and auto_tidy (no hvac method: the HTTP API through hvac's adapter): set, compared as
    durations, a second run and --check write nothing, a change shows in the diff."""
    mount = f"pki/tidy-{uuid.uuid4().hex[:6]}"
    audit = Path(lab["vault"]["audit_log"])

    def task(interval="12h"):
        return {"name": "ca", "capstan.fleet.vault_pki_ca": {
            "mount": mount, "common_name": "Tidy Root", "ttl": "24h",
            "crl": {"expiry": "72h", "auto_rebuild": True},
            "auto_tidy": {"enabled": True, "interval_duration": interval, "tidy_cert_store": True,
                          "tidy_revoked_certs": True, "safety_buffer": "72h"}}}
    try:
        res = play([task()], module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == ["ca"], res.stdout
        crl = vault.adapter.get(f"/v1/{mount}/config/crl")["data"]
        tidy = vault.adapter.get(f"/v1/{mount}/config/auto-tidy")["data"]
        assert crl["expiry"] == "72h" and crl["auto_rebuild"] is True
        assert tidy["enabled"] is True and tidy["interval_duration"] == 43200 and tidy["safety_buffer"] == 259200
        res = play([task()], module_defaults=vault_defaults)
        assert res.rc == 0 and res.changed() == [], res.stdout
        start = audit.stat().st_size
        res = play([task("6h")], check=True, diff=True, module_defaults=vault_defaults)
        r = res.task("ca")["result"]
        assert r["changed"] and r["diff"]["before"]["auto_tidy"]["interval_duration"] == 43200
        assert r["diff"]["after"]["auto_tidy"]["interval_duration"] == 21600
        assert writes_since(audit, start) == []
    finally:
        vault.sys.disable_secrets_engine(mount)


def test_many_roles_in_one_task(play, vault, vault_defaults, pki_mount):
    """vault_pki_role with roles: entries take the task's parameters unless they set their own."""
    other = f"pki/roles-{uuid.uuid4().hex[:6]}"
    vault.sys.enable_secrets_engine("pki", path=other)
    try:
        task = {"capstan.fleet.vault_pki_role": {
            "mount": pki_mount, "allow_any_name": True, "client_flag": True, "server_flag": False, "ttl": "1h",
            "max_ttl": "4h", "roles": [
                {"name": "admin", "organization": ["kubeadm:cluster-admins"], "no_store": True},
                {"name": "etcd-client", "mount": other, "ttl": "2h"}]}, "register": "r"}
        res = play([task], module_defaults=vault_defaults, diff=True)
        assert res.rc == 0, res.stdout
        out = res.results[-1]["result"]
        assert out["changed"] and [(x["mount"], x["name"], x["changed"]) for x in out["roles"]] == [
            (pki_mount, "admin", True), (other, "etcd-client", True)]
        admin = vault.adapter.get(f"/v1/{pki_mount}/roles/admin")["data"]
        client = vault.adapter.get(f"/v1/{other}/roles/etcd-client")["data"]
        assert admin["organization"] == ["kubeadm:cluster-admins"] and admin["no_store"] is True and admin["ttl"] == 3600
        assert client["ttl"] == 7200 and client["max_ttl"] == 14400 and client["server_flag"] is False
        res = play([task], module_defaults=vault_defaults)
        assert res.rc == 0 and not res.results[-1]["result"]["changed"]
        # one bad entry stops the task before anything is written, naming it
        task["capstan.fleet.vault_pki_role"]["roles"].append({"name": "bad", "ttl": "9h"})
        res = play([dict(task, ignore_errors=True)], module_defaults=vault_defaults)
        msg = res.results[-1]["result"]["msg"]
        assert msg.startswith("role bad of %s:" % pki_mount) and "max_ttl" in msg, msg
        assert "bad" not in (vault.adapter.list(f"/v1/{pki_mount}/roles")["data"]["keys"])
    finally:
        vault.sys.disable_secrets_engine(other)
