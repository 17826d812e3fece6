# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: the base every capstan.fleet module runs through.

A module subclasses ``FleetModule``, declares ``argument_spec`` (merged with the shared
option sets it names) and implements ``run()``, which returns the result dict or raises
``FleetError``; the base turns errors into one ``fail_json(msg=...)``.
"""
from __future__ import annotations

import hashlib
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError


LONG_TEXT = 16384


def abridged(value):
    """``value`` with every string longer than LONG_TEXT replaced by its size and digest."""
    if isinstance(value, dict):
        return {k: abridged(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [abridged(v) for v in value]
    if isinstance(value, str) and len(value) > LONG_TEXT:
        return "<%d characters, sha256 %s>" % (len(value), hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:16])
    return value


class FleetModule(object):
    argument_spec = {}
    shared_specs = ()
    module_kwargs = {}
    required_libs = ()  # (name, has_flag, import_error)
    # Set by run() when the result carries secrets: the module's action plugin
    # (plugin_utils/_secret_result.py) then censors the task's output, as a task-level
    # no_log does, while the registered variable keeps the data.
    result_no_log = False

    def __init__(self):
        spec = {}
        for shared in self.shared_specs:
            spec.update(shared)
        spec.update(self.argument_spec)
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **self.module_kwargs)
        self.params = self.module.params
        for name, has, err in self.required_libs:
            if not has:
                self.module.fail_json(msg=missing_required_lib(name), exception=str(err))

    @property
    def check_mode(self):
        return self.module.check_mode

    @property
    def diff_mode(self):
        return self.module._diff

    def run(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self):
        # Ansible echoes the arguments back in every result, failures included (shown at -vvv,
        # kept in registered variables); a bundle's text given inline (Calico's manifest is
        # 350 KB) is echoed by size and digest
        invocation = {"module_args": abridged(self.params)}
        try:
            result = self.run()
        except FleetError as e:
            self.module.fail_json(msg=str(e), invocation=invocation, **getattr(e, "extra", {}))
        except Exception as e:  # an unexpected bug: still one line, the trace only at -vvv
            self.module.fail_json(msg="unexpected error: %s: %s" % (type(e).__name__, e), exception=traceback.format_exc(),
                                  invocation=invocation)
        if self.result_no_log:
            result["_capstan_no_log"] = True
        result.setdefault("invocation", invocation)
        self.module.exit_json(**result)
