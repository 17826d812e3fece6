#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_kubeconfig
short_description: A short-lived kubeconfig for a cluster, from a client certificate of its Vault PKI role
version_added: 0.1.0
description:
  - Issues a client certificate for O(user) from a cluster's user role in Vault/OpenBao (default
    lifetime 8 hours) and puts it into a kubeconfig for the cluster's API endpoint - the
    everyday "log in to any cluster of the fleet". The user's groups are the organisations the
    role puts into the certificate, which Kubernetes maps to RBAC groups.
  - With O(dest), the kubeconfig is written with mode 0600 and kept while it still serves (same
    server and issuer, same user and groups, more than O(renew_before) left); without it, the
    kubeconfig is returned (the task output is censored, the registered variable has it) and
    every run issues a new certificate.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.vault_auth
  - capstan.fleet.attributes
options:
  mount:
    description: The cluster's PKI mount whose CA the cluster's API server trusts for clients.
    type: str
    required: true
  role:
    description: The role to issue from (its C(organization) gives the user's groups).
    type: str
    required: true
  user:
    description: The user name, the certificate's common name.
    type: str
    required: true
  server:
    description: The cluster's API endpoint, such as C(https://10.0.0.10:6443).
    type: str
    required: true
  cluster_name:
    description: Name of the cluster, context and user entries in the kubeconfig.
    type: str
    default: cluster
  server_ca_cert:
    description:
      - CA bundle (a PEM file) that verifies the API server's certificate.
      - By default the CA that issued the client certificate, which in a Cluster API cluster also
        signs the API server's serving certificate.
    type: path
  ttl:
    description: Lifetime of the client certificate.
    type: str
    default: 8h
  renew_before:
    description: With O(dest), issue a new certificate when the present one has less than this left.
    type: str
    default: 1h
  dest:
    description: Where to write the kubeconfig (mode 0600). Without it, nothing is written to disk.
    type: path
"""

EXAMPLES = r"""
- name: An eight-hour kubeconfig for the SRE on call
  capstan.fleet.cluster_kubeconfig:
    mount: pki/clusters/demo-vs-1/kubernetes
    role: sre
    user: "{{ lookup('ansible.builtin.env', 'USER') }}"
    server: https://192.0.2.10:6443
    cluster_name: demo-vs-1
    dest: ~/.kube/demo-vs-1.yaml
"""

RETURN = r"""
kubeconfig:
  description: The kubeconfig (YAML text) when O(dest) is not given; the task output shows it censored.
  returned: when issued without dest
  type: str
user:
  description: The user name in the certificate.
  returned: success
  type: str
groups:
  description: The groups (certificate organisations).
  returned: success
  type: list
  elements: str
expires:
  description: When the client certificate expires (UTC).
  returned: success
  type: str
reason:
  description: Why a certificate was (or in check mode would be) issued, or that the present one still serves.
  returned: success
  type: str
"""

import base64  # noqa: E402
import os  # noqa: E402

from ansible_collections.capstan.fleet.plugins.module_utils._files import write_private  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._kube import HAS_YAML, YAML_IMPORT_ERROR, yaml, yaml_load  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._pki import (  # noqa: E402
    CRYPTOGRAPHY_IMPORT_ERROR, HAS_CRYPTOGRAPHY, cert_organizations, cert_summary, default_issuer, issue,
    needs_renewal, role_organizations, seconds,
)
from ansible_collections.capstan.fleet.plugins.module_utils._vault import (  # noqa: E402
    HAS_HVAC, HVAC_IMPORT_ERROR, VAULT_AUTH_ARGSPEC, VaultError, vault_client,
)


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def build_kubeconfig(name, server, ca_pem, cert_pem, key_pem):
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": "%s-user" % name,
                   "user": {"client-certificate-data": _b64(cert_pem), "client-key-data": _b64(key_pem)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": "%s-user" % name}}],
        "current-context": name,
    }


def present_state(path):
    """(server, client certificate PEM) of a kubeconfig this module wrote, or None."""
    try:
        with open(path) as f:
            data = yaml_load(f.read())
        return (data["clusters"][0]["cluster"]["server"],
                base64.b64decode(data["users"][0]["user"]["client-certificate-data"]).decode())
    except (OSError, ValueError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return None


class ClusterKubeconfig(FleetModule):
    shared_specs = (VAULT_AUTH_ARGSPEC,)
    argument_spec = dict(
        mount=dict(type="str", required=True),
        role=dict(type="str", required=True),
        user=dict(type="str", required=True),
        server=dict(type="str", required=True),
        cluster_name=dict(type="str", default="cluster"),
        server_ca_cert=dict(type="path"),
        ttl=dict(type="str", default="8h"),
        renew_before=dict(type="str", default="1h"),
        dest=dict(type="path"),
    )
    required_libs = (("hvac", HAS_HVAC, HVAC_IMPORT_ERROR), ("cryptography", HAS_CRYPTOGRAPHY, CRYPTOGRAPHY_IMPORT_ERROR),
                     ("PyYAML", HAS_YAML, YAML_IMPORT_ERROR))

    def run(self):
        p = self.params
        renew_before = seconds(p["renew_before"], "renew_before")
        seconds(p["ttl"], "ttl")
        server_ca = None
        if p["server_ca_cert"]:
            try:
                with open(p["server_ca_cert"]) as f:
                    server_ca = f.read()
            except OSError as e:
                raise VaultError("server_ca_cert: cannot read %s: %s" % (p["server_ca_cert"], e.strerror))
        client = vault_client(p)
        mount = p["mount"].strip("/")
        groups = role_organizations(client, mount, p["role"])
        reason = "no destination is kept: every run issues a certificate"
        before = {}
        if p["dest"]:
            state = present_state(p["dest"]) if os.path.exists(p["dest"]) else None
            if state is not None:
                before = {"server": state[0], "user": p["user"], "groups": cert_organizations(state[1]),
                          "expires": cert_summary(state[1])["not_after"]}
            if state is None:
                reason = "%s does not exist or is not a kubeconfig of this module" % p["dest"]
            elif state[0] != p["server"]:
                reason = "the server differs"
            elif cert_organizations(state[1]) != groups:
                reason = "the groups differ"
            else:
                reason = needs_renewal(state[1], default_issuer(client, mount), p["user"], [], [], renew_before)
                if reason is None:
                    return dict(changed=False, reason="the present kubeconfig still serves", user=p["user"],
                                groups=groups, expires=cert_summary(state[1])["not_after"])
        after = {"server": p["server"], "user": p["user"], "groups": groups, "expires": "(new, %s from now)" % p["ttl"]}
        if self.check_mode:
            out = dict(changed=True, reason=reason, user=p["user"], groups=groups)
            if self.diff_mode:
                out["diff"] = {"before": before, "after": after}
            return out
        data = issue(client, mount, p["role"], p["user"], ttl=p["ttl"])
        config = build_kubeconfig(p["cluster_name"], p["server"], server_ca or data["issuing_ca"],
                                  data["certificate"], data["private_key"])
        text = yaml.safe_dump(config, default_flow_style=False, sort_keys=False)
        out = dict(changed=True, reason=reason, user=p["user"], groups=cert_organizations(data["certificate"]),
                   expires=cert_summary(data["certificate"])["not_after"])
        if self.diff_mode:
            out["diff"] = {"before": before, "after": dict(after, expires=out["expires"], groups=out["groups"])}
        if p["dest"]:
            write_private(p["dest"], text)
        else:
            out["kubeconfig"] = text
            self.result_no_log = True
        return out


def main():
    ClusterKubeconfig()()


if __name__ == "__main__":
    main()
