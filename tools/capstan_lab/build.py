"""Find or build the lab's Go binaries, cached by version outside the work tree.

Each component group is built from Go modules through a small wrapper module: the
upstream module's local ``replace`` lines (Kubernetes' ``./staging/src/k8s.io/*``,
etcd's ``../api``) cannot be used from outside its repository, so the wrapper maps
each of them to the published module at the matching version. The wrappers for the
pinned versions are committed under ``gomod/`` with their go.sum, so a cold build
verifies every download against hashes kept in this repository; any other version
is generated on the fly.
"""
import fcntl
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from capstan_lab import config
from capstan_lab.errors import LabError


@dataclass
class Group:
    name: str
    module: str
    version: str
    binaries: dict  # binary name -> Go package
    ldflags: list = field(default_factory=list)
    in_lab: bool = True  # built for `lab up`; other groups only when a test asks for them

    @property
    def key(self):
        return f"{self.name}-{self.version}"


def _kube_ldflags(version):
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return flags


def groups():
    kv = config.KUBERNETES_VERSION
    return [
        Group(
            "kubernetes",
            "k8s.io/kubernetes",
            kv,
            {
                "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
                "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
                "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
                "kubectl": "k8s.io/kubernetes/cmd/kubectl",
            },
            _kube_ldflags(kv),
        ),
        Group(
            "etcd",
            "go.etcd.io/etcd/server/v3",
            config.ETCD_VERSION,
            {"etcd": "go.etcd.io/etcd/server/v3"},
            [f"-X go.etcd.io/etcd/api/v3/version.GitSHA={config.ETCD_VERSION}"],
        ),
        Group("kwok", "sigs.k8s.io/kwok", config.KWOK_VERSION, {"kwok": "sigs.k8s.io/kwok/cmd/kwok"}),
        Group(
            "vcsim",
            "github.com/vmware/govmomi",
            config.GOVMOMI_VERSION,
            {"vcsim": "github.com/vmware/govmomi/vcsim"},
        ),
        # the real clusterctl, for the interoperability tests of the provider lifecycle
        Group(
            "clusterctl",
            "sigs.k8s.io/cluster-api",
            config.CLUSTERCTL_VERSION,
            {"clusterctl": "sigs.k8s.io/cluster-api/cmd/clusterctl"},
            [f"-X sigs.k8s.io/cluster-api/version.gitVersion={config.CLUSTERCTL_VERSION}",
             "-X sigs.k8s.io/cluster-api/version.gitTreeState=clean"],
            in_lab=False,
        ),
        # a reference evaluator of clusterctl's variable dialect, to test the port against
        Group(
            "envsubst-ref",
            "github.com/drone/envsubst/v2",
            config.ENVSUBST_VERSION,
            {"envsubst-ref": "capstan.local/lab/envsubst-ref"},
            in_lab=False,
        ),
    ]


def go_env():
    env = dict(os.environ)
    env.update(GOTOOLCHAIN="local", CGO_ENABLED="0", GOFLAGS="-mod=mod")
    return env


def check_go():
    go = shutil.which("go")
    if not go:
        raise LabError(
            "Go is not installed or not on PATH: the lab builds kube-apiserver, etcd, kwok and "
            "vcsim from Go modules and needs Go >= %d.%d (or prebuilt binaries in "
            "KUBEBUILDER_ASSETS / CAPSTAN_LAB_BIN_DIR)" % config.MIN_GO
        )
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, env=go_env(), check=False)
    m = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    if not m or (int(m.group(1)), int(m.group(2))) < config.MIN_GO:
        raise LabError(
            "Go %s at %s is too old: the pinned etcd %s and kwok %s need Go >= %d.%d"
            % (out.stdout.strip() or "of unknown version", go, config.ETCD_VERSION, config.KWOK_VERSION, *config.MIN_GO)
        )
    return go


def _external_dirs():
    dirs = []
    for var in ("CAPSTAN_LAB_BIN_DIR", "KUBEBUILDER_ASSETS"):
        for part in os.environ.get(var, "").split(os.pathsep):
            if part:
                dirs.append(Path(part).expanduser())
    return dirs


def module_download(go, module, version, env=None):
    """``go mod download -json`` of one module: its info (Dir, GoMod, ...)."""
    out = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True, text=True, cwd=str(config.cache_dir()), check=False,
        # The checksum database may not know a fresh upstream tag yet (it does not know
        # k8s.io/kubernetes v1.34.12); the go.sum written from it pins it from then on.
        env=dict(env or go_env(), GONOSUMDB=module),
    )
    try:
        info = json.loads(out.stdout)
    except ValueError:
        raise LabError(f"go mod download {module}@{version} failed: {out.stderr.strip()}")
    if info.get("Error"):
        raise LabError(f"go mod download {module}@{version} failed: {info['Error']}")
    return info


def _read_mod(go, group, env):
    return Path(module_download(go, group.module, group.version, env)["GoMod"]).read_text()


