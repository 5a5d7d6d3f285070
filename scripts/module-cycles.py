#!/usr/bin/env python3
"""Import cycles between the modules of a crate (one module per file).

  scripts/module-cycles.py crates/layerseal/src [crates/layerseal-cli/src]

Edges come from `crate::a::b` and `super::x` paths in each file, resolved
to the longest module path that exists. Prints every cycle (strongly
connected set of modules) and exits 1 if there is one; a parent module
(`mod.rs`) that only declares or re-exports its children is not an edge.
"""
import os
import re
import sys


def modules(src):
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            if rel and rel[0] == "bin":
                continue
            mods["::".join(rel)] = os.path.join(root, f)
    return mods


def resolve(path, mods):
    parts = path.split("::")
    for n in range(len(parts), 0, -1):
        cand = "::".join(parts[:n])
        if cand in mods:
            return cand
    return None


def graph(src):
    mods = modules(src)
    edges = {m: set() for m in mods}
    for m, f in mods.items():
        text = open(f).read()
        text = re.sub(r"//.*", "", text)
        # `pub use child::…` / `mod child;` in a parent are declarations, not uses.
        text = re.sub(r"(?m)^\s*pub\s+use\s+[a-z_]+::[^;]*;", "", text)
        for p in re.findall(r"crate::([a-z_][a-z_0-9]*(?:::[a-z_][a-z_0-9]*)*)", text):
            t = resolve(p, mods)
            if t and t != m and not m.startswith(t + "::") and m != "":
                edges[m].add(t)
        parent = m.rsplit("::", 1)[0] if "::" in m else ""
        for p in re.findall(r"super::([a-z_][a-z_0-9]*(?:::[a-z_][a-z_0-9]*)*)", text):
            base = f"{parent}::{p}" if parent else p
            t = resolve(base, mods)
            if t and t != m:
                edges[m].add(t)
    edges.pop("", None)
    for v in edges.values():
        v.discard("")
    return edges


def sccs(edges):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in edges:
        if v not in index:
            visit(v)
    return out


bad = 0
for src in sys.argv[1:]:
    cycles = sccs(graph(src))
    for c in cycles:
        print(f"{src}: cycle: {' <-> '.join(c)}")
    bad += len(cycles)
    if not cycles:
        print(f"{src}: no import cycles")
sys.exit(1 if bad else 0)
