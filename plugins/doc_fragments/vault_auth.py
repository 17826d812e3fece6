# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  url:
    description:
      - URL of the Vault or OpenBao server.
      - Read from E(VAULT_ADDR) when not given.
    type: str
  namespace:
    description:
      - Vault Enterprise or OpenBao namespace.
      - Read from E(VAULT_NAMESPACE) when not given.
    type: str
  auth_method:
    description: How to log in.
    type: str
    choices: [token, approle]
    default: token
  token:
    description:
      - Token for O(auth_method=token).
      - Read from E(VAULT_TOKEN) when not given, then from C(~/.vault-token).
    type: str
  role_id:
    description: AppRole role ID for O(auth_method=approle); read from E(VAULT_ROLE_ID).
    type: str
  secret_id:
    description: AppRole secret ID for O(auth_method=approle); read from E(VAULT_SECRET_ID).
    type: str
  mount_point:
    description: Mount path of the auth method, when it is not the method's default.
    type: str
  ca_cert:
    description:
      - Path to a CA bundle that verifies the server.
      - Read from E(VAULT_CACERT) when not given.
    type: path
  validate_certs:
    description: Whether to verify the server's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for one request.
    type: int
    default: 30
requirements:
  - hvac >= 2.1
"""
