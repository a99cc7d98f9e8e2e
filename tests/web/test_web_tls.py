#!/usr/bin/env python3
"""test_web_tls.py - the gateways as mkdeploy --web-tls makes them: https://
with the certificate deploy/tls-setup made (its CA checked by the client,
the name and address as tls-setup wrote them), a session cookie marked
Secure, and no plain HTTP on the same port.

Usage: test_web_tls.py SOURCE_DIR BUILD_DIR
"""

import http.client
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import webtest  # noqa: E402


def main(d, c):
    with open(d.conf, encoding="utf-8") as f:
        conf = f.read()
    c.check("listen = https://127.0.0.1:%d" % d.site_port("police-studio") in conf,
            "mkdeploy --web-tls writes an https:// listen", conf[-600:])
    police = d.client("police-studio")  # verifies against tls-setup's ca.pem
    r = police.login("马德顺", d.passwords[("police-studio", "马德顺")])
    c.status(r, 200, "login over https, the certificate checked against ca.pem")
    ck = [v for v in r.all("set-cookie") if v.startswith("mw_session=")]
    c.check(ck and "Secure" in [a.strip() for a in ck[0].split(";")],
            "the session cookie is Secure under https", ck)
    c.status(police.call("Desk", "Inbox"), 200, "a call over https")
    coord = d.client("coordinators")
    c.status(coord.login(*d.coord_person), 200, "the coordinators' gateway over https")
    c.status(coord.call("Router", "ListCases", {}), 200, "a coordinator's call over https")
    # A write of the coordinators' table, end to end (this deployment has a backup_dir).
    r = coord.call("RouterAdmin", "Backup", {})
    c.check(r.status == 200 and os.path.isdir((r.json or {}).get("path", "")),
            "RouterAdmin/Backup through the gateway makes a backup", r)
    r = coord.call("RouterAdmin", "Backup", {}, csrf=False)
    c.error(r, 403, "PERMISSION_DENIED", "Backup without the CSRF token")

    plain = http.client.HTTPConnection("127.0.0.1", d.site_port("police-studio"), timeout=10)
    try:
        plain.request("GET", "/api/v1/session")
        got = plain.getresponse().status
    except (OSError, http.client.HTTPException) as e:
        got = repr(e)
    finally:
        plain.close()
    c.check(got != 401 and got != 200, "plain HTTP on the https port is not served (%s)" % (got,))
    c.check(d.alive("web-police-studio"), "the gateway is still running")


if __name__ == "__main__":
    webtest.run(main, sys.argv[1], sys.argv[2], "tls", units=("police-studio",), tls=True,
                log_level="info")
