"""The lab provisioner: a test double for Cluster API's controllers and the infrastructure.

For every ``Cluster`` (cluster.x-k8s.io) in the management apiserver it runs a real
kube-apiserver for that tenant cluster (sharing the lab etcd under its own prefix),
serving with the CA from ``<cluster>-ca`` (created, with ``-etcd``, ``-proxy`` and
``-sa``, as the kubeadm control-plane provider would when they are missing), writes
``<cluster>-kubeconfig`` exactly as Cluster API does and reports the Cluster
provisioned in the API version the installed CRD stores. When the Cluster is deleted it
stops that apiserver, deletes the tenant's etcd keys and the secrets it created.

Annotate a Cluster with ``lab.capstan.fleet/stopped: "true"`` to stop its apiserver
(an outage), and remove the annotation to start it again.

It also plays Cluster API's ClusterResourceSet controller in its simplest form: the
resources (ConfigMaps) of each ClusterResourceSet are applied, server-side with the lab's
kubectl, into every running tenant whose Cluster its selector matches, again whenever their
content changes (strategy Reconcile). No ClusterResourceSetBinding is written.
"""
import argparse
import base64
import datetime
import json
import hashlib
import shutil
import signal
import subprocess
import sys
import time
import traceback
import urllib.request
from pathlib import Path

from capstan_lab import lab as labmod
from capstan_lab import pki, procs

GROUP = "cluster.x-k8s.io"
FINALIZER = "lab.capstan.fleet/provisioner"
STOPPED = "lab.capstan.fleet/stopped"
CREATED_BY = "lab.capstan.fleet/created-by"
CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"
SECRET_TYPE = "cluster.x-k8s.io/secret"
FULL_EVERY = 3.0  # seconds between full passes (all clusters, ClusterResourceSets)
CA_PURPOSES = {"ca": "kubernetes", "etcd": "etcd-ca", "proxy": "front-proxy-ca"}


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def log(msg):
    print(f"{now()} {msg}", flush=True)


