#!/usr/bin/env python3
"""test_web_api.py - mediation-web as a browser meets it, through a live
deployment (router, police and marriage studios, their gateways and the
coordinators'): logins (right, wrong, locked per account and per client
address), logout, CSRF, the methods each site exposes (every row reachable,
a handoff end to end: TakeIn at the police studio, the marriage studio's
Inbox, Act accept, ShowCase) and everything else refused, the status-code
mapping, the logged-in person in the case file and in the access log, the
events long poll on a handoff, the security headers on every reply, and no
personal data in the gateways' logs (a canary name, ID number and phone).

Usage: test_web_api.py SOURCE_DIR BUILD_DIR
"""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SECURITY = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}

UNIT_TABLE = {("Desk", "TakeIn"): "write", ("Desk", "Act"): "write", ("Desk", "Inbox"): "read",
              ("Desk", "ListCases"): "read", ("Desk", "ShowCase"): "read",
              ("Desk", "Conflicts"): "read", ("Desk", "DismissConflict"): "write",
              ("Desk", "Roster"): "read",
              # the desk's search box
              ("Desk", "Search"): "read"}
COORDINATOR_TABLE = {("Router", "GetCase"): "read", ("Router", "ListCases"): "read",
                     ("Router", "Stuck"): "read", ("Router", "GetFigures"): "read",
                     ("RouterAdmin", "Verify"): "read", ("RouterAdmin", "ListAccess"): "read",
                     ("RouterAdmin", "Backup"): "write",
                     # the dashboard's (issue 16): recall/reopen only, and the router's health
                     ("Router", "Apply"): "write", ("Health", "Check"): "read",
                     # the 健康 view's units, queues and backups
                     ("RouterAdmin", "Status"): "read"}

# The canaries: shaped like the real thing, found nowhere in any log.
CANARY_NAME = "金丝雀丙"
CANARY_ID = "110105194912310038"  # a valid GB 11643 number (check digit 8)
CANARY_PHONE = "13900002222"
CANARY_TEXT = "%s，身份证%s，电话%s" % (CANARY_NAME, CANARY_ID, CANARY_PHONE)

replies = []  # every reply seen, for the headers check


def keep(r):
    replies.append(r)
    return r


def headers_ok(c, r, what, api=True):
    missing = [k for k, v in SECURITY.items() if r.header(k) != v]
    if api and r.header("cache-control") != "no-store":
        missing.append("cache-control: no-store")
    c.check(not missing, "%s: security headers%s" % (what, " and no-store" if api else ""),
            "missing or wrong: %s; headers: %s" % (missing, r.headers))


