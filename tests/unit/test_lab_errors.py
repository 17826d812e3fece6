"""The lab's failure modes: one clear line each (real processes, no mocks of the servers)."""
import os
import socket
import stat
import subprocess
import sys

import pytest

from capstan_lab import build, config, procs
from capstan_lab.errors import LabError
from capstan_lab.lab import Lab


def test_go_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabError, match=r"Go is not installed or not on PATH.*Go >= 1\.26"):
        build.check_go()


def test_go_too_old(monkeypatch, tmp_path):
    fake = tmp_path / "go"
    fake.write_text("#!/bin/sh\necho go1.21.13\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LabError, match=r"Go go1\.21\.13 at .* is too old"):
        build.check_go()


def test_a_failed_build_names_its_log(monkeypatch, tmp_path):
    monkeypatch.setenv("CAPSTAN_LAB_CACHE", str(tmp_path))
    go = build.check_go()
    group = build.Group("kwok", "sigs.k8s.io/kwok", config.KWOK_VERSION, {"nope": "sigs.k8s.io/kwok/cmd/nope"})
    with pytest.raises(LabError) as err:
        build.build_group(go, group)
    msg = str(err.value)
    assert "failed" in msg and "log:" in msg
    log = msg.rsplit("log: ", 1)[1].strip()
    assert os.path.isfile(log) and "nope" in open(log).read()


def test_external_binaries_are_used_as_they_are(monkeypatch, tmp_path):
    for name in ("kube-apiserver", "etcd"):
        p = tmp_path / name
        p.write_text("#!/bin/sh\n")
        p.chmod(0o755)
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    found = build.ensure_binaries(["kube-apiserver", "etcd"])
    assert found == {"kube-apiserver": tmp_path / "kube-apiserver", "etcd": tmp_path / "etcd"}


def test_port_taken(tmp_path):
    lab = Lab(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(LabError, match=rf"etcd: port 127\.0\.0\.1:{port} is taken"):
            lab.start_component({"components": {}, "binaries": {"etcd": "/bin/true"}}, "etcd", port=port)


def test_component_that_never_gets_healthy_shows_its_log(tmp_path):
    log = tmp_path / "slow.log"
    log.write_text("starting\nstill waiting for storage\n")
    pid = procs.start("slow", ["sleep", "30"], log, tmp_path)
    try:
        with pytest.raises(LabError) as err:
            procs.wait_healthy("slow", pid, "sleep", lambda: (False, "503"), log, timeout=1)
        assert "did not become healthy within 1s (last check: 503)" in str(err.value)
        assert "still waiting for storage" in str(err.value)
    finally:
        assert procs.stop(pid, "sleep")
    assert not procs.alive(pid)


def test_component_that_exits_at_once(tmp_path):
    log = tmp_path / "bad.log"
    pid = procs.start("bad", [sys.executable, "-c", "import sys; print('bad flag --x'); sys.exit(2)"], log, tmp_path)
    with pytest.raises(LabError, match=r"bad exited during start-up(.|\n)*bad flag --x"):
        procs.wait_healthy("bad", pid, sys.executable, lambda: (False, "down"), log, timeout=10)


def test_alive_checks_the_command_against_pid_reuse():
    p = subprocess.Popen(["sleep", "30"])
    try:
        assert procs.alive(p.pid, "/usr/bin/sleep")
        assert not procs.alive(p.pid, "kube-apiserver")
    finally:
        p.kill()
        p.wait()
    assert not procs.alive(p.pid)
