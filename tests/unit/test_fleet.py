"""The fleet model: merge order, provenance, and every validation error, on real YAML trees."""
import datetime
import os
import shutil
import textwrap
from pathlib import Path

import pytest

from ansible_collections.capstan.fleet.plugins.module_utils._fleet import FleetValidationError, load_fleet, merge

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "fleets" / "example"
TODAY = datetime.date(2026, 11, 23)


def write(root, rel, text):
    path = Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture
def fleet(tmp_path):
    """A small valid fleet with one value set at every layer, to change per test."""
    root = tmp_path / "fleet"
    write(root, "defaults.yml", """
        config:
          control_plane: {replicas: 3}
          labels: {layer: defaults, from-defaults: "yes"}
          node_pools: [{name: a, replicas: 1}, {name: b, replicas: 1}]
    """)
    write(root, "releases/r1.yml", """
        kubernetes: {version: v1.34.2, supported_minors: [v1.33, v1.34]}
        providers:
          - {name: cluster-api, type: core, version: v1.10.5}
          - {name: openstack, type: infrastructure, version: v0.12.7}
          - {name: vsphere, type: infrastructure, version: v1.13.1}
        promotions: {tst: 2026-10-01, prd: 2026-10-20}
        config: {labels: {layer: release}}
    """)
    write(root, "releases/r0.yml", """
        kubernetes: {version: v1.33.5}
        promotions: {tst: 2026-08-01, prd: 2026-08-20}
    """)
    write(root, "environments/tst.yml", "release: r1\nconfig: {labels: {layer: environment}}\n")
    write(root, "environments/prd.yml", "release: r1\nrollout: {after: tst, min_days: 14}\nproduction: true\n")
    write(root, "locations/fra.yml", "config: {labels: {layer: location}}\n")
    write(root, "sites/fra1.yml", """
        location: fra
        infrastructure: {type: openstack, cloud: fra1, network: n}
        config: {labels: {layer: site}}
    """)
    write(root, "sites/fra2.yml", "location: fra\ninfrastructure: {type: vsphere, server: vc, datacenter: DC0}\n")
    write(root, "management_clusters/mgmt-tst.yml", """
        environment: tst
        sites: [fra1]
        config: {labels: {layer: management}}
    """)
    write(root, "management_clusters/mgmt-prd.yml", "environment: prd\nsites: [fra2]\n")
    write(root, "customers/acme.yml", "config: {labels: {layer: customer}}\n")
    write(root, "clusters/fra1/acme/one.yml", """
        labels: {layer: cluster}
        networking: {pod_cidrs: [10.1.0.0/16], service_cidrs: [10.101.0.0/20]}
    """)
    write(root, "clusters/fra1/acme/two.yml", """
        control_plane: {replicas: 5}
        node_pools: [{name: c, replicas: 2}]
        networking: {pod_cidrs: [10.2.0.0/16], service_cidrs: [10.102.0.0/20]}
    """)
    write(root, "clusters/fra2/acme/three.yml", "hold_release: r0\n")
    return root


def problems(root):
    with pytest.raises(FleetValidationError) as err:
        load_fleet(str(root), today=TODAY)
    return err.value.problems


def test_example_fleet_is_valid_and_complete():
    fleet = load_fleet(str(EXAMPLE), today=TODAY)
    tenants = [h for h in fleet.hosts.values() if h["fleet_role"] == "tenant"]
    mgmt = [h for h in fleet.hosts.values() if h["fleet_role"] == "management"]
    assert len(tenants) >= 12 and len(mgmt) >= 2
    assert len({h["fleet_site"] for h in tenants}) >= 4
    assert {h["fleet_infrastructure"]["type"] for h in tenants} == {"vsphere", "openstack", "metal3"}
    assert len({h["fleet_location"] for h in tenants}) >= 2
    assert len({h["fleet_customer"] for h in tenants}) >= 3
    assert len({h["fleet_environment"] for h in tenants}) == 3
    assert len({h["fleet_release"] for h in tenants}) == 3
    assert [h["fleet_name"] for h in tenants if h["fleet_release_held"]] == ["initech-prd-01"]


