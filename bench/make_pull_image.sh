#!/usr/bin/env bash
# Makes the image bench/pull.sh pulls: an OCI image layout (tag "bench") of
# five gzip layers (gzip -6, as registries usually hold them), about 390 MB
# unpacked, from this machine's files and made-up ones:
#   1  usr/include                        headers: text, ~10,000 files
#   2  usr/lib/python3 usr/share/i18n     many small source files
#   3  opt/random/{a,b,c}.bin             48 MB from /dev/urandom (gzip cannot shrink it)
#   4  usr/share/man                      small files that are gzip already
#   5  app/node_modules/...               8,000 made-up small files (0.2-4 KB),
#                                         a symlink per package, etc/ files
#
#   bench/make_pull_image.sh OUT_DIR
# OUT_DIR is made; an OUT_DIR that already holds a complete layout is kept
# (FORCE=1 remakes it). Prints the layout's size and layer sizes.
set -euo pipefail
umask 022

if [ $# -ne 1 ]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out=$1
if [ -s "$out/index.json" ] && [ "${FORCE:-0}" != 1 ]; then
  echo "make_pull_image: $out exists (FORCE=1 to remake)" >&2
  exit 0
fi
for t in tar gzip sha256sum python3; do
  command -v $t >/dev/null || { echo "make_pull_image: $t missing" >&2; exit 1; }
done

mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$out.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/layout/blobs/sha256" "$work/src3" "$work/src5"

# --- made-up content ---------------------------------------------------------------
mkdir -p "$work/src3/opt/random"
for f in a b c; do head -c $((16 << 20)) /dev/urandom >"$work/src3/opt/random/$f.bin"; done

python3 - "$work/src5" <<'EOF'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(5)
words = ("function return const module exports require value index default "
         "object string number array length prototype undefined null true false "
         "this that export import from async await promise callback error").split()
for p in range(400):
    pkg = os.path.join(root, "app", "node_modules", "pkg-%03d" % p)
    os.makedirs(os.path.join(pkg, "lib"), exist_ok=True)
    for i in range(20):
        n = rnd.randint(200, 4000)
        text = []
        size = 0
        while size < n:
            w = rnd.choice(words)
            text.append(w)
            size += len(w) + 1
        with open(os.path.join(pkg, "lib", "file-%02d.js" % i), "w") as f:
            f.write(" ".join(text) + "\n")
    with open(os.path.join(pkg, "package.json"), "w") as f:
        f.write('{"name": "pkg-%03d", "version": "1.0.%d", "main": "lib/file-00.js"}\n' % (p, p))
    os.symlink("lib/file-00.js", os.path.join(pkg, "index.js"))
os.makedirs(os.path.join(root, "etc"), exist_ok=True)
with open(os.path.join(root, "etc", "app.conf"), "w") as f:
    f.write("listen = 8080\nworkers = 4\n")
EOF

# --- layers: tar | tee (diff ID) | gzip -6, in parallel ----------------------------
make_layer() {  # n dir paths...
  local n=$1 dir=$2
  shift 2
  tar --create --numeric-owner -C "$dir" "$@" 2>/dev/null |
    tee >(sha256sum | cut -d' ' -f1 >"$work/diff$n") |
    gzip -n -6 >"$work/layer$n.gz" || true  # (tar: "file changed as we read it"); checked below
  # tee's process substitution may still be writing.
  for _ in $(seq 1 100); do [ -s "$work/diff$n" ] && break; sleep 0.05; done
}
echo "make_pull_image: making 5 layers (gzip -6)..." >&2
make_layer 1 / usr/include &
make_layer 2 / usr/lib/python3 usr/share/i18n &
wait
make_layer 3 "$work/src3" opt &
make_layer 4 / usr/share/man &
make_layer 5 "$work/src5" app etc &
wait
for n in 1 2 3 4 5; do
  if [ ! -s "$work/layer$n.gz" ] || [ ! -s "$work/diff$n" ]; then
    echo "make_pull_image: layer $n failed" >&2
    exit 1
  fi
done

# --- config, manifest, index -----------------------------------------------------------
python3 - "$work" <<'EOF'
import hashlib, json, os, sys
work = sys.argv[1]
blobs = os.path.join(work, "layout", "blobs", "sha256")

def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)

layers, diff_ids = [], []
for n in range(1, 6):
    path = os.path.join(work, "layer%d.gz" % n)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    d = h.hexdigest()
    os.rename(path, os.path.join(blobs, d))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "digest": "sha256:" + d, "size": os.path.getsize(os.path.join(blobs, d))})
    diff_ids.append("sha256:" + open(os.path.join(work, "diff%d" % n)).read().strip())
config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
          "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
          "rootfs": {"type": "layers", "diff_ids": diff_ids},
          "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "layer %d" % i}
                      for i in range(1, 6)]}
cd, cs = put(json.dumps(config, separators=(",", ":")).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cd, "size": cs},
            "layers": layers}
md, ms = put(json.dumps(manifest, separators=(",", ":")).encode())
index = {"schemaVersion": 2, "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
     "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}
with open(os.path.join(work, "layout", "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
with open(os.path.join(work, "layout", "index.json"), "w") as f:
    json.dump(index, f)
EOF

rm -rf "$out"
mv "$work/layout" "$out"
echo "make_pull_image: $out: $(du -sh "$out" | cut -f1) compressed; layers:" >&2
python3 - "$out" <<'EOF' >&2
import json, os, sys
out = sys.argv[1]
idx = json.load(open(os.path.join(out, "index.json")))
m = json.load(open(os.path.join(out, "blobs/sha256", idx["manifests"][0]["digest"][7:])))
for l in m["layers"]:
    print("  %s %6.1f MB" % (l["digest"][:19], l["size"] / 1e6))
EOF
