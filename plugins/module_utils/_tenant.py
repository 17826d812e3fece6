# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster API definitions of a tenant cluster, rendered from its merged fleet configuration.

Two shapes:

* ``topology`` (default): a ``Cluster`` with ``spec.topology`` that names a ClusterClass. The
  collection ships one ClusterClass (with its templates) per site and release: the site's
  infrastructure values are in the templates, the cluster's own sizing goes in topology
  variables that the class's patches write into the machine templates. A new release gives a
  new class name, so moving a cluster to it is a change of ``topology.classRef``.
* ``explicit``: every object: the infrastructure cluster, KubeadmControlPlane, one
  machine template, KubeadmConfigTemplate, MachineDeployment and MachineHealthCheck per node
  pool. Machine templates are immutable in Cluster API, so their names carry a digest of
  their content: a change makes a new template and the rollout that goes with it.

API versions: Cluster API's own groups are served and stored as ``v1beta2`` from Cluster API
1.11 on and as ``v1beta1`` before (the release's core provider decides); the vSphere,
OpenStack and Metal3 providers store ``v1beta1`` in the versions this collection supports.
The shapes differ between the two contracts (``templateRef`` vs ``ref``, ``classRef`` vs
``class``, ``apiGroup`` references vs ``apiVersion`` ones, MachineHealthCheck ``checks``) and
both are rendered.
"""
from __future__ import annotations

import hashlib
import json
import re

from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError
from ansible_collections.capstan.fleet.plugins.module_utils._kube import yaml

INFRA_GROUP = "infrastructure.cluster.x-k8s.io"
CLUSTER_LABEL = "cluster.x-k8s.io/cluster-name"
FLEET_LABEL_PREFIX = "fleet.capstan.io/"
INFRA_KINDS = {
    "vsphere": ("VSphereCluster", "VSphereMachine"),
    "openstack": ("OpenStackCluster", "OpenStackMachine"),
    "metal3": ("Metal3Cluster", "Metal3Machine"),
}
INFRA_VERSION = {"vsphere": "v1beta1", "openstack": "v1beta1", "metal3": "v1beta1"}
MODES = ("topology", "explicit")


class TenantError(FleetError):
    pass


def _version_tuple(v):
    m = re.match(r"^v?(\d+)\.(\d+)", str(v or ""))
    if not m:
        return None
    return int(m.group(1)), int(m.group(2))


def api_versions(providers, infra_type):
    """The API versions to write, from the release's providers (``fleet_versions.providers``)."""
    core = [p for p in providers or [] if p.get("type") == "core"]
    if not core:
        raise TenantError("the release names no core provider (cluster-api)")
    ver = _version_tuple(core[0].get("version"))
    if ver is None:
        raise TenantError("the core provider's version %r is not vMAJOR.MINOR.PATCH" % core[0].get("version"))
    if infra_type not in INFRA_KINDS:
        raise TenantError("infrastructure type %r: supported are %s" % (infra_type, ", ".join(sorted(INFRA_KINDS))))
    infra = [p for p in providers if p.get("type") == "infrastructure" and p.get("name") == infra_type]
    if not infra:
        raise TenantError("the release has no %s infrastructure provider (it lists %s)" % (
            infra_type, ", ".join(sorted("%s %s" % (p.get("type"), p.get("name")) for p in providers))))
    capi = "v1beta2" if ver >= (1, 11) else "v1beta1"
    return {"capi": capi, "infra": INFRA_VERSION[infra_type]}


def _digest(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:8]


class Renderer(object):
    """Everything is derived from ``tenant``: the host variables of one tenant cluster
    (``fleet_name``, ``fleet_customer``, ``fleet_site``, ``fleet_release``, ``fleet_versions``,
    ``fleet_infrastructure``, ``fleet_config`` ...)."""

    def __init__(self, tenant, namespace=None, mode="topology", api=None):
        self.t = tenant
        self.name = tenant["fleet_name"]
        self.ns = namespace or tenant["fleet_customer"]
        if mode not in MODES:
            raise TenantError("%s: mode %r: choose one of %s" % (self.name, mode, ", ".join(MODES)))
        self.mode = mode
        self.infra = dict(tenant.get("fleet_infrastructure") or {})
        self.itype = self.infra.get("type")
        try:
            self.api = api or api_versions((tenant.get("fleet_versions") or {}).get("providers"), self.itype)
        except TenantError as e:
            raise TenantError("%s: %s" % (self.name, e))
        self.cfg = tenant.get("fleet_config") or {}
        self.capi = self.api["capi"]
        self.v2 = self.capi == "v1beta2"

    # ---- helpers ---------------------------------------------------------------------------
    def gv(self, group):
        version = self.api["infra"] if group == INFRA_GROUP else self.capi
        return "%s/%s" % (group, version)

    def meta(self, name, labels=None, namespaced=True):
        m = {"name": name}
        if namespaced:
            m["namespace"] = self.ns
        if labels:
            m["labels"] = labels
        return m

    def labels(self):
        out = {CLUSTER_LABEL: self.name,
               FLEET_LABEL_PREFIX + "site": self.t.get("fleet_site"),
               FLEET_LABEL_PREFIX + "customer": self.t.get("fleet_customer"),
               FLEET_LABEL_PREFIX + "environment": self.t.get("fleet_environment"),
               FLEET_LABEL_PREFIX + "release": self.t.get("fleet_release"),
               FLEET_LABEL_PREFIX + "bootstrap": (self.cfg.get("bootstrap") or {}).get("mode", "push")}
        out.update(self.cfg.get("labels") or {})
        return {k: str(v) for k, v in out.items() if v is not None}

    def ref(self, group, kind, name):
        """An object reference in the contract's shape (v1beta2: apiGroup; v1beta1: apiVersion)."""
        if self.v2:
            return {"apiGroup": group, "kind": kind, "name": name}
        return {"apiVersion": self.gv(group), "kind": kind, "name": name}

    def template_ref(self, group, kind, name):
        """A ClusterClass template reference (always apiVersion)."""
        return {"apiVersion": self.gv(group), "kind": kind, "name": name}

    @property
    def version(self):
        return (self.cfg.get("kubernetes") or {}).get("version") or (self.t.get("fleet_versions") or {}).get("kubernetes")

    def pools(self):
        pools = self.cfg.get("node_pools") or []
        names = [p.get("name") for p in pools]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup or None in names:
            raise TenantError("%s: node_pools need unique names (%s)" % (self.name, ", ".join(map(str, dup)) or "a pool has none"))
        return pools

    def cluster_network(self):
        net = self.cfg.get("networking") or {}
        out = {}
        if net.get("pod_cidrs"):
            out["pods"] = {"cidrBlocks": list(net["pod_cidrs"])}
        if net.get("service_cidrs"):
            out["services"] = {"cidrBlocks": list(net["service_cidrs"])}
        if net.get("dns_domain"):
            out["serviceDomain"] = net["dns_domain"]
        return out

    # ---- infrastructure specifics ----------------------------------------------------------
    def infra_cluster_spec(self):
        i = self.infra
        if self.itype == "vsphere":
            spec = {"server": i.get("server")}
            if i.get("thumbprint"):
                spec["thumbprint"] = i["thumbprint"]
            return {k: v for k, v in spec.items() if v}
        if self.itype == "openstack":
            spec = {"identityRef": {"cloudName": i.get("cloud") or "openstack", "name": "%s-cloud-config" % self.name}}
            if i.get("external_network"):
                spec["externalNetwork"] = {"filter": {"name": i["external_network"]}}
            if i.get("network"):
                spec["network"] = {"filter": {"name": i["network"]}}
            return spec
        return {}  # metal3: the control-plane endpoint comes from the Cluster

    def machine_spec(self, machine, role):
        """The infrastructure machine template's spec.template.spec for a machine size."""
        i, m = self.infra, machine or {}
        if self.itype == "vsphere":
            spec = {
                "cloneMode": "linkedClone",
                "server": i.get("server"),
                "datacenter": i.get("datacenter"),
                "datastore": i.get("datastore"),
                "folder": i.get("folder"),
                "resourcePool": i.get("resource_pool"),
                "template": m.get("template") or i.get("template"),
                "network": {"devices": [{"networkName": i.get("network"), "dhcp4": True}]},
                "numCPUs": m.get("cpus", 2),
                "memoryMiB": m.get("memory_mib", 4096),
                "diskGiB": m.get("disk_gib", 25),
            }
            if i.get("thumbprint"):
                spec["thumbprint"] = i["thumbprint"]
            return {k: v for k, v in spec.items() if v is not None}
        if self.itype == "openstack":
            flavors = i.get("flavors") or {}
            flavor = m.get("flavor") or flavors.get(role) or flavors.get("workers" if role != "control_plane" else "control_plane")
            return {"flavor": flavor, "image": {"filter": {"name": m.get("image") or i.get("image")}},
                    "identityRef": {"cloudName": i.get("cloud") or "openstack", "name": "%s-cloud-config" % self.name}}
        spec = {"image": {"url": m.get("image") or i.get("image_url"), "checksum": i.get("image_checksum"),
                          "checksumType": "sha256", "format": "qcow2"}}
        if i.get("host_selector"):
            spec["hostSelector"] = {"matchLabels": dict(i["host_selector"])}
        return spec

    # ---- kubeadm ---------------------------------------------------------------------------
    def kubeadm_config_spec(self):
        """The control plane's kubeadm configuration. The certificate authorities are not in it:
        kubeadm takes them from Cluster API's <cluster>-ca/-etcd/-proxy/-sa Secrets, which the
        vault_pki role lays from Vault before the cluster is defined; the service domain comes
        from the Cluster's clusterNetwork."""
        return {"clusterConfiguration": {"apiServer": {"certSANs": ["localhost", "127.0.0.1"]}}}

    def kcp_spec(self, replicas, infra_name):
        spec = {"replicas": replicas, "version": self.version, "kubeadmConfigSpec": self.kubeadm_config_spec()}
        if self.v2:
            spec["machineTemplate"] = {"spec": {"infrastructureRef": self.ref(INFRA_GROUP, INFRA_KINDS[self.itype][1] + "Template", infra_name)}}
        else:
            spec["machineTemplate"] = {"infrastructureRef": self.ref(INFRA_GROUP, INFRA_KINDS[self.itype][1] + "Template", infra_name)}
        return spec

    def worker_kubeadm(self, pool=None):
        """A worker's kubeadm join configuration: the pool's taints ("key=value:Effect")."""
        taints = []
        for t in (pool or {}).get("taints") or []:
            m = re.match(r"^([^=:]+)(?:=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$", t)
            if not m:
                raise TenantError("%s: node pool %r: taint %r is not key[=value]:NoSchedule|PreferNoSchedule|NoExecute"
                                  % (self.name, pool.get("name"), t))
            taint = {"key": m.group(1), "effect": m.group(3)}
            if m.group(2):
                taint["value"] = m.group(2)
            taints.append(taint)
        spec = {"format": "cloud-config"}
        if taints:
            spec["joinConfiguration"] = {"nodeRegistration": {"taints": taints}}
        return spec

    # ---- topology --------------------------------------------------------------------------
    def class_name(self):
        return "%s-%s" % (self.t.get("fleet_site"), self.t.get("fleet_release"))

    def clusterclass(self):
        """The ClusterClass of this cluster's site and release, with its templates."""
        cc = self.class_name()
        ik, mk = INFRA_KINDS[self.itype]
        lab = {FLEET_LABEL_PREFIX + "site": self.t.get("fleet_site"), FLEET_LABEL_PREFIX + "release": self.t.get("fleet_release")}
        objs = [
            {"apiVersion": self.gv(INFRA_GROUP), "kind": ik + "Template", "metadata": self.meta(cc, lab),
             "spec": {"template": {"spec": self.infra_cluster_spec()}}},
            {"apiVersion": self.gv(INFRA_GROUP), "kind": mk + "Template", "metadata": self.meta(cc + "-control-plane", lab),
             "spec": {"template": {"spec": self.machine_spec({}, "control_plane")}}},
            {"apiVersion": self.gv(INFRA_GROUP), "kind": mk + "Template", "metadata": self.meta(cc + "-worker", lab),
             "spec": {"template": {"spec": self.machine_spec({}, "workers")}}},
            {"apiVersion": self.gv("controlplane.cluster.x-k8s.io"), "kind": "KubeadmControlPlaneTemplate",
             "metadata": self.meta(cc + "-control-plane", lab),
             "spec": {"template": {"spec": {"kubeadmConfigSpec": self.kubeadm_config_spec()}}}},
            {"apiVersion": self.gv("bootstrap.cluster.x-k8s.io"), "kind": "KubeadmConfigTemplate",
             "metadata": self.meta(cc + "-worker", lab), "spec": {"template": {"spec": self.worker_kubeadm()}}},
        ]
        tref = self.template_ref
        if self.v2:
            spec = {
                "infrastructure": {"templateRef": tref(INFRA_GROUP, ik + "Template", cc)},
                "controlPlane": {"templateRef": tref("controlplane.cluster.x-k8s.io", "KubeadmControlPlaneTemplate", cc + "-control-plane"),
                                 "machineInfrastructure": {"templateRef": tref(INFRA_GROUP, mk + "Template", cc + "-control-plane")}},
                "workers": {"machineDeployments": [{
                    "class": "worker",
                    "bootstrap": {"templateRef": tref("bootstrap.cluster.x-k8s.io", "KubeadmConfigTemplate", cc + "-worker")},
                    "infrastructure": {"templateRef": tref(INFRA_GROUP, mk + "Template", cc + "-worker")}}]},
            }
        else:
            spec = {
                "infrastructure": {"ref": tref(INFRA_GROUP, ik + "Template", cc)},
                "controlPlane": {"ref": tref("controlplane.cluster.x-k8s.io", "KubeadmControlPlaneTemplate", cc + "-control-plane"),
                                 "machineInfrastructure": {"ref": tref(INFRA_GROUP, mk + "Template", cc + "-control-plane")}},
                "workers": {"machineDeployments": [{
                    "class": "worker",
                    "template": {
                        "bootstrap": {"ref": tref("bootstrap.cluster.x-k8s.io", "KubeadmConfigTemplate", cc + "-worker")},
                        "infrastructure": {"ref": tref(INFRA_GROUP, mk + "Template", cc + "-worker")}}}]},
            }
        spec["variables"], spec["patches"] = self.class_variables_and_patches(cc)
        objs.append({"apiVersion": self.gv("cluster.x-k8s.io"), "kind": "ClusterClass", "metadata": self.meta(cc, lab), "spec": spec})
        return objs

    def machine_fields(self, role):
        """Machine-size variable properties: (schema type, patched path, the site's default)."""
        i = self.infra
        if self.itype == "vsphere":
            return {"cpus": ("integer", "/spec/template/spec/numCPUs", 2),
                    "memory_mib": ("integer", "/spec/template/spec/memoryMiB", 4096),
                    "disk_gib": ("integer", "/spec/template/spec/diskGiB", 25),
                    "template": ("string", "/spec/template/spec/template", i.get("template") or "")}
        if self.itype == "openstack":
            flavors = i.get("flavors") or {}
            return {"flavor": ("string", "/spec/template/spec/flavor", flavors.get(role) or ""),
                    "image": ("string", "/spec/template/spec/image/filter/name", i.get("image") or "")}
        return {"image": ("string", "/spec/template/spec/image/url", i.get("image_url") or "")}

    def class_variables_and_patches(self, cc):
        """Two object variables, controlPlaneMachine and workerMachine, whose properties default
        to the site's values; one patch each writes them into the machine templates. A cluster
        sets only what differs from its site (a pool may override workerMachine)."""
        mk = INFRA_KINDS[self.itype][1] + "Template"
        variables, patches = [], []
        for var, role, match in (("controlPlaneMachine", "control_plane", {"controlPlane": True}),
                                 ("workerMachine", "workers", {"machineDeploymentClass": {"names": ["worker"]}})):
            fields = self.machine_fields(role)
            props = {k: {"type": f[0], "default": f[2]} for k, f in sorted(fields.items())}
            variables.append({"name": var, "required": True,
                              "schema": {"openAPIV3Schema": {"type": "object", "default": {}, "properties": props}}})
            patches.append({"name": var, "definitions": [{
                "selector": {"apiVersion": self.gv(INFRA_GROUP), "kind": mk, "matchResources": match},
                "jsonPatches": [{"op": "replace", "path": f[1], "valueFrom": {"variable": "%s.%s" % (var, k)}}
                                for k, f in sorted(fields.items())]}]})
        return variables, patches

    def machine_variable(self, machine, role="workers"):
        fields = self.machine_fields(role)
        return {k: v for k, v in sorted((machine or {}).items()) if k in fields and v is not None}

    def topology_cluster(self):
        cp = self.cfg.get("control_plane") or {}
        mds = []
        for pool in self.pools():
            md = {"class": "worker", "name": pool["name"], "replicas": pool.get("replicas", 1)}
            mv = self.machine_variable(pool.get("machine"))
            if mv:
                md["variables"] = {"overrides": [{"name": "workerMachine", "value": mv}]}
            if pool.get("labels"):
                md["metadata"] = {"labels": dict(pool["labels"])}
            mds.append(md)
        variables = []
        cpv = self.machine_variable(cp.get("machine"), "control_plane")
        if cpv:
            variables.append({"name": "controlPlaneMachine", "value": cpv})
        topo = {"version": self.version, "controlPlane": {"replicas": cp.get("replicas", 1)},
                "workers": {"machineDeployments": mds}}
        if variables:
            topo["variables"] = variables
        if self.v2:
            topo["classRef"] = {"name": self.class_name()}
        else:
            topo["class"] = self.class_name()
        return self.cluster_object({"topology": topo})

    def cluster_object(self, spec):
        spec = dict(spec)
        net = self.cluster_network()
        if net:
            spec["clusterNetwork"] = net
        endpoint = (self.cfg.get("control_plane") or {}).get("endpoint")
        if endpoint:
            host, _sep, port = endpoint.partition(":")
            spec["controlPlaneEndpoint"] = {"host": host, "port": int(port or 6443)}
        meta = self.meta(self.name, self.labels())
        if self.cfg.get("annotations"):
            meta["annotations"] = dict(self.cfg["annotations"])
        return {"apiVersion": self.gv("cluster.x-k8s.io"), "kind": "Cluster", "metadata": meta, "spec": spec}

    # ---- explicit --------------------------------------------------------------------------
    def explicit(self):
        ik, mk = INFRA_KINDS[self.itype]
        name, lab = self.name, {CLUSTER_LABEL: self.name}
        cp = self.cfg.get("control_plane") or {}
        cp_spec = {"template": {"spec": self.machine_spec(cp.get("machine"), "control_plane")}}
        cp_tmpl = "%s-control-plane-%s" % (name, _digest(cp_spec))
        objs = [
            self.cluster_object({"controlPlaneRef": self.ref("controlplane.cluster.x-k8s.io", "KubeadmControlPlane", name),
                                 "infrastructureRef": self.ref(INFRA_GROUP, ik, name)}),
            {"apiVersion": self.gv(INFRA_GROUP), "kind": ik, "metadata": self.meta(name, lab), "spec": self.infra_cluster_spec()},
            {"apiVersion": self.gv(INFRA_GROUP), "kind": mk + "Template", "metadata": self.meta(cp_tmpl, lab), "spec": cp_spec},
            {"apiVersion": self.gv("controlplane.cluster.x-k8s.io"), "kind": "KubeadmControlPlane", "metadata": self.meta(name, lab),
             "spec": self.kcp_spec(cp.get("replicas", 1), cp_tmpl)},
        ]
        for pool in self.pools():
            pname = "%s-%s" % (name, pool["name"])
            m_spec = {"template": {"spec": self.machine_spec(pool.get("machine"), pool["name"])}}
            b_spec = {"template": {"spec": self.worker_kubeadm(pool)}}
            m_name, b_name = "%s-%s" % (pname, _digest(m_spec)), "%s-%s" % (pname, _digest(b_spec))
            selector = {"matchLabels": {CLUSTER_LABEL: name, "cluster.x-k8s.io/deployment-name": pname}}
            tmpl_labels = dict(selector["matchLabels"], **(pool.get("labels") or {}))
            md_spec = {"clusterName": name, "replicas": pool.get("replicas", 1), "selector": selector,
                       "template": {"metadata": {"labels": tmpl_labels},
                                    "spec": {"clusterName": name, "version": self.version,
                                             "bootstrap": {"configRef": self.ref("bootstrap.cluster.x-k8s.io", "KubeadmConfigTemplate", b_name)},
                                             "infrastructureRef": self.ref(INFRA_GROUP, mk + "Template", m_name)}}}
            if self.v2:
                mhc = {"clusterName": name, "selector": selector,
                       "checks": {"unhealthyNodeConditions": [
                           {"type": "Ready", "status": "Unknown", "timeoutSeconds": 300},
                           {"type": "Ready", "status": "False", "timeoutSeconds": 300}]}}
            else:
                mhc = {"clusterName": name, "selector": selector, "unhealthyConditions": [
                    {"type": "Ready", "status": "Unknown", "timeout": "300s"},
                    {"type": "Ready", "status": "False", "timeout": "300s"}]}
            objs += [
                {"apiVersion": self.gv(INFRA_GROUP), "kind": mk + "Template", "metadata": self.meta(m_name, lab), "spec": m_spec},
                {"apiVersion": self.gv("bootstrap.cluster.x-k8s.io"), "kind": "KubeadmConfigTemplate", "metadata": self.meta(b_name, lab), "spec": b_spec},
                {"apiVersion": self.gv("cluster.x-k8s.io"), "kind": "MachineDeployment", "metadata": self.meta(pname, lab), "spec": md_spec},
                {"apiVersion": self.gv("cluster.x-k8s.io"), "kind": "MachineHealthCheck", "metadata": self.meta(pname, lab), "spec": mhc},
            ]
        return objs

    def definitions(self):
        """This cluster's own objects (the shared ClusterClass is separate: ``clusterclass``)."""
        if not self.version:
            raise TenantError("%s: no Kubernetes version (kubernetes.version or the release's)" % self.name)
        if self.mode == "explicit":
            return self.explicit()
        return [self.topology_cluster()]


def render(tenant, mode="topology", namespace=None, api=None):
    """{'clusterclass': [...], 'cluster': [...], 'api': {...}} for one tenant cluster."""
    r = Renderer(tenant, namespace=namespace, mode=mode, api=api)
    return {"clusterclass": r.clusterclass() if mode == "topology" else [],
            "cluster": r.definitions(), "api": dict(r.api), "class_name": r.class_name() if mode == "topology" else None}


# ---- bootstrap components ------------------------------------------------------------------
CALICO_CIDR_RE = re.compile(r'^(?P<i>[ \t]*)# - name: CALICO_IPV4POOL_CIDR\n(?P=i)#   value: "[^"\n]*"\n', re.M)


def calico(text, pod_cidr, origin="calico.yaml"):
    """Calico's manifest with the cluster's pod CIDR, as Calico's own install guide says: the
    commented CALICO_IPV4POOL_CIDR of calico-node uncommented and set (text-level, so the rest
    of the upstream file stays byte for byte)."""
    if not pod_cidr:
        raise TenantError("%s: no pod CIDR (networking.pod_cidrs) for Calico's IP pool" % origin)
    found = CALICO_CIDR_RE.findall(text)
    if len(found) != 1:
        raise TenantError("%s: expected one commented CALICO_IPV4POOL_CIDR entry (as upstream's calico.yaml has), "
                          "found %d" % (origin, len(found)))
    return CALICO_CIDR_RE.sub(lambda m: '%s- name: CALICO_IPV4POOL_CIDR\n%s  value: "%s"\n'
                              % (m.group("i"), m.group("i"), pod_cidr), text)


def flux_sync(name, url, branch, path, interval="1m", secret=None, namespace="flux-system"):
    """Flux's own sync objects inside a cluster: a GitRepository for the cluster-components
    repository and a Kustomization of the cluster's path in it (what `flux bootstrap` lays)."""
    repo = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"interval": interval, "url": url, "ref": {"branch": branch}}}
    if secret:
        repo["spec"]["secretRef"] = {"name": secret}
    ks = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
          "metadata": {"name": name, "namespace": namespace},
          "spec": {"interval": interval, "path": path, "prune": True,
                   "sourceRef": {"kind": "GitRepository", "name": name}}}
    return [repo, ks]