def wrapper_gomod(group, upstream_mod):
    """The go.mod of a wrapper module that builds ``group`` outside its repository."""
    go_line = re.search(r"^go (\S+)", upstream_mod, re.M)
    godebug = re.findall(r"^godebug .*$", upstream_mod, re.M)
    replaces = []
    staged = group.module == "k8s.io/kubernetes"
    for target, path in re.findall(r"^\s*(?:replace\s+)?(\S+)\s+=>\s+(\.\.?/\S+)\s*$", upstream_mod, re.M):
        if "FORBIDDEN" in path:  # etcd's guard against depending on its test modules
            continue
        version = "v0." + group.version.split(".", 1)[1] if staged else group.version
        replaces.append(f"\t{target} => {target} {version}")
    lines = [f"module capstan.local/lab/{group.name}", "", f"go {go_line.group(1) if go_line else '1.25'}", ""]
    lines += godebug + ([""] if godebug else [])
    lines += ["tool ("] + [f"\t{pkg}" for pkg in group.binaries.values()] + [")", ""]
    lines += [f"require {group.module} {group.version}", ""]
    if replaces:
        lines += ["replace ("] + replaces + [")"]
    return "\n".join(lines) + "\n"


def prepare_wrapper(go, group, env, log):
    """Lay out the wrapper module in the cache; committed go.mod/go.sum win."""
    src = config.cache_dir() / "src" / group.key
    src.mkdir(parents=True, exist_ok=True)
    pinned = config.HERE / "gomod" / group.key
    if (pinned / "go.mod").is_file():
        for path in list(pinned.glob("*.go")) + [pinned / "go.mod", pinned / "go.sum"]:
            shutil.copyfile(path, src / path.name)
        return src
    (src / "go.mod").write_text(wrapper_gomod(group, _read_mod(go, group, env)))
    # The checksum database may not know a fresh upstream tag yet; the module proxy
    # still serves it, and the go.sum written here pins it from now on.
    tidy_env = dict(env, GONOSUMDB=group.module)
    run = subprocess.run([go, "mod", "tidy"], cwd=str(src), env=tidy_env, stdout=log, stderr=subprocess.STDOUT, check=False)
    if run.returncode:
        raise LabError(f"go mod tidy for {group.key} failed; log: {log.name}")
    return src


def build_group(go, group):
    root = config.cache_dir()
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"build-{group.key}.log"
    out_dir = root / "bin" / group.key
    tmp = root / "bin" / f".{group.key}.tmp"
    env = go_env()
    with open(log_path, "w") as log:
        src = prepare_wrapper(go, group, env, log)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        cmd = [go, "build", "-trimpath", "-ldflags", " ".join(["-s", "-w"] + group.ldflags), "-o", str(tmp) + "/"]
        cmd += list(group.binaries.values())
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        started = time.monotonic()
        run = subprocess.run(cmd, cwd=str(src), env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
        log.write(f"\nexit {run.returncode} after {time.monotonic() - started:.0f}s\n")
    if run.returncode:
        shutil.rmtree(tmp, ignore_errors=True)
        raise LabError(f"building {group.key} failed (exit {run.returncode}); log: {log_path}")
    # go names a binary after the package path's last element, skipping a major-version
    # suffix (go.etcd.io/etcd/server/v3 -> server); rename to the names the lab uses
    for name, pkg in group.binaries.items():
        parts = pkg.rstrip("/").split("/")
        built = tmp / (parts[-2] if re.fullmatch(r"v\d+", parts[-1]) else parts[-1])
        if built.name != name:
            built.rename(tmp / name)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return out_dir


def ensure_binaries(names=None, progress=None):
    """Return {binary name: path}; build whatever is neither given nor cached."""
    wanted = set(names) if names else {b for g in groups() if g.in_lab for b in g.binaries}
    found = {}
    for d in _external_dirs():
        for name in wanted - set(found):
            p = d / name
            if p.is_file() and os.access(p, os.X_OK):
                found[name] = p
    root = config.cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    missing = [g for g in groups() if any(b in wanted and b not in found for b in g.binaries)]
    if not missing:
        return found
    with open(root / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time, across processes
        go = None
        for group in missing:
            out_dir = root / "bin" / group.key
            if not all((out_dir / b).is_file() for b in group.binaries):
                go = go or check_go()
                if progress:
                    progress(f"building {group.key} from Go modules (cold builds take minutes; log: "
                             f"{root / 'logs' / ('build-' + group.key + '.log')})")
                build_group(go, group)
            for b in group.binaries:
                if b in wanted and b not in found:
                    found[b] = out_dir / b
    return found


KWOK_STAGES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)


def kwok_stages():
    """kwok's own 'fast' node and pod stages, read from its module source and cached.

    kwok refuses to start without stages; these are the ones kwokctl uses by default,
    so fake nodes turn Ready and Pods bound to them become Running at once.
    """
    group = next(g for g in groups() if g.name == "kwok")
    path = config.cache_dir() / "bin" / group.key / "stages.yaml"
    if path.is_file():
        return path
    src = Path(module_download(check_go(), group.module, group.version)["Dir"]) / "kustomize" / "stage"
    docs = [(src / rel).read_text().strip() for rel in KWOK_STAGES]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n" + "\n---\n".join(docs) + "\n")
    return path
