"""Command line of the lab: ``python -m capstan_lab up|down|status|restart|build|env|pin``."""
import argparse
import json
import os
import shlex
import sys

from capstan_lab import build, config
from capstan_lab.errors import LabError
from capstan_lab.lab import ORDER, Lab


def _env_lines(st):
    if st.get("state") != "up":
        raise LabError(f"the lab in {st['state_dir']} is {st['state']}: run `python -m capstan_lab up` first")
    v, vs = st["vault"], st["vsphere"]
    env = {
        "CAPSTAN_LAB_STATE": st["state_dir"],
        "KUBECONFIG": st["kubeconfig"],
        "VAULT_ADDR": v["addr"],
        "VAULT_CACERT": v["ca_cert"],
        "VMWARE_HOST": f"{vs['host']}:{vs['port']}",
        "VMWARE_USER": vs["username"],
    }
    return [f"export {k}={shlex.quote(str(val))}" for k, val in env.items()]


def pin(args):
    """Regenerate the committed wrapper modules for the pinned versions (maintainers)."""
    go = build.check_go()
    env = build.go_env()
    for group in build.groups():
        dest = config.HERE / "gomod" / group.key
        if (dest.exists() and not args.force) or (dest / "main.go").exists():
            continue  # a wrapper with its own main package is written by hand
        dest.mkdir(parents=True, exist_ok=True)
        tmp = config.cache_dir() / "src" / (group.key + ".pin")
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "go.sum").unlink(missing_ok=True)
        (tmp / "go.mod").write_text(build.wrapper_gomod(group, build._read_mod(go, group, env)))
        import subprocess

        run = subprocess.run([go, "mod", "tidy"], cwd=str(tmp), env=dict(env, GONOSUMDB=group.module), check=False)
        if run.returncode:
            raise LabError(f"go mod tidy for {group.key} failed")
        for name in ("go.mod", "go.sum"):
            (dest / name).write_bytes((tmp / name).read_bytes())
        print(f"pinned {group.key} in {dest}")
    return {"changed": True}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m capstan_lab", description=__doc__)
    p.add_argument("--state-dir", help="lab state directory (default: $CAPSTAN_LAB_STATE or "
                                       "~/.local/state/capstan-fleet/lab)")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="build or find the binaries and start the lab (no-op when up)")
    sub.add_parser("down", help="stop every lab process by PID and remove the state directory")
    sub.add_parser("status", help="print the lab's state as JSON (exit 3 unless up)")
    r = sub.add_parser("restart", help="restart one component (OpenBao is unsealed again)")
    r.add_argument("component", choices=ORDER)
    s = sub.add_parser("stop", help="stop one component (for outage tests)")
    s.add_argument("component", choices=ORDER)
    b = sub.add_parser("build", help="only find or build the binaries (the lab's, or those named)")
    b.add_argument("names", nargs="*", help="binaries to find or build, e.g. clusterctl")
    sub.add_parser("env", help="print shell exports for the running lab")
    pn = sub.add_parser("pin", help="regenerate gomod/ for the pinned versions")
    pn.add_argument("--force", action="store_true")
    args = p.parse_args(argv)
    lab = Lab(args.state_dir)
    try:
        if args.cmd == "up":
            out = lab.up()
        elif args.cmd == "down":
            out = lab.down()
        elif args.cmd == "status":
            out = lab.status()
            print(json.dumps(out, indent=2, sort_keys=True))
            return 0 if out["state"] == "up" else 3
        elif args.cmd == "restart":
            out = lab.restart(args.component)
        elif args.cmd == "stop":
            out = lab.stop_component(args.component)
        elif args.cmd == "build":
            found = build.ensure_binaries(args.names or None, progress=lab.progress)
            out = {k: str(v) for k, v in found.items()}
        elif args.cmd == "env":
            print("\n".join(_env_lines(lab.status())))
            return 0
        elif args.cmd == "pin":
            out = pin(args)
    except LabError as e:
        print(f"lab: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug of the lab: one line, the trace on request
        if os.environ.get("CAPSTAN_LAB_DEBUG"):
            raise
        print(f"lab: error: unexpected {type(e).__name__}: {e} (CAPSTAN_LAB_DEBUG=1 shows the trace)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0