def test_login(d, c):
    police = d.client("police-studio")
    pw = d.passwords[("police-studio", "马德顺")]

    r = keep(police.request("GET", "/api/v1/session"))
    c.error(r, 401, "UNAUTHENTICATED", "session without a cookie")

    r = keep(police.login("马德顺", "wrong-password-1"))
    c.error(r, 401, "UNAUTHENTICATED", "a wrong password")
    r2 = keep(police.login("无此人", "wrong-password-1"))
    c.check(r2.status == 401 and r2.json == r.json,
            "an unknown name gets the same answer as a wrong password", r2)
    c.check(not r.all("set-cookie") or all("mw_session=;" in v or "Max-Age=0" in v
                                           for v in r.all("set-cookie")),
            "a failed login sets no session cookie", r.headers)

    r = keep(police.login("马德顺", pw))
    c.status(r, 200, "login with the right password")
    j = r.json or {}
    c.check(j.get("person") == "马德顺" and j.get("site") == "police-studio"
            and j.get("kind") == "unit" and j.get("role") == "mediator"
            and isinstance(j.get("csrf_token"), str) and len(j.get("csrf_token", "")) >= 32
            and isinstance(j.get("idle_seconds"), int) and j.get("idle_seconds") > 0,
            "login says person, role, site, kind, csrf_token, idle_seconds", j)
    cookies = r.all("set-cookie")
    ck = [v for v in cookies if v.startswith("mw_session=")]
    c.check(len(ck) == 1, "login sets one mw_session cookie", cookies)
    if ck:
        v = ck[0]
        attrs = [a.strip() for a in v.split(";")]
        c.check(len(police.cookie or "") == 64 and all(ch in "0123456789abcdef"
                                                       for ch in police.cookie.lower()),
                "the session id is 64 hex digits (32 random bytes)", v)
        c.check("HttpOnly" in attrs and "SameSite=Strict" in attrs and "Path=/" in attrs,
                "the cookie is HttpOnly; SameSite=Strict; Path=/", v)
        c.check("Secure" not in attrs, "no Secure attribute over plain http (loopback)", v)
    r = keep(police.request("GET", "/api/v1/session"))
    c.status(r, 200, "session with the cookie")
    c.check(isinstance(r.json, dict) and r.json.get("person") == "马德顺"
            and r.json.get("csrf_token") == police.csrf, "session repeats the login's body", r)

    other = d.client("police-studio")
    r = keep(other.login("马德顺", pw))
    c.check(r.status == 200 and other.cookie != police.cookie and other.csrf != police.csrf,
            "a second login is a second session with its own cookie and token", r)

    # The police studio's cookie means nothing to the marriage studio's gateway.
    m = d.client("marriage-studio")
    m.cookie, m.csrf = police.cookie, police.csrf
    r = keep(m.request("GET", "/api/v1/session"))
    c.error(r, 401, "UNAUTHENTICATED", "another site's cookie")

    # A coordinator's account is not a unit's.
    r = keep(d.client("police-studio").login(*d.coordinator))
    c.error(r, 401, "UNAUTHENTICATED", "the coordinator's account at a unit's gateway")
    first = d.client("coordinators")
    r = keep(first.login(*d.coordinator))
    c.check(r.status == 200 and (r.json or {}).get("kind") == "coordinator"
            and (r.json or {}).get("site") == "coordinators",
            "the first coordinator logs in with mkdeploy's password", r)
    coord = d.client("coordinators")
    r = keep(coord.login(*d.coord_person))
    c.check(r.status == 200 and (r.json or {}).get("person") == d.coord_person[0]
            and (r.json or {}).get("role") == "coordinator",
            "a coordinator made with mediactl user --coordinators add logs in", r)
    r = keep(coord.request("GET", "/api/v1/events"))
    c.error(r, 404, "NOT_FOUND", "no events at the coordinators' gateway")
    return police, other, coord


def test_lockout(d, c):
    """Five failures lock the account (even the right password is refused
    then, from any address); five failures from one address lock that
    address (for every account)."""
    victim, pw = "刘建平", d.passwords[("police-studio", "刘建平")]
    a = d.client("police-studio", source="127.0.0.2")
    codes = [keep(a.login(victim, "wrong-%d-password" % i)).status for i in range(5)]
    c.check(codes == [401, 401, 401, 401, 401] or codes == [401, 401, 401, 401, 429],
            "five wrong passwords: 401 until the lock", codes)
    r = keep(d.client("police-studio", source="127.0.0.3").login(victim, pw))
    c.error(r, 429, "RESOURCE_EXHAUSTED", "the locked account with the right password, "
            "from another address")
    rc, out = d.ctl("--unit", "police-studio", "user", "list")
    c.check(rc == 0 and victim in out, "mediactl user list shows the account", out)

    # Per address: five failures from 127.0.0.4, each on a different (unknown)
    # name, lock the address, not any account.
    b = d.client("police-studio", source="127.0.0.4")
    for i in range(5):
        keep(b.login("无此人%d" % i, "wrong-password"))
    r = keep(b.login("马德顺", d.passwords[("police-studio", "马德顺")]))
    c.error(r, 429, "RESOURCE_EXHAUSTED", "after five failures from one address, "
            "a right password from it")
    r = keep(d.client("police-studio", source="127.0.0.5").login(
        "马德顺", d.passwords[("police-studio", "马德顺")]))
    c.status(r, 200, "the same account from another address (the account is not locked)")

    # mediactl user passwd clears the account's lock.
    new = "new-" + os.urandom(8).hex()
    rc, out = d.ctl("--unit", "police-studio", "user", "passwd", victim, "--password-stdin",
                    stdin=new + "\n")
    c.check(rc == 0, "mediactl user passwd", out)
    r = keep(d.client("police-studio", source="127.0.0.6").login(victim, new))
    c.status(r, 200, "the new password after passwd (the lock is cleared)")
    d.passwords[("police-studio", victim)] = new

    # A disabled account: its right password is refused (403), until enabled.
    rc, out = d.ctl("--unit", "police-studio", "user", "disable", victim)
    c.check(rc == 0, "mediactl user disable", out)
    r = keep(d.client("police-studio", source="127.0.0.7").login(victim, new))
    c.error(r, 403, "PERMISSION_DENIED", "a disabled account with its right password")
    rc, out = d.ctl("--unit", "police-studio", "user", "enable", victim)
    r = keep(d.client("police-studio", source="127.0.0.7").login(victim, new))
    c.status(r, 200, "enabled again, it logs in")


