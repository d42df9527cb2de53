#!/usr/bin/env python3
"""Lint of deploy/monitoring (issue 16): usage monitoring-check.py NAMES
DASHBOARD RULES OUT. NAMES: the metric families a real receiver exports
(one a line, from its /metrics). The Grafana dashboard must be well formed
(ids, types, grid, targets, the datasource an import input) and every
expression of the dashboard (targets, variables) and of the alerting rules
must name only exported metrics, plus "up", which Prometheus makes. OUT
gets the dashboard's expressions as recording rules, so that `promtool
check rules OUT` checks their PromQL. Exit 1 with every problem listed."""
import json
import re
import sys

import yaml

PANEL_TYPES = {"row", "stat", "timeseries", "bargauge", "table", "state-timeline", "gauge", "text"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan"}
FUNCTIONS = {"rate", "increase", "irate", "delta", "sum", "count", "min", "max", "avg",
             "time", "vector", "absent", "label_values", "clamp_min", "clamp_max",
             "max_over_time", "min_over_time", "avg_over_time", "topk", "bottomk", "abs",
             "timestamp", "changes", "resets", "sort", "sort_desc", "round", "scalar"}
PROMETHEUS_MADE = {"up"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")

problems = []


def bad(msg):
    problems.append(msg)


def metric_names(expr):
    """The metric names an expression reads; functions and keywords must be known."""
    e = re.sub(r'"(\\.|[^"\\])*"', '""', expr)      # string literals
    e = re.sub(r"\{[^}]*\}", "", e)                  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                 # range durations
    e = GROUPING.sub(r"\1", e)                       # label lists of by/on/...
    e = re.sub(r"(?<![\w.])\d+(\.\d+)?([eE][+-]?\d+)?", "", e)  # numbers
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        tok, rest = m.group(0), e[m.end():].lstrip()
        if rest.startswith("("):
            if tok not in FUNCTIONS:
                bad("unknown function %s in %r" % (tok, expr))
        elif tok.lower() not in KEYWORDS:
            names.add(tok)
    return names


def check_expr(where, expr, exported):
    if not isinstance(expr, str) or not expr.strip():
        bad("%s: no expression" % where)
        return
    names = metric_names(expr)
    if not names:
        bad("%s: reads no metric: %r" % (where, expr))
    for n in sorted(names - exported - PROMETHEUS_MADE):
        bad("%s: %s is not exported by the receiver" % (where, n))


def check_grid(panels):
    boxes = []
    for p in panels:
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in "xywh"):
            bad("panel %s: gridPos needs integer x, y, w, h" % p.get("id"))
            continue
        if g["x"] < 0 or g["y"] < 0 or g["w"] < 1 or g["h"] < 1 or g["x"] + g["w"] > 24:
            bad("panel %s: gridPos %s outside the 24-column grid" % (p.get("id"), g))
        for q, h in boxes:
            if g["x"] < h["x"] + h["w"] and h["x"] < g["x"] + g["w"] and \
               g["y"] < h["y"] + h["h"] and h["y"] < g["y"] + g["h"]:
                bad("panels %s and %s overlap" % (p.get("id"), q))
        boxes.append((p.get("id"), g))


def check_dashboard(d, exported):
    exprs = []
    for k, t in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list)):
        if not isinstance(d.get(k), t):
            bad("dashboard: %s missing or not a %s" % (k, t.__name__))
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", str(d.get("uid", ""))):
        bad("dashboard: uid must be 1-40 characters of [A-Za-z0-9_-]")
    inputs = {i.get("name"): i for i in d.get("__inputs", [])}
    if inputs.get("DS_PROMETHEUS", {}).get("pluginId") != "prometheus":
        bad("dashboard: __inputs lacks the DS_PROMETHEUS prometheus datasource")
    ids = set()
    panels = d.get("panels", [])
    if not panels:
        bad("dashboard: no panels")
    for p in panels:
        pid = p.get("id")
        if not isinstance(pid, int) or pid in ids:
            bad("panel %r: id missing or not unique" % pid)
        ids.add(pid)
        if p.get("type") not in PANEL_TYPES:
            bad("panel %s: unknown type %r" % (pid, p.get("type")))
        if not isinstance(p.get("title"), str) or not p["title"]:
            bad("panel %s: no title" % pid)
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
            bad("panel %s: datasource is not the import input" % pid)
        targets = p.get("targets") or []
        if not targets:
            bad("panel %s: no targets" % pid)
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or None in refs:
            bad("panel %s: refIds missing or repeated" % pid)
        for t in targets:
            check_expr("panel %s %r" % (pid, p.get("title")), t.get("expr"), exported)
            exprs.append(t.get("expr") or "")
    check_grid(panels)
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q or "")
        if not m:
            bad("variable %s: not a label_values query" % v.get("name"))
            continue
        check_expr("variable %s" % v.get("name"), m.group(1), exported)
    return exprs


def check_rules(r, exported):
    n = 0
    for g in r.get("groups", []):
        for rule in g.get("rules", []):
            n += 1
            check_expr("rule %s" % (rule.get("alert") or rule.get("record")), rule.get("expr"), exported)
    if not n:
        bad("rules: none")
    return n


def main():
    names_file, dash_file, rules_file, out = sys.argv[1:5]
    exported = {l.strip() for l in open(names_file) if l.strip()}
    if not exported:
        bad("no exported metric names in %s" % names_file)
    try:
        dash = json.load(open(dash_file))
    except ValueError as e:
        print("dashboard %s: not JSON: %s" % (dash_file, e))
        return 1
    exprs = check_dashboard(dash, exported)
    nrules = check_rules(yaml.safe_load(open(rules_file)), exported)
    subst = {"$group": ".*", "$instance": ".*", "$__rate_interval": "5m"}
    recs = []
    for i, e in enumerate(exprs):
        for k, v in subst.items():
            e = e.replace(k, v)
        recs.append({"record": "dashboard:expr_%d" % i, "expr": e})
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recs}]}, open(out, "w"))
    for p in problems:
        print(p)
    print("%d panel expressions, %d rules, %d exported families: %d problem(s)"
          % (len(exprs), nrules, len(exported), len(problems)))
    return 1 if problems else 0


sys.exit(main())
