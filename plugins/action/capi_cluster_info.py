# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs capstan.fleet.capi_cluster_info and censors its output when it carries a kubeconfig."""
from __future__ import annotations

from ansible_collections.capstan.fleet.plugins.plugin_utils._secret_result import SecretResultAction


class ActionModule(SecretResultAction):
    pass