def test_csrf_logout(d, c, police):
    r = keep(police.call("Desk", "Inbox", csrf=False))
    c.error(r, 403, "PERMISSION_DENIED", "a POST without X-CSRF-Token", "CSRF")
    r = keep(police.call("Desk", "Inbox", csrf=False, headers={"X-CSRF-Token": "0" * 64}))
    c.error(r, 403, "PERMISSION_DENIED", "a POST with a wrong X-CSRF-Token", "CSRF")
    other = d.client("police-studio")
    keep(other.login("马德顺", d.passwords[("police-studio", "马德顺")]))
    r = keep(police.call("Desk", "Inbox", csrf=False, headers={"X-CSRF-Token": other.csrf}))
    c.error(r, 403, "PERMISSION_DENIED", "a POST with another session's token", "CSRF")
    r = keep(police.call("Desk", "Inbox"))
    c.status(r, 200, "the same POST with the session's token")
    anon = d.client("police-studio")
    r = keep(anon.call("Desk", "Inbox", headers={"X-CSRF-Token": police.csrf}))
    c.error(r, 401, "UNAUTHENTICATED", "a POST with a token but no session")

    r = keep(other.request("POST", "/api/v1/logout", csrf=False))
    c.error(r, 403, "PERMISSION_DENIED", "logout without the token")
    r = keep(other.request("POST", "/api/v1/logout"))
    c.status(r, 200, "logout")
    cleared = [v for v in r.all("set-cookie") if v.startswith("mw_session=")]
    c.check(cleared and "Max-Age=0" in cleared[0], "logout clears the cookie (Max-Age=0)",
            r.headers)
    r = keep(other.request("GET", "/api/v1/session"))
    c.error(r, 401, "UNAUTHENTICATED", "the session after logout")
    r = keep(other.call("Desk", "Inbox"))
    c.error(r, 401, "UNAUTHENTICATED", "a call with the logged-out session")
    r = keep(police.request("GET", "/api/v1/session"))
    c.status(r, 200, "logging one session out leaves the others")


def test_methods(d, c, police, coord):
    for client, table, what in ((police, UNIT_TABLE, "unit"),
                                (coord, COORDINATOR_TABLE, "coordinators")):
        r = keep(client.request("GET", "/api/v1/methods"))
        got = {}
        if r.status == 200 and isinstance(r.json, dict):
            for m in r.json.get("methods", []):
                got[(m.get("service"), m.get("method"))] = m.get("access")
        c.check(got == table, "GET /api/v1/methods lists exactly the %s site's table" % what,
                "got %s" % got)

    refused_unit = ["Router/PullDeliveries", "Router/AckDeliveries", "RpcSession/Open",
                    "Router/Apply", "Reflection/ListServices", "Health/Check",
                    "Router/GetCase", "RouterAdmin/Backup", "RouterAdmin/Anchor",
                    "Desk/NoSuchMethod", "Made/Up", "mediation.v1.Desk/Inbox",
                    "mediation.v1.Router/PullDeliveries", "Echo/Ping"]
    refused_coord = ["Router/PullDeliveries", "Router/AckDeliveries", "RpcSession/Open",
                     "Reflection/ListServices", "RouterAdmin/Anchor",
                     "Desk/Inbox", "Desk/TakeIn", "Router/NoSuch", "Made/Up"]
    for client, names, what in ((police, refused_unit, "unit"),
                                (coord, refused_coord, "coordinators")):
        for n in names:
            r = keep(client.request("POST", "/api/v1/" + n, {}))
            c.error(r, 404, "NOT_FOUND", "%s site refuses %s" % (what, n))
    for path in ("/api/v1/Desk", "/api/v1/Desk/Inbox/x", "/api/v1/", "/api/v2/Desk/Inbox",
                 "/api/v1/Desk/Inbox%00", "/api/v1/../v1/Desk/Inbox"):
        r = keep(police.request("POST", path, {}))
        c.check(r.status in (400, 404), "POST %s is refused (400/404)" % path, r)
    for method in ("GET", "PUT", "DELETE"):
        r = keep(police.request(method, "/api/v1/Desk/Inbox"))
        c.check(r.status == 405, "%s /api/v1/Desk/Inbox: 405" % method, r)
    r = keep(police.request("GET", "/api/v1/login"))
    c.check(r.status == 405, "GET /api/v1/login: 405", r)


