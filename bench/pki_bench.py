"""Vault PKI benchmarks on a fresh lab (real OpenBao and kube-apiserver on 127.0.0.1).

    python bench/pki_bench.py certs    --certs 1000 --runs 3
    python bench/pki_bench.py clusters --clusters 1,10,100 --runs 3 [--forks 5]

certs: 1,000 leaf certificates (RSA 2048, the same role, no_store) issued by
  - a plain hvac loop in one Python process, one request after the other (the baseline);
  - capstan.fleet.vault_pki_cert with `certificates` (one task, `workers` requests at a time);
  the ratio is the module's throughput over the loop's (goal >= 0.9). Runs alternate sides.

clusters: the vault_pki role for N tenant clusters (root, KV mount, three intermediates with
  exported keys, service-account key pair, five roles, policy, AppRole, four Cluster API secrets
  each) - the first run and the no-op rerun, wall time and per-cluster cost; runs with N above
  --max-repeat are made once (they take minutes each on two cores).
"""
import json
import statistics
import sys
import uuid
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402

LOOP = r"""
import json, sys, hvac
from pathlib import Path
lab = json.loads(Path(sys.argv[1]).read_text())
v = hvac.Client(url=lab["vault"]["addr"], verify=lab["vault"]["ca_cert"],
                token=Path(lab["vault"]["token_file"]).read_text().strip())
mount, role, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
for i in range(n):
    v.adapter.post("/v1/%s/issue/%s" % (mount, role), json={"common_name": "c%d.bench" % i, "ttl": "1h"})
"""


def vault_conn(lab):
    return {"url": lab.info["vault"]["addr"], "ca_cert": lab.info["vault"]["ca_cert"],
            "token": Path(lab.info["vault"]["token_file"]).read_text().strip()}


def play(path, tasks, module_defaults, hosts="localhost"):
    path.write_text(yaml.safe_dump([{"name": "bench", "hosts": hosts, "gather_facts": False,
                                     "module_defaults": module_defaults, "tasks": tasks}], sort_keys=False))
    return path


def prepare_mount(lab, work):
    import hvac

    conn = vault_conn(lab)
    v = hvac.Client(url=conn["url"], verify=conn["ca_cert"], token=conn["token"])
    mount = "pki/bench-%s" % uuid.uuid4().hex[:6]
    v.sys.enable_secrets_engine("pki", path=mount, config={"max_lease_ttl": "87600h"})
    v.adapter.post("/v1/%s/root/generate/internal" % mount, json={"common_name": "bench", "ttl": "8760h"})
    v.adapter.post("/v1/%s/roles/leaf" % mount, json={
        "allowed_domains": ["bench"], "allow_subdomains": True, "key_type": "rsa", "key_bits": 2048,
        "ttl": "1h", "no_store": True, "client_flag": True, "server_flag": False})
    return mount


def certs(args, work):
    runs = {"loop": [], "module": []}
    with common.FreshLab(work) as lab:
        mount = prepare_mount(lab, work)
        lab_json = Path(lab.state) / "lab.json"
        entries = [{"common_name": "c%d.bench" % i, "ttl": "1h"} for i in range(args.certs)]
        book = play(work / "certs.yml", [{"name": "issue", "capstan.fleet.vault_pki_cert": {
            "mount": mount, "role": "leaf", "certificates": entries, "workers": args.workers}}],
            {"group/capstan.fleet.vault": vault_conn(lab)})
        cmd, env = common.playbook_cmd(book)
        for i in range(args.runs):
            for side in ("loop", "module") if i % 2 == 0 else ("module", "loop"):
                if side == "loop":
                    r = common.measure([sys.executable, "-c", LOOP, lab_json, mount, "leaf", args.certs], what="hvac loop")
                else:
                    r = common.measure(cmd, env, "vault_pki_cert")
                runs[side].append(r)
                print("run %d %s: %.2f s %.0f MiB" % (i, side, r[0], r[1]), flush=True)
    row = {"certs": args.certs, "workers": args.workers, "runs": args.runs}
    for k, v in runs.items():
        row[k + "_s"] = statistics.median(x[0] for x in v)
        row[k + "_mib"] = statistics.median(x[1] for x in v)
    row["throughput_ratio"] = row["loop_s"] / row["module_s"]
    print("%d certificates: hvac loop %.2f s %.0f MiB | vault_pki_cert (workers %d) %.2f s %.0f MiB | "
          "throughput ratio %.2f" % (args.certs, row["loop_s"], row["loop_mib"], args.workers, row["module_s"],
                                     row["module_mib"], row["throughput_ratio"]))
    return row