def test_merge_order_and_provenance(fleet):
    hosts = load_fleet(str(fleet), today=TODAY).hosts
    one, two = hosts["one"], hosts["two"]
    # the cluster wins over every layer; the key path and line of the file that set it
    assert one["fleet_config"]["labels"]["layer"] == "cluster"
    assert one["fleet_provenance"]["labels.layer"] == "clusters/fra1/acme/one.yml:1 labels.layer"
    assert one["fleet_provenance"]["labels.from-defaults"] == "defaults.yml:3 config.labels.from-defaults"
    # remove layers from the top one by one: the next lower layer shows through
    order = ["customer", "management", "site", "location", "environment", "release", "defaults"]
    files = {"customer": "customers/acme.yml", "management": "management_clusters/mgmt-tst.yml",
             "site": "sites/fra1.yml", "location": "locations/fra.yml", "environment": "environments/tst.yml",
             "release": "releases/r1.yml"}
    (fleet / "clusters/fra1/acme/one.yml").write_text(
        "networking: {pod_cidrs: [10.1.0.0/16], service_cidrs: [10.101.0.0/20]}\n")
    for i, layer in enumerate(order):
        host = load_fleet(str(fleet), today=TODAY).hosts["one"]
        assert host["fleet_config"]["labels"]["layer"] == layer, order[:i]
        if layer in files:
            assert host["fleet_provenance"]["labels.layer"].startswith(files[layer] + ":")
            text = (fleet / files[layer]).read_text().replace("labels: {layer: %s}" % layer, "labels: {}")
            (fleet / files[layer]).write_text(text)
    # lists replace, dicts merge
    assert [p["name"] for p in two["fleet_config"]["node_pools"]] == ["c"]
    assert two["fleet_config"]["control_plane"]["replicas"] == 5
    assert one["fleet_config"]["control_plane"]["replicas"] == 3
    assert two["fleet_provenance"]["node_pools"] == "clusters/fra1/acme/two.yml:2 node_pools"


def test_release_hold_environment_and_providers(fleet):
    hosts = load_fleet(str(fleet), today=TODAY).hosts
    assert hosts["three"]["fleet_release"] == "r0" and hosts["three"]["fleet_release_held"] is True
    assert hosts["three"]["fleet_config"]["kubernetes"]["version"] == "v1.33.5"
    assert hosts["one"]["fleet_config"]["kubernetes"]["version"] == "v1.34.2"
    assert hosts["one"]["fleet_provenance"]["kubernetes.version"] == "releases/r1.yml kubernetes.version"
    assert hosts["three"]["fleet_production"] is True
    # the management cluster installs the release's providers for the infrastructures it serves
    assert [p["name"] for p in hosts["mgmt-tst"]["fleet_providers"]] == ["cluster-api", "openstack"]
    assert [p["name"] for p in hosts["mgmt-prd"]["fleet_providers"]] == ["cluster-api", "vsphere"]


@pytest.mark.parametrize("rel,text,expect", [
    ("clusters/fra1/acme/one.yml", "contol_plane: {replicas: 3}\n",
     "clusters/fra1/acme/one.yml:1: contol_plane: unknown key (did you mean 'control_plane'?)"),
    ("clusters/fra1/acme/one.yml", "control_plane: {replicas: three}\n",
     "clusters/fra1/acme/one.yml:1: control_plane.replicas: must be an integer, not a string"),
    ("clusters/fra1/acme/one.yml", "cni: {type: flannel}\n",
     "cni.type: must be one of calico, cilium, not 'flannel'"),
    ("sites/fra1.yml", "location: fra\ninfrastructure: {type: openstack, cloud: fra1}\nnetwork_zone: cloud\n",
     "sites/fra1.yml:3: network_zone: must be one of intranet, internet, dmz, not 'cloud'"),
    ("environments/tst.yml", "release: r9\n",
     "environments/tst.yml:1: release: names the release 'r9', which does not exist"),
    ("sites/fra1.yml", "location: frankfurt\ninfrastructure: {type: openstack, cloud: fra1}\n",
     "sites/fra1.yml:1: location: names the location 'frankfurt', which does not exist"),
    ("management_clusters/mgmt-prd.yml", "environment: prd\nsites: [fra2, fra1]\n",
     "management_clusters/mgmt-tst.yml:2: sites[0]: site 'fra1' is already served by management cluster 'mgmt-prd'"),
    ("clusters/fra1/acme/two.yml", "networking: {pod_cidrs: [10.1.128.0/17], service_cidrs: [10.102.0.0/20]}\n",
     "clusters/fra1/acme/two.yml: networking.pod_cidrs: 10.1.128.0/17 overlaps 10.1.0.0/16 (pod_cidrs) of cluster 'one' on the same site 'fra1'"),
    ("clusters/fra1/acme/two.yml", "kubernetes: {version: v1.31.4}\n"
     "networking: {pod_cidrs: [10.2.0.0/16], service_cidrs: [10.102.0.0/20]}\n",
     "clusters/fra1/acme/two.yml:1: kubernetes.version: v1.31.4 is outside what release 'r1' supports (v1.33, v1.34)"),
    ("environments/prd.yml", "release: r1\nrollout: {after: tst, min_days: 30}\n",
     "environments/prd.yml:1: release: rollout policy: release 'r1' may be pinned here only 30 days after 'tst' (2026-10-01), not on 2026-10-20"),
    ("clusters/fra1/acme/Bad_Name.yml", "{}\n",
     "clusters/fra1/acme/Bad_Name.yml: cluster name 'Bad_Name' is not a valid Kubernetes object name"),
    ("clusters/fra2/acme/one.yml", "{}\n",
     "clusters/fra2/acme/one.yml: cluster name 'one' is already used by clusters/fra1/acme/one.yml"),
    ("clusters/fra1/globex/four.yml", "{}\n",
     "clusters/fra1/globex/four.yml: its folder names the customer 'globex', which does not exist"),
    ("clusters/fra3/acme/five.yml", "{}\n",
     "clusters/fra3/acme/five.yml: its folder names the site 'fra3', which does not exist"),
    ("clusters/fra1/acme/one.yml", "labels: [a\n", "clusters/fra1/acme/one.yml:2: is not valid YAML"),
    ("clusters/fra2/acme/three.yml", "hold_release: r7\n",
     "clusters/fra2/acme/three.yml:1: hold_release: names the release 'r7', which does not exist"),
    ("releases/r1.yml", "kubernetes: {version: '1.34.0'}\npromotions: {tst: 2026-10-01, prd: soon}\n",
     "releases/r1.yml:1: kubernetes.version: must be a version such as v1.34.2"),
    ("releases/r1.yml", "kubernetes: {version: v1.34.2}\npromotions: {tst: 2026-10-01, prd: soon}\n",
     "releases/r1.yml:2: promotions.prd: must be a date such as 2026-10-01, not 'soon'"),
    ("releases/r1.yml", "kubernetes: {version: 1.34}\n",
     "releases/r1.yml:1: kubernetes.version: must be a string, not a number"),
])
def test_each_error_names_file_line_and_key(fleet, rel, text, expect):
    write(fleet, rel, text)
    found = problems(fleet)
    assert any(p.startswith(expect) or expect in p for p in found), found


