"""Pure logic of module_utils, on real data (no servers needed)."""
import base64
import datetime
import os

import pytest
import yaml

from ansible_collections.capstan.fleet.plugins.module_utils import _kube, _manifest, _pki
from ansible_collections.capstan.fleet.plugins.module_utils._kube import KubeError, parse_kubeconfig
from ansible_collections.capstan.fleet.plugins.module_utils._vault import VaultError
from capstan_lab import pki as labpki


def _kc(server="https://127.0.0.1:6443", cert=b"CERT", key=b"KEY"):
    def b(data):
        return base64.b64encode(data).decode()

    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "a@c",
        "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority-data": b(b"CA")}}],
        "contexts": [{"name": "a@c", "context": {"cluster": "c", "user": "a"}}],
        "users": [{"name": "a", "user": {"client-certificate-data": b(cert), "client-key-data": b(key)}}],
    }


def test_kubeconfig_as_dict_text_and_path(tmp_path):
    want = dict(server="https://127.0.0.1:6443", ca_pem=b"CA", cert_pem=b"CERT", key_pem=b"KEY", token=None, insecure=False)
    assert parse_kubeconfig(_kc()) == want
    assert parse_kubeconfig(yaml.safe_dump(_kc())) == want
    path = tmp_path / "kc"
    path.write_text(yaml.safe_dump(_kc()))
    assert parse_kubeconfig(str(path)) == want


def test_kubeconfig_errors_name_the_problem(tmp_path):
    with pytest.raises(KubeError, match="kubeconfig file /nonexistent/kc does not exist"):
        parse_kubeconfig("/nonexistent/kc")
    with pytest.raises(KubeError, match="no context named 'other'"):
        parse_kubeconfig(_kc(), context="other")
    bad = tmp_path / "bad"
    bad.write_text("clusters: [\n")
    with pytest.raises(KubeError, match=f"kubeconfig file {bad} is not valid YAML"):
        parse_kubeconfig(str(bad))


def test_client_certificate_from_memory_leaves_no_file(tmp_path, monkeypatch):
    """Key material given as data goes through memfd: nothing appears in the temp dir."""
    ca, ca_key = labpki.new_ca("t")
    cert, key = labpki.issue(ca, ca_key, "u", client=True)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    client = _kube.KubeClient("https://127.0.0.1:1", ca_pem=labpki.cert_pem(ca),
                              cert_pem=labpki.cert_pem(cert), key_pem=labpki.key_pem(key))
    assert client.server == "https://127.0.0.1:1"
    assert os.listdir(tmp_path) == []


def test_unusable_client_key_is_a_clear_error():
    ca, ca_key = labpki.new_ca("t")
    cert, _key = labpki.issue(ca, ca_key, "u", client=True)
    other = labpki.new_key()
    with pytest.raises(KubeError, match="client certificate or key of the kubeconfig is not usable"):
        _kube.KubeClient("https://127.0.0.1:1", cert_pem=labpki.cert_pem(cert), key_pem=labpki.key_pem(other))


@pytest.mark.parametrize("text,secs", [("90", 90), ("45s", 45), ("8h", 28800), ("30d", 2592000), ("1h30m", 5400)])
def test_durations(text, secs):
    assert _pki.seconds(text) == secs


@pytest.mark.parametrize("text", ["8 hours", "h", "1.5h", "-3h"])
def test_bad_durations_name_the_option(text):
    with pytest.raises(VaultError, match=r"renew_before: .* is not a duration"):
        _pki.seconds(text, "renew_before")


def test_load_documents_from_file_and_directory(tmp_path):
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n"
                                     "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: y}}\n")
    (tmp_path / "notes.txt").write_text("ignored")
    docs = _manifest.load_documents(src=str(tmp_path))
    assert [_manifest.ident(doc[1]) for doc in docs] == ["Namespace/x", "ConfigMap/y"]
    assert docs[1][0].endswith("a.yaml document 1 item 0")


