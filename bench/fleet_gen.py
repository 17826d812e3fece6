"""Write a synthetic fleet, and the equivalent static YAML inventory, for the benchmarks.

    python bench/fleet_gen.py --clusters 5000 --sites 300 --environments 3 OUT

OUT/fleet/            the fleet tree (as fleets/example, scaled up)
OUT/plugin/fleet.yml  an inventory source for capstan.fleet.fleet
OUT/static/hosts.yml  the same hosts, groups and fully merged variables for ansible-core's
                      own yaml inventory plugin, written from what the fleet plugin produces
"""
import argparse
import datetime
import os
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / ".build" / "collections"))

INFRA = [
    {"type": "vsphere", "server": "vc.{site}.example.net", "datacenter": "DC", "cluster": "C1", "datastore": "ds1",
     "network": "nodes", "folder": "/DC/vm", "template": "ubuntu-2404-kube-v1.34"},
    {"type": "openstack", "cloud": "{site}", "network": "nodes", "external_network": "public",
     "image": "ubuntu-2404-kube-v1.34", "flavors": {"control_plane": "m1.large", "workers": "m1.xlarge"}},
    {"type": "metal3", "namespace": "metal3", "image_url": "http://img.{site}.example.net/u.qcow2",
     "image_checksum": "http://img.{site}.example.net/u.qcow2.sha256sum"},
]


def dump(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, default_flow_style=False, sort_keys=False))


