#!/usr/bin/env python3
"""Write examples/hello-image.tar: a small OCI image (oci-archive) of two
layers: hello-layer.tar.gz (gzip) and a plain layer that changes a file and
deletes another. Deterministic: re-running gives the same bytes."""
import gzip
import hashlib
import io
import json
import os
import tarfile

here = os.path.dirname(os.path.abspath(__file__))
MTIME = 1_700_000_000


def sha(b):
    return hashlib.sha256(b).hexdigest()


def plain_layer():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in [("etc/hello.conf", b"greeting=hello\n"), ("usr/bin/.wh.hi", b"")]:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), MTIME, 0o644
            ti.uname = ti.gname = ""
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


layer1 = open(os.path.join(here, "hello-layer.tar.gz"), "rb").read()
layer2 = plain_layer()
diff_ids = ["sha256:" + sha(gzip.decompress(layer1)), "sha256:" + sha(layer2)]
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Cmd": ["/usr/bin/hello"]},
    "rootfs": {"type": "layers", "diff_ids": diff_ids},
}, sort_keys=True).encode()
manifest = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + sha(config), "size": len(config)},
    "layers": [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + sha(layer1), "size": len(layer1)},
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + sha(layer2), "size": len(layer2)},
    ],
}, sort_keys=True).encode()
index = json.dumps({
    "schemaVersion": 2,
    "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(manifest), "size": len(manifest),
        "platform": {"os": "linux", "architecture": "amd64"},
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }],
}, sort_keys=True).encode()

files = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)]
for blob in (manifest, config, layer1, layer2):
    files.append(("blobs/sha256/" + sha(blob), blob))
with tarfile.open(os.path.join(here, "hello-image.tar"), "w", format=tarfile.PAX_FORMAT) as t:
    for d in ("blobs", "blobs/sha256"):
        ti = tarfile.TarInfo(d)
        ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, MTIME
        t.addfile(ti)
    for name, data in files:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = len(data), 0o644, MTIME
        t.addfile(ti, io.BytesIO(data))
print(os.path.join(here, "hello-image.tar"))
