#!/usr/bin/env python3
"""test_web_session.py - sessions end after idle_minutes without a request
(here 1, the least the configuration allows: the test waits a minute and a
little), and a session in use does not. Three sessions of one person at the
police studio's gateway: A is left alone and must be gone after 66 s; B
calls every 15 s and must still work at the end; C is checked at 40 s
(within the idle time: still there). absolute_hours (at least 1) is not
waited for here.

Usage: test_web_session.py SOURCE_DIR BUILD_DIR
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402


def main(d, c):
    pw = d.passwords[("police-studio", "马德顺")]
    a, b, cc = (d.client("police-studio") for _ in range(3))
    for s in (a, b, cc):
        c.status(s.login("马德顺", pw), 200, "login")
    c.check((a.login_reply.json or {}).get("idle_seconds") == 60,
            "login says idle_seconds = 60 (idle_minutes = 1)", a.login_reply)
    t0 = time.time()
    checked_c = False
    while time.time() - t0 < 66:
        time.sleep(15 if time.time() - t0 < 60 else 66 - (time.time() - t0))
        r = b.call("Desk", "Inbox")
        c.status(r, 200, "B, in use, at %.0f s" % (time.time() - t0))
        if not checked_c and time.time() - t0 >= 40:
            c.status(cc.request("GET", "/api/v1/session"), 200,
                     "C, idle for %.0f s (less than a minute), is still there" % (time.time() - t0))
            checked_c = True
    r = a.request("GET", "/api/v1/session")
    c.error(r, 401, "UNAUTHENTICATED", "A, idle for %.0f s, has expired" % (time.time() - t0))
    r = a.call("Desk", "Inbox")
    c.error(r, 401, "UNAUTHENTICATED", "A's calls are refused too")
    c.status(b.request("GET", "/api/v1/session"), 200, "B, in use, is still there")
    c.status(a.login("马德顺", pw), 200, "A logs in again")


if __name__ == "__main__":
    webtest.run(main, sys.argv[1], sys.argv[2], "session", units=("police-studio",),
                extra_conf="[web]\nidle_minutes = 1\n", log_level="info")
