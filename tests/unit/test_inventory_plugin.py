"""capstan.fleet.fleet through ansible-inventory, as users run it."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def inventory(*args, env=None):
    run_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    run_env.update(env or {})
    return subprocess.run([str(BIN / "ansible-inventory"), *args], capture_output=True, text=True, env=run_env,
                          cwd=str(REPO), check=False, timeout=300)


def test_example_graph_has_the_expected_tree():
    proc = inventory("-i", "inventories/example", "--graph")
    assert proc.returncode == 0, proc.stderr
    graph = proc.stdout
    for needle in ("@management_clusters:", "@tenant_clusters:", "@env_prd:", "@mgmt_mgmt_prd:", "@site_fra1:",
                   "@location_fra:", "@infra_vsphere:", "@infra_openstack:", "@infra_metal3:", "@customer_acme:",
                   "@release_r2026_08:"):
        assert needle in graph, needle
    assert "WARNING" not in proc.stderr


def test_groups_and_hostvars_in_list():
    data = json.loads(inventory("-i", "inventories/example", "--list").stdout)
    assert sorted(data["mgmt_mgmt_prd"]["children"]) == ["site_ams2", "site_fra1"]
    assert sorted(data["site_fra1"]["hosts"]) == ["acme-prd-01", "acme-prd-02", "globex-prd-01", "initech-prd-01"]
    # keyed_groups from the inventory source: the held cluster is on the old release
    assert data["release_r2026_08"]["hosts"] == ["initech-prd-01"]
    hv = data["_meta"]["hostvars"]["acme-prd-01"]
    assert hv["ansible_connection"] in ("local", {"__ansible_unsafe": "local"})


def test_host_provenance_is_one_command():
    proc = inventory("-i", "inventories/example", "--host", "acme-prd-01")
    hv = json.loads(proc.stdout)
    assert hv["fleet_provenance"]["control_plane.replicas"] == "clusters/fra1/acme/acme-prd-01.yml:9 control_plane.replicas"
    assert hv["fleet_config"]["control_plane"]["replicas"] == 5


def test_a_broken_fleet_fails_with_every_problem_and_no_traceback(tmp_path):
    fleet = tmp_path / "fleet"
    shutil.copytree(REPO / "fleets" / "example", fleet)
    (fleet / "clusters/fra1/acme/acme-prd-02.yml").write_text("contol_plane: {replicas: 3}\n")
    (fleet / "environments/ref.yml").write_text("release: r2099\n")
    src = tmp_path / "fleet.yml"
    src.write_text("plugin: capstan.fleet.fleet\nfleet_dir: fleet\n")
    proc = inventory("-i", str(src), "--list")
    assert proc.returncode != 0
    assert "clusters/fra1/acme/acme-prd-02.yml:1: contol_plane: unknown key (did you mean 'control_plane'?)" in proc.stderr
    assert "environments/ref.yml:1: release: names the release 'r2099', which does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cache_serves_the_second_run(tmp_path):
    fleet = tmp_path / "fleet"
    shutil.copytree(REPO / "fleets" / "example", fleet)
    src = tmp_path / "fleet.yml"
    src.write_text("plugin: capstan.fleet.fleet\nfleet_dir: fleet\ncache: true\n"
                   "cache_plugin: ansible.builtin.jsonfile\ncache_connection: %s\n" % (tmp_path / "cache"))
    first = json.loads(inventory("-i", str(src), "--list").stdout)
    (fleet / "clusters/ams1/acme/acme-tst-01.yml").unlink()
    cached = json.loads(inventory("-i", str(src), "--list").stdout)
    assert "acme-tst-01" in first["_meta"]["hostvars"] and "acme-tst-01" in cached["_meta"]["hostvars"]
    fresh = json.loads(inventory("-i", str(src), "--list", "--flush-cache").stdout)
    assert "acme-tst-01" not in fresh["_meta"]["hostvars"]


def test_lab_inventory_is_a_fleet():
    data = json.loads(inventory("-i", "inventories/lab", "--list").stdout)
    assert data["management_clusters"]["hosts"] == ["lab-mgmt"]
    assert sorted(data["tenant_clusters"]["hosts"]) == ["demo-os-1", "demo-vs-1", "demo-vs-2"]

    def plain(v):  # ansible-inventory marks strings as {"__ansible_unsafe": ...}
        return v.get("__ansible_unsafe", v) if isinstance(v, dict) else v
    hv = data["_meta"]["hostvars"]
    modes = sorted(plain(hv[h]["fleet_config"]["bootstrap"]["mode"]) for h in data["tenant_clusters"]["hosts"])
    assert modes == ["clusterresourceset", "push", "remote"]  # one tenant per bootstrap mode
    assert sorted(plain(hv[h]["fleet_infrastructure"]["type"]) for h in hv if h.startswith("demo")) == ["openstack", "vsphere", "vsphere"]
    # the tenant path reaches its management cluster with the model's access and Git settings
    assert hv["demo-vs-1"]["fleet_management_access"] == {"lab": True}
    assert plain(hv["demo-vs-1"]["fleet_management_git"]["branch"]) == "main"


@pytest.mark.parametrize("today", ["2026-13-40"])
def test_bad_today_option(tmp_path, today):
    src = tmp_path / "fleet.yml"
    src.write_text("plugin: capstan.fleet.fleet\nfleet_dir: %s\ntoday: '%s'\n" % (REPO / "fleets" / "example", today))
    proc = inventory("-i", str(src), "--list")
    assert proc.returncode != 0 and "today must be a date such as" in proc.stderr