def test_bad_documents_name_file_and_index(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\nkind: Secret\nmetadata: {}\n")
    with pytest.raises(KubeError, match=r"bad\.yaml document 1 lacks apiVersion, metadata\.name"):
        _manifest.load_documents(src=str(bad))
    with pytest.raises(KubeError, match=r"definition\[0\] is not valid YAML"):
        _manifest.load_documents(definition=["a: [b"])
    with pytest.raises(KubeError, match="src /nonexistent does not exist"):
        _manifest.load_documents(src="/nonexistent")


def test_order_puts_namespaces_and_crds_first():
    docs = [("1", {"kind": "ConfigMap"}), ("2", {"kind": "CustomResourceDefinition"}), ("3", {"kind": "Namespace"})]
    assert [d[0] for d in _manifest.ordered(docs)] == ["3", "2", "1"]


def test_normalize_drops_server_bookkeeping_only():
    obj = {"metadata": {"name": "x", "resourceVersion": "5", "managedFields": [{}], "uid": "u",
                        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}, "data": {"a": "1"}}
    assert _manifest.normalize(obj) == {"metadata": {"name": "x"}, "data": {"a": "1"}}


def _cert(cn, sans, days, ca=None):
    ca, ca_key = ca or labpki.new_ca("issuer")
    cert, _key = labpki.issue(ca, ca_key, cn, sans=sans, client=True, days=days)
    return labpki.cert_pem(cert).decode(), labpki.cert_pem(ca).decode(), (ca, ca_key)


def test_renewal_decisions():
    pem, ca_pem, ca = _cert("svc", ["svc", "svc.ns"], 30)
    assert _pki.needs_renewal(pem, ca_pem, "svc", ["svc.ns"], [], 86400) is None
    assert _pki.needs_renewal(pem, ca_pem, "other", ["svc.ns"], [], 86400) == "the common name differs"
    assert _pki.needs_renewal(pem, ca_pem, "svc", ["svc.ns", "more"], [], 86400) == "the subject alternative names differ"
    assert "renewal threshold" in _pki.needs_renewal(pem, ca_pem, "svc", ["svc.ns"], [], 40 * 86400)
    other_ca_pem = _cert("x", [], 1)[1]
    assert _pki.needs_renewal(pem, other_ca_pem, "svc", ["svc.ns"], [], 60) == "the present certificate comes from another issuer"
    assert _pki.needs_renewal("garbage", ca_pem, "svc", [], [], 60) == "the present certificate is not valid PEM"
    summary = _pki.cert_summary(pem)
    assert summary["common_name"] == "svc"
    assert datetime.datetime.strptime(summary["not_after"], "%Y-%m-%dT%H:%M:%SZ") > datetime.datetime.now()


def test_contained_is_strict_about_values_and_lenient_about_defaults():
    from ansible_collections.capstan.fleet.plugins.module_utils._manifest import contained, unchanged

    assert contained({"a": {"b": [1, {"c": "x"}]}}, {"a": {"b": [1, {"c": "x", "d": "default"}]}, "z": 1})
    assert not contained({"a": [1, 2]}, {"a": [1, 2, 3]})  # a list is the whole list
    assert not contained({"a": True}, {"a": 1}) and not contained({"a": 1}, {"a": True})
    assert contained({"a": None}, {}) and not contained({"a": None}, {"a": "set"})
    assert not contained({"a": "1"}, {"a": 1})
    cfg = {"metadata": {"name": "x", "annotations": {"capstan.fleet/applied-digest": "d1"}}, "data": {"k": "v"}}
    live = {"metadata": {"name": "x", "annotations": {"capstan.fleet/applied-digest": "d1"}, "uid": "u"},
            "data": {"k": "v"}}
    assert unchanged(cfg, live)
    assert not unchanged(cfg, dict(live, data={"k": "w"}))
    other = {"metadata": {"name": "x", "annotations": {"capstan.fleet/applied-digest": "d0"}}, "data": {"k": "v"}}
    assert not unchanged(cfg, other)  # another configuration was applied last: its fields may differ


def _workload(kind, generation=1, spec=None, **status):
    return {"kind": kind, "metadata": {"name": "w", "generation": generation},
            "spec": spec or {"replicas": 2}, "status": dict({"observedGeneration": 1}, **status)}


def test_rollout_rules_follow_kubectl_rollout_status():
    from ansible_collections.capstan.fleet.plugins.module_utils._manifest import rollout_pending

    assert rollout_pending(_workload("Deployment", generation=2)) == "waiting for the controller to observe generation 2"
    assert rollout_pending(_workload("Deployment", updatedReplicas=1)) == "1 of 2 replicas updated"
    assert rollout_pending(_workload("Deployment", updatedReplicas=2, replicas=3)) == "1 old replicas pending termination"
    assert rollout_pending(_workload("Deployment", updatedReplicas=2, replicas=2, availableReplicas=1)) \
        == "1 of 2 updated replicas available"
    assert rollout_pending(_workload("Deployment", updatedReplicas=2, replicas=2, availableReplicas=2)) is None
    stuck = _workload("Deployment", conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded",
                                                "message": "ReplicaSet w-1 has timed out progressing."}])
    assert rollout_pending(stuck) == "exceeded its progress deadline: ReplicaSet w-1 has timed out progressing."

    assert rollout_pending(_workload("StatefulSet", readyReplicas=1)) == "1 of 2 pods ready"
    assert rollout_pending(_workload("StatefulSet", readyReplicas=2, updatedReplicas=1, currentRevision="a",
                                     updateRevision="b")) == "1 of 2 pods at the new revision"
    assert rollout_pending(_workload("StatefulSet", readyReplicas=2, currentRevision="b", updateRevision="b")) is None
    partitioned = _workload("StatefulSet", spec={"replicas": 2, "updateStrategy": {
        "type": "RollingUpdate", "rollingUpdate": {"partition": 1}}}, readyReplicas=2, currentRevision="a",
        updateRevision="b")
    assert rollout_pending(partitioned) is None  # a partitioned rollout is done when the partition is

    assert rollout_pending(_workload("DaemonSet", desiredNumberScheduled=3, updatedNumberScheduled=2)) \
        == "2 of 3 pods updated"
    assert rollout_pending(_workload("DaemonSet", desiredNumberScheduled=3, updatedNumberScheduled=3,
                                     numberAvailable=2)) == "2 of 3 updated pods available"
    assert rollout_pending(_workload("DaemonSet", desiredNumberScheduled=3, updatedNumberScheduled=3,
                                     numberAvailable=3)) is None
    assert rollout_pending({"kind": "ConfigMap", "metadata": {"name": "c"}}) is None


