#!/usr/bin/env python3
"""`make layers`: Nestor's folder layering, checked on the sources and on the
built libraries.

The folders are the architecture (docs/architecture.md): a folder may reach
(include a header of, or call a function defined in) only the folders listed
for it in ALLOWED. Three checks:

  include  every #include "..." of a C file or header, followed through the
           header chain: failover reaching proto through store.h counts;
  link     every symbol a folder's static library leaves undefined and
           another folder's library defines (nm on build/lib*.a);
  argv     only cli/ parses a command line: no argc parameter, getopt or
           main() in a library folder.

Usage: tests/layers.py [--root DIR] [--build DIR] [--no-link]
Exit 0 clean, 1 violations (each printed as FILE: what), 2 usage error.
"""
import argparse
import os
import re
import subprocess
import sys

# Folder -> folders it may reach besides itself. A folder not listed here is
# not a library folder and is not checked (tests/, bench/, deploy/).
ALLOWED = {
    "common": set(),
    "proto": {"common"},
    "snapshot": {"common"},
    "replicator": {"common", "proto"},
    "replicator/agent": {"common", "proto", "snapshot", "replicator"},
    "replicator/receiver": {"common", "proto", "replicator"},
    "failover": {"common", "replicator", "replicator/receiver"},
    "failback": {"common", "proto", "snapshot", "replicator", "replicator/agent",
                 "replicator/receiver", "failover"},
    "cli": {"common", "proto", "snapshot", "replicator", "replicator/agent",
            "replicator/receiver", "failover", "failback"},
}
# The one file outside cli/ that may hold main(): the dispatcher, if it
# still sits at the top of the tree.
TOP_LEVEL = {"nestor.c": "cli"}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
ARGV_RES = [
    (re.compile(r"\bgetopt(_long)?\s*\("), "calls getopt"),
    (re.compile(r"\bint\s+argc\b"), "takes argc (parses a command line)"),
    (re.compile(r"^\s*int\s+main\s*\(", re.M), "defines main()"),
]


def folder_of(rel):
    """The library folder a repository-relative path belongs to, or None."""
    if rel in TOP_LEVEL:
        return TOP_LEVEL[rel]
    d = os.path.dirname(rel)
    return d if d in ALLOWED else None


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def sources(root):
    out = []
    for top in sorted(set(f.split("/")[0] for f in ALLOWED)):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    out.append(os.path.relpath(os.path.join(dirpath, f), root))
    out += [f for f in TOP_LEVEL if os.path.exists(os.path.join(root, f))]
    return sorted(f for f in out if folder_of(f))


def direct_includes(root, rel, cache):
    if rel not in cache:
        try:
            with open(os.path.join(root, rel), encoding="utf-8") as fh:
                text = strip_comments(fh.read())
        except OSError:
            cache[rel] = []
        else:
            cache[rel] = [i for i in INCLUDE_RE.findall(text)
                          if os.path.exists(os.path.join(root, i))]
    return cache[rel]


def check_includes(root, files):
    """Each file's transitive project includes against its folder's rules;
    the chain that reaches a forbidden folder is printed."""
    bad = []
    cache = {}
    for rel in files:
        src = folder_of(rel)
        seen = {rel: None}
        todo = [rel]
        while todo:
            cur = todo.pop()
            for inc in direct_includes(root, cur, cache):
                if inc in seen:
                    continue
                seen[inc] = cur
                dst = folder_of(inc)
                if dst and dst != src and dst not in ALLOWED[src]:
                    chain = [inc]
                    p = cur
                    while p is not None:
                        chain.append(p)
                        p = seen[p]
                    bad.append("%s: %s may not reach %s (include chain %s)"
                               % (rel, src, dst, " -> ".join(reversed(chain))))
                    continue
                todo.append(inc)
    return bad


def check_argv(root, files):
    bad = []
    for rel in files:
        if folder_of(rel) == "cli" or not rel.endswith(".c"):
            continue
        with open(os.path.join(root, rel), encoding="utf-8") as fh:
            text = strip_comments(fh.read())
        for rx, what in ARGV_RES:
            if rx.search(text):
                bad.append("%s: %s; only cli/ parses argv" % (rel, what))
    return bad


def nm_symbols(lib):
    """(defined, undefined) global symbol sets of a static library."""
    out = subprocess.run(["nm", "-g", "--no-sort", lib], check=True,
                         capture_output=True, text=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] not in ("U", "w", "v"):
            defined.add(parts[2])
    return defined, undefined


def check_link(build):
    bad = []
    libs = {}
    for folder in ALLOWED:
        lib = os.path.join(build, "lib%s.a" % folder.replace("/", "-"))
        if os.path.exists(lib):
            libs[folder] = nm_symbols(lib)
    if not libs:
        return ["%s: no lib*.a found (build first: make all)" % build]
    owner = {}
    for folder, (defined, _) in libs.items():
        for sym in defined:
            owner.setdefault(sym, folder)
    for folder, (_, undefined) in sorted(libs.items()):
        reached = {}
        for sym in undefined:
            dst = owner.get(sym)
            if dst and dst != folder and dst not in ALLOWED[folder]:
                reached.setdefault(dst, []).append(sym)
        for dst, syms in sorted(reached.items()):
            bad.append("lib%s.a: %s may not reach %s (calls %s)"
                       % (folder.replace("/", "-"), folder, dst, ", ".join(sorted(syms)[:5])))
    return bad


def main():
    ap = argparse.ArgumentParser(description="check Nestor's folder layering")
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    ap.add_argument("--build", default=None, help="build dir (default ROOT/build)")
    ap.add_argument("--no-link", action="store_true", help="skip the library check")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    if not os.path.isdir(os.path.join(root, "common")):
        print("layers: %s is not a Nestor tree" % root, file=sys.stderr)
        return 2
    files = sources(root)
    bad = check_includes(root, files) + check_argv(root, files)
    if not a.no_link:
        bad += check_link(a.build or os.path.join(root, "build"))
    for b in bad:
        print(b)
    print("layers: %d files, %d violations" % (len(files), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
