# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: censor a module's output when the module says it carries secrets.

Ansible strips ``_ansible_no_log`` from what a module returns, so a module cannot ask for
its own result to be censored. The action plugin of such a module runs it, and when the
module marks its result with ``_capstan_no_log``, sets ``_ansible_no_log`` on the
controller: the output is censored as with a task-level ``no_log`` while the registered
variable keeps the data for the tasks that need it.
"""
from __future__ import annotations

from ansible.plugins.action import ActionBase

MARKER = "_capstan_no_log"


class SecretResultAction(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(SecretResultAction, self).run(tmp, task_vars)
        result.update(self._execute_module(task_vars=task_vars))
        if result.pop(MARKER, False):
            result["_ansible_no_log"] = True
        return result
