"""Shared helpers of the benchmarks: timed child processes with peak memory, fresh labs,
ansible-playbook runs, and kubernetes.core (the baseline of the manifest benchmark)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TOOLS = REPO / "tools"
TESTDATA = REPO.parent / "shared" / "testdata"
sys.path.insert(0, str(TOOLS))

# ansible 12.x is the community package of ansible-core 2.19; only kubernetes.core is taken from it
ANSIBLE_PACKAGE = "ansible==12.3.0"

MEASURE = r"""
import resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
wall = time.perf_counter() - t
sys.stderr.buffer.write(p.stdout)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(wall, ru.ru_maxrss, p.returncode, ru.ru_utime + ru.ru_stime)
"""


def measure(cmd, env=None, what=None, cpu=False):
    """(wall seconds, peak RSS MiB of the largest process in the tree) of ``cmd`` run fresh; with
    ``cpu``, also the CPU seconds (user + system) of the whole tree (every process it waited for)."""
    proc = subprocess.run([sys.executable, "-c", MEASURE, *map(str, cmd)], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), check=False)
    wall, rss_kib, rc, cpu_s = proc.stdout.split()
    if int(rc):
        raise SystemExit("%s failed (%s):\n%s" % (what or " ".join(map(str, cmd)), rc, proc.stderr[-4000:]))
    if cpu:
        return float(wall), int(rss_kib) / 1024, float(cpu_s)
    return float(wall), int(rss_kib) / 1024


def process_cpu():
    """{pid: (name, CPU seconds so far)} of every process of the machine (from /proc)."""
    tick = float(os.sysconf("SC_CLK_TCK"))
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as fh:
                raw = fh.read()
        except OSError:
            continue  # gone meanwhile
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        out[int(entry)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


def cpu_between(before, after):
    """{process name: [CPU seconds of each process]} spent between two process_cpu() snapshots,
    largest first, by the processes alive at both (the lab's servers; short-lived ones are not in it)."""
    out = {}
    for pid, (name, t) in after.items():
        if pid in before and before[pid][0] == name:
            out.setdefault(name, []).append(round(t - before[pid][1], 2))
    return {name: sorted(v, reverse=True) for name, v in out.items()}


def lab_cli(*args):
    env = dict(os.environ, PYTHONPATH=str(TOOLS))
    proc = subprocess.run([sys.executable, "-m", "capstan_lab", *args], capture_output=True, text=True, env=env,
                          check=False)
    if proc.returncode:
        raise SystemExit("capstan_lab %s failed:\n%s" % (" ".join(args), proc.stderr))
    return proc.stdout


class FreshLab(object):
    """A lab of its own (etcd, kube-apiserver, controllers, kwok) in a temporary state dir."""

    def __init__(self, root):
        self.state = Path(tempfile.mkdtemp(prefix="lab-", dir=root))

    def __enter__(self):
        lab_cli("--state-dir", str(self.state), "up")
        self.info = json.loads((self.state / "lab.json").read_text())
        self.kubeconfig = self.info["kubeconfig"]
        return self

    def __exit__(self, *exc):
        lab_cli("--state-dir", str(self.state), "down")
        shutil.rmtree(self.state, ignore_errors=True)


def playbook_cmd(path, extra_collections=()):
    """The ansible-playbook command and environment for a play on localhost (no fleet inventory)."""
    env = {
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": os.pathsep.join([str(REPO / ".build" / "collections"), *map(str, extra_collections)]),
        "ANSIBLE_STDOUT_CALLBACK": "default",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_INVENTORY_ENABLED": "host_list",
        "PYTHONPATH": str(TOOLS),
    }
    cmd = [BIN / "ansible-playbook", "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % sys.executable, path]
    return cmd, env


def write_play(path, tasks, kubeconfig):
    import yaml

    path.write_text(yaml.safe_dump([{
        "name": "bench", "hosts": "localhost", "gather_facts": False,
        "module_defaults": {"group/capstan.fleet.kube": {"kubeconfig": kubeconfig}}, "tasks": tasks,
    }], sort_keys=False))
    return path


def kubernetes_core(cache=None):
    """A collections path holding kubernetes.core, taken from the community `ansible` wheel on PyPI."""
    cache = Path(cache or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "capstan-fleet" / "bench")
    target = cache / ANSIBLE_PACKAGE.replace("==", "-") / "collections"
    if (target / "ansible_collections" / "kubernetes" / "core" / "MANIFEST.json").exists():
        return target
    dl = cache / "download"
    dl.mkdir(parents=True, exist_ok=True)
    subprocess.run([BIN / "pip", "download", "--no-deps", "-q", "-d", dl, ANSIBLE_PACKAGE], check=True)
    wheel = next(dl.glob("ansible-%s-*.whl" % ANSIBLE_PACKAGE.split("==")[1]))
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith("ansible_collections/kubernetes/core/"):
                z.extract(name, target)
    return target


def floor(kubeconfig, work):
    """The cost of any one-task Ansible run against the cluster: ansible-playbook starting, one
    module (kube_object_info reading a Namespace) shipped and run. No Ansible task beats it."""
    book = write_play(Path(work) / "floor.yml", [{"capstan.fleet.kube_object_info": {
        "kind": "Namespace", "name": "default"}}], kubeconfig)
    cmd, env = playbook_cmd(book)
    return measure(cmd, env, "floor")


def parser(doc):
    """The options every benchmark takes: --runs, --workdir, --json."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--workdir", help="keep the generated files here (a new temporary directory by default)")
    p.add_argument("--json", help="also write the results here")
    return p


def workdir(args):
    return Path(args.workdir or tempfile.mkdtemp(prefix="capstan-bench-"))
