# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the fleet model made by the capstan.fleet.fleet inventory plugin."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError


def explain(config, provenance, key):
    """Every merged leaf at or below ``key``: its value and the file, line and key that set it."""
    if not isinstance(config, dict) or not isinstance(provenance, dict):
        raise AnsibleFilterError("explain: give fleet_config | capstan.fleet.explain(fleet_provenance, 'a.key')")
    out = []
    for leaf in sorted(provenance):
        if leaf != key and not leaf.startswith(key + "."):
            continue
        value = _lookup(config, leaf)
        out.append("%s = %s  <- %s" % (leaf, _show(value), provenance[leaf]))
    if not out:
        raise AnsibleFilterError("explain: the merged configuration has no key %r" % key)
    return out


def _lookup(node, path):
    """The value at a dotted key path. Keys may hold dots themselves (labels such as
    topology.kubernetes.io/zone), so each level tries the keys that match, longest first."""
    if not isinstance(node, dict):
        return None
    for k in sorted(node, key=len, reverse=True):
        if path == k:
            return node[k]
        if path.startswith(k + "."):
            found = _lookup(node[k], path[len(k) + 1:])
            if found is not None:
                return found
    return None


def _show(value):
    return repr(value) if not isinstance(value, str) else value


class FilterModule(object):
    def filters(self):
        return {"explain": explain}