def generate(out, clusters, sites, environments, locations=10, customers=50, sites_per_mgmt=10):
    root = out / "fleet"
    envs = ["env%d" % i for i in range(environments)]
    dump(root / "defaults.yml", {"config": {
        "control_plane": {"replicas": 3, "machine": {"cpus": 4, "memory_mib": 8192, "disk_gib": 50}},
        "node_pools": [{"name": "workers", "replicas": 3, "machine": {"cpus": 8, "memory_mib": 32768}}],
        "cni": {"type": "calico"}, "networking": {"dns_domain": "cluster.local"}, "bootstrap": {"mode": "push"},
        "flux": {"branch": "main", "interval": "5m"}, "certificates": {"ttl": "720h", "renew_before": "168h"},
        "user_groups": ["platform-admins"]}})
    start = datetime.date(2026, 6, 1)
    for r in range(environments):
        promotions = {env: str(start + datetime.timedelta(days=30 * r + 14 * i)) for i, env in enumerate(envs)}
        dump(root / "releases" / ("r%d.yml" % r), {
            "kubernetes": {"version": "v1.34.%d" % r, "supported_minors": ["v1.33", "v1.34"]},
            "providers": [{"name": "cluster-api", "type": "core", "version": "v1.13.2"},
                          {"name": "kubeadm", "type": "bootstrap", "version": "v1.13.2"},
                          {"name": "kubeadm", "type": "control-plane", "version": "v1.13.2"},
                          {"name": "openstack", "type": "infrastructure", "version": "v0.14.4"},
                          {"name": "vsphere", "type": "infrastructure", "version": "v1.15.1"},
                          {"name": "metal3", "type": "infrastructure", "version": "v1.12.0"}],
            "cert_manager": {"version": "v1.14.4"}, "cni": {"calico": "v3.32.1"}, "flux": {"version": "v2.7.5"},
            "promotions": promotions,
            "config": {"control_plane": {"machine": {"cpus": 4 + r}}}})
    for i, env in enumerate(envs):
        data = {"release": "r%d" % (environments - 1 - i), "config": {"labels": {"environment": env}}}
        if i:
            data["rollout"] = {"after": envs[i - 1], "min_days": 14}
        dump(root / "environments" / (env + ".yml"), data)
    for loc in range(locations):
        dump(root / "locations" / ("loc%d.yml" % loc), {"region": "region-%d" % loc,
                                                        "config": {"labels": {"region": "region-%d" % loc}}})
    site_names = ["site%03d" % s for s in range(sites)]
    for s, site in enumerate(site_names):
        infra = {k: (v.format(site=site) if isinstance(v, str) else v) for k, v in INFRA[s % 3].items()}
        dump(root / "sites" / (site + ".yml"), {"location": "loc%d" % (s % locations), "network_zone": "intranet",
                                                "infrastructure": infra, "vip_range": "10.250.%d.0/24" % (s % 250),
                                                "config": {"labels": {"site": site}}})
    for m in range(0, sites, sites_per_mgmt):
        name = "mgmt%02d" % (m // sites_per_mgmt)
        dump(root / "management_clusters" / (name + ".yml"), {
            "environment": envs[(m // sites_per_mgmt) % environments],
            "sites": site_names[m:m + sites_per_mgmt], "access": {"kubeconfig": "~/.kube/%s.yaml" % name}})
    for c in range(customers):
        dump(root / "customers" / ("cust%02d.yml" % c), {"config": {"user_groups": ["platform-admins", "cust%02d" % c]}})
    per_site = {}
    for n in range(clusters):
        site = site_names[n % sites]
        k = per_site[site] = per_site.get(site, -1) + 1
        cust = "cust%02d" % (n % customers)
        data = {"networking": {"pod_cidrs": ["10.%d.0.0/16" % k], "service_cidrs": ["172.16.%d.0/24" % k]},
                "labels": {"customer": cust}}
        if n % 7 == 0:
            data["control_plane"] = {"replicas": 5}
        if n % 11 == 0:
            data["node_pools"] = [{"name": "big", "replicas": 10, "machine": {"cpus": 16}}]
        dump(root / "clusters" / site / cust / ("c%05d.yml" % n), data)

    (out / "plugin").mkdir(parents=True, exist_ok=True)
    (out / "plugin" / "fleet.yml").write_text("plugin: capstan.fleet.fleet\nfleet_dir: ../fleet\ntoday: '2027-12-31'\n")
    write_static(out, root)


def write_static(out, root):
    """The static equivalent: what the plugin makes, as one YAML inventory file."""
    from ansible_collections.capstan.fleet.plugins.inventory.fleet import group_name
    from ansible_collections.capstan.fleet.plugins.module_utils._fleet import load_fleet

    hosts = load_fleet(str(root), today=datetime.date(2027, 12, 31)).hosts
    groups = {}

    def group(name):
        return groups.setdefault(name, {"hosts": {}, "children": {}})

    group("management_clusters")
    group("tenant_clusters")
    for name, hv in sorted(hosts.items()):
        if hv["fleet_role"] == "management":
            env = group_name("env", hv["fleet_environment"])
            group("management_clusters")["hosts"][name] = hv
            group(env)["hosts"][name] = None
            group(env)["children"][group_name("mgmt", name)] = None
            group(group_name("mgmt", name))
        else:
            site = group_name("site", hv["fleet_site"])
            group(group_name("location", hv["fleet_location"]))["children"][site] = None
            group(group_name("mgmt", hv["fleet_management_cluster"]))["children"][site] = None
            group("tenant_clusters")["hosts"][name] = hv
            for g in (site, group_name("infra", hv["fleet_infrastructure"]["type"]),
                      group_name("customer", hv["fleet_customer"])):
                group(g)["hosts"][name] = None
    for g in groups.values():
        for k in [k for k, v in g.items() if not v]:
            del g[k]
    path = out / "static" / "hosts.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        yaml.dump({"all": {"children": groups}}, f, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
                  default_flow_style=False)
    return len(hosts)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--clusters", type=int, default=5000)
    p.add_argument("--sites", type=int, default=300)
    p.add_argument("--environments", type=int, default=3)
    args = p.parse_args()
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        sys.exit("%s exists and is not empty" % out)
    generate(out, args.clusters, args.sites, args.environments)
    print("wrote %s" % os.path.abspath(out))


if __name__ == "__main__":
    main()
