"""Start, health-check and stop the lab's processes by PID."""
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from capstan_lab.errors import LabError


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_taken(port):
    """True when a listener holds the port (TIME_WAIT leftovers do not count: Go servers
    bind with SO_REUSEADDR, and so does this probe)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def alive(pid, exe=None):
    """True while ``pid`` runs and, if given, still runs ``exe`` (PIDs get reused)."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False
        if exe:
            name = os.path.basename(str(exe))
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0", 1)[0].decode(errors="replace")
            if not argv0:  # just exec'd: cmdline is not there yet, the kernel's comm is
                return stat.split("(", 1)[1].rsplit(")", 1)[0] == name[:15]
            return os.path.basename(argv0) == name
        return True
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def log_tail(path, lines=15):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def start(name, argv, log_path, cwd, env=None):
    """Start ``argv`` detached in its own session; return the PID."""
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(cwd),
            env=env,
            start_new_session=True,
        )
    except OSError as e:
        raise LabError(f"{name}: cannot start {argv[0]}: {e}")
    finally:
        log.close()
    Path(cwd, f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def stop(pid, exe=None, timeout=15):
    """SIGTERM the process group, then SIGKILL; True if something was stopped."""
    if not alive(pid, exe):
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        for target in (lambda: os.killpg(pid, sig), lambda: os.kill(pid, sig)):
            try:
                target()
                break
            except (ProcessLookupError, PermissionError):
                continue
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:  # reap it if it is our own child
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not alive(pid):
                return True
            time.sleep(0.1)
    return not alive(pid)


def http_get(url, ctx=None, timeout=2.0, headers=None):
    """Return (status, body) or (None, error text)."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError, ssl.SSLError) as e:
        return None, str(e)


def wait_healthy(name, pid, exe, check, log_path, timeout):
    """Poll ``check()`` until it returns True; fail with the log tail otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        # no exe check here: right after fork, /proc still shows the parent's command
        if not alive(pid):
            raise LabError(f"{name} exited during start-up; log {log_path}:\n{log_tail(log_path)}")
        ok, last = check()
        if ok:
            return
        time.sleep(0.2)
    raise LabError(
        f"{name} did not become healthy within {timeout:.0f}s (last check: {last}); log {log_path}:\n{log_tail(log_path)}"
    )


def client_ctx(ca=None, cert=None, key=None, verify=True):
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    # A tenant's CA may be an intermediate (issued by Vault): trust it as an anchor, as Go's
    # TLS stack (kube-apiserver, kubectl) does with any certificate in its root pool.
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx
