#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: vault_pki_role
short_description: A role of a Vault/OpenBao PKI mount
version_added: 0.1.0
description:
  - Creates a PKI role or updates it so that every parameter given matches; parameters not
    given are left as the server has them.
  - With C(--diff), shows the parameters that change.
  - Parameters that contradict each other (O(ttl) longer than O(max_ttl), O(allow_any_name) with
    O(allowed_domains), neither O(server_flag) nor O(client_flag), a key size the key type has not)
    are refused before anything is sent.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.vault_auth
  - capstan.fleet.attributes
options:
  mount:
    description: Path of the PKI mount (with O(roles), the mount of entries that name none).
    type: str
  name:
    description: Name of the role. One of O(name) and O(roles) is required.
    type: str
  ttl:
    description: Default lifetime of certificates issued from the role.
    type: str
  max_ttl:
    description: Maximum lifetime of certificates issued from the role.
    type: str
  key_type:
    description: Key type of issued certificates.
    type: str
    choices: [rsa, ec, ed25519, any]
  key_bits:
    description: Key size of issued certificates.
    type: int
  allowed_domains:
    description: Domains (or, with O(allow_any_name), nothing) that names may be in.
    type: list
    elements: str
  allow_subdomains:
    description: Allow subdomains of O(allowed_domains).
    type: bool
  allow_bare_domains:
    description: Allow O(allowed_domains) themselves as names.
    type: bool
  allow_any_name:
    description: Allow any common name (for client certificates of users and groups).
    type: bool
  allow_localhost:
    description: Allow C(localhost) as a name.
    type: bool
  allow_ip_sans:
    description: Allow IP subject alternative names.
    type: bool
  enforce_hostnames:
    description: Require names to be valid host names.
    type: bool
  server_flag:
    description: Issue certificates usable by servers.
    type: bool
  client_flag:
    description: Issue certificates usable by clients.
    type: bool
  organization:
    description: Organisation (O) of issued certificates; Kubernetes reads it as the RBAC groups.
    type: list
    elements: str
  ou:
    description: Organisational unit (OU) of issued certificates.
    type: list
    elements: str
  no_store:
    description: Do not store issued certificates in Vault (for short-lived, high-volume certificates).
    type: bool
  require_cn:
    description: Require a common name in requests.
    type: bool
  roles:
    description:
      - Many roles in one task (one login, one process) - each entry takes O(mount), O(name)
        and the role parameters; a parameter an entry does not set is taken from the task's
        own (so what the roles share is written once).
      - Mutually exclusive with O(name).
    type: list
    elements: dict
    suboptions:
      mount:
        description: Path of the entry's PKI mount; O(mount) by default.
        type: str
      name:
        description: Name of the role.
        type: str
        required: true
      ttl:
        description: Default lifetime of certificates issued from the role.
        type: str
      max_ttl:
        description: Maximum lifetime of certificates issued from the role.
        type: str
      key_type:
        description: Key type of issued certificates.
        type: str
        choices: [rsa, ec, ed25519, any]
      key_bits:
        description: Key size of issued certificates.
        type: int
      allowed_domains:
        description: Domains (or, with O(allow_any_name), nothing) that names may be in.
        type: list
        elements: str
      allow_subdomains:
        description: Allow subdomains of O(allowed_domains).
        type: bool
      allow_bare_domains:
        description: Allow O(allowed_domains) themselves as names.
        type: bool
      allow_any_name:
        description: Allow any common name (for client certificates of users and groups).
        type: bool
      allow_localhost:
        description: Allow C(localhost) as a name.
        type: bool
      allow_ip_sans:
        description: Allow IP subject alternative names.
        type: bool
      enforce_hostnames:
        description: Require names to be valid host names.
        type: bool
      server_flag:
        description: Issue certificates usable by servers.
        type: bool
      client_flag:
        description: Issue certificates usable by clients.
        type: bool
      organization:
        description: Organisation (O) of issued certificates; Kubernetes reads it as the RBAC groups.
        type: list
        elements: str
      ou:
        description: Organisational unit (OU) of issued certificates.
        type: list
        elements: str
      no_store:
        description: Do not store issued certificates in Vault (for short-lived, high-volume certificates).
        type: bool
      require_cn:
        description: Require a common name in requests.
        type: bool
"""

EXAMPLES = r"""
- name: The client roles of a cluster, in one task
  capstan.fleet.vault_pki_role:
    mount: pki/clusters/lab-a/kubernetes
    allow_any_name: true
    client_flag: true
    server_flag: false
    ttl: 8h
    roles:
      - {name: admin, organization: ["kubeadm:cluster-admins"], no_store: true}
      - {name: monitoring, organization: ["capstan:monitoring"]}
      - {name: etcd-client, mount: pki/clusters/lab-a/etcd}

- name: Kubernetes API server certificates of one cluster
  capstan.fleet.vault_pki_role:
    mount: pki/clusters/lab-a
    name: kube-apiserver
    allowed_domains: [kubernetes, kubernetes.default, kubernetes.default.svc, localhost]
    allow_bare_domains: true
    allow_ip_sans: true
    server_flag: true
    client_flag: false
    ttl: 720h
    max_ttl: 2160h
"""

RETURN = r"""
role:
  description: The parameters given, as they are (or in check mode would be) on the server.
  returned: with O(name)
  type: dict
roles:
  description: For each entry of O(roles) - C(mount), C(name), C(changed) and C(role) (as O(name) returns it).
  returned: with O(roles)
  type: list
  elements: dict
"""

from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._pki import ROLE_OPTIONS, ensure_role, role_conflicts  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._vault import (  # noqa: E402
    HAS_HVAC, HVAC_IMPORT_ERROR, VAULT_AUTH_ARGSPEC, VaultError, vault_client,
)


class VaultPkiRole(FleetModule):
    shared_specs = (VAULT_AUTH_ARGSPEC,)
    argument_spec = dict(
        mount=dict(type="str"), name=dict(type="str"),
        roles=dict(type="list", elements="dict", options=dict(
            mount=dict(type="str"), name=dict(type="str", required=True), **ROLE_OPTIONS)),
        **ROLE_OPTIONS)
    module_kwargs = dict(required_one_of=[("name", "roles")], mutually_exclusive=[("name", "roles")])
    required_libs = (("hvac", HAS_HVAC, HVAC_IMPORT_ERROR),)

    def run(self):
        p = self.params
        entries = p["roles"] if p["roles"] is not None else [dict(p)]
        planned = []
        for i, e in enumerate(entries):
            mount = e.get("mount") or p["mount"]
            where = "roles[%d]" % i if p["roles"] is not None else "role"
            if not mount:
                raise VaultError("%s %s: no mount (set mount on the entry or the task)" % (where, e["name"]))
            wanted = {k: e.get(k) if e.get(k) is not None else p[k] for k in ROLE_OPTIONS}
            conflict = role_conflicts(wanted)
            if conflict:
                raise VaultError("role %s of %s: %s" % (e["name"], mount, conflict))
            planned.append((mount, e["name"], wanted))
        client = vault_client(p)
        results, diffs = [], []
        for mount, name, wanted in planned:
            changed, before, after = ensure_role(client, mount, name, wanted, self.check_mode)
            results.append(dict(mount=mount, name=name, changed=changed, role=after))
            if changed:
                diffs.append({"before_header": "%s/roles/%s" % (mount, name), "after_header": "%s/roles/%s" % (mount, name),
                              "before": before or {}, "after": after})
        if p["roles"] is None:
            out = dict(changed=results[0]["changed"], role=results[0]["role"])
        else:
            out = dict(changed=any(r["changed"] for r in results), roles=results)
        if self.diff_mode:
            single = {"before": diffs[0]["before"] if diffs else results[0]["role"], "after": results[0]["role"]}
            out["diff"] = diffs if p["roles"] is not None else single
        return out


def main():
    VaultPkiRole()()


if __name__ == "__main__":
    main()
