#!/usr/bin/env bash
# Writes a minimal busybox root filesystem as a tar, for `berth import`:
#   tools/make-busybox-image.sh OUT.tar [BUSYBOX]
# The tree holds a static busybox (default /bin/busybox, from the
# busybox-static package) with one symlink per applet, /etc/passwd and
# /etc/group (root and nobody), /tmp (1777) and empty /root /home /proc /sys
# /dev. The tar is deterministic (sorted names, fixed mtime, owner 0/0), so
# the same busybox always gives the same layer digest.
set -euo pipefail
umask 022

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 OUT.tar [BUSYBOX]" >&2
  exit 2
fi
out=$1
busybox=${2:-/bin/busybox}
if [ ! -x "$busybox" ]; then
  echo "$0: $busybox not found (install the busybox-static package)" >&2
  exit 1
fi
# A dynamically linked busybox would not run inside the image.
if ldd "$busybox" >/dev/null 2>&1; then
  echo "$0: $busybox is dynamically linked; install busybox-static" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,etc,root,home,proc,sys,dev,tmp}
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
cp "$busybox" "$root/bin/busybox"
chmod 755 "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] && continue
  ln -s busybox "$root/bin/$applet"
done
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
chmod 644 "$root/etc/passwd" "$root/etc/group"

tmp_out="$out.tmp.$$"
tar --create --file "$tmp_out" --directory "$root" \
  --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
  --format=gnu .
mv "$tmp_out" "$out"
