#!/usr/bin/env python3
"""test_web_session.py - sessions end after the idle time without a request,
and a session in use does not. The idle time is [web] idle_seconds = IDLE
(a few seconds, so the test waits seconds rather than the minute that
idle_minutes = 1 cost). Three sessions of one person at the police studio's
gateway: A is left alone and must be gone once IDLE + MARGIN seconds have
passed since its login; B calls every IDLE / 4 s and must still work at the
end; C is checked IDLE / 2 s after its login (within the idle time: still
there). Times are measured from each session's own last request as the
client saw it end, so a slow login under load shifts the checks instead of
breaking them. absolute_hours (at least 1) is not waited for here.

Usage: test_web_session.py SOURCE_DIR BUILD_DIR
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402

IDLE = 6  # seconds: [web] idle_seconds
# After A's idle time, before it is checked: the gateway's clock and the
# client's differ by the reply's travel time only, well under this.
MARGIN = 1.5


def main(d, c):
    pw = d.passwords[("police-studio", "马德顺")]
    a, b, cc = (d.client("police-studio") for _ in range(3))
    last = {}
    for name, s in (("A", a), ("B", b), ("C", cc)):
        c.status(s.login("马德顺", pw), 200, "login " + name)
        last[name] = time.monotonic()  # the gateway saw the login before this
    c.check((a.login_reply.json or {}).get("idle_seconds") == IDLE,
            "login says idle_seconds = %d ([web] idle_seconds)" % IDLE, a.login_reply)
    a_gone_at = last["A"] + IDLE + MARGIN
    c_check_at = last["C"] + IDLE / 2
    checked_c = False
    while True:
        now = time.monotonic()
        if now >= a_gone_at and checked_c:
            break
        wake = min(last["B"] + IDLE / 4, a_gone_at if checked_c else c_check_at)
        time.sleep(max(0.0, wake - now))
        now = time.monotonic()
        if not checked_c and now >= c_check_at:
            # Sent before C's idle time ends: the request starts at
            # IDLE / 2, and the gateway must have it within IDLE / 2 more.
            c.status(cc.request("GET", "/api/v1/session"), 200,
                     "C, idle for %.1f s (less than %d), is still there" % (now - last["C"], IDLE))
            checked_c = True
        if now - last["B"] >= IDLE / 4:
            r = b.call("Desk", "Inbox")
            c.status(r, 200, "B, in use, %.1f s after its last request" % (now - last["B"]))
            last["B"] = time.monotonic()
    idle = time.monotonic() - last["A"]
    r = a.request("GET", "/api/v1/session")
    c.error(r, 401, "UNAUTHENTICATED", "A, idle for %.1f s (more than %d), has expired" % (idle, IDLE))
    r = a.call("Desk", "Inbox")
    c.error(r, 401, "UNAUTHENTICATED", "A's calls are refused too")
    c.status(b.request("GET", "/api/v1/session"), 200, "B, in use, is still there")
    c.status(a.login("马德顺", pw), 200, "A logs in again")


if __name__ == "__main__":
    webtest.run(main, sys.argv[1], sys.argv[2], "session", units=("police-studio",),
                extra_conf="[web]\nidle_seconds = %d\n" % IDLE, log_level="info")