def test_condition_waits_name_what_is_missing():
    from ansible_collections.capstan.fleet.plugins.module_utils._manifest import condition_pending

    obj = {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Waiting",
                                      "message": "control plane not ready"}]}}
    assert condition_pending(obj, {"type": "Ready"}) == "Ready=False (control plane not ready)"
    assert condition_pending(obj, {"type": "Available"}) == "no Available condition yet"
    assert condition_pending(obj, {"type": "Ready", "status": "False"}) is None
    assert condition_pending(obj, {"type": "Ready", "status": "False", "reason": "Done"}) == "Ready reason Waiting, not Done"


def test_values_the_server_writes_back_in_another_form_are_no_difference():
    """What the API server did to Calico's and Flux's objects: zero values left out, quantities
    made canonical, a manifest's empty status never written. Each must match; a real difference
    next to them must not."""
    from ansible_collections.capstan.fleet.plugins.module_utils._manifest import contained, quantity, unchanged

    assert quantity("1000m") == quantity("1") == quantity(1) and quantity(1000) == quantity("1k")
    assert quantity("1Gi") == quantity("1024Mi") and quantity("1e3") == quantity("1k") and quantity("0.5") == quantity("500m")
    assert quantity("fast") is None and quantity(True) is None and quantity("1Qi") is None
    crd = {"spec": {"preserveUnknownFields": False, "names": {"shortNames": []}}}
    assert contained(crd, {"spec": {"names": {"kind": "X"}}})
    assert not contained({"spec": {"preserveUnknownFields": True}}, {"spec": {}})
    mounts = {"volumeMounts": [{"name": "a", "readOnly": False}, {"name": "b", "readOnly": True}]}
    assert contained(mounts, {"volumeMounts": [{"name": "a"}, {"name": "b", "readOnly": True}]})
    assert not contained(mounts, {"volumeMounts": [{"name": "a"}, {"name": "b"}]})
    res = {"resources": {"limits": {"cpu": "1000m", "memory": "1Gi"}}, "sizeLimit": "1024Mi"}
    assert contained(res, {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}, "sizeLimit": "1Gi"})
    assert not contained(res, {"resources": {"limits": {"cpu": "2", "memory": "1Gi"}}, "sizeLimit": "1Gi"})
    assert contained({"spec": {"hard": {"pods": 1000}}}, {"spec": {"hard": {"pods": "1k"}}})
    # elsewhere a string is a string: an env value "1000m" read back as "1" was changed by someone
    assert not contained({"env": [{"name": "X", "value": "1000m"}]}, {"env": [{"name": "X", "value": "1"}]})
    ann = {"annotations": {"capstan.fleet/applied-digest": "d1"}}
    cfg = {"metadata": dict(ann, name="x"), "spec": {"a": 1}, "status": {"acceptedNames": {"kind": ""}, "conditions": []}}
    live = {"metadata": dict(ann, name="x"), "spec": {"a": 1}, "status": {"acceptedNames": {"kind": "X"}}}
    assert unchanged(cfg, live) and not unchanged(dict(cfg, spec={"a": 2}), live)
    assert _manifest.differing(cfg, live) == [] and _manifest.differing(dict(cfg, spec={"a": 2}), live) == ["spec.a"]


