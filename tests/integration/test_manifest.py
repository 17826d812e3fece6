"""capstan.fleet.manifest beyond apply/delete: ApplySet pruning, waits, URL sources, kubeconfig
Secrets and the parallel path, against the lab's real kube-apiserver (kwok runs the pods).

The ApplySet format is judged by the real kubectl (built from Go modules with the lab): the
parent id the module computes is the one kubectl writes for the same parent."""
import base64
import functools
import http.server
import os
import subprocess
import threading
import uuid

import pytest
import yaml

from capstan_lab import build


@pytest.fixture
def kube_defaults(kubeconfig):
    return {"group/capstan.fleet.kube": {"kubeconfig": kubeconfig}}


@pytest.fixture
def ns(kube):
    from kubernetes import client

    core = client.CoreV1Api(kube)
    name = f"man-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    try:
        core.delete_namespace(name)
    except client.exceptions.ApiException:
        pass


def cm(name, ns, **data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}


def deployment(name, ns, **pod_spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": dict({"containers": [{"name": "c", "image": "registry.example/app:1"}]},
                                               **pod_spec)}}}


def test_applyset_prunes_what_the_bundle_dropped(play, kube, kube_defaults, ns):
    from kubernetes import client

    core = client.CoreV1Api(kube)
    aset = {"name": "bundle", "namespace": ns}
    full = {"name": "apply", "capstan.fleet.manifest": {
        "definition": [cm("a", ns, k="1"), cm("b", ns, k="2"),
                       {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                        "metadata": {"name": f"{ns}-reader"}, "rules": []}],
        "applyset": aset, "prune": True}}
    try:
        res = play([full], module_defaults=kube_defaults)
        assert res.rc == 0, res.stdout
        parent = core.read_namespaced_secret("bundle", ns).metadata
        set_id = parent.labels["applyset.kubernetes.io/id"]
        assert parent.annotations["applyset.kubernetes.io/contains-group-kinds"] == \
            "ClusterRole.rbac.authorization.k8s.io,ConfigMap"
        assert parent.annotations["applyset.kubernetes.io/tooling"].startswith("capstan.fleet/")
        assert core.read_namespaced_config_map("b", ns).metadata.labels["applyset.kubernetes.io/part-of"] == set_id

        res = play([full], module_defaults=kube_defaults)
        assert res.rc == 0 and res.changed() == [], res.stdout

        smaller = {"name": "apply", "capstan.fleet.manifest": dict(full["capstan.fleet.manifest"],
                                                                   definition=[cm("a", ns, k="1")])}
        res = play([smaller], check=True, module_defaults=kube_defaults)
        r = res.task("apply")["result"]
        assert r["changed"] is True and sorted(r["pruned"]) == [f"ClusterRole/{ns}-reader", f"ConfigMap/{ns}/b"]
        core.read_namespaced_config_map("b", ns)  # check mode deleted nothing

        # without prune, dropped objects stay and the set keeps tracking them
        keep = {"name": "apply", "capstan.fleet.manifest": dict(smaller["capstan.fleet.manifest"], prune=False)}
        res = play([keep], module_defaults=kube_defaults)
        assert res.rc == 0 and res.task("apply")["result"]["pruned"] == []
        core.read_namespaced_config_map("b", ns)

        res = play([smaller], module_defaults=kube_defaults)
        r = res.task("apply")["result"]
        assert res.rc == 0 and sorted(r["pruned"]) == [f"ClusterRole/{ns}-reader", f"ConfigMap/{ns}/b"], res.stdout
        assert [c.metadata.name for c in core.list_namespaced_config_map(ns).items if c.metadata.name in "ab"] == ["a"]
        assert core.read_namespaced_secret("bundle", ns).metadata.annotations[
            "applyset.kubernetes.io/contains-group-kinds"] == "ConfigMap"
        # an object of the same kind that is not a member is never pruned
        core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="mine")))
        res = play([smaller], module_defaults=kube_defaults)
        assert res.rc == 0 and res.changed() == [], res.stdout
        core.read_namespaced_config_map("mine", ns)

        gone = {"name": "apply", "capstan.fleet.manifest": dict(smaller["capstan.fleet.manifest"], state="absent")}
        res = play([gone], module_defaults=kube_defaults)
        assert res.rc == 0 and res.task("apply")["result"]["changed"] is True
        names = [c.metadata.name for c in core.list_namespaced_config_map(ns).items]
        assert "a" not in names and "mine" in names
        assert "bundle" not in [s.metadata.name for s in core.list_namespaced_secret(ns).items]
    finally:
        try:
            client.RbacAuthorizationV1Api(kube).delete_cluster_role(f"{ns}-reader")
        except client.exceptions.ApiException:
            pass


