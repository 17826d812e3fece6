"""Pinned versions and the places the lab keeps its binaries and state."""
import os
from pathlib import Path

# One recent Kubernetes minor and the etcd release it is tested with upstream.
KUBERNETES_VERSION = "v1.34.12"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
# vcsim moved into a module of its own in govmomi v0.47, which the module proxy does not
# serve; v0.46.3 is the newest release whose main module still holds the vcsim command.
GOVMOMI_VERSION = "v0.46.3"
# clusterctl, built only for the tests that compare the collection with it
CLUSTERCTL_VERSION = "v1.13.2"
# drone/envsubst, the variable dialect of that clusterctl (its go.mod pins this version)
ENVSUBST_VERSION = "v2.0.0-20210730161058-179042472c46"
# Cluster API Provider vSphere: its CRDs and metadata.yaml, read from the Go module, make the
# lab's infrastructure-vsphere repository (artifacts.py); v1.14 is the CAPV of Cluster API 1.11+
CAPV_MODULE = "sigs.k8s.io/cluster-api-provider-vsphere"
CAPV_VERSION = "v1.14.0"
# etcd v3.6.16 and kwok v0.8.0 declare `go 1.26.0` in their go.mod files.
MIN_GO = (1, 26)

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent


def cache_dir() -> Path:
    """Binaries are cached by version here, outside the work tree."""
    env = os.environ.get("CAPSTAN_LAB_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "capstan-fleet"


def state_dir() -> Path:
    env = os.environ.get("CAPSTAN_LAB_STATE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "capstan-fleet" / "lab"
