# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path of the cluster's kubeconfig file.
      - When neither O(kubeconfig), O(kubeconfig_content) nor O(host) is given, the first file
        of the E(K8S_AUTH_KUBECONFIG) or E(KUBECONFIG) environment variable is used, else
        C(~/.kube/config).
    type: path
  kubeconfig_content:
    description:
      - The cluster's kubeconfig as content, parsed (a dict) or YAML text, for example the
        decoded C(value) of a C(<cluster>-kubeconfig) Secret read with
        M(capstan.fleet.kube_object_info).
      - Client certificates and keys in it are loaded into memory only; nothing is written
        to disk. The option is C(no_log).
      - Wins over O(kubeconfig) when both are given, so that C(module_defaults) can name the
        management cluster's file while a task reaches a tenant cluster with this option.
    type: raw
  kubeconfig_secret:
    description:
      - Reach the cluster through a kubeconfig stored in a Secret of another cluster, as Cluster
        API stores each tenant cluster's C(<cluster>-kubeconfig) in the management cluster.
      - The other connection options (O(kubeconfig), O(kubeconfig_content), O(host), ...) reach
        the cluster that holds the Secret. The kubeconfig read from it stays in memory.
    type: dict
    suboptions:
      name:
        description: Name of the Secret.
        type: str
        required: true
      namespace:
        description: Namespace of the Secret.
        type: str
        default: default
      key:
        description: The data key that holds the kubeconfig (C(value) for Cluster API).
        type: str
        default: value
  context:
    description: The kubeconfig context to use; its C(current-context) by default.
    type: str
  host:
    description: The API server URL; overrides the kubeconfig's server.
    type: str
  api_key:
    description: A bearer token; overrides the kubeconfig's user token.
    type: str
  ca_cert:
    description: Path to a CA bundle that verifies the API server; overrides the kubeconfig's.
    type: path
    aliases: [ssl_ca_cert]
  validate_certs:
    description: Whether to verify the API server's certificate.
    type: bool
    default: true
    aliases: [verify_ssl]
  request_timeout:
    description:
      - Seconds to wait for one API request. A request the server answers with 429 (not now) is
        asked again after its C(Retry-After), up to ten times within this time.
    type: float
    default: 30
requirements:
  - urllib3
  - PyYAML
"""