def test_applyset_id_and_labels_are_kubectls(play, kube, kube_defaults, ns, kubeconfig, tmp_path):
    """kubectl's own ApplySet for a parent has the id the module computes, and the module refuses
    to take over a set that kubectl manages (and so prune objects it does not own)."""
    from kubernetes import client

    kubectl = build.ensure_binaries(["kubectl"])["kubectl"]
    (tmp_path / "k.yaml").write_text(yaml.safe_dump(cm("by-kubectl", ns, k="v")))
    proc = subprocess.run([kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "--prune",
                           "--applyset=secret/kset", "-n", ns, "-f", str(tmp_path / "k.yaml")],
                          capture_output=True, text=True, env=dict(os.environ, KUBECTL_APPLYSET="true"), check=False)
    assert proc.returncode == 0, proc.stderr
    core = client.CoreV1Api(kube)
    kubectl_id = core.read_namespaced_secret("kset", ns).metadata.labels["applyset.kubernetes.io/id"]
    member = core.read_namespaced_config_map("by-kubectl", ns).metadata.labels["applyset.kubernetes.io/part-of"]
    assert member == kubectl_id

    from ansible_collections.capstan.fleet.plugins.module_utils._manifest import ApplySet

    assert ApplySet("kset", ns).id == kubectl_id
    res = play([{"name": "take", "capstan.fleet.manifest": {
        "definition": cm("other", ns), "applyset": {"name": "kset", "namespace": ns}, "prune": True},
        "ignore_errors": True}], module_defaults=kube_defaults)
    msg = res.task("take")["result"]["msg"]
    assert f"Secret/{ns}/kset is the ApplySet of kubectl/" in msg and "not of capstan.fleet" in msg
    core.read_namespaced_config_map("by-kubectl", ns)
    assert "other" not in [c.metadata.name for c in core.list_namespaced_config_map(ns).items]


def test_wait_for_rollouts_and_conditions(play, kube_defaults, ns):
    res = play([
        {"name": "ok", "capstan.fleet.manifest": {
            "definition": [deployment("web", ns)], "wait": True, "wait_timeout": 120}},
        {"name": "cond", "capstan.fleet.manifest": {
            "definition": [deployment("web", ns)], "wait": True,
            "wait_condition": {"type": "Available", "kind": "Deployment"}}},
        {"name": "stuck", "capstan.fleet.manifest": {
            "definition": [deployment("nowhere", ns, nodeSelector={"site": "none"})],
            "wait": True, "wait_timeout": 5}, "ignore_errors": True},
        {"name": "nocond", "capstan.fleet.manifest": {
            "definition": [cm("plain", ns)], "wait": True, "wait_timeout": 2,
            "wait_condition": {"type": "Ready"}}, "ignore_errors": True},
    ], module_defaults=kube_defaults)
    assert res.task("ok")["status"] == "ok" and res.task("ok")["result"]["changed"] is True, res.stdout
    assert res.task("cond")["status"] == "ok"
    assert res.task("stuck")["status"] == "failed" and res.task("nocond")["status"] == "failed"
    stuck = res.task("stuck")["result"]
    assert "not ready after 5s" in stuck["msg"], stuck["msg"]
    assert f"Deployment/{ns}/nowhere: 0 of 1 updated replicas available" in stuck["msg"] \
        or f"Deployment/{ns}/nowhere: 0 of 1 replicas updated" in stuck["msg"], stuck["msg"]
    assert f"ConfigMap/{ns}/plain: no Ready condition yet" in res.task("nocond")["result"]["msg"]


