# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: read a text document from a path, a file:// URL or an HTTP(S) URL."""
from __future__ import annotations

import os
import re

from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError

_POOL = None


def is_url(location):
    return bool(re.match(r"^https?://", location or ""))


def fetch(location, what, validate_certs=True, ca_cert=None):
    """The text at ``location``; a FleetError naming ``what`` and the location when it cannot be read."""
    global _POOL
    if is_url(location):
        import urllib3

        if validate_certs and not ca_cert:
            http = _POOL = _POOL or urllib3.PoolManager(retries=urllib3.Retry(3, redirect=3))
        else:
            http = urllib3.PoolManager(retries=urllib3.Retry(3, redirect=3), ca_certs=ca_cert,
                                       cert_reqs="CERT_REQUIRED" if validate_certs else "CERT_NONE")
        try:
            r = http.request("GET", location, timeout=30.0)
        except urllib3.exceptions.HTTPError as e:
            raise FleetError("cannot read %s from %s: %s" % (what, location, e))
        if r.status != 200:
            raise FleetError("cannot read %s from %s: HTTP %d" % (what, location, r.status))
        return r.data.decode("utf-8")
    path = location[len("file://"):] if location.startswith("file://") else location
    try:
        with open(os.path.expanduser(path)) as f:
            return f.read()
    except OSError as e:
        raise FleetError("cannot read %s: %s" % (what, e))
