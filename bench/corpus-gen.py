#!/usr/bin/env python3
# Copied from the project's shared test corpus generator (corpus/gen.py).
"""Generate a deterministic corpus of container-layer tar files.

Every layer covers one family of edge cases that real image layers contain.
Output is byte-for-byte reproducible: fixed mtimes, owners, ordering and a
seeded PRNG for file contents.

    python3 gen.py OUTDIR            # all layers
    python3 gen.py OUTDIR --big      # also the large (300 MiB) layer
"""
import gzip
import io
import os
import random
import subprocess
import sys
import tarfile
import tempfile

MTIME = 1_700_000_000


def data(seed, n):
    r = random.Random(seed)
    return r.randbytes(n)


class Layer:
    def __init__(self, path, fmt=tarfile.PAX_FORMAT):
        self.f = open(path, "wb")
        self.t = tarfile.open(fileobj=self.f, mode="w", format=fmt)

    def _info(self, name, typ, mode, uid=0, gid=0, mtime=MTIME, **kw):
        ti = tarfile.TarInfo(name)
        ti.type = typ
        ti.mode = mode
        ti.uid, ti.gid = uid, gid
        ti.uname = ti.gname = ""
        ti.mtime = mtime
        for k, v in kw.items():
            setattr(ti, k, v)
        return ti

    def dir(self, name, mode=0o755, **kw):
        self.t.addfile(self._info(name, tarfile.DIRTYPE, mode, **kw))

    def file(self, name, content=b"", mode=0o644, **kw):
        ti = self._info(name, tarfile.REGTYPE, mode, **kw)
        ti.size = len(content)
        self.t.addfile(ti, io.BytesIO(content))

    def symlink(self, name, target, **kw):
        self.t.addfile(self._info(name, tarfile.SYMTYPE, 0o777, linkname=target, **kw))

    def hardlink(self, name, target, **kw):
        self.t.addfile(self._info(name, tarfile.LNKTYPE, 0o644, linkname=target, **kw))

    def dev(self, name, typ, major, minor, mode=0o666):
        self.t.addfile(self._info(name, typ, mode, devmajor=major, devminor=minor))

    def close(self):
        self.t.close()
        self.f.close()


def empty(out):
    Layer(out).close()


def basic(out):
    l = Layer(out)
    l.dir("etc/")
    l.dir("usr/")
    l.dir("usr/bin/")
    l.dir("var/")
    l.dir("var/empty/", mode=0o700)
    for n in (0, 1, 59, 60, 61, 64, 65, 4095, 4096, 4097, 8192, 65536, 1 << 20):
        l.file(f"usr/bin/size{n}", data(n, n), mode=0o755)
    l.file("etc/hostname", b"layer\n")
    l.file("etc/zeros", b"\0" * 12288)
    l.symlink("etc/short-link", "hostname")
    l.symlink("etc/long-link", "/" + "x" * 59 + "/" + "y" * 120)
    l.symlink("etc/dangling", "/nonexistent/target")
    l.hardlink("etc/hostname-hard", "etc/hostname")
    l.hardlink("usr/bin/size4097-hard", "usr/bin/size4097")
    l.file("usr/bin/setuid", b"#!/bin/sh\n", mode=0o4755)
    l.file("usr/bin/setgid", b"#!/bin/sh\n", mode=0o2755)
    l.dir("tmp/", mode=0o1777)
    l.file("home-owned", b"mine\n", uid=1000, gid=1000)
    l.file("big-ids", b"ids\n", uid=100000, gid=65534)
    l.file("old", b"1969\n", mtime=0)
    l.file("future", b"2100\n", mtime=4_102_444_800)
    l.close()


def whiteouts(out):
    l = Layer(out)
    l.dir("etc/")
    l.file("etc/.wh.removed", b"")
    l.dir("opaque/")
    l.file("opaque/.wh..wh..opq", b"")
    l.file("opaque/kept", b"kept\n")
    l.file(".wh.toplevel", b"")
    l.close()


def names(out):
    l = Layer(out)
    deep = "/".join(f"d{i:02}" for i in range(60))
    parts = deep.split("/")
    for i in range(1, len(parts) + 1):
        l.dir("/".join(parts[:i]) + "/")
    l.file(deep + "/leaf", b"deep\n")
    l.file("n" * 255, b"max name\n")
    l.file("unicode-\u00e9\u00e8\u4e2d\u6587-\U0001F600", b"utf8\n")
    l.file("spaces and\ttabs", b"ws\n")
    l.file("a" * 100 + "/" + "b" * 100, b"implicit parent\n")
    l.close()


def gnu_names(out):
    l = Layer(out, fmt=tarfile.GNU_FORMAT)
    l.file("g" * 200, b"gnu longname\n")
    l.symlink("gl", "t" * 300)
    l.dir("gnudir/")
    l.file("gnudir/f", data(7, 5000))
    l.close()


