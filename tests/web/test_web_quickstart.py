#!/usr/bin/env python3
"""test_web_quickstart.py - README command 1 with the browser: deploy/
quickstart (programs already built, a temporary directory, free ports)
starts a web gateway per unit and one for the coordinators and prints, for
each, its address and a demo account; every printed account logs in at its
address. Stopped (SIGTERM) and started again on the same directory, it
prints the same accounts, which still log in; stopped again, no gateway is
left running.

Usage: test_web_quickstart.py SOURCE_DIR BUILD_DIR
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402

SITES = ["coordinators", "police-studio", "marriage-studio", "station-wangai", "station-baihe",
         "station-kongque"]


def start(src, build, demo, port):
    out = open(demo + ".out", "wb")
    p = subprocess.Popen(["sh", os.path.join(src, "deploy/quickstart"), "--no-build",
                          "--build-dir", build, "--dir", demo, "--web-port", str(port)],
                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out.close()
    deadline = time.time() + 180
    while time.time() < deadline:
        with open(demo + ".out", encoding="utf-8", errors="replace") as f:
            text = f.read()
        if "The system is serving" in text:
            return p, text
        if p.poll() is not None:
            raise RuntimeError("quickstart stopped before serving:\n" + text)
        time.sleep(0.2)
    raise RuntimeError("quickstart did not serve within 180 s:\n" + text)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def accounts(text):
    """{site: (url, name, password)} from the browser section."""
    got = {}
    for line in text.splitlines():
        m = re.match(r"^\s+(\S+)\s+(https?://\S+)/\s+(\S+) / (\S+)\s*$", line)
        if m and m.group(1) in SITES:
            got[m.group(1)] = (m.group(2), m.group(3), m.group(4))
    return got


def check_logins(c, got, port, what):
    c.check(sorted(got) == sorted(SITES), "%s: an address and an account for every site" % what,
            got)
    for site, (url, name, pw) in got.items():
        want = "http://127.0.0.1:%d" % (port + (0 if site == "coordinators" else
                                               1 + webtest.UNIT_ORDER.index(site)))
        c.check(url == want, "%s: %s at %s" % (what, site, want), url)
        m = re.match(r"http://([^:]+):(\d+)$", url)
        if not m:
            continue
        cl = webtest.Client(m.group(1), int(m.group(2)))
        r = cl.login(name, pw)
        ok = r.status == 200 and (r.json or {}).get("site") == site
        if ok and site != "coordinators":
            ok = cl.call("Desk", "Inbox").status == 200
        elif ok:
            ok = cl.call("Router", "ListCases", {}).status == 200
        c.check(ok, "%s: %s's demo account logs in and reads" % (what, site), r)


def main():
    src, build = sys.argv[1], sys.argv[2]
    if not os.access(os.path.join(build, "services/mediation-web"), os.X_OK):
        print("SKIP: mediation-web is not built")
        sys.exit(77)
    c = webtest.Checks()
    tmp = tempfile.mkdtemp(prefix="mediation-web-qs.", dir=os.environ.get("TMPDIR", "/tmp"))
    demo = os.path.join(tmp, "demo")
    port = webtest.free_ports(6)
    p = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        p, text = start(src, build, demo, port)
        first = accounts(text)
        check_logins(c, first, port, "first start")
        mode = oct(os.stat(os.path.join(demo, "demo-accounts")).st_mode & 0o777)
        c.check(mode == "0o600", "demo-accounts is mode 0600 (%s)" % mode)
        stop(p)
        c.check(p.returncode == 143, "quickstart stops its daemons on SIGTERM (exit %s, 143 expected)" % p.returncode)
        c.check(not os.path.exists(os.path.join(demo, "pids")), "no daemon left listed")
        p, text = start(src, build, demo, port)
        again = accounts(text)
        c.check(again == first, "a second start prints the same accounts")
        check_logins(c, again, port, "second start")
        with open(os.path.join(demo, "pids")) as f:
            pids = [int(line.split()[1]) for line in f if line.startswith("web-")]
        c.check(len(pids) == 6, "six gateways in DIR/pids", pids)
        stop(p)
        left = []
        for pid in pids:
            try:
                os.kill(pid, 0)
                left.append(pid)
            except OSError:
                pass
        c.check(not left, "every gateway stopped with quickstart", left)
    except Exception as e:  # noqa: BLE001 - reported; quickstart is stopped below
        c.fail("the test stopped: %r" % e)
    finally:
        if p is not None:
            stop(p)
        if c.failures and os.path.exists(demo + ".out"):
            with open(demo + ".out", encoding="utf-8", errors="replace") as f:
                print("--- quickstart's output:\n" + f.read()[-4000:])
        shutil.rmtree(tmp, ignore_errors=True)
    c.done()


if __name__ == "__main__":
    main()
