#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: gitops_commit
short_description: Write files into folders of a Git working tree and commit them, only when they change
version_added: 0.1.0
author: capstan.fleet developers (@capstan-fleet)
description:
  - Owns the folders named in O(owned) of a local Git working tree (a clone of a GitOps
    repository such as C(cluster-definitions) or C(cluster-components)) - writes the files of
    O(files) there, removes the files there that O(files) does not name, and makes one commit
    when that changed anything. Nothing changed means no commit and C(changed=false).
  - Several tasks may write one repository at the same time (one per tenant cluster, in
    forks) - a lock file in the repository's C(.git) serialises them, each change gets a
    commit of its own.
  - Does not push. Pushing to the remote (and the credentials for it) is the user's choice
    of tool; the module returns the commit to push.
  - Needs the C(git) command on the host that runs it.
options:
  repo:
    description: Path of the working tree.
    type: path
    required: true
  create:
    description: Run C(git init) when O(repo) is not a working tree yet; otherwise fail.
    type: bool
    default: true
  branch:
    description: Initial branch of a repository made with O(create).
    type: str
    default: main
  owned:
    description:
      - Folders (relative to O(repo)) that this task owns; files there that O(files) does not
        name are removed. Every path in O(files) must be inside one of them.
      - An empty list owns nothing and removes nothing.
    type: list
    elements: str
    default: []
  files:
    description: The files to have.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Path relative to O(repo).
        type: str
        required: true
      content:
        description: Text as is, or data (a dict, or a list of documents) written as YAML.
        type: raw
        required: true
  commit_message:
    description: The commit message.
    type: str
    required: true
  author_name:
    description: Author and committer name of the commit.
    type: str
    default: capstan.fleet
  author_email:
    description: Author and committer e-mail of the commit.
    type: str
    default: capstan-fleet@localhost
notes:
  - Check mode reports what would be written and removed (and the diff with C(--diff)) and
    writes nothing.
attributes:
  check_mode:
    description: Reports what would be written and removed; writes nothing.
    support: full
  diff_mode:
    description: The unified diff of the files.
    support: full
"""

EXAMPLES = r"""
- name: A tenant cluster's definitions into the cluster-definitions repository
  capstan.fleet.gitops_commit:
    repo: /srv/gitops/cluster-definitions
    owned: [mgmt-prd/sites/fra1/acme/acme-prd-01]
    files:
      - path: mgmt-prd/sites/fra1/acme/acme-prd-01/cluster.yaml
        content: "{{ definitions }}"
    commit_message: "acme-prd-01: definitions of release r2026-11"
"""

RETURN = r"""
commit:
  description: The commit at HEAD after the task (the new one when C(changed)); null in an empty repository.
  returned: always
  type: str
written:
  description: Files written (new or changed), relative to O(repo).
  returned: always
  type: list
  elements: str
removed:
  description: Files removed from the owned folders.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.capstan.fleet.plugins.module_utils._git import commit_files  # noqa: E402
from ansible_collections.capstan.fleet.plugins.module_utils._module import FleetModule  # noqa: E402


class GitopsCommit(FleetModule):
    argument_spec = dict(
        repo=dict(type="path", required=True),
        create=dict(type="bool", default=True),
        branch=dict(type="str", default="main"),
        owned=dict(type="list", elements="str", default=[]),
        files=dict(type="list", elements="dict", default=[], options=dict(
            path=dict(type="str", required=True),
            content=dict(type="raw", required=True),
        )),
        commit_message=dict(type="str", required=True),
        author_name=dict(type="str", default="capstan.fleet"),
        author_email=dict(type="str", default="capstan-fleet@localhost"),
    )

    def run(self):
        p = self.params
        res = commit_files(p["repo"], p["files"], p["owned"], p["commit_message"], branch=p["branch"],
                           author=(p["author_name"], p["author_email"]), create=p["create"], check_mode=self.check_mode)
        diff_text = res.pop("diff")
        out = dict(res)
        if self.diff_mode and diff_text:
            out["diff"] = {"prepared": diff_text}
        return out


def main():
    GitopsCommit()()


if __name__ == "__main__":
    main()
