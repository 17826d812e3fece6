"""Benchmark: capstan.fleet.fleet vs ansible-core's yaml inventory plugin on the same fleet.

    .venv/bin/python bench/inventory_bench.py [--sizes 500,5000] [--runs 3] [--workdir DIR]

For each size, bench/fleet_gen.py writes a synthetic fleet (at 300 sites in 3 environments)
and the equivalent static inventory (the same hosts, groups and fully merged variables).
Then `ansible-inventory --list` runs on each, alternating, --runs times; the table gives
the median wall time and peak RSS of each and the ratio plugin/static (goal: <= 1.0).
"""
import json
import statistics
import subprocess
import sys
from pathlib import Path

import _common as common

REPO = common.REPO
BIN = common.BIN


def measure(source):
    """Wall seconds and peak RSS (MiB) of one `ansible-inventory --list`, in a fresh process."""
    return common.measure([BIN / "ansible-inventory", "-i", source, "--list"],
                          env={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}, what="ansible-inventory -i %s" % source)


def main():
    p = common.parser(__doc__)
    p.add_argument("--sizes", default="500,5000")
    p.add_argument("--sites", type=int, default=300)
    args = p.parse_args()
    work = common.workdir(args)
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        out = work / ("fleet-%d" % size)
        if not out.exists():
            subprocess.run([sys.executable, str(REPO / "bench" / "fleet_gen.py"), "--clusters", str(size),
                            "--sites", str(args.sites), str(out)], check=True, stdout=subprocess.DEVNULL)
        runs = {"plugin": [], "static": []}
        for _run in range(args.runs):
            for kind, source in (("plugin", out / "plugin"), ("static", out / "static" / "hosts.yml")):
                runs[kind].append(measure(source))
        row = {"clusters": size, "sites": args.sites, "runs": args.runs}
        for kind, values in runs.items():
            row[kind + "_s"] = statistics.median(v[0] for v in values)
            row[kind + "_mib"] = statistics.median(v[1] for v in values)
        row["ratio"] = row["plugin_s"] / row["static_s"]
        rows.append(row)
        print("%6d clusters: plugin %.2f s %.0f MiB | static %.2f s %.0f MiB | ratio %.2f" % (
            size, row["plugin_s"], row["plugin_mib"], row["static_s"], row["static_mib"], row["ratio"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
