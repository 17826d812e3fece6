# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that render a tenant cluster's objects from the fleet model (controller side: no
module start-up per cluster). The logic is in module_utils/_tenant.py."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError
from ansible_collections.capstan.fleet.plugins.module_utils import _capi_cluster, _tenant


def _plain(value):
    """Ansible's lazy containers and tagged strings as plain Python data."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def _wrap(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except FleetError as e:
        raise AnsibleFilterError(str(e))


def capi_cluster_state(obj):
    """The state capi_cluster_info reports, from a Cluster object already read (a manifest result)."""
    return _capi_cluster.cluster_state(_plain(obj) if obj else None)


def cluster_definitions(tenant, mode="topology", namespace=None):
    return _wrap(_tenant.render, _plain(tenant), mode=mode, namespace=namespace)


def calico_manifest(text, pod_cidr, origin="calico.yaml"):
    return _wrap(_tenant.calico, str(text), pod_cidr, origin)


def flux_sync(name, url, branch="main", path="./", interval="1m", secret=None, namespace="flux-system"):
    return _wrap(_tenant.flux_sync, name, url, branch, path, interval, secret, namespace)


def remote_kustomizations(tenant, namespace, source, cni_path, flux_path, sync_path, pod_cidr, interval="10m",
                          git=None, credentials_secret=None):
    return _wrap(_tenant.remote_kustomizations, _plain(tenant), namespace, source, cni_path, flux_path, sync_path,
                 pod_cidr, interval, _plain(git), credentials_secret)


def crs_objects(tenant, namespace, documents, strategy="Reconcile", capi="v1beta2"):
    docs = [(str(k), str(v) if isinstance(v, str) else _plain(v)) for k, v in documents]
    return _wrap(_tenant.crs_objects, _plain(tenant), namespace, docs, strategy, capi)


def components_path(tenant):
    return _wrap(_tenant.components_path, _plain(tenant))


def definitions_path(tenant, management_cluster=None):
    return _wrap(_tenant.definitions_path, _plain(tenant), management_cluster)


class FilterModule(object):
    def filters(self):
        return {
            "capi_cluster_state": capi_cluster_state,
            "cluster_definitions": cluster_definitions,
            "calico_manifest": calico_manifest,
            "flux_sync": flux_sync,
            "remote_kustomizations": remote_kustomizations,
            "crs_objects": crs_objects,
            "components_path": components_path,
            "definitions_path": definitions_path,
        }
