# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helper: write every task result, as callbacks see it, to $CAPSTAN_CAPTURE (JSON lines)."""
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: capstan_capture
type: aggregate
short_description: Write task results as JSON lines for the tests
description:
  - Writes one JSON line per task result to the file named by E(CAPSTAN_CAPTURE).
options: {}
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "capstan_capture"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, result, status):
        path = os.environ.get("CAPSTAN_CAPTURE")
        if not path:
            return
        with open(path, "a") as f:
            f.write(json.dumps({"task": result.task_name, "host": result._host.get_name(), "status": status,
                                "result": result._result}, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._write(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._write(result, "skipped")
