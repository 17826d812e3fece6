# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs capstan.fleet.vault_capi_secrets and censors its output (it carries private keys)."""
from __future__ import annotations

from ansible_collections.capstan.fleet.plugins.plugin_utils._secret_result import SecretResultAction


class ActionModule(SecretResultAction):
    pass
