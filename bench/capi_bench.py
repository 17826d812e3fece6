"""Benchmark: capstan.fleet.capi_provider vs `clusterctl init`, each on an identical fresh lab.

    .venv/bin/python bench/capi_bench.py [--runs 3] [--workdir DIR]

Each run starts a fresh lab (etcd, kube-apiserver, controllers, kwok), installs cert-manager
(not timed), and then installs the four providers of the lab's release lab-r2 (Cluster API
core, kubeadm bootstrap, kubeadm control plane v1.13.2 and OpenStack v0.14.4) from
../shared/testdata/capi-providers, waiting until their Deployments are Available:

- capstan: `ansible-playbook` of one play with the role capstan.fleet.capi_providers;
  then the same play again on the installed cluster (the no-op rerun); then, for scale, the
  floor of any Ansible run: one play with one kube_object_info task;
- clusterctl: `clusterctl init --wait-providers` (v1.13.2, built from Go modules), its
  providers read from the same local files through a clusterctl configuration file.

Runs alternate between the two. The table gives medians, peak RSS of the largest process,
and the ratios capstan/clusterctl (goal <= 1.0) and rerun/first install (goal <= 0.25).
"""
import json
import statistics
from pathlib import Path

import yaml

import _common as common
from capstan_lab import build

REPO_DIR = common.TESTDATA / "capi-providers"
RELEASE = yaml.safe_load((common.REPO / "fleets" / "lab" / "releases" / "lab-r2.yml").read_text())
LABELS = {"core": "cluster-api", "bootstrap": "bootstrap-kubeadm", "control-plane": "control-plane-kubeadm",
          "infrastructure": "infrastructure-openstack"}
KINDS = {"core": "CoreProvider", "bootstrap": "BootstrapProvider", "control-plane": "ControlPlaneProvider",
         "infrastructure": "InfrastructureProvider"}
FLAGS = {"core": "--core", "bootstrap": "--bootstrap", "control-plane": "--control-plane",
         "infrastructure": "--infrastructure"}


def prepare(lab, work):
    """cert-manager, installed the same way before either side runs."""
    book = common.write_play(work / "cert-manager.yml", [{"capstan.fleet.manifest": {
        "src": [str(common.TESTDATA / "cert-manager" / RELEASE["cert_manager"]["version"] / "cert-manager.yaml")],
        "wait": True}}], lab.kubeconfig)
    cmd, env = common.playbook_cmd(book)
    common.measure(cmd, env, "cert-manager install")


def capstan(lab, work):
    book = common.write_play(work / "providers.yml", [{"ansible.builtin.include_role": {
        "name": "capstan.fleet.capi_providers"}, "vars": {
        "capi_providers_list": RELEASE["providers"], "capi_providers_repository": str(REPO_DIR),
        "capi_providers_kubeconfig": lab.kubeconfig}}], lab.kubeconfig)
    cmd, env = common.playbook_cmd(book)
    first = common.measure(cmd, env, "capstan install")
    rerun = common.measure(cmd, env, "capstan rerun")
    return first, rerun, common.floor(lab.kubeconfig, work)


def clusterctl(lab, work, binary):
    cfg = work / "clusterctl.yaml"
    cfg.write_text(yaml.safe_dump({"providers": [
        {"name": p["name"], "type": KINDS[p["type"]],
         "url": "file://%s" % next((REPO_DIR / LABELS[p["type"]] / p["version"]).glob("*-components.yaml"))}
        for p in RELEASE["providers"]]}))
    args = [binary, "init", "--kubeconfig", lab.kubeconfig, "--config", cfg, "--wait-providers"]
    for p in RELEASE["providers"]:
        args += [FLAGS[p["type"]], "%s:%s" % (p["name"], p["version"])]
    env = {"HOME": str(work), "CLUSTERCTL_DISABLE_VERSIONCHECK": "true"}
    return common.measure(args, env, "clusterctl init")


def main():
    args = common.parser(__doc__).parse_args()
    work = common.workdir(args)
    binary = build.ensure_binaries(["clusterctl"])["clusterctl"]
    runs = {"capstan": [], "rerun": [], "clusterctl": [], "floor": []}
    for i in range(args.runs):
        for side in ("capstan", "clusterctl") if i % 2 == 0 else ("clusterctl", "capstan"):
            d = work / ("%s-%d" % (side, i))
            d.mkdir(parents=True, exist_ok=True)
            with common.FreshLab(work) as lab:
                prepare(lab, d)
                if side == "capstan":
                    first, rerun, fl = capstan(lab, d)
                    runs["capstan"].append(first)
                    runs["rerun"].append(rerun)
                    runs["floor"].append(fl)
                else:
                    runs["clusterctl"].append(clusterctl(lab, d, binary))
            mine = [side] + (["rerun", "floor"] if side == "capstan" else [])
            print("run %d %s: %s" % (i, side, "; ".join(
                "%s %.2f s %.0f MiB" % (k, runs[k][-1][0], runs[k][-1][1]) for k in mine)), flush=True)
    row = {"runs": args.runs, "providers": ["%s/%s %s" % (p["type"], p["name"], p["version"]) for p in RELEASE["providers"]]}
    for k, v in runs.items():
        row[k + "_s"] = statistics.median(x[0] for x in v)
        row[k + "_mib"] = statistics.median(x[1] for x in v)
    row["ratio_vs_clusterctl"] = row["capstan_s"] / row["clusterctl_s"]
    row["ratio_rerun_vs_first"] = row["rerun_s"] / row["capstan_s"]
    row["ratio_floor_vs_first"] = row["floor_s"] / row["capstan_s"]
    print("capstan %.2f s %.0f MiB | clusterctl init %.2f s %.0f MiB | ratio %.2f | rerun %.2f s, %.2f of the first "
          "install | one-task floor %.2f s, %.2f of it"
          % (row["capstan_s"], row["capstan_mib"], row["clusterctl_s"], row["clusterctl_mib"],
             row["ratio_vs_clusterctl"], row["rerun_s"], row["ratio_rerun_vs_first"], row["floor_s"],
             row["ratio_floor_vs_first"]))
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
