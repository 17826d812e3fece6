"""The whole playbooks/site.yml on a fresh lab for N tenant clusters: first run and no-op rerun.

    .venv/bin/python bench/site_bench.py --tenants 1,5,20 --runs 3 --forks 5

For each N, a copy of the lab fleet with N tenant clusters spread over its vSphere and OpenStack
sites (bootstrap modes in turn push, remote, clusterresourceset; pod CIDRs 10.<100+i>.0.0/16)
runs through the whole site.yml (management cluster, PKI, definitions, wait, bootstrap, smoke)
on a lab of its own, then - once the lab has settled (see settle()) - again with nothing to
change. Reported: median wall time and peak RSS, time per tenant, the marginal time per added tenant between the sizes, and where the rerun's time
goes - per role, the wall time and the module executions per tenant (a callback records every
task's hosts and wall time) -, the rerun's CPU seconds (ansible-playbook with its workers and
modules, and each lab server), and how busy the machine is with the lab alone after the rerun
(5 s of /proc/stat, nothing of ours running).
"""
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import yaml

import _common as common

REPO = common.REPO
MODES = ("push", "remote", "clusterresourceset")


def fleet_copy(work, n):
    fdir = work / ("fleet-%d" % n)
    if fdir.exists():
        shutil.rmtree(fdir)
    shutil.copytree(REPO / "fleets" / "lab", fdir)
    shutil.rmtree(fdir / "clusters")
    for i in range(n):
        site = "lab-vsphere" if i % 2 == 0 else "lab-openstack"
        path = fdir / "clusters" / site / "demo" / ("t%03d.yml" % i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"bootstrap": {"mode": MODES[i % 3]}, "networking": {
            "pod_cidrs": ["10.%d.0.0/16" % (100 + i)], "service_cidrs": ["10.%d.0.0/16" % (200 + i)]}}))
    inv = work / ("inventory-%d" % n)
    if inv.exists():
        shutil.rmtree(inv)
    (inv / "group_vars").mkdir(parents=True)
    shutil.copy(REPO / "inventories" / "lab" / "group_vars" / "all.yml", inv / "group_vars" / "all.yml")
    (inv / "fleet.yml").write_text("plugin: capstan.fleet.fleet\nfleet_dir: %s\n" % fdir)
    return inv


def run(inv, lab, forks, timing):
    cmd = [common.BIN / "ansible-playbook", "-i", str(inv), str(REPO / "playbooks" / "site.yml"), "--forks", str(forks)]
    env = {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_COLLECTIONS_PATH": str(REPO / ".build" / "collections"),
           "ANSIBLE_NOCOLOR": "1", "CAPSTAN_LAB_STATE": str(lab.state), "PYTHONPATH": str(common.TOOLS),
           "ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).parent / "plugins" / "callback"),
           "ANSIBLE_CALLBACKS_ENABLED": "capstan_timing", "CAPSTAN_TIMING": str(timing)}
    before = common.process_cpu()
    wall, rss, cpu = common.measure(cmd, env, "site.yml", cpu=True)
    servers = common.cpu_between(before, common.process_cpu())
    return wall, rss, {"ansible": cpu, "servers": {k: v for k, v in servers.items() if sum(v) >= 0.05}}


def busy_share(seconds=5.0):
    """The machine's busy share of all its cores over ``seconds`` (from /proc/stat) - taken with
    the lab up and nothing of ours running, it is what the lab itself (one kube-apiserver per
    tenant, etcd, OpenBao, the provisioner) takes from a run."""
    def sample():
        with open("/proc/stat") as fh:
            vals = [int(x) for x in fh.readline().split()[1:]]
        return sum(vals), vals[3] + vals[4]  # total, idle + iowait

    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return 1.0 - (i1 - i0) / float(max(1, t1 - t0))


def settle(limit=120.0, window=5.0, quiet=0.25):
    """Wait until the lab has settled after a first run, and return how long that took.

    An API server that has just been given Calico's and Flux's CRDs is busy with them for a while
    (measured: 20 % of a core for each tenant the lab's ClusterResourceSet controller filled at
    the end of the first run, for tens of seconds; most likely their OpenAPI models); a rerun
    started at once paid for that. Settled: a window in which the machine is under 25 %
    busy (the idle lab with 20 tenants: 10 to 14 %)."""
    start = time.monotonic()
    while time.monotonic() - start < limit and busy_share(window) >= quiet:
        pass
    return time.monotonic() - start


