"""Give ansible-test a pip bootstrap script that works with only the package index.

ansible-test bootstraps pip into its sanity virtual environments with a get-pip script it
downloads from a CI file server, which this project's machines cannot reach. It takes a
script already in its cache instead; this one installs the bundled pip (ensurepip, offline)
and then the exact pip version ansible-test asks for from the package index. A real
get-pip script already in the cache is left alone.
"""
import os
import re
import sys
from pathlib import Path

SCRIPT = '''\
"""get-pip stand-in written by capstan.fleet's tests/sanity/seed_get_pip.py."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + args)
'''


def main():
    import ansible_test

    source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    m = re.search(r"pip='([0-9.]+)'", source.read_text())
    if not m:
        sys.exit(f"cannot find the pip version ansible-test bootstraps in {source}")
    path = Path(os.path.expanduser(f"~/.ansible/test/cache/get_pip_{m.group(1).replace('.', '_')}.py"))
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SCRIPT)
    print(f"seeded {path}")


if __name__ == "__main__":
    main()