def test_url_source_and_many_objects_in_parallel(play, kube, kube_defaults, ns, tmp_path):
    """A bundle served over HTTP; 60 objects of one kind go through one LIST and parallel applies,
    and a second run neither changes nor writes anything."""
    from kubernetes import client

    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "bundle.yaml").write_text(
        yaml.safe_dump_all([cm(f"c{i:03d}", ns, i=str(i)) for i in range(60)]))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/bundle.yaml"
    try:
        task = {"name": "apply", "capstan.fleet.manifest": {"src": [url]}}
        res = play([task], module_defaults=kube_defaults)
        r = res.task("apply")["result"]
        assert res.rc == 0 and len(r["changed_objects"]) == 60, res.stdout
        assert r["objects"][0]["origin"] == f"{url} document 0"
        core = client.CoreV1Api(kube)
        rvs = {c.metadata.name: c.metadata.resource_version for c in core.list_namespaced_config_map(ns).items}
        assert core.read_namespaced_config_map("c059", ns).data == {"i": "59"}
        res = play([task], module_defaults=kube_defaults)
        assert res.rc == 0 and res.changed() == [], res.stdout
        assert rvs == {c.metadata.name: c.metadata.resource_version for c in core.list_namespaced_config_map(ns).items}
        res = play([{"name": "404", "capstan.fleet.manifest": {"src": [url + ".missing"]}, "ignore_errors": True}],
                   module_defaults=kube_defaults)
        assert f"cannot read src from {url}.missing: HTTP 404" in res.task("404")["result"]["msg"]
    finally:
        server.shutdown()


def test_parallel_failures_name_each_object(play, kube_defaults, ns):
    bad = [cm("ok1", ns), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name", "namespace": ns}},
           cm("ok2", ns), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "nope-ns"}}]
    res = play([{"name": "bad", "capstan.fleet.manifest": {"definition": bad}, "ignore_errors": True}],
               module_defaults=kube_defaults)
    msg = res.task("bad")["result"]["msg"]
    assert msg.startswith(f"definition[1] (ConfigMap/{ns}/Bad_Name): ") and "Invalid value" in msg, msg
    assert "(and 1 more object(s) failed)" in msg


def test_kubeconfig_secret_reaches_a_tenant(play, tenant_factory, kube_defaults):
    name = f"tenant-{uuid.uuid4().hex[:5]}"
    tenant_factory.create(name)
    ref = {"name": f"{name}-kubeconfig", "namespace": "default"}
    res = play([
        {"name": "push", "capstan.fleet.manifest": {"kubeconfig_secret": ref, "definition": cm("pushed", "kube-system", a="b")}},
        {"name": "read", "capstan.fleet.kube_object_info": {
            "kubeconfig_secret": ref, "kind": "ConfigMap", "name": "pushed", "namespace": "kube-system"}},
        {"name": "mgmt", "capstan.fleet.kube_object_info": {
            "kind": "ConfigMap", "name": "pushed", "namespace": "kube-system"}},
        {"name": "nosecret", "capstan.fleet.kube_object_info": {"kubeconfig_secret": {"name": "no-such"}, "kind": "Node"},
         "ignore_errors": True},
        {"name": "nokey", "capstan.fleet.kube_object_info": {"kubeconfig_secret": dict(ref, key="other"), "kind": "Node"},
         "ignore_errors": True},
    ], module_defaults=kube_defaults)
    assert res.task("push")["result"]["changed"] is True, res.stdout
    assert res.task("read")["result"]["objects"][0]["data"] == {"a": "b"}
    assert res.task("mgmt")["result"]["objects"] == []  # it went to the tenant, not the management cluster
    assert res.task("nosecret")["result"]["msg"] == "kubeconfig_secret default/no-such does not exist"
    assert res.task("nokey")["result"]["msg"] == f"kubeconfig_secret default/{name}-kubeconfig has no key other (it has: value)"
    assert "client-key-data" not in res.stdout and base64.b64encode(b"client-key").decode() not in res.stdout


def test_unchanged_objects_are_not_rewritten_but_drift_is_corrected(play, kube, kube_defaults, ns):
    """A re-run skips the apply of an object that holds the applied configuration's digest and
    values; a value changed by someone else, or a field the bundle dropped, still goes to the
    server and is put right."""
    from kubernetes import client

    core = client.CoreV1Api(kube)

    def task(**data):
        return [{"name": "apply", "capstan.fleet.manifest": {"definition": cm("drift", ns, **data)}}]

    res = play(task(a="1", b="2"), module_defaults=kube_defaults)
    assert res.rc == 0 and res.task("apply")["result"]["changed"] is True
    live = core.read_namespaced_config_map("drift", ns)
    assert len(live.metadata.annotations["capstan.fleet/applied-digest"]) == 32

    core.patch_namespaced_config_map("drift", ns, {"data": {"a": "changed by hand"}})
    res = play(task(a="1", b="2"), module_defaults=kube_defaults)
    assert res.task("apply")["result"]["changed"] is True, res.stdout
    assert core.read_namespaced_config_map("drift", ns).data == {"a": "1", "b": "2"}

    res = play(task(a="1"), module_defaults=kube_defaults)  # b left the bundle: apply removes it
    assert res.task("apply")["result"]["changed"] is True
    assert core.read_namespaced_config_map("drift", ns).data == {"a": "1"}

    rv = core.read_namespaced_config_map("drift", ns).metadata.resource_version
    res = play(task(a="1"), check=True, module_defaults=kube_defaults)
    assert res.changed() == []
    res = play(task(a="1"), module_defaults=kube_defaults)
    assert res.changed() == [] and core.read_namespaced_config_map("drift", ns).metadata.resource_version == rv


