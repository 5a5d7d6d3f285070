#!/usr/bin/env python3
"""Write an OCI image layout (tag "t") from uncompressed layer tars.

    scripts/make-oci-layout.py OUTDIR LAYER.tar...

Used by the kernel test and the benchmark to hand `layerseal composefs
pull` a real image built from corpus layers, the way the composefs
vectors describe (uncompressed layers, minimal config).
"""
import hashlib
import json
import os
import shutil
import sys

out, layers = sys.argv[1], sys.argv[2:]
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)


def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(f"{out}/blobs/sha256/{d}", "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}


def put_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    d = h.hexdigest()
    dest = f"{out}/blobs/sha256/{d}"
    if not os.path.exists(dest):
        shutil.copyfile(path, dest)
    return {"digest": "sha256:" + d, "size": os.path.getsize(path)}


descs = [put_file(layer) for layer in layers]
config = json.dumps({
    "architecture": "amd64", "config": {}, "history": [], "os": "linux",
    "rootfs": {"diff_ids": [d["digest"] for d in descs], "type": "layers"},
}, sort_keys=True, separators=(",", ":")).encode()
manifest = json.dumps({
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(config)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **d} for d in descs],
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "schemaVersion": 2,
}, sort_keys=True, separators=(",", ":")).encode()
with open(f"{out}/index.json", "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **put(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "t"}}]}, f)
with open(f"{out}/oci-layout", "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
