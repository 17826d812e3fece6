"""Benchmark: capstan.fleet.manifest vs `kubectl apply --server-side` vs kubernetes.core.k8s,
applying the same 1,000 objects to the lab's real kube-apiserver.

    .venv/bin/python bench/manifest_bench.py [--objects 1000] [--runs 3] [--workdir DIR]

One fresh lab for the whole benchmark. Each run of each tool applies a bundle of its own (its
own Namespace, so every run creates every object): ConfigMaps, Secrets, ServiceAccounts,
Services, Roles and RoleBindings in equal parts, 1,000 objects in all plus the Namespace.
Timed: the whole command (`kubectl apply --server-side -f`, or `ansible-playbook` with one
task: capstan.fleet.manifest with `src`, or kubernetes.core.k8s with `src` and
`apply: true` + `server_side_apply`, kubernetes.core 6.2.0 from the `ansible` 12.3.0 wheel
on PyPI). Runs alternate between the tools; the table gives the medians, objects per second,
peak RSS, and the throughput ratios (goals: >= 1.5 x kubectl, >= 5 x kubernetes.core).
A second apply of the same bundle (no change) is timed for capstan and kubectl too, and the
floor of any Ansible run (one play, one kube_object_info task) for scale.
"""
import json
import statistics
from pathlib import Path

import yaml

import _common as common
from capstan_lab import build


def bundle(ns, count):
    kinds = ["ConfigMap", "Secret", "ServiceAccount", "Service", "Role", "RoleBinding"]
    objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}]
    for i in range(count):
        kind = kinds[i % len(kinds)]
        meta = {"name": "obj-%04d" % i, "namespace": ns, "labels": {"bench": "capstan", "index": str(i)}}
        if kind == "ConfigMap":
            o = {"apiVersion": "v1", "kind": kind, "metadata": meta, "data": {"key": "value-%d" % i, "more": "x" * 64}}
        elif kind == "Secret":
            o = {"apiVersion": "v1", "kind": kind, "metadata": meta, "stringData": {"token": "t-%d" % i}}
        elif kind == "ServiceAccount":
            o = {"apiVersion": "v1", "kind": kind, "metadata": meta}
        elif kind == "Service":
            o = {"apiVersion": "v1", "kind": kind, "metadata": meta,
                 "spec": {"selector": {"app": meta["name"]}, "ports": [{"port": 80, "targetPort": 8080}]}}
        elif kind == "Role":
            o = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
                 "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}
        else:
            o = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": meta["name"]},
                 "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": ns}]}
        objs.append(o)
    return objs


def main():
    p = common.parser(__doc__)
    p.add_argument("--objects", type=int, default=1000)
    args = p.parse_args()
    work = common.workdir(args)
    kubectl = build.ensure_binaries(["kubectl"])["kubectl"]
    kcore = common.kubernetes_core()
    tools = ("capstan", "kubectl", "kubernetes.core")
    runs = {t: [] for t in tools}
    noop = {"capstan": [], "kubectl": []}
    floors = []
    with common.FreshLab(work) as lab:
        for i in range(args.runs):
            floors.append(common.floor(lab.kubeconfig, work))
            order = tools[i % 3:] + tools[:i % 3]
            for tool in order:
                ns = "bench-%s-%d" % (tool.replace(".", "-"), i)
                path = work / ("%s.yaml" % ns)
                path.write_text(yaml.safe_dump_all(bundle(ns, args.objects)))
                if tool == "kubectl":
                    cmd, env = [kubectl, "--kubeconfig", lab.kubeconfig, "apply", "--server-side", "-f", path], {}
                elif tool == "capstan":
                    book = common.write_play(work / ("%s.yml" % ns), [{"capstan.fleet.manifest": {"src": [str(path)]}}],
                                             lab.kubeconfig)
                    cmd, env = common.playbook_cmd(book)
                else:
                    book = common.write_play(work / ("%s.yml" % ns), [{"kubernetes.core.k8s": {
                        "kubeconfig": lab.kubeconfig, "src": str(path), "apply": True,
                        "server_side_apply": {"field_manager": "bench"}}}], lab.kubeconfig)
                    cmd, env = common.playbook_cmd(book, extra_collections=[kcore])
                runs[tool].append(common.measure(cmd, env, "%s apply" % tool))
                if tool in noop:
                    noop[tool].append(common.measure(cmd, env, "%s re-apply" % tool))
                print("run %d %s: %.2f s %.0f MiB" % (i, tool, runs[tool][-1][0], runs[tool][-1][1]), flush=True)
    row = {"objects": args.objects, "runs": args.runs}
    for t in tools:
        row[t + "_s"] = statistics.median(x[0] for x in runs[t])
        row[t + "_mib"] = statistics.median(x[1] for x in runs[t])
        row[t + "_objects_per_s"] = (args.objects + 1) / row[t + "_s"]
    for t in noop:
        row[t + "_noop_s"] = statistics.median(x[0] for x in noop[t])
    row["floor_s"] = statistics.median(x[0] for x in floors)
    row["capstan_apply_phase_s"] = row["capstan_s"] - row["floor_s"]
    row["throughput_vs_kubectl"] = row["capstan_objects_per_s"] / row["kubectl_objects_per_s"]
    row["throughput_vs_kubernetes_core"] = row["capstan_objects_per_s"] / row["kubernetes.core_objects_per_s"]
    for t in tools:
        print("%-16s %7.2f s %7.0f objects/s %5.0f MiB%s" % (
            t, row[t + "_s"], row[t + "_objects_per_s"], row[t + "_mib"],
            ("   re-apply %.2f s" % row[t + "_noop_s"]) if t in noop else ""))
    print("capstan throughput: %.2f x kubectl, %.2f x kubernetes.core; one-task Ansible floor %.2f s"
          % (row["throughput_vs_kubectl"], row["throughput_vs_kubernetes_core"], row["floor_s"]))
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