def xattrs(out):
    l = Layer(out)
    l.dir("x/", pax_headers={"SCHILY.xattr.user.dir": "d"})
    l.file("x/plain", b"p\n", pax_headers={"SCHILY.xattr.user.a": "1", "SCHILY.xattr.user.b": "two"})
    cap = "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    l.file("x/ping", b"\x7fELF", mode=0o755, pax_headers={"SCHILY.xattr.security.capability": cap})
    l.file("x/big-xattr", b"b\n", pax_headers={"SCHILY.xattr.user.big": "v" * 3000})
    l.file("x/nsec", b"n\n", pax_headers={"mtime": "1700000000.123456789", "atime": "1700000001.5"})
    l.close()


def devices(out):
    l = Layer(out)
    l.dir("dev/")
    l.dev("dev/null", tarfile.CHRTYPE, 1, 3)
    l.dev("dev/sda", tarfile.BLKTYPE, 8, 0, mode=0o660)
    l.dev("dev/big", tarfile.CHRTYPE, 4095, 1048575)
    l.t.addfile(l._info("dev/fifo", tarfile.FIFOTYPE, 0o644))
    l.close()


def bigdir(out):
    l = Layer(out)
    l.dir("many/")
    for i in range(5000):
        l.file(f"many/file-{i:05}-{'p' * (i % 40)}", data(i, i % 300))
    l.dir("subdirs/")
    for i in range(300):
        l.dir(f"subdirs/{i}/")
    l.close()


def unordered(out):
    """Entries a careless image builder produces: children before parents,
    duplicates (the last one wins), a dir re-declared with new mode."""
    l = Layer(out)
    l.file("late/child", b"child first\n")
    l.dir("late/", mode=0o711)
    l.file("dup", b"first\n")
    l.file("dup", b"second wins\n")
    l.dir("late/", mode=0o755)
    l.file("./dot-prefixed", b"dot\n")
    l.hardlink("link-to-dup", "dup")
    l.close()


def large(out):
    """Files that need many extents / blocks across block groups."""
    l = Layer(out)
    l.file("blob-40m", data(40, 40 << 20))
    l.file("blob-3m-odd", data(3, (3 << 20) + 123))
    l.close()


def usrbase(out):
    """A one-entry base layer: the /usr that composefs images expect."""
    l = Layer(out)
    l.dir("usr/")
    l.close()


def wh_lower(out):
    """A lower layer for whiteouts.tar to delete from and make opaque."""
    l = Layer(out)
    l.dir("usr/")
    l.dir("etc/")
    l.file("etc/removed", b"etc/removed\n" * 20)
    l.file("etc/kept", b"etc/kept\n" * 20)
    l.dir("opaque/", mode=0o700)
    l.file("opaque/old", b"opaque/old\n" * 20)
    l.file("toplevel", b"toplevel\n" * 20)
    l.close()


def huge(out):
    """~300 MiB: spans several ext4 block groups."""
    l = Layer(out)
    for i in range(3):
        l.file(f"huge-{i}", data(100 + i, 100 << 20))
    l.close()


def sparse(out):
    """GNU sparse format, as `tar --sparse` writes it."""
    src = tempfile.mkdtemp()
    p = os.path.join(src, "holes")
    with open(p, "wb") as f:
        f.truncate(8 << 20)
        f.seek(1 << 20)
        f.write(data(9, 4096))
        f.seek(6 << 20)
        f.write(data(10, 10000))
    os.utime(p, (MTIME, MTIME))
    os.utime(src, (MTIME, MTIME))
    subprocess.run(["tar", "--sparse", "--format=gnu", "--owner=0", "--group=0",
                    "--numeric-owner", "--sort=name", f"--mtime=@{MTIME}",
                    "-C", src, "-cf", out, "."], check=True)
    os.remove(p)
    os.rmdir(src)


def compressed(outdir):
    raw = open(os.path.join(outdir, "basic.tar"), "rb").read()
    with open(os.path.join(outdir, "basic.tar.gz"), "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as g:
            g.write(raw)
    subprocess.run(["zstd", "-q", "-f", "-19", os.path.join(outdir, "basic.tar"),
                    "-o", os.path.join(outdir, "basic.tar.zst")], check=True)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    gens = [empty, basic, whiteouts, names, gnu_names, xattrs, devices, bigdir,
            unordered, large, usrbase, wh_lower]
    if "--big" in sys.argv:
        gens.append(huge)
    for g in gens:
        g(os.path.join(outdir, g.__name__.replace("_", "-") + ".tar"))
    sparse(os.path.join(outdir, "sparse.tar"))
    compressed(outdir)


if __name__ == "__main__":
    main()