def test_secret_values_never_reach_the_output(play, kube, kube_defaults, ns):
    """Results and diffs of a Secret show which keys there are and which changed, never values."""
    from kubernetes import client

    def task(**data):
        return [{"name": "s", "capstan.fleet.manifest": {"definition": {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": ns},
            "stringData": data}}}]

    res = play(task(user="admin", password="hunter2-secret"), diff=True, module_defaults=kube_defaults)
    r = res.task("s")["result"]
    assert res.rc == 0 and r["changed"] is True, res.stdout
    assert r["objects"][0]["result"]["data"] == {"password": "<redacted>", "user": "<redacted>"}
    assert "hunter2-secret" not in res.stdout and "aHVudGVyMi1zZWNyZXQ=" not in res.stdout  # nor its base64
    res = play(task(user="admin", password="rotated-secret"), diff=True, verbosity=3, module_defaults=kube_defaults)
    d = res.task("s")["result"]["diff"][0]
    assert d["after"]["data"] == {"password": "<redacted, changed>", "user": "<redacted>"}
    assert "module_args" in res.stdout  # -vvv echoes the arguments ...
    assert "rotated-secret" not in res.stdout and "cm90YXRlZC1zZWNyZXQ=" not in res.stdout  # ... masked
    live = client.CoreV1Api(kube).read_namespaced_secret("creds", ns).data
    assert live["password"] == "cm90YXRlZC1zZWNyZXQ="  # the real value did reach the server


def test_overwrite_false_creates_keeps_and_refuses(play, kube, kube_defaults, ns):
    """overwrite=false: a missing object is created, one made by someone else that holds the same
    values is left untouched, one that differs fails the task naming the fields, not the values."""
    from kubernetes import client

    core = client.CoreV1Api(kube)

    def task(check=False, **data):
        return [{"name": "apply", "capstan.fleet.manifest": {
            "definition": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keep", "namespace": ns},
                           "type": "Opaque",
                           "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}},
            "overwrite": False}}]

    core.create_namespaced_secret(ns, client.V1Secret(metadata=client.V1ObjectMeta(name="keep"),
                                                      string_data={"key": "hand-made-value"}))
    rv = core.read_namespaced_secret("keep", ns).metadata.resource_version
    res = play(task(key="hand-made-value"), module_defaults=kube_defaults)
    assert res.rc == 0 and res.changed() == [], res.stdout
    assert core.read_namespaced_secret("keep", ns).metadata.resource_version == rv

    for check in (True, False):
        res = play(task(key="another-value"), check=check, module_defaults=kube_defaults)
        assert res.rc != 0
        msg = res.task("apply")["result"]["msg"]
        assert f"Secret/{ns}/keep" in msg and "data.key" in msg and "overwrite=false" in msg, msg
        assert "another-value" not in res.stdout and "hand-made-value" not in res.stdout
        assert base64.b64encode(b"another-value").decode() not in res.stdout
        assert core.read_namespaced_secret("keep", ns).metadata.resource_version == rv

    core.delete_namespaced_secret("keep", ns)
    res = play(task(key="another-value"), module_defaults=kube_defaults)
    assert res.rc == 0 and res.changed() == ["apply"], res.stdout
    assert base64.b64decode(core.read_namespaced_secret("keep", ns).data["key"]) == b"another-value"
    res = play(task(key="another-value"), module_defaults=kube_defaults)
    assert res.rc == 0 and res.changed() == []