def test_a_site_without_management_cluster(fleet):
    write(fleet, "sites/fra9.yml", "location: fra\ninfrastructure: {type: vsphere, server: vc}\n")
    write(fleet, "clusters/fra9/acme/six.yml", "{}\n")
    assert "clusters/fra9/acme/six.yml: its site 'fra9' is served by no management cluster" in problems(fleet)


def test_all_problems_of_one_run_together(fleet):
    write(fleet, "clusters/fra1/acme/one.yml", "contol_plane: {}\nnetworking: {pod_cidrs: [10.2.0.0/16]}\n")
    write(fleet, "environments/tst.yml", "release: r9\n")
    write(fleet, "sites/fra2.yml", "location: nowhere\ninfrastructure: {type: vsphere}\n")
    found = problems(fleet)
    assert len(found) >= 3
    assert any("contol_plane" in p for p in found)
    assert any("'r9'" in p for p in found)
    assert any("'nowhere'" in p for p in found)


def test_release_promoted_after_today_cannot_be_pinned(fleet):
    write(fleet, "releases/r1.yml", """
        kubernetes: {version: v1.34.2, supported_minors: [v1.33, v1.34]}
        promotions: {tst: 2026-12-01, prd: 2026-12-20}
    """)
    assert any("release 'r1' is promoted to 'tst' only on 2026-12-01" in p for p in problems(fleet))


def test_missing_fleet_directory(tmp_path):
    with pytest.raises(FleetValidationError, match="the fleet directory does not exist"):
        load_fleet(str(tmp_path / "nope"))


def test_merge_replaces_lists_and_forgets_overridden_provenance():
    def at(name):
        return lambda kp, mapping, key: "%s %s" % (name, kp)

    merged, prov = merge([(at("low"), {"a": {"b": 1, "c": [1, 2]}, "d": {"e": 1}}),
                          (at("high"), {"a": {"c": [3]}, "d": 5})])
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 5}
    assert prov == {"a.b": "low a.b", "a.c": "high a.c", "d": "high d"}


def test_example_copy_survives_reordering(tmp_path):
    """Nothing depends on directory listing order: a copy loads to the same hosts."""
    copy = tmp_path / "copy"
    shutil.copytree(EXAMPLE, copy)
    assert load_fleet(str(copy), today=TODAY).hosts.keys() == load_fleet(str(EXAMPLE), today=TODAY).hosts.keys()
    assert os.path.isdir(copy / "clusters")
