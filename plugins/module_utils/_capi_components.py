# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: Cluster API provider components, processed as clusterctl does.

Read from sigs.k8s.io/cluster-api v1.13.2, cmd/clusterctl/client/repository/components.go
(NewComponents) and its helpers; the steps, in clusterctl's order:

1. variables: legacy ``${ VAR }`` normalised, every variable found, all missing required ones
   reported together, then substitution in clusterctl's dialect (``_envsubst``);
2. the YAML split into objects;
3. image overrides (``images:`` of the clusterctl configuration: ``all``, ``<manifest label>``,
   ``<manifest label>/<image name>``, merged in that order) on Deployments and DaemonSets;
4. the target namespace: the one Namespace object of the file (more than one is an error),
   unless one is given; a Namespace object added when the file has none;
5. every namespaced object moved there; namespaced subjects of (Cluster)RoleBindings, webhook
   and CRD-conversion service namespaces, ``cert-manager.io/inject-ca-from`` and cert-manager
   Certificate dnsNames follow;
6. the labels ``clusterctl.cluster.x-k8s.io: ""`` and ``cluster.x-k8s.io/provider: <label>``;
7. Namespaces first, then cert-manager objects.

clusterctl v1.13 no longer renames ClusterRoles or ClusterRoleBindings after the namespace.
"""
from __future__ import annotations

import re

from ansible_collections.capstan.fleet.plugins.module_utils import _envsubst
from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError
from ansible_collections.capstan.fleet.plugins.module_utils._kube import yaml, yaml_load_all

PROVIDER_TYPES = {
    "core": "CoreProvider",
    "bootstrap": "BootstrapProvider",
    "control-plane": "ControlPlaneProvider",
    "infrastructure": "InfrastructureProvider",
    "ipam": "IPAMProvider",
    "runtime-extension": "RuntimeExtensionProvider",
    "addon": "AddonProvider",
}
CLUSTERCTL_LABEL = "clusterctl.cluster.x-k8s.io"
PROVIDER_LABEL = "cluster.x-k8s.io/provider"
CLUSTER_SCOPED = {
    "Namespace", "Node", "PersistentVolume", "PodSecurityPolicy", "CertificateSigningRequest", "ClusterRoleBinding",
    "ClusterRole", "VolumeAttachment", "StorageClass", "CSIDriver", "CSINode", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "CustomResourceDefinition", "PriorityClass", "RuntimeClass",
}
MISSING_VARIABLES = ("value for variables [%s] is not set. Please set the value using os environment variables "
                     "or the clusterctl config file")


class ComponentsError(FleetError):
    pass


def manifest_label(name, provider_type):
    """clusterctl's ManifestLabel: ``cluster-api``, ``bootstrap-kubeadm``, ``infrastructure-openstack``, ..."""
    if provider_type not in PROVIDER_TYPES:
        raise ComponentsError("unknown provider type %r (one of %s)" % (provider_type, ", ".join(PROVIDER_TYPES)))
    return name if provider_type == "core" else "%s-%s" % (provider_type, name)


def substitute(raw, lookup):
    """Return (text, variables) with clusterctl's substitution; ``lookup(name)`` is None when unset."""
    text = _envsubst.convert_legacy_vars(raw)
    try:
        variables = _envsubst.variables(text)
    except _envsubst.SubstitutionError as e:
        raise ComponentsError("failed to perform variable substitution: %s" % e)
    missing = sorted(name for name, default in variables.items() if default == "" and lookup(name) is None)
    if missing:
        raise ComponentsError("failed to perform variable substitution: " + MISSING_VARIABLES % ", ".join(missing))
    return _envsubst.evaluate(text, lambda name: lookup(name) or ""), variables


# ---- images ----------------------------------------------------------------------------------
_DIGEST = re.compile(r"@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})$")
_TAG = re.compile(r":([\w][\w.-]{0,127})$")


def parse_image(image):
    """util/container.ImageFromString for canonical references: (repository, name, tag, digest)."""
    rest, digest = image, ""
    m = _DIGEST.search(rest)
    if m:
        digest, rest = m.group(1), rest[:m.start()]
    tag = ""
    m = _TAG.search(rest)
    if m and "/" not in m.group(1):
        tag, rest = m.group(1), rest[:m.start()]
    if "/" not in rest:
        raise ComponentsError("couldn't parse image name: repository name must be canonical: %r" % image)
    domain = rest.split("/", 1)[0]
    if not ("." in domain or ":" in domain or domain == "localhost"):
        raise ComponentsError("couldn't parse image name: repository name must be canonical: %r" % image)
    if rest != rest.lower() or not re.match(r"^[a-z0-9.:/_-]+$", rest):
        raise ComponentsError("couldn't parse image name: invalid reference format: %r" % image)
    repo, name = rest.rsplit("/", 1)
    return repo, name, tag, digest


def image_string(repo, name, tag, digest):
    ref = "%s/%s" % (repo, name)
    if tag:
        ref += ":" + tag
    if digest:
        ref += "@" + digest
    return ref


def alter_image(images_config, component, image):
    """clusterctl's imageMetaClient.AlterImage: apply ``images:`` overrides to one image."""
    if not images_config:
        return image
    repo, name, tag, digest = parse_image(image)
    meta = {}
    for key in ("all", component, "%s/%s" % (component, name)):
        for field, value in (images_config.get(key) or {}).items():
            if value:
                meta[field] = value
    if meta.get("repository"):  # strings.TrimSuffix(repository, "/")
        repo = meta["repository"][:-1] if meta["repository"].endswith("/") else meta["repository"]
    if meta.get("name"):
        name = meta["name"]
    if meta.get("tag"):
        tag = meta["tag"]
    return image_string(repo, name, tag, digest)