def inventory(path, lab, n, tag):
    hosts = {"c%03d-%s" % (i, tag): {"fleet_name": "c%03d-%s" % (i, tag), "fleet_customer": "bench",
                                     "fleet_management_cluster": "mgmt"} for i in range(n)}
    path.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "capstan_lab": lab.info, "capstan_vault": vault_conn(lab),
                 "fleet_config": {"user_groups": ["platform-admins"], "certificates": {"ttl": "8h"}}},
        "children": {
            "management_clusters": {"hosts": {"mgmt": {"fleet_access": {"lab": True}}}},
            "tenant_clusters": {"hosts": hosts}}}}, sort_keys=False))
    return path


def clusters(args, work):
    rows = []
    for n in [int(x) for x in args.clusters.split(",")]:
        repeat = args.runs if n <= args.max_repeat else 1
        first, rerun = [], []
        for i in range(repeat):
            with common.FreshLab(work) as lab:
                inv = inventory(work / ("inv-%d-%d.yml" % (n, i)), lab, n, uuid.uuid4().hex[:4])
                book = work / "pki.yml"
                book.write_text(yaml.safe_dump([{
                    "name": "PKI", "hosts": "tenant_clusters", "gather_facts": False,
                    "module_defaults": {"group/capstan.fleet.vault": "{{ capstan_vault }}"},
                    "roles": [{"role": "capstan.fleet.vault_pki"}]}], sort_keys=False))
                cmd, env = common.playbook_cmd(book)
                cmd = [c for c in cmd if c not in ("localhost,", "-c", "local")]
                cmd[cmd.index("-i") + 1:cmd.index("-i") + 1] = [str(inv)]
                cmd += ["--forks", str(args.forks)]
                env["ANSIBLE_INVENTORY_ENABLED"] = "yaml"
                first.append(common.measure(cmd, env, "vault_pki for %d clusters" % n))
                rerun.append(common.measure(cmd, env, "vault_pki rerun for %d clusters" % n))
                print("clusters %d run %d: first %.2f s %.0f MiB, rerun %.2f s" % (
                    n, i, first[-1][0], first[-1][1], rerun[-1][0]), flush=True)
        row = {"clusters": n, "runs": repeat, "forks": args.forks,
               "first_s": statistics.median(x[0] for x in first), "rerun_s": statistics.median(x[0] for x in rerun),
               "first_mib": statistics.median(x[1] for x in first)}
        row["first_per_cluster_s"] = row["first_s"] / n
        row["rerun_per_cluster_s"] = row["rerun_s"] / n
        rows.append(row)
    for a, b in zip(rows, rows[1:]):
        b["marginal_first_s"] = (b["first_s"] - a["first_s"]) / (b["clusters"] - a["clusters"])
        b["marginal_rerun_s"] = (b["rerun_s"] - a["rerun_s"]) / (b["clusters"] - a["clusters"])
    for r in rows:
        print("%4d clusters (%d run(s), forks %d): first %.2f s (%.2f s per cluster), rerun %.2f s (%.2f s per "
              "cluster)%s" % (r["clusters"], r["runs"], r["forks"], r["first_s"], r["first_per_cluster_s"],
                              r["rerun_s"], r["rerun_per_cluster_s"],
                              "; marginal %.2f s / %.2f s per added cluster" % (r["marginal_first_s"], r["marginal_rerun_s"])
                              if "marginal_first_s" in r else ""))
    return rows


def main():
    p = common.parser(__doc__)
    p.add_argument("what", choices=["certs", "clusters"])
    p.add_argument("--certs", type=int, default=1000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--clusters", default="1,10,100")
    p.add_argument("--forks", type=int, default=5)
    p.add_argument("--max-repeat", type=int, default=10)
    args = p.parse_args()
    work = common.workdir(args)
    result = certs(args, work) if args.what == "certs" else clusters(args, work)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