def breakdown(timing, n):
    """Wall time and module executions per role (from the task names' role prefix)."""
    out = {}
    for line in timing.read_text().splitlines():
        row = json.loads(line)
        role = row["task"].split(" : ")[0] if " : " in row["task"] else "playbook"
        b = out.setdefault(role, {"wall_s": 0.0, "module_runs": 0})
        b["wall_s"] += row["wall_s"]
        if row["action"] not in ("ansible.builtin.set_fact", "set_fact", "ansible.builtin.assert", "assert",
                                 "ansible.builtin.debug", "debug", "ansible.builtin.fail", "fail",
                                 "ansible.builtin.import_tasks", "ansible.builtin.include_tasks", "ansible.builtin.include_role",
                                 "ansible.builtin.validate_argument_spec", "validate_argument_spec"):
            # a loop runs the module once per item (its host result comes on top)
            b["module_runs"] += row["items"] or row["ran"]
    for b in out.values():
        b["module_runs_per_tenant"] = b["module_runs"] / n
    return out


def main():
    p = common.parser(__doc__)
    p.add_argument("--tenants", default="1,5,20")
    p.add_argument("--forks", type=int, default=5)
    args = p.parse_args()
    work = common.workdir(args)
    rows = []
    for n in [int(x) for x in args.tenants.split(",")]:
        inv = fleet_copy(work, n)
        first, rerun, idle, settled, where = [], [], [], [], None
        for i in range(args.runs):
            with common.FreshLab(work) as lab:
                first.append(run(inv, lab, args.forks, work / "t-first.jsonl"))
                settled.append(settle())
                rerun.append(run(inv, lab, args.forks, work / "t-rerun.jsonl"))
                idle.append(busy_share())
                where = {"first": breakdown(work / "t-first.jsonl", n), "rerun": breakdown(work / "t-rerun.jsonl", n)}
                cpu = rerun[-1][2]
            print("%d tenants run %d: first %.1f s (%.0f MiB), rerun %.1f s" % (n, i, first[-1][0], first[-1][1], rerun[-1][0]),
                  flush=True)
        rows.append({"tenants": n, "runs": args.runs, "forks": args.forks,
                     "first_s": statistics.median(x[0] for x in first), "rerun_s": statistics.median(x[0] for x in rerun),
                     "peak_mib": max(x[1] for x in first + rerun), "lab_busy": statistics.median(idle),
                     "settle_s": statistics.median(settled),
                     "rerun_cpu_s": {"ansible": statistics.median(x[2]["ansible"] for x in rerun),
                                     "servers": cpu["servers"]},
                     "where": where})
    for a, b in zip(rows, rows[1:]):
        b["marginal_first_s"] = (b["first_s"] - a["first_s"]) / (b["tenants"] - a["tenants"])
        b["marginal_rerun_s"] = (b["rerun_s"] - a["rerun_s"]) / (b["tenants"] - a["tenants"])
    for r in rows:
        marginal = "; marginal %.2f s first / %.2f s rerun per added tenant" % (
            r["marginal_first_s"], r["marginal_rerun_s"]) if "marginal_first_s" in r else ""
        print("%3d tenants (%d runs, forks %d): first %.1f s, rerun %.1f s (after %.0f s settling), peak %.0f MiB, "
              "lab idle %.0f%% busy%s" % (r["tenants"], r["runs"], r["forks"], r["first_s"], r["rerun_s"], r["settle_s"],
                                          r["peak_mib"], 100 * r["lab_busy"], marginal))
        c = r["rerun_cpu_s"]
        print("      rerun CPU: ansible-playbook and its modules %.1f s; servers (last run) %s" % (
            c["ansible"], ", ".join("%s %.1f s (%d, largest %.1f s)" % (k, sum(v), len(v), v[0])
                                    for k, v in sorted(c["servers"].items(), key=lambda kv: -sum(kv[1])))))
        for role, b in sorted(r["where"]["rerun"].items(), key=lambda kv: -kv[1]["wall_s"]):
            print("      rerun %-34s %6.1f s  %4d module runs (%.1f per tenant)" % (
                role, b["wall_s"], b["module_runs"], b["module_runs_per_tenant"]))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    sys.exit(main())