def components_path(tenant):
    """The cluster's own folder in cluster-components: <location>/<site>/<cluster>."""
    return "./%s/%s/%s" % (tenant.get("fleet_location") or "default", tenant["fleet_site"], tenant["fleet_name"])


def definitions_path(tenant, management_cluster=None):
    """The cluster's folder in cluster-definitions: <management cluster>/sites/<site>/<customer>/<cluster>."""
    return "%s/sites/%s/%s/%s" % (management_cluster or tenant["fleet_management_cluster"], tenant["fleet_site"],
                                  tenant["fleet_customer"], tenant["fleet_name"])


def remote_kustomizations(tenant, namespace, source, cni_path, flux_path, sync_path, pod_cidr, interval="10m",
                          git=None, credentials_secret=None):
    """``remote`` mode: Kustomizations in the management cluster that Flux there applies into the
    tenant through spec.kubeConfig (the <cluster>-kubeconfig Secret, key ``value``), retrying
    until the tenant answers."""
    name = tenant["fleet_name"]
    kubeconfig = {"secretRef": {"name": "%s-kubeconfig" % name, "key": "value"}}
    labels = {CLUSTER_LABEL: name}

    def ks(suffix, path, extra=None, depends=None):
        spec = {"interval": interval, "path": path, "prune": True, "wait": False, "timeout": "5m",
                "sourceRef": {"kind": "GitRepository", "name": source}, "kubeConfig": kubeconfig}
        if depends:
            spec["dependsOn"] = [{"name": "%s-%s" % (name, depends)}]
        spec.update(extra or {})
        return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": "%s-%s" % (name, suffix), "namespace": namespace, "labels": labels}, "spec": spec}

    cni_patch = {"patch": "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: calico-node\n  namespace: kube-system\n"
                          "spec:\n  template:\n    spec:\n      containers:\n        - name: calico-node\n          env:\n"
                          "            - name: CALICO_IPV4POOL_CIDR\n              value: \"%s\"\n" % pod_cidr,
                 "target": {"kind": "DaemonSet", "name": "calico-node", "namespace": "kube-system"}}
    substitute = {"CLUSTER_NAME": name, "CLUSTER_PATH": components_path(tenant),
                  "GIT_URL": (git or {}).get("url", ""), "GIT_BRANCH": (git or {}).get("branch", "main")}
    sync = {"postBuild": {"substitute": substitute}}
    if credentials_secret:
        sync["postBuild"]["substituteFrom"] = [{"kind": "Secret", "name": credentials_secret}]
    return [ks("cni", cni_path, {"patches": [cni_patch]}),
            ks("flux", flux_path, depends="cni"),
            ks("flux-sync", sync_path, sync, depends="flux")]