def wait_for(what, fn, limit=20):
    deadline = time.time() + limit
    last = None
    while time.time() < deadline:
        last = fn()
        if last is not None and last is not False:
            return last
        time.sleep(0.2)
    return None


def test_handoff(d, c, police, coord):
    """TakeIn at the police studio (referred to the marriage studio by its
    policy), the events long poll at the marriage desk, Inbox, Act accept,
    ShowCase; every row of both tables called for real."""
    zhou = d.client("marriage-studio")
    c.status(keep(zhou.login("周晓梅", d.passwords[("marriage-studio", "周晓梅")])), 200,
             "周晓梅 logs in at the marriage studio")

    # The marriage desk's position in its events.
    r = keep(zhou.request("GET", "/api/v1/events?after=0&epoch=0"))
    c.status(r, 200, "events: the first poll answers at once")
    ev = r.json or {}
    c.check(all(k in ev for k in ("epoch", "seq", "reset", "inbox_changed", "case_ids")),
            "events: epoch, seq, reset, inbox_changed, case_ids", ev)
    headers_ok(c, r, "events")
    epoch, seq = ev.get("epoch", 0), ev.get("seq", 0)
    polled = {}

    def poll():
        nonlocal seq
        deadline = time.time() + 30
        while time.time() < deadline:
            rr = zhou.request("GET", "/api/v1/events?after=%s&epoch=%s" % (seq, epoch),
                              timeout=40)
            polled.setdefault("replies", []).append(rr)
            if rr.status != 200 or not isinstance(rr.json, dict):
                return
            seq = rr.json.get("seq", seq)
            if rr.json.get("inbox_changed") or rr.json.get("reset"):
                polled["hit"] = rr.json
                polled["at"] = time.time()
                return
    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)  # the poll is waiting

    body = webtest.intake(summary=CANARY_TEXT, parties=[
        {"name": CANARY_NAME, "role": "applicant", "id_number": CANARY_ID,
         "phone": CANARY_PHONE},
        {"name": CANARY_NAME + "乙", "role": "respondent"}])
    body["person"] = "冒充者"  # the gateway puts the logged-in person here
    t0 = time.time()
    r = keep(police.call("Desk", "TakeIn", body))
    c.status(r, 200, "Desk/TakeIn at the police studio")
    rec = ((r.json or {}).get("case_record") or {})
    case_id = rec.get("id", "")
    steps = (r.json or {}).get("steps") or []
    c.check(case_id.startswith("BH-") and steps and steps[0].get("disposition") == "applied",
            "TakeIn applied, case %s" % case_id, r)
    c.check(any((s.get("action") or {}).get("kind") == "transfer"
                and (s.get("action") or {}).get("to_unit") == "marriage-studio" for s in steps),
            "the police studio's policy offered it to the marriage studio", steps)

    t.join(40)
    hit = polled.get("hit")
    c.check(hit is not None and hit.get("inbox_changed") and case_id in hit.get("case_ids", []),
            "events: the marriage desk's long poll returns on the handoff, naming the case",
            polled)
    if hit:
        c.check(polled["at"] - t0 < 10, "events: within 10 s of the TakeIn (%.1f s)"
                % (polled["at"] - t0))
    # Once caught up (the offer may be more than one change), a poll with
    # nothing new waits (at most 25 s) and then answers with no change.
    for _ in range(10):
        t1 = time.time()
        r = keep(zhou.request("GET", "/api/v1/events?after=%s&epoch=%s" % (seq, epoch),
                              timeout=40))
        took = time.time() - t1
        j = r.json if isinstance(r.json, dict) else {}
        if r.status != 200 or (not j.get("case_ids") and not j.get("inbox_changed")):
            break
        seq = j.get("seq", seq)
    c.check(r.status == 200 and took > 1.0 and took < 35 and not j.get("case_ids")
            and not j.get("inbox_changed") and not j.get("reset"),
            "events: nothing new waits, then answers with no change (%.1f s)" % took, r)
    r = keep(zhou.request("GET", "/api/v1/events?after=%s&epoch=12345" % seq))
    c.check(r.status == 200 and (r.json or {}).get("reset") is True,
            "events: another epoch is a reset", r)
    r = keep(zhou.request("GET", "/api/v1/events?after=banana"))
    c.error(r, 400, "INVALID_ARGUMENT", "events with a bad after")

    def in_inbox():
        rr = zhou.call("Desk", "Inbox")
        ids = [((x.get("case_record") or {}).get("id")) for x in (rr.json or {}).get("cases", [])]
        return rr if case_id in ids else None
    r = wait_for("inbox", in_inbox)
    c.check(r is not None, "Desk/Inbox at the marriage studio lists the case")
    if r is not None:
        keep(r)
    r = keep(zhou.call("Desk", "Act", {"action": {"kind": "accept", "case_ref": case_id,
                                                  "person": "冒充者"}}))
    c.status(r, 200, "Desk/Act accept at the marriage studio")
    st = ((r.json or {}).get("steps") or [{}])[0]
    c.check(st.get("disposition") == "applied", "the accept was applied", r)
    c.check((((r.json or {}).get("case_record") or {}).get("holder")) == "marriage-studio",
            "the marriage studio holds the case", r)

    r = keep(zhou.call("Desk", "ShowCase", {"case_ref": case_id, "with_timeline": True,
                                             "person": "冒充者"}))
    c.status(r, 200, "Desk/ShowCase with the timeline")
    events = (r.json or {}).get("events") or []
    by_kind = {}
    for e in events:
        by_kind.setdefault(((e.get("action") or {}).get("kind")), e)
    take = by_kind.get("take_in") or {}
    acc = by_kind.get("accept") or {}
    c.check(((take.get("actor") or {}).get("person")) == "马德顺",
            "the case file names 马德顺 (logged in) as who took it in, not the body's person",
            take)
    c.check(((acc.get("actor") or {}).get("person")) == "周晓梅",
            "the case file names 周晓梅 (logged in) as who accepted it", acc)
    c.check(((take.get("actor") or {}).get("id")) == "police-studio-operator"
            or ((take.get("actor") or {}).get("id")) == "police-studio",
            "the step was signed as the police studio's principal", take)

    # Every row of the unit table, called with a body it can answer.
    rows = {
        "Inbox": ({}, 200), "ListCases": ({}, 200), "Conflicts": ({}, 200), "Roster": ({}, 200),
        "ShowCase": ({"case_ref": case_id}, 200), "Search": ({"text": "张"}, 200),
        "DismissConflict": ({"outbox_seq": 987654}, 404),
    }
    for m, (b, want) in rows.items():
        r = keep(zhou.call("Desk", m, b))
        c.status(r, want, "Desk/%s reachable" % m)
    r = keep(zhou.call("Desk", "DismissConflict", {"outbox_seq": 987654}))
    c.check("no conflict" in ((r.json or {}).get("message") or ""),
            "Desk/DismissConflict's 404 is the Desk's answer, not the gateway's", r)

    # Every row of the coordinators' table.
    y = webtest.year()
    rows = [("Router", "GetCase", {"case_ref": case_id, "with_timeline": True}, 200),
            ("Router", "ListCases", {}, 200), ("Router", "Stuck", {}, 200),
            ("Router", "GetFigures", {"year": y}, 200), ("RouterAdmin", "Verify", {}, 200),
            ("RouterAdmin", "ListAccess", {"case_id": case_id}, 200),
            ("RouterAdmin", "Backup", {}, 409)]
    for s, m, b, want in rows:
        r = keep(coord.call(s, m, b))
        c.status(r, want, "%s/%s reachable" % (s, m))
    r = keep(coord.call("RouterAdmin", "Backup", {}))
    c.error(r, 409, "FAILED_PRECONDITION", "Backup without a backup_dir (FAILED_PRECONDITION)",
            "backup_dir")
    r = keep(coord.call("Router", "GetCase", {"case_ref": case_id, "person": "冒充者"}))
    c.check((((r.json or {}).get("case_record") or {}).get("id")) == case_id,
            "Router/GetCase returns the case", r)
    r = keep(coord.call("Router", "ListCases", {}))
    c.check(any(x.get("id") == case_id for x in (r.json or {}).get("cases", [])),
            "Router/ListCases lists it", r)
    r = keep(coord.call("RouterAdmin", "Verify", {}))
    c.check((r.json or {}).get("problems") == 0, "Verify: the store is sound", r)

    # Reads through the web are in the access log with the person's name.
    def access():
        rr = coord.call("RouterAdmin", "ListAccess", {"case_id": case_id})
        persons = [((x.get("who") or {}).get("person")) for x in (rr.json or {}).get("records", [])]
        return persons if ("周晓梅" in persons and d.coord_person[0] in persons) else None
    persons = wait_for("access", access, 10)
    c.check(persons is not None, "ListAccess: 周晓梅's ShowCase and %s's GetCase are logged "
            "with their names" % d.coord_person[0],
            coord.call("RouterAdmin", "ListAccess", {"case_id": case_id}))
    rc, out = d.ctl("access-log", "--case", case_id)
    c.check(rc == 0 and "周晓梅" in out, "mediactl access-log names 周晓梅", out)
    c.check("冒充者" not in out, "a person in the request body is not what the log records", out)
    return case_id


