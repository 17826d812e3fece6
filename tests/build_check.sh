#!/usr/bin/env bash
# The collection builds into a tarball that installs offline into a clean collections
# path, and ansible-doc renders every module from that install.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# no ansible.cfg of this checkout (it links the working tree in as capstan.fleet):
# only the built and installed copy may be seen
: >"$out/empty.cfg"
export ANSIBLE_CONFIG="$out/empty.cfg" ANSIBLE_NOCOLOR=1
unset PYTHONPATH ANSIBLE_COLLECTIONS_PATH
ansible-galaxy collection build --force --output-path "$out/dist" . >/dev/null
tarball=$(ls "$out"/dist/capstan-fleet-*.tar.gz)
ANSIBLE_COLLECTIONS_PATH="$out/collections" \
  ansible-galaxy collection install --force --offline --no-deps -p "$out/collections" "$tarball" >"$out/install.log" 2>&1 || { cat "$out/install.log"; exit 1; }
test -f "$out/collections/ansible_collections/capstan/fleet/MANIFEST.json" || { cat "$out/install.log"; exit 1; }
modules=$(cd plugins/modules && ls ./*.py | sed 's|^\./||; s|\.py$||')
count=0
for m in $modules; do
  ANSIBLE_COLLECTIONS_PATH="$out/collections" ansible-doc "capstan.fleet.$m" >"$out/doc.txt" 2>&1 || { cat "$out/doc.txt"; echo "ansible-doc capstan.fleet.$m failed"; exit 1; }
  grep -q "capstan.fleet.$m ($out/collections/" "$out/doc.txt" ||
    { head -3 "$out/doc.txt"; echo "capstan.fleet.$m was not read from the installed copy"; exit 1; }
  count=$((count + 1))
done
ANSIBLE_COLLECTIONS_PATH="$out/collections" ansible-doc -t inventory capstan.fleet.fleet >"$out/doc.txt" 2>&1 ||
  { cat "$out/doc.txt"; echo "ansible-doc -t inventory capstan.fleet.fleet failed"; exit 1; }
grep -q "capstan.fleet.fleet ($out/collections/" "$out/doc.txt" || { echo "the inventory plugin was not read from the installed copy"; exit 1; }
count=$((count + 1))
for f in $(cd plugins/filter && ls ./*.yml | sed 's|^\./||; s|\.yml$||'); do
  ANSIBLE_COLLECTIONS_PATH="$out/collections" ansible-doc -t filter "capstan.fleet.$f" >"$out/doc.txt" 2>&1 ||
    { cat "$out/doc.txt"; echo "ansible-doc -t filter capstan.fleet.$f failed"; exit 1; }
  grep -q "capstan.fleet.$f ($out/collections/" "$out/doc.txt" || { echo "filter $f was not read from the installed copy"; exit 1; }
  count=$((count + 1))
done
roles=0
for r in $(ls roles); do
  ANSIBLE_COLLECTIONS_PATH="$out/collections" ansible-doc -t role "capstan.fleet.$r" >"$out/doc.txt" 2>&1 ||
    { cat "$out/doc.txt"; echo "ansible-doc -t role capstan.fleet.$r failed"; exit 1; }
  grep -q "ENTRY POINT: \*\?main" "$out/doc.txt" || { head -5 "$out/doc.txt"; echo "capstan.fleet.$r has no documented main entry point"; exit 1; }
  roles=$((roles + 1))
done
# the lab and the test tree stay out of the installed collection
if tar -tzf "$tarball" | grep -qE '^(\.venv|\.build)/'; then echo "build artefacts in $tarball"; exit 1; fi
echo "build-check: $(basename "$tarball") installs offline; ansible-doc renders $count plugins and $roles roles"
