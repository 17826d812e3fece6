# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: where a Cluster API Cluster stands, and waiting for it.

Reads both contracts: v1beta2 (status.initialization, conditions Available,
InfrastructureReady, ControlPlaneInitialized, ControlPlaneAvailable) and v1beta1
(status.infrastructureReady/controlPlaneReady, conditions Ready, InfrastructureReady,
ControlPlaneInitialized, ControlPlaneReady), whichever the server prefers.
"""
from __future__ import annotations

import base64
import time

from ansible_collections.capstan.fleet.plugins.module_utils._kube import KubeError, yaml_load

GROUP = "cluster.x-k8s.io"


def _conditions(status):
    return {c.get("type"): c for c in (status.get("conditions") or []) if isinstance(c, dict)}


def _true(cond):
    return bool(cond) and cond.get("status") == "True"


def _why(cond, name):
    if not cond:
        return "%s is not reported yet" % name
    text = "%s is %s" % (name, cond.get("status"))
    detail = ": ".join(x for x in (cond.get("reason"), cond.get("message")) if x)
    return text + (" (%s)" % detail if detail else "")


def cluster_state(obj):
    """The state of a Cluster object: phase, whether its infrastructure is provisioned and its
    control plane initialised, its conditions, and what blocks it (None once initialised)."""
    if obj is None:
        return {"exists": False, "blocking": "the Cluster does not exist"}
    status = obj.get("status") or {}
    conds = _conditions(status)
    init = status.get("initialization") or {}
    infra = bool(init.get("infrastructureProvisioned") or status.get("infrastructureReady")
                 or _true(conds.get("InfrastructureReady")))
    cp_init = bool(init.get("controlPlaneInitialized") or _true(conds.get("ControlPlaneInitialized")))
    state = {
        "exists": True,
        "phase": status.get("phase") or "",
        "infrastructure_ready": infra,
        "control_plane_initialized": cp_init,
        "control_plane_endpoint": (obj.get("spec") or {}).get("controlPlaneEndpoint") or {},
        "conditions": [{k: c.get(k) for k in ("type", "status", "reason", "message") if c.get(k) is not None}
                       for c in status.get("conditions") or [] if isinstance(c, dict)],
        "paused": bool((obj.get("spec") or {}).get("paused")),
    }
    if state["paused"]:
        state["blocking"] = "the Cluster is paused (spec.paused)"
    elif not status:
        state["blocking"] = "the Cluster has no status: no Cluster API controller has reconciled it (are the " \
                            "release's providers installed in this management cluster?)"
    elif not infra:
        state["blocking"] = _why(conds.get("InfrastructureReady"), "InfrastructureReady")
    elif not cp_init:
        state["blocking"] = _why(conds.get("ControlPlaneInitialized"), "ControlPlaneInitialized")
    else:
        state["blocking"] = None
    return state


def read(client, name, namespace):
    """(Cluster object or None, the apiVersion it was read in)."""
    try:
        api_version, _res = client.resource_for_group_kind(GROUP, "Cluster")
    except KubeError as e:
        if e.status == 404:
            raise KubeError("the management cluster serves no Cluster kind of %s: are the release's Cluster API "
                            "providers installed?" % GROUP, status=404)
        raise
    return client.get(api_version, "Cluster", name, namespace), api_version


def kubeconfig_secret(client, name, namespace):
    """The kubeconfig text of <cluster>-kubeconfig (key ``value``), or None when it is not there."""
    secret = client.get("v1", "Secret", "%s-kubeconfig" % name, namespace)
    value = ((secret or {}).get("data") or {}).get("value")
    if not value:
        return None
    try:
        return base64.b64decode(value).decode()
    except (ValueError, UnicodeDecodeError):
        raise KubeError("Secret %s/%s-kubeconfig: key value is not base64" % (namespace, name))


def wait_initialized(client, name, namespace, timeout, sleep=time.sleep, clock=time.monotonic):
    """Wait until the Cluster's control plane is initialised and <cluster>-kubeconfig exists.
    Returns (state, kubeconfig text); raises KubeError naming what blocks after ``timeout``."""
    deadline = clock() + timeout
    delay = 0.2
    while True:
        obj, api_version = read(client, name, namespace)
        state = dict(cluster_state(obj), api_version=api_version)
        text = None
        if state["exists"] and state["blocking"] is None:
            text = kubeconfig_secret(client, name, namespace)
            if text is None:
                state["blocking"] = "the control plane is initialised but Secret %s-kubeconfig does not exist yet" % name
        if state["blocking"] is None or clock() >= deadline:
            return state, text
        sleep(min(delay, max(0.0, deadline - clock())))
        delay = min(delay * 1.5, 5.0)


def parse_kubeconfig_text(text, where):
    try:
        data = yaml_load(text)
    except Exception as e:  # YAML errors of any kind: one line
        raise KubeError("%s is not a kubeconfig: %s" % (where, e))
    if not isinstance(data, dict) or not data.get("clusters"):
        raise KubeError("%s is not a kubeconfig (no clusters)" % where)
    return data