def test_differing_names_fields_never_values():
    want = {"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"tls.crt": "AAA", "tls.key": "BBB"}, "gone": None}
    have = {"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}}, "data": {"tls.crt": "AAA", "tls.key": "ZZZ"},
            "gone": "still"}
    assert _manifest.differing(want, have) == ["data.tls.key", "gone"]
    assert _manifest.differing({"data": {"a": "1"}}, {"data": {}}) == ["data.a"]
    assert _manifest.differing(want, want) == []
    assert _manifest.differing({"spec": {"ports": [1, 2]}}, {"spec": {"ports": [1]}}) == ["spec.ports"]


@pytest.mark.parametrize("wanted, problem", [
    ({"ttl": "48h", "max_ttl": "1h"}, "ttl (48h) is longer than max_ttl (1h)"),
    ({"allow_any_name": True, "allowed_domains": ["example.com"]}, "allow_any_name=true ignores allowed_domains"),
    ({"server_flag": False, "client_flag": False}, "serve no TLS use"),
    ({"key_type": "ec", "key_bits": 2048}, "key_bits=2048 is not an EC curve size"),
    ({"key_type": "rsa", "key_bits": 1024}, "key_bits=1024 is not an RSA size"),
])
def test_conflicting_role_parameters_are_named(wanted, problem):
    assert problem in _pki.role_conflicts(wanted)


def test_consistent_role_parameters_pass():
    assert _pki.role_conflicts({"ttl": "8h", "max_ttl": "720h", "allow_any_name": True, "client_flag": True,
                                "server_flag": False, "key_type": "ec", "key_bits": 256}) is None


def test_serial_numbers_are_written_as_vault_writes_them():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = labpki.new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "s")])
    now = datetime.datetime.now(datetime.timezone.utc)
    for serial, text in ((0x0a1b, "0a:1b"), (0xff, "ff"), (0x10000, "01:00:00")):
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(serial).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                .sign(key, hashes.SHA256()))
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        assert _pki.cert_summary(pem)["serial_number"] == text


