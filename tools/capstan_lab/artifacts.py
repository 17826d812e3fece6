"""The lab's site mirror: what an air-gapped site keeps for the collection to read.

``<state>/artifacts`` holds the upstream files of ../shared/testdata (linked, not copied)
and one provider repository the testdata cannot have: Cluster API Provider vSphere. No
unmodified release ``infrastructure-components.yaml`` of CAPV could be collected (see
SOURCES.md there), so the lab assembles one from the CAPV Go module of the pinned version,
fetched through the Go module proxy: the provider's ``metadata.yaml`` as released, and as
components its namespace and the CRDs of ``config/default/crd/bases`` unchanged. There is
no controller Deployment in it (the lab provisioner plays the provider's part), so this
repository serves the lab only; a real site mirrors CAPV's release files.
"""
import os
from pathlib import Path

import yaml

from capstan_lab import build, config


def testdata_dir() -> Path:
    env = os.environ.get("CAPSTAN_TESTDATA")
    return Path(env) if env else config.REPO_ROOT.parent / "shared" / "testdata"


def _link(src: Path, dst: Path):
    if dst.is_symlink() or dst.exists():
        if dst.is_symlink() and os.readlink(dst) == str(src):
            return
        dst.unlink()
    dst.symlink_to(src)


def capv_components(module_dir: Path) -> str:
    crds = sorted((module_dir / "config" / "default" / "crd" / "bases").glob("*.yaml"))
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "capv-system"}}
    docs = [yaml.safe_dump(ns, sort_keys=False)] + [p.read_text() for p in crds]
    return "---\n".join(d if d.endswith("\n") else d + "\n" for d in docs)


def ensure(state_dir: Path, progress=print) -> Path:
    """Lay out ``<state_dir>/artifacts``; returns its path."""
    src = testdata_dir()
    out = state_dir / "artifacts"
    repo = out / "capi-providers"
    repo.mkdir(parents=True, exist_ok=True)
    for entry in sorted(src.iterdir()):
        if entry.is_dir() and entry.name != "capi-providers":
            _link(entry, out / entry.name)
    for entry in sorted((src / "capi-providers").iterdir()):
        _link(entry, repo / entry.name)
    version = config.CAPV_VERSION
    target = repo / "infrastructure-vsphere" / version
    if not (target / "infrastructure-components.yaml").exists():
        progress(f"lab: assembling infrastructure-vsphere {version} from the Go module proxy")
        info = build.module_download(build.check_go(), config.CAPV_MODULE, version)
        module_dir = Path(info["Dir"])
        target.mkdir(parents=True, exist_ok=True)
        (target / "metadata.yaml").write_text((module_dir / "metadata.yaml").read_text())
        tmp = target / "infrastructure-components.yaml.tmp"
        tmp.write_text(capv_components(module_dir))
        tmp.rename(target / "infrastructure-components.yaml")
    return out
