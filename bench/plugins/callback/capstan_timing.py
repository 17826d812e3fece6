# -*- coding: utf-8 -*-
"""Benchmark helper (not part of the collection): where a playbook run's time goes. For every
task it records how many hosts ran it and its wall time (first start to last result), and writes
them as JSON lines to $CAPSTAN_TIMING."""
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: capstan_timing
type: aggregate
short_description: per-task wall time and host count, for bench/site_bench.py
description: Writes one JSON line per task to the file named by CAPSTAN_TIMING.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "capstan_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.rows = []
        self.current = None

    def _close(self):
        if self.current:
            self.current["wall_s"] = self.current.pop("last", self.current["start"]) - self.current.pop("start")
            self.rows.append(self.current)
            self.current = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close()
        self.current = {"task": task.get_name(), "action": task.action, "start": time.monotonic(), "ran": 0, "skipped": 0,
                        "items": 0}

    def _result(self, result, skipped=False):
        if self.current:
            self.current["last"] = time.monotonic()
            self.current["skipped" if skipped else "ran"] += 1

    def v2_runner_on_ok(self, result):
        self._result(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result)

    def v2_runner_item_on_ok(self, result):
        if self.current:
            self.current["items"] += 1

    v2_runner_item_on_failed = v2_runner_item_on_ok

    def v2_runner_on_skipped(self, result):
        self._result(result, skipped=True)

    def v2_playbook_on_stats(self, stats):
        self._close()
        with open(os.environ["CAPSTAN_TIMING"], "w") as fh:
            for row in self.rows:
                fh.write(json.dumps(row) + "\n")
