#!/usr/bin/env python3
"""An independent implementation of docs/retention.md for the integration
tests: replays a group's retention after every commit and prints the ids it
keeps.

usage: retention-replay.py POLICY HISTORY [--min-points N] [--final]

HISTORY has a line per committed point, oldest first: "ID TIME [MARK]",
TIME the point's received time in ns (retention's clock), MARK the point in
use by a drill at that commit (0 = none). Each commit applies the policy
with now = TIME to the points kept so far plus the new one. --final: one
more run without a mark and without a new point (a `nestor prune`)."""
import argparse

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def span(s):
    return int(s[:-1]) * UNITS[s[-1]] * 10**9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("policy")
    ap.add_argument("history")
    ap.add_argument("--min-points", type=int, default=3)
    ap.add_argument("--final", action="store_true")
    a = ap.parse_args()
    tiers = []
    for t in a.policy.split(","):
        age, iv = t.split(":")
        tiers.append((span(age), 0 if iv == "all" else span(iv)))

    def run(pts, now, mark):
        keep = []
        for k, (pid, t) in enumerate(pts):
            age = max(now - t, 0)
            tier = next((x for x in tiers if age < x[0]), None)
            if len(pts) - k <= max(a.min_points, 1) or pid <= mark:
                keep.append(True)
            elif tier is None:
                keep.append(False)
            elif tier[1] == 0 or k == 0:
                keep.append(True)
            else:
                keep.append(pts[k - 1][1] // tier[1] != t // tier[1])
        return [p for p, kk in zip(pts, keep) if kk]

    pts = []
    for line in open(a.history):
        f = list(map(int, line.split()))
        pts = run(pts + [(f[0], f[1])], f[1], f[2] if len(f) > 2 else 0)
    if a.final:
        pts = run(pts, pts[-1][1], 0)
    print(" ".join(str(p) for p, _ in pts))


main()
