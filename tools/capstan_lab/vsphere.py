"""The lab's vcsim inventory: one VM made into the node template."""
import ssl
import time

from capstan_lab.errors import LabError


def connect(vs, password):
    from pyVim.connect import SmartConnect

    ctx = ssl.create_default_context(cafile=vs["ca_cert"])
    return SmartConnect(host=vs["host"], port=int(vs["port"]), user=vs["username"], pwd=password, sslContext=ctx)


def _wait(task, timeout=60):
    """Poll a task (pyVim's WaitForTask trips over vcsim's task names)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = task.info
        if info.state == "success":
            return info.result
        if info.state == "error":
            raise LabError(f"vcsim task failed: {info.error.msg if info.error else 'unknown error'}")
        time.sleep(0.1)
    raise LabError(f"vcsim task did not finish within {timeout}s")


def make_template(vs, password):
    from pyVim.connect import Disconnect
    from pyVmomi import vim

    si = connect(vs, password)
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        vms = {vm.name: vm for vm in view.view}
        view.Destroy()
        if vs["template"] in vms:
            return False
        source = vms.get("DC0_C0_RP0_VM0") or sorted(vms.values(), key=lambda v: v.name)[0]
        spec = vim.vm.CloneSpec(location=vim.vm.RelocateSpec(), powerOn=False, template=True)
        _wait(source.CloneVM_Task(folder=source.parent, name=vs["template"], spec=spec))
        return True
    finally:
        Disconnect(si)
