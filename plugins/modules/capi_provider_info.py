#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: capi_provider_info
short_description: The Cluster API providers of a management cluster and the upgrades a repository offers
version_added: 0.1.0
description:
  - Reads clusterctl's provider inventory, so it sees providers installed by this collection and by
    clusterctl alike.
  - With a repository (O(repository) or the C(providers:) of O(clusterctl_config)), adds each
    provider's contract and, per contract, the newest version the repository holds, as
    C(clusterctl upgrade plan) lists them.
author: capstan.fleet developers (@capstan-fleet)
extends_documentation_fragment:
  - capstan.fleet.kube_auth
  - capstan.fleet.attributes.info_module
options:
  repository:
    description: Base directory or HTTP(S) URL of a repository in clusterctl's local-repository layout.
    type: str
  clusterctl_config:
    description: A clusterctl configuration file whose C(providers:) name the repositories.
    type: path
"""

EXAMPLES = r"""
- name: What runs, and what the air-gapped repository could upgrade it to
  capstan.fleet.capi_provider_info:
    kubeconfig: ~/.kube/mgmt-prd.yaml
    repository: /srv/capi-providers
  register: providers
"""

RETURN = r"""
providers:
  description: One entry per installed provider.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The provider's name.
      type: str
    type:
      description: core, bootstrap, control-plane, infrastructure, ipam, runtime-extension or addon.
      type: str
    label:
      description: The manifest label (the inventory object's name).
      type: str
    namespace:
      description: The namespace the provider runs in.
      type: str
    version:
      description: The installed version.
      type: str
    contract:
      description: The Cluster API contract of the installed version (with a repository).
      type: str
    upgrades:
      description: Per contract, the newest version in the repository newer than the installed one.
      type: dict
    newer:
      description: Every newer version in a local repository, with its contract.
      type: list
      elements: dict
"""

from ansible_collections.capstan.fleet.plugins.module_utils._capi_provider import (  # noqa: E402
    ClusterctlConfig, ProviderError, Repository, provider_info,
)
from ansible_collections.capstan.fleet.plugins.module_utils._kube import (  # noqa: E402
    KUBE_AUTH_ARGSPEC, HAS_URLLIB3, HAS_YAML, URLLIB3_IMPORT_ERROR, YAML_IMPORT_ERROR, KubeClient,
)
from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402


class CapiProviderInfo(FleetModule):
    shared_specs = (KUBE_AUTH_ARGSPEC,)
    argument_spec = dict(repository=dict(type="str"), clusterctl_config=dict(type="path"))
    required_libs = (("urllib3", HAS_URLLIB3, URLLIB3_IMPORT_ERROR), ("PyYAML", HAS_YAML, YAML_IMPORT_ERROR))

    def run(self):
        config = ClusterctlConfig(self.params["clusterctl_config"])

        def repo_for(name, ptype):
            try:
                return Repository(self.params["repository"], name, ptype, config)
            except ProviderError:
                return None  # neither a repository nor a providers: entry for it

        client = KubeClient.from_options(self.params)
        return dict(changed=False, providers=provider_info(client, repo_for))


def main():
    CapiProviderInfo()()


if __name__ == "__main__":
    main()
