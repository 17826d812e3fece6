# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: fleet
short_description: The fleet model (sites, environments, releases, clusters) as hosts and groups
version_added: 0.1.0
author: capstan.fleet developers (@capstan-fleet)
description:
  - Reads a fleet directory (defaults, releases, environments, locations, sites, management
    clusters, customers, and one file per tenant cluster under C(clusters/<site>/<customer>/))
    and makes one host per management cluster and per tenant cluster.
  - Each host gets its merged configuration in C(fleet_config) (merge order, lowest first -
    defaults, release, environment, location, site, management cluster, customer, cluster; dicts
    merge deep, lists replace) and in C(fleet_provenance) the file, line and key that set each
    merged leaf.
  - Groups - C(management_clusters), C(tenant_clusters), C(env_<environment>), C(site_<site>),
    C(location_<location>), C(mgmt_<management cluster>) (its tenant clusters),
    C(infra_<vsphere|openstack|metal3>), C(customer_<customer>); names have C(-) replaced by C(_).
  - Invalid input (unknown keys, wrong types, dangling references, duplicate names, a site served
    twice, overlapping CIDRs on one site, Kubernetes versions the release does not support,
    releases pinned against the rollout policy, invalid names) fails with every problem listed,
    each with its file, line and key path.
  - The inventory source is a YAML file whose name ends in C(fleet.yml) or C(fleet.yaml).
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: The name of this plugin.
    required: true
    choices: [capstan.fleet.fleet, fleet]
    type: str
  fleet_dir:
    description: The fleet directory; a relative path is taken from the inventory source file's directory.
    type: str
    default: fleet
  today:
    description:
      - The date the rollout policy is checked against (C(YYYY-MM-DD)); a release promoted to an
        environment after this date may not be pinned there yet. Defaults to the current date.
    type: str
"""

EXAMPLES = r"""
# inventories/example/fleet.yml
plugin: capstan.fleet.fleet
fleet_dir: fleet
keyed_groups:
  - key: fleet_release
    prefix: release
compose:
  kubernetes_version: fleet_config.kubernetes.version

# Where does a value come from?
#   ansible-inventory -i inventories/example --host acme-prd-01 | jq '.fleet_provenance["control_plane.replicas"]'
#   "clusters/fra1/acme/acme-prd-01.yml:3 control_plane.replicas"
"""

import datetime  # noqa: E402
import os  # noqa: E402

from ansible.errors import AnsibleParserError  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable  # noqa: E402

from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._fleet import load_fleet  # noqa: E402

try:
    from ansible.utils.unsafe_proxy import wrap_var as make_unsafe
except ImportError:  # pragma: no cover
    def make_unsafe(value):
        return value


def group_name(prefix, name):
    return ("%s_%s" % (prefix, name)).replace("-", "_").replace(".", "_")


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "capstan.fleet.fleet"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(("fleet.yml", "fleet.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        fleet_dir = self.get_option("fleet_dir")
        fleet_dir = os.path.expanduser(fleet_dir)
        if not os.path.isabs(fleet_dir):
            fleet_dir = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), fleet_dir))
        today = self.get_option("today")
        try:
            today = datetime.datetime.strptime(today, "%Y-%m-%d").date() if today else datetime.date.today()
        except ValueError:
            raise AnsibleParserError("%s: today must be a date such as 2026-11-23, not %r" % (path, today))

        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        hosts = None
        if use_cache:
            try:
                hosts = self._cache[cache_key]
            except KeyError:
                update_cache = True
        if hosts is None:
            try:
                hosts = load_fleet(fleet_dir, today=today).hosts
            except FleetError as e:
                raise AnsibleParserError(str(e))
        if update_cache:
            self._cache[cache_key] = hosts
        self._populate(hosts)

    def _group(self, prefix, name):
        group = group_name(prefix, name)
        self.inventory.add_group(group)
        return group

    def _populate(self, hosts):
        inv = self.inventory
        strict = self.get_option("strict")
        for group in ("management_clusters", "tenant_clusters"):
            inv.add_group(group)
        for name in sorted(hosts):
            hv = hosts[name]
            inv.add_host(name)
            for key, value in hv.items():
                inv.set_variable(name, key, make_unsafe(value) if key.startswith("fleet_") else value)
            # a tree a person expects: env > management cluster > site > cluster, and
            # location > site; a cluster's own groups hold it directly
            if hv["fleet_role"] == "management":
                env = self._group("env", hv["fleet_environment"])
                inv.add_child("management_clusters", name)
                inv.add_child(env, name)
                inv.add_child(env, self._group("mgmt", name))
            else:
                site = self._group("site", hv["fleet_site"])
                inv.add_child(self._group("location", hv["fleet_location"]), site)
                inv.add_child(self._group("mgmt", hv["fleet_management_cluster"]), site)
                for g in ("tenant_clusters", site, self._group("infra", hv["fleet_infrastructure"].get("type")),
                          self._group("customer", hv["fleet_customer"])):
                    inv.add_child(g, name)
            self._set_composite_vars(self.get_option("compose"), hv, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hv, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hv, name, strict=strict)
