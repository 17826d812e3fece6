"""Benchmark: capstan.fleet.fleet vs ansible-core's yaml inventory plugin on the same fleet.

    .venv/bin/python bench/inventory_bench.py [--sizes 500,5000] [--runs 3] [--workdir DIR]

For each size, bench/fleet_gen.py writes a synthetic fleet (at 300 sites in 3 environments)
and the equivalent static inventory (the same hosts, groups and fully merged variables).
Then `ansible-inventory --list` runs on each, alternating, --runs times; the table gives
the median wall time and peak RSS of each and the ratio plugin/static (goal: <= 1.0).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

MEASURE = r"""
import resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE).returncode
wall = time.perf_counter() - t
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)
"""


def measure(source):
    """Wall seconds and peak RSS (MiB) of one `ansible-inventory --list`, in a fresh process."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    cmd = [sys.executable, "-c", MEASURE, str(BIN / "ansible-inventory"), "-i", str(source), "--list"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout.split()
    wall, rss_kib, rc = float(out[0]), int(out[1]), int(out[2])
    if rc:
        raise SystemExit("ansible-inventory -i %s failed (%d)" % (source, rc))
    return wall, rss_kib / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="500,5000")
    p.add_argument("--sites", type=int, default=300)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--workdir")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="capstan-bench-"))
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
