#!/usr/bin/env python3
"""bench_desk_paint.py - how fast a unit's desk paints in Chromium with many
cases (issue 16: first paint under 300 ms with 10k cases).

Starts a live deployment (tests/web/webtest.py), takes N cases in at the
police studio through its gateway (labour disputes: its policy keeps them),
then opens the desk in headless Chromium R times per view and prints, from
the browser's own performance timing, first-contentful-paint (the shell) and
the time until the view's data is drawn (a marker element present), as
median and worst. Run by hand, not by ctest:

  /usr/bin/python3 bench/browser/bench_desk_paint.py SRC BUILD [N=10000] [R=5]
"""

import os
import statistics
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "browser"))

import harness  # noqa: E402
from harness import Desk, webtest  # noqa: E402

LIMIT = 60  # seconds a view may take before it counts as not drawn
VIEWS = [("待接收", "/inbox", "main table, main .empty"),
         ("在办案件", "/cases", "main .table-wrap, main .empty"),
         ("案件", None, "ol.timeline")]


def take_in(d, n):
    c = d.client("police-studio", timeout=60)
    c.login("马德顺", d.passwords[("police-studio", "马德顺")])
    t0 = time.time()
    first = None
    for i in range(n):
        r = c.call("Desk", "TakeIn", {"intake": {
            "kind": "labour", "difficulty": "ordinary", "source": "walk_in", "community": "baihe",
            "parties": [{"name": "工人%d" % i, "role": "applicant"}], "summary": "工资拖欠 %d" % i,
            "workers": 3}})
        if r.status != 200:
            raise RuntimeError("TakeIn %d: %d %s" % (i, r.status, r.text()[:200]))
        if first is None:
            first = r.json["case_record"]["id"]
        if (i + 1) % 1000 == 0:
            print("  %d cases taken in (%.0f/s)" % (i + 1, (i + 1) / (time.time() - t0)), flush=True)
    return first


# Injected into every page before its own scripts (through the DevTools
# protocol, which the CSP does not govern): notes when the view's marker
# first appears, without WebDriver's polling delay.
WATCH = """
window.__drawn = {};
new MutationObserver(() => {
  for (const sel of (window.__markers || [])) {
    if (!(sel in window.__drawn) && document.querySelector(sel)) window.__drawn[sel] = performance.now();
  }
}).observe(document, {childList: true, subtree: true});
"""


def measure(b, path, marker):
    b.drv.get("about:blank")
    b.drv.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                          {"source": "window.__markers = %r;" % [marker] + WATCH})
    b.drv.get(b.base + "/#" + path)
    try:
        b.css(marker, timeout=LIMIT)
    except harness.TimeoutException:
        return -1, -1
    t = b.drv.execute_script("""
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      return {fcp: fcp ? fcp.startTime : -1, drawn: window.__drawn[arguments[0]] || -1};""", marker)
    return t["fcp"], t["drawn"]


def main(d, c):
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    case_id = take_in(d, n)
    b = Desk.open(d, "police-studio", "马德顺")
    print("views of the police studio's desk holding %d cases, %d loads each (ms):" % (n, runs))
    print("  %-8s %12s %12s %14s %14s" % ("view", "FCP median", "FCP worst", "drawn median", "drawn worst"))
    for name, path, marker in VIEWS:
        fcp, drawn = [], []
        for _ in range(runs):
            f, t = measure(b, path or "/cases/" + case_id, marker)
            if t < 0:
                print("  %s: not drawn within %d s (%s)" % (name, LIMIT, b.css("main").text[:200]))
                break
            fcp.append(f)
            drawn.append(t)
        print("  %s: FCP %s; drawn %s" % (name, " ".join("%.0f" % x for x in fcp),
                                          " ".join("%.0f" % x for x in drawn)), flush=True)
        if not drawn:
            continue
        print("  %-8s %12.0f %12.0f %14.0f %14.0f" % (name, statistics.median(fcp), max(fcp),
                                                     statistics.median(drawn), max(drawn)))
    b.close()


if __name__ == "__main__":
    harness.run(main, sys.argv[1], sys.argv[2], "paint", units=("police-studio",),
                log_level="notice")
