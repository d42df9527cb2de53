#!/usr/bin/env python3
"""What a dashboard page's DOM (chromium --dump-dom, or the HTML as served)
shows of a group (issue 16): its drill and failover rows (kind, id,
verdict, RPO and RTO in seconds, report links), the failover banner (text,
report link) and its charts' dot counts. Prints one JSON object.

usage: dashdom.py FILE"""
import json
import sys
from html.parser import HTMLParser


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.runs, self.charts = [], {}
        self.banner = None          # {"text", "report"} of <p id="failover">
        self.row = self.cell = None
        self.chart = None
        self.in_banner = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "tr" and "run" in cls:
            self.row = {"cells": [], "report_html": None, "report_json": None}
            self.runs.append(self.row)
        elif tag == "td" and self.row is not None:
            self.cell = {"class": cls, "text": "", "seconds": a.get("data-seconds")}
            self.row["cells"].append(self.cell)
        elif tag == "a" and self.row is not None and "report-html" in cls:
            self.row["report_html"] = a.get("href")
        elif tag == "a" and self.row is not None and "report-json" in cls:
            self.row["report_json"] = a.get("href")
        elif tag == "p" and a.get("id") == "failover":
            self.banner = {"text": "", "report": None}
            self.in_banner = True
        elif tag == "a" and self.in_banner and "failover-report" in cls:
            self.banner["report"] = a.get("href")
        elif tag == "svg" and "chart" in cls:
            self.chart = a.get("data-window")
            self.charts[self.chart] = {"data_points": int(a.get("data-points", -1)), "dots": 0}
        elif tag == "circle" and "pt" in cls and self.chart:
            self.charts[self.chart]["dots"] += 1

    def handle_endtag(self, tag):
        if tag == "tr":
            self.row = self.cell = None
        elif tag == "td":
            self.cell = None
        elif tag == "p":
            self.in_banner = False
        elif tag == "svg":
            self.chart = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell["text"] += data
        if self.in_banner:
            self.banner["text"] += data


def secs(cell):
    return float(cell["seconds"]) if cell and cell["seconds"] is not None else None


def main():
    p = Page()
    with open(sys.argv[1], encoding="utf-8") as f:
        p.feed(f.read())
    runs = []
    for r in p.runs:
        c = r["cells"]
        by = {k: next((x for x in c if k in x["class"]), None) for k in ("verdict", "rpo", "rto")}
        runs.append({"kind": c[0]["text"].strip(), "id": c[1]["text"].strip(),
                     "verdict": by["verdict"]["text"].strip() if by["verdict"] else None,
                     "rpo_seconds": secs(by["rpo"]), "rto_seconds": secs(by["rto"]),
                     "report_html": r["report_html"], "report_json": r["report_json"]})
    print(json.dumps({"runs": runs, "banner": p.banner, "charts": p.charts}))


if __name__ == "__main__":
    main()
