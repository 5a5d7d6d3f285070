#!/usr/bin/env python3
"""List a mounted filesystem the way the shared EROFS vectors record it
(`tree`): one line per path, in path order:
  PATH TYPE MODE UID:GID nNLINK MTIME.NSEC [sSIZE sha256:<16 hex> | -> TARGET | MAJ:MIN] x[NAME=HEX]...
xattr values over 64 bytes as x[NAME=lenN:sha256:<16 hex>]. With --sha256
prints the sha256 of the lines joined by newlines instead."""
import hashlib
import os
import stat
import sys

root = sys.argv[1]
lines = []
paths = []
for dirpath, dirnames, filenames in os.walk(root):
    for n in dirnames + filenames:
        paths.append(os.path.join(dirpath, n))
paths.append(root)


def rel(p):
    r = os.path.relpath(p, root)
    return "/" if r == "." else "/" + r


for p in sorted(paths, key=lambda p: rel(p).encode("utf-8", "surrogateescape")):
    st = os.lstat(p)
    m = st.st_mode
    t = {stat.S_IFDIR: "d", stat.S_IFREG: "f", stat.S_IFLNK: "l", stat.S_IFCHR: "c", stat.S_IFBLK: "b",
         stat.S_IFIFO: "p", stat.S_IFSOCK: "s"}[stat.S_IFMT(m)]
    ns = st.st_mtime_ns
    line = f"{rel(p)} {t} {stat.S_IMODE(m):o} {st.st_uid}:{st.st_gid} n{st.st_nlink} {ns // 10**9}.{ns % 10**9:09d}"
    if t == "f":
        with open(p, "rb") as f:
            line += f" s{st.st_size} sha256:{hashlib.sha256(f.read()).hexdigest()[:16]}"
    elif t == "l":
        line += " -> " + os.readlink(p)
    elif t in "cb":
        line += f" {os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    try:
        names = sorted(os.listxattr(p, follow_symlinks=False))
    except OSError:
        names = []
    for n in names:
        v = os.getxattr(p, n, follow_symlinks=False)
        if len(v) > 64:
            line += f" x[{n}=len{len(v)}:sha256:{hashlib.sha256(v).hexdigest()[:16]}]"
        else:
            line += f" x[{n}={v.hex()}]"
    lines.append(line)
if "--sha256" in sys.argv:
    print(hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest())
else:
    print("\n".join(lines))