def test_big_inline_bundle_is_echoed_by_size_and_objects_can_stay_out_of_the_result(play, kube, kube_defaults, ns):
    """A bundle's text given inline is echoed back by size and digest (not 100 KB in every
    registered result), and return_objects=false leaves the live objects out."""
    from kubernetes import client

    big = "x" * 100000
    text = yaml.safe_dump(cm("big", ns, blob=big)) + "---\n" + yaml.safe_dump(cm("small", ns, k="v"))
    task = {"name": "apply", "capstan.fleet.manifest": {"definition": [text], "return_objects": False}}
    res = play([task], module_defaults=kube_defaults)
    r = res.task("apply")["result"]
    assert res.rc == 0 and r["changed_objects"] == [f"ConfigMap/{ns}/big", f"ConfigMap/{ns}/small"], res.stdout
    assert [sorted(o) for o in r["objects"]] == [["changed", "id", "origin"]] * 2
    echoed = r["invocation"]["module_args"]["definition"][0]
    assert echoed.startswith(f"<{len(text)} characters, sha256 ") and big not in str(r)
    assert client.CoreV1Api(kube).read_namespaced_config_map("big", ns).data["blob"] == big
    # the default returns the objects as the server has them
    task["capstan.fleet.manifest"]["return_objects"] = True
    res = play([task], module_defaults=kube_defaults)
    r = res.task("apply")["result"]
    assert res.rc == 0 and res.changed() == [] and r["objects"][1]["result"]["data"] == {"k": "v"}, res.stdout
    # a failing run echoes it the same way (here: the namespace does not exist)
    bad = {"name": "bad", "capstan.fleet.manifest": {"definition": [text.replace(ns, ns + "-none")]},
           "ignore_errors": True}
    res = play([bad], module_defaults=kube_defaults)
    r = res.task("bad")["result"]
    assert f'namespaces "{ns}-none" not found' in r["msg"], res.stdout
    assert r["invocation"]["module_args"]["definition"][0].startswith("<") and big not in str(r)


def _applies(kubeconfig):
    """Server-side applies a tenant's API server has served (its own /metrics): every write this
    collection sends is one; the API server's own status bookkeeping (a subresource) is not counted."""
    from kubernetes import config

    api = config.new_client_from_config_dict(kubeconfig)
    try:
        text = api.call_api("/metrics", "GET", _preload_content=False, _return_http_data_only=True).data.decode()
    finally:
        api.close()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("apiserver_request_total{") and 'verb="APPLY"' in line
               and 'subresource=""' in line and 'dry_run=""' in line)


def test_rerun_of_calico_and_flux_sends_no_write(play, tenant_factory, kube_defaults):
    """The upstream Calico and Flux bundles hold values the API server writes back in another form
    (preserveUnknownFields: false and readOnly: false left out, cpu "1000m" read back as "1", an
    empty status that an apply never writes): a second push of the same bundles is not sent again -
    the tenant's API server serves no apply - and a value changed inside the tenant still is."""
    from conftest import TESTDATA

    name = f"tenant-{uuid.uuid4().hex[:5]}"
    kubeconfig = tenant_factory.create(name)
    calico = next((TESTDATA / "cni" / "calico").glob("*/calico.yaml"))
    flux = next((TESTDATA / "flux").glob("*/gotk-components.yaml"))
    tasks = [{"name": "push", "capstan.fleet.manifest": {
        "kubeconfig_secret": {"name": f"{name}-kubeconfig", "namespace": "default"}, "src": [str(calico), str(flux)],
        "applyset": {"name": "bootstrap", "namespace": "kube-system"}, "prune": True, "return_objects": False}}]
    res = play(tasks, module_defaults=kube_defaults)
    assert res.rc == 0 and res.task("push")["result"]["changed"] is True, res.stdout
    pushed = len(res.task("push")["result"]["objects"])
    before = _applies(kubeconfig)
    assert before >= pushed > 60  # the first push applied every object
    res = play(tasks, module_defaults=kube_defaults)
    assert res.rc == 0 and res.changed() == [], res.stdout
    assert _applies(kubeconfig) == before

    from kubernetes import client, config

    api = config.new_client_from_config_dict(kubeconfig)
    client.CoreV1Api(api).patch_namespaced_resource_quota("critical-pods-flux-system", "flux-system",
                                                          {"spec": {"hard": {"pods": "7"}}})
    api.close()
    before = _applies(kubeconfig)
    res = play(tasks, module_defaults=kube_defaults)
    assert res.task("push")["result"]["changed_objects"] == ["ResourceQuota/flux-system/critical-pods-flux-system"]
    assert _applies(kubeconfig) == before + 1
