# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: the exception every layer raises for a user-facing failure."""
from __future__ import annotations


class FleetError(Exception):
    """A failure reported to the user as one message (never a traceback)."""
