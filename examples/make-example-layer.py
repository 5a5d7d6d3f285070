#!/usr/bin/env python3
"""Write examples/hello-layer.tar.gz: a small, deterministic OCI layer with
the things real layers carry (dirs, an executable, a symlink, a hard link,
an xattr, a whiteout and an opaque directory). Re-running gives the same
bytes."""
import gzip
import io
import os
import tarfile

MTIME = 1_700_000_000
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hello-layer.tar.gz")

buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
    def add(name, typ, mode=0o644, data=b"", **kw):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime = typ, mode, MTIME
        ti.uname = ti.gname = ""
        for k, v in kw.items():
            setattr(ti, k, v)
        ti.size = len(data) if typ == tarfile.REGTYPE else 0
        t.addfile(ti, io.BytesIO(data) if data else None)

    add("etc/", tarfile.DIRTYPE, 0o755)
    add("etc/os-release", tarfile.REGTYPE, data=b'NAME="layerseal example"\nID=example\n')
    add("usr/", tarfile.DIRTYPE, 0o755)
    add("usr/bin/", tarfile.DIRTYPE, 0o755)
    add("usr/bin/hello", tarfile.REGTYPE, 0o755, b"#!/bin/sh\necho hello from a sealed layer\n",
        pax_headers={"SCHILY.xattr.user.origin": "layerseal-example"})
    add("usr/bin/hi", tarfile.SYMTYPE, 0o777, linkname="hello")
    add("usr/bin/hello-again", tarfile.LNKTYPE, linkname="usr/bin/hello")
    add("usr/share/doc/hello/README", tarfile.REGTYPE, data=b"Integrity-protected by dm-verity.\n" * 200)
    add("var/cache/.wh..wh..opq", tarfile.REGTYPE)
    add("etc/.wh.motd", tarfile.REGTYPE)

with open(out, "wb") as f:
    with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as g:
        g.write(buf.getvalue())
print(out)