def test_report_table_aligns_and_marks_due_rows():
    rows = [{"mount": "pki/a", "kind": "issuer", "name": "root", "common_name": "Root", "not_after": "2036-01-01T00:00:00Z",
             "seconds_left": 90000, "due": False},
            {"mount": "pki/clusters/x/kubernetes", "kind": "certificate", "name": "1a:2b", "common_name": "alice",
             "not_after": "2026-11-25T00:00:00Z", "seconds_left": 3700, "due": True}]
    lines = _pki.report_table(rows)
    assert lines[0].split() == ["MOUNT", "KIND", "NAME", "COMMON", "NAME", "NOT", "AFTER", "LEFT", "DUE"]
    assert lines[1].split()[-1] == "1d01h" and lines[2].split()[-2:] == ["1h01m", "yes"]
    assert lines[1].index("issuer") == lines[2].index("certificate") == lines[0].index("KIND")


def test_cluster_state_names_what_blocks_in_both_contracts():
    from ansible_collections.capstan.fleet.plugins.module_utils._capi_cluster import cluster_state

    assert cluster_state(None) == {"exists": False, "blocking": "the Cluster does not exist"}
    fresh = cluster_state({"metadata": {"name": "a"}, "spec": {}})
    assert "no Cluster API controller has reconciled it" in fresh["blocking"]
    v1beta2 = {"spec": {"controlPlaneEndpoint": {"host": "10.0.0.1", "port": 6443}}, "status": {
        "phase": "Provisioning", "initialization": {"infrastructureProvisioned": True},
        "conditions": [{"type": "InfrastructureReady", "status": "True"},
                       {"type": "ControlPlaneInitialized", "status": "False", "reason": "WaitingForControlPlane",
                        "message": "0 of 1 machines"}]}}
    s = cluster_state(v1beta2)
    assert s["infrastructure_ready"] and not s["control_plane_initialized"]
    assert s["blocking"] == "ControlPlaneInitialized is False (WaitingForControlPlane: 0 of 1 machines)"
    assert s["control_plane_endpoint"] == {"host": "10.0.0.1", "port": 6443}
    v1beta1 = {"status": {"phase": "Provisioning", "infrastructureReady": False, "conditions": [
        {"type": "InfrastructureReady", "status": "False", "reason": "WaitingForNetwork"}]}}
    assert cluster_state(v1beta1)["blocking"] == "InfrastructureReady is False (WaitingForNetwork)"
    v1beta1["status"].update(infrastructureReady=True, conditions=[{"type": "ControlPlaneInitialized", "status": "True"}])
    assert cluster_state(v1beta1)["blocking"] is None
    assert cluster_state({"spec": {"paused": True}, "status": {"phase": "Provisioned"}})["blocking"] == \
        "the Cluster is paused (spec.paused)"


def test_waiting_for_a_cluster_gives_up_after_its_timeout_naming_the_blocker():
    from ansible_collections.capstan.fleet.plugins.module_utils import _capi_cluster

    class Client(object):  # the two reads the wait makes, stubbed to reach the timeout branch
        def resource_for_group_kind(self, group, kind):
            return "cluster.x-k8s.io/v1beta2", {}

        def get(self, api_version, kind, name, namespace):
            return {"status": {"conditions": [{"type": "InfrastructureReady", "status": "False",
                                               "reason": "NoNetwork"}]}} if kind == "Cluster" else None

    now = [0.0]
    state, text = _capi_cluster.wait_initialized(Client(), "a", "ns", 3, sleep=lambda s: now.__setitem__(0, now[0] + s),
                                                 clock=lambda: now[0])
    assert text is None and state["blocking"] == "InfrastructureReady is False (NoNetwork)"
    assert 3 <= now[0] < 8 and state["api_version"] == "cluster.x-k8s.io/v1beta2"