def test_status_mapping(d, c, police, case_id):
    r = keep(police.request("POST", "/api/v1/Desk/ShowCase", '{"case_ref": '))
    c.error(r, 400, "INVALID_ARGUMENT", "truncated JSON")
    r = keep(police.request("POST", "/api/v1/Desk/ShowCase", "not json at all"))
    c.error(r, 400, "INVALID_ARGUMENT", "not JSON")
    r = keep(police.call("Desk", "ShowCase", {"case_ref": case_id, "bogus_field": 1}))
    c.error(r, 400, "INVALID_ARGUMENT", "an unknown field, named", "bogus_field")
    r = keep(police.call("Desk", "ShowCase", {"case_ref": 5}))
    c.error(r, 400, "INVALID_ARGUMENT", "a number for a string field, named", "case_ref")
    r = keep(police.call("Desk", "ListCases", {"state": "no_such_state"}))
    c.error(r, 400, "INVALID_ARGUMENT", "an unknown enum name", "state")
    r = keep(police.request("POST", "/api/v1/Desk/ShowCase", b'{"case_ref": "\xff\xfe"}'))
    c.error(r, 400, "INVALID_ARGUMENT", "invalid UTF-8")
    r = keep(police.request("POST", "/api/v1/Desk/Inbox", "[]"))
    c.error(r, 400, "INVALID_ARGUMENT", "a JSON array for a message")
    r = keep(police.call("Desk", "ShowCase", {}))
    c.error(r, 400, "INVALID_ARGUMENT", "ShowCase without case_ref (the Desk's check)",
            "case_ref")
    r = keep(police.call("Desk", "ShowCase", {"case_ref": "BH-%d-999999" % webtest.year()}))
    c.error(r, 404, "NOT_FOUND", "an unknown case")
    # A step on a case the police studio no longer holds: refused by the
    # state machine. The Desk answers with the refusal in its first step.
    r = keep(police.call("Desk", "Act", {"action": {"kind": "start_mediation",
                                                    "case_ref": case_id}}))
    refused = r.status == 409 or (r.status == 200 and ((r.json or {}).get("steps") or [{}])[0]
                                  .get("disposition") == "refused")
    c.check(refused, "a step the case's state refuses: 409, or the Desk's refused step", r)
    r = keep(police.request("POST", "/api/v1/Desk/Inbox", "x" * (70 * 1024)))
    c.error(r, 413, "RESOURCE_EXHAUSTED", "a body over max_body_kib")