def crs_objects(tenant, namespace, documents, strategy="Reconcile", capi="v1beta2"):
    """``clusterresourceset`` mode: one ConfigMap per bundle - YAML text, or a list of objects -
    (each under the 1 MiB object limit)
    and a ClusterResourceSet selecting the cluster by the label capstan.fleet puts on it."""
    name = tenant["fleet_name"]
    objs, resources = [], []
    for key, text in documents:
        if not isinstance(text, str):  # objects: one YAML stream
            text = "".join("---\n" + yaml.safe_dump(d, sort_keys=False) for d in text)
        if len(text.encode()) > 1000 * 1024:
            raise TenantError("%s: bundle %s is %d bytes, over a ConfigMap's 1 MiB" % (name, key, len(text.encode())))
        cm = "%s-%s" % (name, key)
        meta = {"name": cm, "namespace": namespace, "labels": {CLUSTER_LABEL: name}}
        objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"%s.yaml" % key: text}})
        resources.append({"kind": "ConfigMap", "name": cm})
    objs.append({"apiVersion": "addons.cluster.x-k8s.io/%s" % capi, "kind": "ClusterResourceSet",
                 "metadata": {"name": "%s-bootstrap" % name, "namespace": namespace, "labels": {CLUSTER_LABEL: name}},
                 "spec": {"strategy": strategy, "clusterSelector": {"matchLabels": {CLUSTER_LABEL: name}},
                          "resources": resources}})
    return objs
