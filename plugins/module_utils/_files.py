# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: files that hold secrets, written only where the user asked."""
from __future__ import annotations

import os

from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError


def write_private(path, data, option="dest"):
    """Write ``data`` to ``path`` with mode 0600 from the first byte on, replacing it atomically."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FleetError("%s: directory %s does not exist" % (option, parent))
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
