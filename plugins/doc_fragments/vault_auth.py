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
    description:
      - How to log in. C(kubernetes) uses a service account token (the Pod's own by default)
        with the kubernetes auth method - which community.hashi_vault lacks; C(jwt) a JWT from
        an identity provider; C(cert) a TLS client certificate.
    type: str
    choices: [token, approle, kubernetes, jwt, cert]
    default: token
  token:
    description:
      - Token for O(auth_method=token).
      - Read from E(VAULT_TOKEN) when not given, then from C(~/.vault-token).
    type: str
  role_id:
    description:
      - AppRole role ID for O(auth_method=approle); the name of the Vault role for
        O(auth_method=kubernetes), O(auth_method=jwt) and O(auth_method=cert) (for C(cert),
        every certificate role is tried when not given).
      - Read from E(VAULT_ROLE_ID) when not given (approle, kubernetes).
    type: str
  jwt:
    description:
      - The JWT for O(auth_method=jwt), or a service account token for O(auth_method=kubernetes).
    type: str
  kubernetes_token_path:
    description:
      - For O(auth_method=kubernetes) without O(jwt), the file holding the service account token.
      - C(/var/run/secrets/kubernetes.io/serviceaccount/token) when not given.
    type: path
  cert_auth_public_key:
    description: For O(auth_method=cert), the client certificate (PEM file).
    type: path
  cert_auth_private_key:
    description: For O(auth_method=cert), the client certificate's private key (PEM file).
    type: path
  secret_id:
    description: AppRole secret ID for O(auth_method=approle); read from E(VAULT_SECRET_ID).
    type: str
  mount_point:
    description:
      - Mount path of the auth method, when it is not the method's default (C(approle),
        C(kubernetes), C(jwt), C(cert)).
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
