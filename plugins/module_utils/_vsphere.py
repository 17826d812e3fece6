# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: the one vSphere client (pyvmomi) and inventory reads."""
from __future__ import annotations

import os
import ssl

try:
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim, vmodl

    HAS_PYVMOMI = True
    PYVMOMI_IMPORT_ERROR = None
except ImportError as e:
    HAS_PYVMOMI = False
    PYVMOMI_IMPORT_ERROR = e

from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError

VSPHERE_AUTH_ARGSPEC = dict(
    hostname=dict(type="str"),
    port=dict(type="int", default=443),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    ca_cert=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
)


class VSphereError(FleetError):
    pass


class VSphereClient(object):
    """A logged-in vCenter session; use as a context manager so it always logs out."""

    def __init__(self, params):
        host = params.get("hostname") or os.environ.get("VMWARE_HOST")
        user = params.get("username") or os.environ.get("VMWARE_USER")
        password = params.get("password") or os.environ.get("VMWARE_PASSWORD")
        missing = [n for n, v in (("hostname", host), ("username", user), ("password", password)) if not v]
        if missing:
            raise VSphereError("vSphere connection needs %s (options or VMWARE_HOST/VMWARE_USER/VMWARE_PASSWORD)"
                               % ", ".join(missing))
        port = params.get("port") or 443
        if ":" in host:
            host, port = host.rsplit(":", 1)
            port = int(port)
        if params.get("validate_certs", True):
            ctx = ssl.create_default_context(cafile=params.get("ca_cert"))
        else:
            ctx = ssl._create_unverified_context()  # the user asked for no verification
        try:
            self.si = SmartConnect(host=host, port=port, user=user, pwd=password, sslContext=ctx)
        except vim.fault.InvalidLogin:
            raise VSphereError("vCenter %s:%s refused the login of %s" % (host, port, user))
        except (ssl.SSLError, OSError) as e:
            raise VSphereError("cannot reach vCenter %s:%s: %s" % (host, port, e))
        except vmodl.MethodFault as e:
            raise VSphereError("vCenter %s:%s: %s" % (host, port, e.msg))
        self.content = self.si.RetrieveContent()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        Disconnect(self.si)

    def objects(self, vimtype, root=None):
        view = self.content.viewManager.CreateContainerView(root or self.content.rootFolder, [vimtype], True)
        try:
            return list(view.view)
        finally:
            view.Destroy()

    def inventory(self, datacenter=None):
        """Datacenters with their clusters, hosts, datastores, networks and VM templates."""
        out = []
        for dc in self.objects(vim.Datacenter):
            if datacenter and dc.name != datacenter:
                continue
            vms = self.objects(vim.VirtualMachine, dc.vmFolder)
            out.append({
                "name": dc.name,
                "clusters": sorted(c.name for c in self.objects(vim.ClusterComputeResource, dc.hostFolder)),
                "hosts": sorted(h.name for h in self.objects(vim.HostSystem, dc.hostFolder)),
                "datastores": sorted(d.name for d in dc.datastore),
                "networks": sorted(n.name for n in dc.network),
                "templates": sorted(v.name for v in vms if v.config and v.config.template),
                "vms": len(vms),
            })
        if datacenter and not out:
            raise VSphereError("vCenter has no datacenter named %r" % datacenter)
        return out
