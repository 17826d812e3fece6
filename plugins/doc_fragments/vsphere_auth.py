# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  hostname:
    description:
      - The vCenter server, as C(host) or C(host:port).
      - Read from E(VMWARE_HOST) when not given.
    type: str
  port:
    description: The vCenter HTTPS port, when O(hostname) does not name one.
    type: int
    default: 443
  username:
    description: The vCenter user; read from E(VMWARE_USER) when not given.
    type: str
  password:
    description: The vCenter password; read from E(VMWARE_PASSWORD) when not given.
    type: str
  ca_cert:
    description: Path to a CA bundle that verifies vCenter's certificate.
    type: path
  validate_certs:
    description: Whether to verify vCenter's TLS certificate.
    type: bool
    default: true
requirements:
  - pyvmomi >= 8.0.3
"""