def _pod_specs(obj):
    if obj.get("kind") in ("Deployment", "DaemonSet"):
        spec = (((obj.get("spec") or {}).get("template") or {}).get("spec")) or {}
        return [spec]
    return []


def fix_images(objs, images_config, component):
    for obj in objs:
        for spec in _pod_specs(obj):
            for key in ("containers", "initContainers"):
                for c in spec.get(key) or []:
                    if c.get("image"):
                        c["image"] = alter_image(images_config, component, c["image"])


def images_of(objs):
    out = []
    for obj in objs:
        for spec in _pod_specs(obj):
            out += [c.get("image", "") for c in spec.get("containers") or []]
            out += [c.get("image", "") for c in spec.get("initContainers") or []]
    return out


# ---- namespaces --------------------------------------------------------------------------------
def _meta(obj):
    return obj.setdefault("metadata", {})


def fix_target_namespace(objs, namespace):
    for obj in objs:
        kind = obj.get("kind")
        meta = _meta(obj)
        if kind == "Namespace":
            meta["name"] = namespace
        original = meta.get("namespace", "")
        if kind not in CLUSTER_SCOPED:
            meta["namespace"] = namespace
        if kind in ("ClusterRoleBinding", "RoleBinding"):
            for subject in obj.get("subjects") or []:
                if subject.get("namespace"):
                    subject["namespace"] = namespace
        elif kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "CustomResourceDefinition"):
            annotations = meta.get("annotations") or {}
            inject = annotations.get("cert-manager.io/inject-ca-from")
            if inject is not None:
                parts = inject.split("/")
                if len(parts) != 2:
                    raise ComponentsError("object %s %s does not have a correct value for cert-manager.io/inject-ca-from"
                                          % (kind, meta.get("name")))
                annotations["cert-manager.io/inject-ca-from"] = namespace + "/" + parts[1]
            if kind == "CustomResourceDefinition":
                service = ((((obj.get("spec") or {}).get("conversion") or {}).get("webhook") or {})
                           .get("clientConfig") or {}).get("service")
                if service is not None:
                    service["namespace"] = namespace
            else:
                for hook in obj.get("webhooks") or []:
                    service = (hook.get("clientConfig") or {}).get("service")
                    if service is not None:
                        service["namespace"] = namespace
        elif kind == "Certificate" and obj.get("apiVersion", "").startswith("cert-manager.io/"):
            names = (obj.get("spec") or {}).get("dnsNames")
            if isinstance(names, list):
                obj["spec"]["dnsNames"] = [n.replace(".%s." % original, ".%s." % namespace, 1) for n in names]


def process(raw, name, provider_type, lookup, images_config=None, target_namespace=None):
    """Everything clusterctl does to a components file; returns a dict with the objects and facts."""
    label = manifest_label(name, provider_type)
    text, variables = substitute(raw, lookup)
    try:
        objs = [o for o in yaml_load_all(text) if o]
    except yaml.YAMLError as e:
        raise ComponentsError("failed to parse yaml: %s" % e)
    for i, o in enumerate(objs):
        if not isinstance(o, dict) or not o.get("kind"):
            raise ComponentsError("failed to parse yaml: document %d is not a Kubernetes object" % i)
    fix_images(objs, images_config or {}, label)
    images = images_of(objs)
    namespaces = [o["metadata"]["name"] for o in objs if o.get("kind") == "Namespace"]
    if len(namespaces) > 1:
        raise ComponentsError("failed to detect default target namespace: Invalid manifest. There should be no more "
                              "than one resource with Kind Namespace in the provider components yaml")
    namespace = target_namespace or (namespaces[0] if namespaces else "")
    if not namespace:
        raise ComponentsError("target namespace can't be defaulted. Please specify a target namespace")
    if not namespaces:
        objs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    fix_target_namespace(objs, namespace)
    for o in objs:
        labels = _meta(o).get("labels") or {}
        labels.update({CLUSTERCTL_LABEL: "", PROVIDER_LABEL: label})
        o["metadata"]["labels"] = labels
    # Namespaces first, cert-manager objects next, the rest in file order
    objs.sort(key=lambda o: 0 if o.get("kind") == "Namespace" else
              1 if o.get("apiVersion", "").startswith("cert-manager.io/") else 2)
    return {
        "objects": objs,
        "label": label,
        "namespace": namespace,
        "variables": sorted(variables),
        "images": images,
    }


def inventory_object(name, provider_type, version, namespace):
    """The clusterctl inventory entry (clusterctl.cluster.x-k8s.io/v1alpha3 Provider) for one provider."""
    label = manifest_label(name, provider_type)
    return {
        "apiVersion": "clusterctl.cluster.x-k8s.io/v1alpha3",
        "kind": "Provider",
        "metadata": {
            "name": label,
            "namespace": namespace,
            "labels": {CLUSTERCTL_LABEL: "", PROVIDER_LABEL: label, CLUSTERCTL_LABEL + "/core": "inventory"},
        },
        "providerName": name,
        "type": PROVIDER_TYPES[provider_type],
        "version": version,
    }
