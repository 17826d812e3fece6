# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files of a GitOps repository written and committed in one step, with the ``git`` command.

One call owns some folders of a working tree: it writes the files it is given there, removes the
files there that it is not given, and makes one commit when (and only when) that changed
something. Several processes may write one repository at once (forks of one play each writing
their cluster's folder): a lock file in the repository's ``.git`` serialises them, so each gets
its own commit and none sees another's half-written index.
"""
from __future__ import annotations

import difflib
import fcntl
import os
import shutil
import subprocess
import tempfile

from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError
from ansible_collections.capstan.fleet.plugins.module_utils._kube import yaml

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


class GitError(FleetError):
    pass


def _dump(content):
    if isinstance(content, str):
        return content if content.endswith("\n") or not content else content + "\n"
    if isinstance(content, list):
        return "".join("---\n" + yaml.safe_dump(d, sort_keys=False, default_flow_style=False) for d in content)
    return yaml.safe_dump(content, sort_keys=False, default_flow_style=False)


class Repo(object):
    def __init__(self, path, git="git"):
        self.path = os.path.abspath(path)
        self.git_bin = git

    def git(self, *args, check=True):
        env = dict(os.environ, **GIT_ENV)
        try:
            res = subprocess.run([self.git_bin] + list(args), cwd=self.path, capture_output=True, text=True, env=env, check=False)
        except OSError as e:
            raise GitError("cannot run git (%s): %s" % (self.git_bin, e))
        if check and res.returncode != 0:
            raise GitError("git %s in %s failed: %s" % (" ".join(args[:2]), self.path, (res.stderr or res.stdout).strip()))
        return res

    def exists(self):
        return os.path.isdir(os.path.join(self.path, ".git"))

    def init(self, branch):
        """Make the working tree a repository. Forks of one play may all find it missing at once:
        each initialises a private directory and renames its ``.git`` into place (atomic), so one
        wins and the others use the winner's (``git init`` run twice on one path at once fails)."""
        os.makedirs(self.path, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".capstan-init-", dir=self.path)
        try:
            Repo(tmp, self.git_bin).git("init", "-q", "-b", branch)
            try:
                os.rename(os.path.join(tmp, ".git"), os.path.join(self.path, ".git"))
            except OSError:
                if not self.exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def head(self):
        res = self.git("rev-parse", "--verify", "-q", "HEAD", check=False)
        return res.stdout.strip() or None


def _safe_rel(path, what):
    norm = os.path.normpath(path)
    if os.path.isabs(path) or norm.startswith("..") or norm == ".":
        raise GitError("%s %r must be a relative path inside the repository" % (what, path))
    return norm


def plan(root, files, owned):
    """What to write and remove: ({rel: (old or None, new)}, [rel to remove])."""
    wanted = {}
    for f in files:
        rel = _safe_rel(f["path"], "files[].path")
        wanted[rel] = _dump(f.get("content"))
    owned = [_safe_rel(d, "owned") for d in owned or []]
    for rel in wanted:
        if owned and not any(rel == d or rel.startswith(d + os.sep) for d in owned):
            raise GitError("files[].path %r is outside the owned folders (%s)" % (rel, ", ".join(owned)))
    writes = {}
    for rel, new in wanted.items():
        full = os.path.join(root, rel)
        old = None
        if os.path.isfile(full):
            with open(full, encoding="utf-8") as fh:
                old = fh.read()
        if old != new:
            writes[rel] = (old, new)
    removes = []
    for d in owned:
        base = os.path.join(root, d)
        for dirpath, _dirs, names in os.walk(base):
            for n in names:
                rel = os.path.relpath(os.path.join(dirpath, n), root)
                if rel not in wanted:
                    removes.append(rel)
    return writes, sorted(removes)


def diff_text(root, writes, removes):
    out = []
    for rel in sorted(writes):
        old, new = writes[rel]
        out += difflib.unified_diff((old or "").splitlines(True), new.splitlines(True),
                                    "a/" + rel if old is not None else "/dev/null", "b/" + rel)
    for rel in removes:
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as fh:
            out += difflib.unified_diff(fh.read().splitlines(True), [], "a/" + rel, "/dev/null")
    return "".join(out)


def commit_files(path, files, owned, message, branch="main", author=("capstan.fleet", "capstan-fleet@localhost"),
                 create=True, check_mode=False):
    """Write ``files`` ([{path, content}]) under ``owned`` folders and commit. Returns a dict
    with changed, commit, written, removed, diff."""
    repo = Repo(path)
    if not repo.exists():
        if not create:
            raise GitError("%s is not a Git working tree (create=false)" % repo.path)
        if check_mode:
            writes, removes = plan(repo.path, files, owned)
            return {"changed": True, "commit": None, "written": sorted(writes), "removed": removes,
                    "diff": diff_text(repo.path, writes, [])}
        repo.init(branch)
    lock_path = os.path.join(repo.path, ".git", "capstan-fleet.lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        writes, removes = plan(repo.path, files, owned)
        result = {"written": sorted(writes), "removed": removes, "diff": diff_text(repo.path, writes, removes),
                  "commit": repo.head()}
        if check_mode or not (writes or removes):
            result["changed"] = bool(writes or removes)
            return result
        for rel, (_old, new) in writes.items():
            full = os.path.join(repo.path, rel)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            tmp = full + ".capstan-tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(new)
            os.replace(tmp, full)
        tracked = set(repo.git("ls-files", "-z", "--", *removes).stdout.split("\0")) if removes else set()
        for rel in removes:
            os.unlink(os.path.join(repo.path, rel))
        # an untracked stray file that was removed is no change to the repository
        paths = sorted(set(writes) | (set(removes) & tracked))
        if not paths:
            result["changed"] = True
            return result
        repo.git("add", "-A", "--", *paths)
        staged = repo.git("diff", "--cached", "--quiet", "--", *paths, check=False)
        if staged.returncode == 0:  # the working tree differed only in what git ignores
            result["changed"] = False
            return result
        name, email = author
        repo.git("-c", "user.name=%s" % name, "-c", "user.email=%s" % email, "-c", "commit.gpgsign=false",
                 "commit", "-q", "-m", message, "--", *paths)
        result["commit"] = repo.head()
        result["changed"] = True
        return result