class Provisioner:
    def __init__(self, state_dir):
        from kubernetes import client

        self.lab = labmod.Lab(state_dir)
        self.state = self.lab.load()
        from kubernetes import config as kconfig

        api = kconfig.new_client_from_config(config_file=str(self.lab.dir / "provisioner.kubeconfig"))
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.ext = client.ApiextensionsV1Api(api)
        self.ApiException = client.exceptions.ApiException
        self.tenants_dir = self.lab.dir / "tenants"
        self.tenants_dir.mkdir(exist_ok=True)
        self.running = True
        self.done = {}  # tenant key -> resourceVersion of its Cluster when last reconciled
        self.last_full = 0.0

    # ---- loop -----------------------------------------------------------------
    def storage_version(self):
        try:
            crd = self.ext.read_custom_resource_definition(f"clusters.{GROUP}")
        except self.ApiException as e:
            if e.status == 404:
                return None
            raise
        return next(v.name for v in crd.spec.versions if v.storage)

    def run(self):
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        beat = self.lab.dir / "provisioner.heartbeat"
        log("provisioner started")
        while self.running:
            try:
                self.reconcile_all()
                beat.touch()
            except Exception:  # keep serving; the log says what went wrong
                log("reconcile failed:\n" + traceback.format_exc())
            time.sleep(0.5)
        log("provisioner stopped (tenant apiservers keep running until `lab down`)")

    def reconcile_all(self):
        """Every 0.5 s: clusters whose object changed (or whose apiserver died); every
        FULL_EVERY seconds: all of them, and the ClusterResourceSets. A steady lab with many
        tenants then costs one LIST per round, not a dozen requests per tenant - the lab is
        on the same two cores as the benchmarks that measure the collection."""
        version = self.storage_version()
        seen = set()
        full = time.monotonic() - self.last_full > FULL_EVERY
        if version:
            items = self.custom.list_cluster_custom_object(GROUP, version, "clusters")["items"]
            for cluster in items:
                key = f"{cluster['metadata']['namespace']}_{cluster['metadata']['name']}"
                seen.add(key)
                rv = cluster["metadata"]["resourceVersion"]
                if not full and self.done.get(key) == rv and procs.alive(self._meta(self.tenants_dir / key).get("pid"), "kube-apiserver"):
                    continue
                try:
                    self.reconcile(cluster, version)
                    self.done[key] = rv
                except self.ApiException as e:
                    if e.status not in (404, 409):  # gone or changed meanwhile: next round
                        raise
            if full:
                try:
                    self.reconcile_resource_sets(items)
                except self.ApiException as e:
                    if e.status not in (404, 409):
                        raise
        if full:
            self.last_full = time.monotonic()
        for d in self.tenants_dir.iterdir():
            if d.is_dir() and d.name not in seen:
                log(f"tenant {d.name}: Cluster is gone, cleaning up")
                self.teardown(d, None)

    # ---- one cluster ------------------------------------------------------------
    def reconcile(self, cluster, version):
        meta = cluster["metadata"]
        ns, name = meta["namespace"], meta["name"]
        tdir = self.tenants_dir / f"{ns}_{name}"
        if meta.get("deletionTimestamp"):
            if FINALIZER in meta.get("finalizers", []):
                self.teardown(tdir, cluster)
                fins = [f for f in meta["finalizers"] if f != FINALIZER]
                self.custom.patch_namespaced_custom_object(
                    GROUP, version, ns, "clusters", name,
                    {"metadata": {"finalizers": fins, "resourceVersion": meta["resourceVersion"]}},
                )
            return
        if FINALIZER not in meta.get("finalizers", []):
            self.custom.patch_namespaced_custom_object(
                GROUP, version, ns, "clusters", name,
                {"metadata": {"finalizers": meta.get("finalizers", []) + [FINALIZER],
                              "resourceVersion": meta["resourceVersion"]}},
            )
            return  # next round sees the new resourceVersion
        tdir.mkdir(parents=True, exist_ok=True)
        stop_wanted = (meta.get("annotations") or {}).get(STOPPED) == "true"
        info = self._meta(tdir)
        running = procs.alive(info.get("pid"), "kube-apiserver")
        if stop_wanted:
            if running:
                log(f"tenant {ns}/{name}: stopping its apiserver ({STOPPED})")
                procs.stop(info["pid"], "kube-apiserver")
            return
        if not running:
            certs = self.ensure_cert_secrets(cluster, version)
            info = self.start_tenant(tdir, cluster, certs, info)
        endpoint = f"https://127.0.0.1:{info['port']}"
        self.ensure_kubeconfig(cluster, version, tdir, endpoint)
        self.ensure_endpoint_and_status(cluster, version, info["port"])

    def _meta(self, tdir):
        try:
            return json.loads((tdir / "meta.json").read_text())
        except (OSError, ValueError):
            return {}

    def _owner(self, cluster, version):
        m = cluster["metadata"]
        return {"apiVersion": f"{GROUP}/{version}", "kind": "Cluster", "name": m["name"], "uid": m["uid"]}

    def _secret(self, ns, name):
        try:
            return self.core.read_namespaced_secret(name, ns)
        except self.ApiException as e:
            if e.status == 404:
                return None
            raise

    def _create_secret(self, cluster, version, name, data):
        m = cluster["metadata"]
        body = {
            "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {
                "name": name, "namespace": m["namespace"],
                "labels": {CLUSTER_NAME_LABEL: m["name"]},
                "annotations": {CREATED_BY: "provisioner"},
                "ownerReferences": [self._owner(cluster, version)],
            },
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        }
        self.core.create_namespaced_secret(m["namespace"], body)

    def ensure_cert_secrets(self, cluster, version):
        """Read the four certificate secrets; create the missing ones as KCP would."""
        m = cluster["metadata"]
        out = {}
        for purpose, cn in list(CA_PURPOSES.items()) + [("sa", None)]:
            sname = f"{m['name']}-{purpose}"
            sec = self._secret(m["namespace"], sname)
            if sec is None:
                if purpose == "sa":
                    key = pki.new_key()
                    data = {"tls.crt": pki.public_pem(key), "tls.key": pki.key_pem(key)}
                else:
                    cert, key = pki.new_ca(cn)
                    data = {"tls.crt": pki.cert_pem(cert), "tls.key": pki.key_pem(key)}
                self._create_secret(cluster, version, sname, data)
                log(f"tenant {m['namespace']}/{m['name']}: created {sname}")
            else:
                data = {k: base64.b64decode(v) for k, v in (sec.data or {}).items()}
                if "tls.crt" not in data or "tls.key" not in data:
                    raise RuntimeError(f"secret {m['namespace']}/{sname} lacks tls.crt or tls.key")
            out[purpose] = data
        return out

    def start_tenant(self, tdir, cluster, certs, info):
        m = cluster["metadata"]
        files = {}
        for purpose in ("ca", "proxy"):
            files[purpose + ".crt"] = certs[purpose]["tls.crt"]
        files["sa.pub"] = certs["sa"]["tls.crt"]
        ca = pki.load_cert(certs["ca"]["tls.crt"])
        ca_key = pki.load_key(certs["ca"]["tls.key"])
        serving, serving_key = pki.issue(ca, ca_key, "kube-apiserver", sans=pki.LOOPBACK_SANS + [
            "kubernetes", "kubernetes.default", "kubernetes.default.svc", "10.96.0.1"], server=True)
        for name, data in files.items():
            (tdir / name).write_bytes(data)
        pki.write_private(tdir / "sa.key", certs["sa"]["tls.key"])
        pki.write_pair(tdir, "apiserver", serving, serving_key)
        port = info.get("port") or procs.free_port()
        if procs.port_taken(port):
            port = procs.free_port()
        argv = labmod.apiserver_argv(
            self.state["binaries"]["kube-apiserver"], port, self.state["etcd"]["url"],
            f"/tenants/{m['namespace']}/{m['name']}", tdir / "ca.crt", tdir / "apiserver.crt",
            tdir / "apiserver.key", tdir / "sa.pub", tdir / "sa.key",
            extra=[f"--requestheader-client-ca-file={tdir / 'proxy.crt'}",
                   "--requestheader-allowed-names=front-proxy-client",
                   "--requestheader-username-headers=X-Remote-User",
                   "--requestheader-group-headers=X-Remote-Group",
                   "--requestheader-extra-headers-prefix=X-Remote-Extra-"],
        )
        logf = tdir / "kube-apiserver.log"
        pid = procs.start("kube-apiserver", argv, logf, tdir)
        info = {"port": port, "pid": pid, "uid": m["uid"], "namespace": m["namespace"], "name": m["name"]}
        (tdir / "meta.json").write_text(json.dumps(info))
        admin, admin_key = pki.issue(ca, ca_key, "capstan-lab-provisioner", orgs=["system:masters"], client=True, days=30)
        pki.write_pair(tdir, "probe", admin, admin_key)
        ctx = procs.client_ctx(tdir / "ca.crt", tdir / "probe.crt", tdir / "probe.key")

        def ready():
            code, body = procs.http_get(f"https://127.0.0.1:{port}/readyz", ctx)
            return code == 200, f"{code} {body[-200:]}"

        procs.wait_healthy(f"tenant {m['namespace']}/{m['name']} kube-apiserver", pid, "kube-apiserver", ready, logf, 120)
        log(f"tenant {m['namespace']}/{m['name']}: apiserver ready on 127.0.0.1:{port}")
        return info

    def ensure_kubeconfig(self, cluster, version, tdir, endpoint):
        m = cluster["metadata"]
        sname = f"{m['name']}-kubeconfig"
        sec = self._secret(m["namespace"], sname)
        ca_pem = (tdir / "ca.crt").read_bytes()
        if sec is not None:
            import yaml

            current = yaml.safe_load(base64.b64decode(sec.data["value"]))
            c = current["clusters"][0]["cluster"]
            if c["server"] == endpoint and base64.b64decode(c["certificate-authority-data"]) == ca_pem:
                return
            self.core.delete_namespaced_secret(sname, m["namespace"])
        ca = pki.load_cert(ca_pem)
        ca_key = pki.load_key(self._ca_key(cluster))
        cert, key = pki.issue(ca, ca_key, "kubernetes-admin", orgs=["system:masters"], client=True)
        value = pki.kubeconfig(m["name"], endpoint, ca_pem, pki.cert_pem(cert), pki.key_pem(key))
        self._create_secret(cluster, version, sname, {"value": value})
        log(f"tenant {m['namespace']}/{m['name']}: wrote {sname}")

    def _ca_key(self, cluster):
        m = cluster["metadata"]
        sec = self._secret(m["namespace"], f"{m['name']}-ca")
        return base64.b64decode(sec.data["tls.key"])

    def ensure_endpoint_and_status(self, cluster, version, port):
        m = cluster["metadata"]
        spec = cluster.get("spec") or {}
        if not (spec.get("controlPlaneEndpoint") or {}).get("host"):
            self.custom.patch_namespaced_custom_object(
                GROUP, version, m["namespace"], "clusters", m["name"],
                {"spec": {"controlPlaneEndpoint": {"host": "127.0.0.1", "port": port}}},
            )
        status = cluster.get("status") or {}
        if status.get("phase") == "Provisioned" and status.get("observedGeneration") == m.get("generation"):
            return
        t = now()
        if version == "v1beta1":
            body = {
                "phase": "Provisioned", "infrastructureReady": True, "controlPlaneReady": True,
                "observedGeneration": m.get("generation"),
                "conditions": [
                    {"type": c, "status": "True", "lastTransitionTime": t}
                    for c in ("Ready", "ControlPlaneInitialized", "ControlPlaneReady", "InfrastructureReady")
                ],
            }
        else:
            body = {
                "phase": "Provisioned", "observedGeneration": m.get("generation"),
                "initialization": {"infrastructureProvisioned": True, "controlPlaneInitialized": True},
                "conditions": [
                    {"type": c, "status": "True", "reason": c, "message": "", "lastTransitionTime": t}
                    for c in ("Available", "InfrastructureReady", "ControlPlaneInitialized", "ControlPlaneAvailable")
                ],
            }
        self.custom.patch_namespaced_custom_object_status(
            GROUP, version, m["namespace"], "clusters", m["name"], {"status": body}
        )
        log(f"tenant {m['namespace']}/{m['name']}: status Provisioned ({version})")

    # ---- ClusterResourceSets ----------------------------------------------------------
    def reconcile_resource_sets(self, clusters):
        try:
            crd = self.ext.read_custom_resource_definition("clusterresourcesets.addons.cluster.x-k8s.io")
        except self.ApiException as e:
            if e.status == 404:
                return
            raise
        version = next(v.name for v in crd.spec.versions if v.storage)
        for crs in self.custom.list_cluster_custom_object("addons.cluster.x-k8s.io", version, "clusterresourcesets")["items"]:
            ns = crs["metadata"]["namespace"]
            wanted = ((crs["spec"].get("clusterSelector") or {}).get("matchLabels") or {})
            if not wanted:
                continue  # an empty selector matches no cluster, as in Cluster API
            for cluster in clusters:
                m = cluster["metadata"]
                labels = m.get("labels") or {}
                if m["namespace"] != ns or any(labels.get(k) != v for k, v in wanted.items()):
                    continue
                tdir = self.tenants_dir / f"{ns}_{m['name']}"
                if not procs.alive(self._meta(tdir).get("pid"), "kube-apiserver"):
                    continue
                self.apply_resource_set(crs, ns, tdir)

    def apply_resource_set(self, crs, ns, tdir):
        texts = []
        for res in crs["spec"].get("resources") or []:
            if res.get("kind") != "ConfigMap":
                continue
            try:
                cm = self.core.read_namespaced_config_map(res["name"], ns)
            except self.ApiException as e:
                if e.status == 404:
                    return  # not all there yet
                raise
            texts += [cm.data[k] for k in sorted(cm.data or {})]
        bundle = "\n---\n".join(texts)
        digest = hashlib.sha256(bundle.encode()).hexdigest()
        mark = tdir / f"crs-{crs['metadata']['name']}.sha256"
        if mark.exists() and mark.read_text() == digest:
            return
        sec = self._secret(ns, f"{tdir.name.split('_', 1)[1]}-kubeconfig")
        if sec is None:
            return
        kcfg = tdir / "admin.kubeconfig"
        pki.write_private(kcfg, base64.b64decode(sec.data["value"]))
        proc = subprocess.run([self.state["binaries"]["kubectl"], "--kubeconfig", str(kcfg), "apply", "--server-side",
                               "--force-conflicts", "--field-manager=clusterresourceset", "-f", "-"],
                              input=bundle, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:  # CRDs not Established yet for the CRs of the same bundle: next round
            log(f"tenant {tdir.name}: ClusterResourceSet {crs['metadata']['name']} not applied yet: {proc.stderr.strip()[:300]}")
            return
        mark.write_text(digest)
        log(f"tenant {tdir.name}: applied ClusterResourceSet {crs['metadata']['name']}")

    def teardown(self, tdir, cluster):
        info = self._meta(tdir)
        if info.get("pid"):
            procs.stop(info["pid"], "kube-apiserver")
        if info.get("namespace"):
            self._delete_etcd_prefix(f"/tenants/{info['namespace']}/{info['name']}/")
            for purpose in ("kubeconfig", "ca", "etcd", "proxy", "sa"):
                sname = f"{info['name']}-{purpose}"
                sec = self._secret(info["namespace"], sname)
                if sec is not None and (sec.metadata.annotations or {}).get(CREATED_BY) == "provisioner":
                    self.core.delete_namespaced_secret(sname, info["namespace"])
        shutil.rmtree(tdir, ignore_errors=True)
        log(f"tenant {tdir.name}: apiserver stopped, etcd keys and created secrets removed")

    def _delete_etcd_prefix(self, prefix):
        key = prefix.encode()
        end = key[:-1] + bytes([key[-1] + 1])
        body = json.dumps({"key": base64.b64encode(key).decode(), "range_end": base64.b64encode(end).decode()})
        req = urllib.request.Request(self.state["etcd"]["url"] + "/v3/kv/deleterange", data=body.encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()


def main(argv=None):
    p = argparse.ArgumentParser(prog="capstan_lab.provisioner")
    p.add_argument("--state-dir", required=True)
    args = p.parse_args(argv)
    Provisioner(Path(args.state_dir)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