def test_cluster_pki_entry_checks_and_policy():
    from ansible_collections.capstan.fleet.plugins.module_utils import _cluster_pki

    entry = {"name": "demo-vs-1", "mount_prefix": "pki/x/", "roles": [
        {"name": "admin", "mount": "kubernetes", "organization": ["kubeadm:cluster-admins"], "ttl": "8h", "max_ttl": "720h"},
        {"name": "bad", "mount": "etcd", "organization": [], "ttl": "48h", "max_ttl": "1h"}]}
    with pytest.raises(VaultError, match=r"roles\[1\] \(bad on etcd\): ttl \(48h\) is longer than max_ttl \(1h\)"):
        _cluster_pki.check_entry(entry)
    entry["roles"].pop()
    _cluster_pki.check_entry(entry)
    # every role is a client-certificate role whose organisation is the RBAC group
    role = _cluster_pki.client_role(entry["roles"][0])
    assert role["client_flag"] and not role["server_flag"] and role["organization"] == ["kubeadm:cluster-admins"]
    # the policy names the cluster's own mounts and nothing else
    text = _cluster_pki.policy_text(entry)
    paths = [line.split('"')[1] for line in text.splitlines() if line.startswith("path ")]
    assert paths == ["pki/x/clusters/demo-vs-1/+/issue/*", "pki/x/clusters/demo-vs-1/+/sign/*",
                     "pki/x/clusters/demo-vs-1/+/cert/ca", "pki/x/clusters/demo-vs-1/+/ca/pem"]


def test_a_server_that_does_not_answer_is_retryable_a_tls_failure_is_not():
    import http.server
    import socket
    import threading

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there: connection refused
    with pytest.raises(KubeError) as refused:
        _kube.KubeClient("https://127.0.0.1:%d" % port, timeout=2).request("GET", "/version")
    assert refused.value.retryable and refused.value.extra == {"retryable": True}
    wrapped = refused.value.within("Deployment/x/y")
    assert wrapped.retryable and str(wrapped).startswith("Deployment/x/y: cannot reach the Kubernetes API at 127.0.0.1:")

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # answers, without TLS
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(KubeError) as tls:
            _kube.KubeClient("https://127.0.0.1:%d" % server.server_address[1], timeout=2).request("GET", "/version")
    finally:
        server.shutdown()
    assert not tls.value.retryable and tls.value.extra == {}

    # many objects failing at once: retryable only when every one of them is
    def fail(retryable):
        raise KubeError("x", retryable=retryable)
    with pytest.raises(KubeError) as both:
        _manifest._run_parallel(fail, [(True,), (True,)], 2)
    assert both.value.retryable
    with pytest.raises(KubeError) as mixed:
        _manifest._run_parallel(fail, [(True,), (False,)], 2)
    assert not mixed.value.retryable


def test_a_429_is_asked_again_after_retry_after_and_stays_retryable():
    """A kube-apiserver answers 429 "storage is (re)initializing" for a CRD created a moment ago
    (seen in the demo, inside a tenant the ClusterResourceSet had just filled); the client asks again
    after Retry-After, as client-go does, and a server that keeps saying 429 ends in a retryable error."""
    import http.server
    import threading

    answers = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            busy = len(answers) < self.server.busy
            answers.append(429 if busy else 200)
            body = b'{"kind": "Status", "message": "storage is (re)initializing"}' if busy else b'{"kind": "APIVersions"}'
            self.send_response(answers[-1])
            if busy:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d" % server.server_address[1]
    try:
        server.busy = 2
        assert _kube.KubeClient(url, timeout=5).request("GET", "/api") == {"kind": "APIVersions"}
        assert answers == [429, 429, 200]
        del answers[:]
        server.busy = 100
        with pytest.raises(KubeError) as busy:
            _kube.KubeClient(url, timeout=5).request("GET", "/api")
    finally:
        server.shutdown()
    assert len(answers) == _kube.MAX_429_RETRIES + 1
    assert busy.value.status == 429 and busy.value.retryable and "storage is (re)initializing" in str(busy.value)
    assert _kube.retry_after("3") == 3 and _kube.retry_after(None) == 1.0 and _kube.retry_after("Wed, 21 Oct") == 1.0
    assert _kube.retry_after("600") == 10.0