def test_static(d, c, police):
    r = (police.request("GET", "/"))
    c.check(r.status == 200 and "text/html" in (r.header("content-type") or "")
            and "utf-8" in (r.header("content-type") or "").lower()
            and "网页测试" in r.text(), "GET / serves static_dir/index.html as utf-8 html", r)
    headers_ok(c, r, "GET /", api=False)
    r = (police.request("GET", "/app.js"))
    c.check(r.status == 200 and "javascript" in (r.header("content-type") or ""),
            "GET /app.js with a javascript Content-Type", r)
    for path in ("/../mediation.conf", "/%2e%2e/mediation.conf", "/.hidden", "/no-such-file.js",
                 "/sub/../../mediation.conf"):
        r = (police.request("GET", path))
        c.check(r.status in (400, 404) and "public_key" not in r.text(),
                "GET %s is refused" % path, r)
        headers_ok(c, r, "GET %s" % path, api=False)


def test_unavailable(d, c, police):
    d.stop("police-studio")
    t0 = time.time()
    r = keep(police.call("Desk", "Inbox", timeout=60))
    c.error(r, 503, "UNAVAILABLE", "the unit daemon stopped (%.1f s)" % (time.time() - t0))
    c.check(d.alive("web-police-studio"), "the gateway still runs without its unit")
    d.start_unit("police-studio")
    r = wait_for("back", lambda: (lambda rr: rr if rr.status == 200 else None)(
        police.call("Desk", "Inbox")), 30)
    c.check(r is not None, "the gateway serves again once the unit is back")


def test_no_personal_data(d, c):
    for name in list(d.procs):
        if name.startswith("web-"):
            rc = d.stop(name)
            c.check(rc == 0, "%s exits 0 on SIGTERM (%s)" % (name, rc), d.log_tail(name))
    secrets = [CANARY_NAME, CANARY_ID, CANARY_PHONE, "马德顺", "周晓梅", "刘建平",
               d.coord_person[0], d.coordinator[1]]
    secrets += [pw for pw in d.passwords.values()]
    logs = d.logs("web-")
    c.check(len(logs) >= 3 and all(len(t) > 0 for t in logs.values()),
            "every gateway wrote a log (%s)" % ", ".join(sorted(logs)), logs.keys())
    for f, text in logs.items():
        found = [s for s in secrets if s in text]
        c.check(not found, "%s: no name, ID number, phone or password" % f,
                "found %s" % found)
        c.check("mw_session" not in text, "%s: no session cookie" % f)
    canaries = [CANARY_NAME, CANARY_ID, CANARY_PHONE]
    for f, text in d.logs().items():
        found = [s for s in canaries if s in text]
        c.check(not found, "%s: no canary" % f, "found %s" % found)


def main(d, c):
    police, other, coord = test_login(d, c)
    test_lockout(d, c)
    test_csrf_logout(d, c, police)
    test_methods(d, c, police, coord)
    case_id = test_handoff(d, c, police, coord)
    test_status_mapping(d, c, police, case_id)
    test_static(d, c, police)
    test_unavailable(d, c, police)
    bad = []
    for r in replies:
        missing = [k for k, v in SECURITY.items() if r.header(k) != v]
        if r.header("cache-control") != "no-store":
            missing.append("cache-control")
        if missing:
            bad.append("HTTP %d %s: %s" % (r.status, r.text()[:80], missing))
    codes = sorted(set(r.status for r in replies))
    c.check(replies and not bad, "security headers and Cache-Control: no-store on every API "
            "reply (%d replies, statuses %s)" % (len(replies), codes), "\n".join(bad[:20]))
    test_no_personal_data(d, c)


def setup_static(d_dir):
    os.makedirs(d_dir, exist_ok=True)
    with open(os.path.join(d_dir, "index.html"), "w", encoding="utf-8") as f:
        f.write("<!doctype html><title>网页测试</title><script src=app.js></script>\n")
    with open(os.path.join(d_dir, "app.js"), "w", encoding="utf-8") as f:
        f.write("'use strict';\n")
    with open(os.path.join(d_dir, ".hidden"), "w", encoding="utf-8") as f:
        f.write("secret\n")


if __name__ == "__main__":
    src, build = sys.argv[1], sys.argv[2]
    import tempfile
    static = tempfile.mkdtemp(prefix="mediation-web-static.")
    setup_static(static)
    try:
        # No backup_dir: RouterAdmin/Backup answers FAILED_PRECONDITION (409).
        webtest.run(main, src, build, "api",
                    extra_conf="[web]\nstatic_dir = %s\n" % static,
                    edit_conf=lambda t: "\n".join(
                        line for line in t.splitlines() if not line.startswith("backup_dir")))
    finally:
        import shutil
        shutil.rmtree(static, ignore_errors=True)
