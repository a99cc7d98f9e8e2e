"""webtest.py - what the black-box web tests share: a live deployment on
temporary paths and free 127.0.0.1 ports (deploy/mkdeploy, the router, unit
daemons and their mediation-web gateways, the people's accounts made with
`mediactl user add`), always stopped and removed at the end; an HTTP client
that keeps a session cookie and its CSRF token; and ok/FAIL reporting in the
style of the shell tests (every check printed, the exit status counts the
failures). Python 3 standard library only: the tests need nothing that the
project does not install with `deploy/install-deps --test`.

A deployment's daemons log to DIR/logs/NAME.log (stdout and stderr), so a
test can search every log (the personal-data canary) and a failure can show
the end of each.
"""

import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

UNIT_PROGRAMS = {
    "police-studio": "police-studio",
    "marriage-studio": "marriage-studio",
    "station-wangai": "community-station",
    "station-baihe": "community-station",
    "station-kongque": "community-station",
}
# The order mkdeploy gives the units their web ports (after the coordinators').
UNIT_ORDER = ["police-studio", "marriage-studio", "station-wangai", "station-baihe",
              "station-kongque"]

# One person of each unit's roster (mkdeploy's invented names): their accounts.
PEOPLE = {
    "police-studio": ["马德顺", "刘建平"],
    "marriage-studio": ["周晓梅", "陈立新"],
    "station-wangai": ["王桂芳"],
    "station-baihe": ["钱玉兰"],
    "station-kongque": ["李秀英"],
}


COORDINATOR = "郑协调"


class Checks:
    """ok/FAIL lines as the shell tests print them; exit status 1 on any FAIL."""

    def __init__(self):
        self.failures = 0

    def ok(self, what):
        print("ok: " + what, flush=True)

    def fail(self, what, detail=None):
        self.failures += 1
        print("FAIL: " + what, flush=True)
        if detail:
            for line in str(detail).splitlines()[:40]:
                print("    " + line, flush=True)

    def check(self, cond, what, detail=None):
        if cond:
            self.ok(what)
        else:
            self.fail(what, detail)
        return cond

    def status(self, reply, want, what):
        """The reply's status is want (an int or a tuple of ints)."""
        wants = want if isinstance(want, tuple) else (want,)
        return self.check(reply.status in wants, "%s: HTTP %d" % (what, reply.status),
                          "expected %s; body: %s" % (wants, reply.text()[:600]))

    def error(self, reply, status, code, what, message_has=None):
        """An error reply: the status, {"code","message"} with this code, and
        (if given) a message containing message_has."""
        good = reply.status == status and isinstance(reply.json, dict) \
            and reply.json.get("code") == code and isinstance(reply.json.get("message"), str) \
            and reply.json.get("message") != ""
        if good and message_has is not None:
            good = message_has in reply.json["message"]
        return self.check(good, "%s: %d %s" % (what, status, code),
                          "got HTTP %d, body: %s (wanted message with %r)"
                          % (reply.status, reply.text()[:600], message_has))

    def done(self):
        if self.failures:
            print("%d failure(s)" % self.failures, flush=True)
            sys.exit(1)
        print("all checks passed", flush=True)
        sys.exit(0)


def free_ports(n):
    """The first of n consecutive free TCP ports on 127.0.0.1 (bound and
    released at once: free a moment ago, as good as tests get)."""
    for _ in range(500):
        base = random.randrange(20000, 60000 - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise RuntimeError("no %d consecutive free ports on 127.0.0.1" % n)


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # [(name lowercased, value)], in order
        self.body = body
        self.json = None
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            self.json = None

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "HTTP %d %s" % (self.status, self.text()[:300])


class Client:
    """One browser: a session cookie and its CSRF token, a fresh connection
    per request (from source address `source`, e.g. 127.0.0.2: loopback
    accepts any 127/8 source, which lets a test be several client addresses)."""

    def __init__(self, host, port, https=False, source=None, timeout=30, cafile=None):
        self.host, self.port, self.https = host, port, https
        self.cafile = cafile  # verify the server against this CA (else no verification)
        self.source = source
        self.timeout = timeout
        self.cookie = None
        self.csrf = None
        self.login_reply = None

    def connection(self, timeout=None):
        src = (self.source, 0) if self.source else None
        t = timeout if timeout is not None else self.timeout
        if self.https:
            ctx = ssl.create_default_context(cafile=self.cafile)
            if not self.cafile:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(self.host, self.port, timeout=t,
                                               source_address=src, context=ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=t, source_address=src)

    def request(self, method, path, body=None, headers=None, cookie=True, csrf=True,
                timeout=None):
        h = {}
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body, ensure_ascii=False)
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None:
            h["Content-Type"] = "application/json"
        if cookie and self.cookie:
            h["Cookie"] = "mw_session=" + self.cookie
        if csrf and self.csrf and method == "POST":
            h["X-CSRF-Token"] = self.csrf
        if headers:
            h.update(headers)
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return Reply(r.status, [(k.lower(), v) for k, v in r.getheaders()], data)
        finally:
            conn.close()

    def login(self, name, password):
        r = self.request("POST", "/api/v1/login", {"name": name, "password": password},
                         cookie=False, csrf=False)
        if r.status == 200:
            for v in r.all("set-cookie"):
                m = re.match(r"mw_session=([0-9a-fA-F]*)", v)
                if m:
                    self.cookie = m.group(1)
            if isinstance(r.json, dict):
                self.csrf = r.json.get("csrf_token")
            self.login_reply = r
        return r

    def call(self, service, method, message=None, **kw):
        return self.request("POST", "/api/v1/%s/%s" % (service, method),
                            {} if message is None else message, **kw)


class Deployment:
    """A whole live deployment on temporary paths (mkdeploy, ipc:// sockets
    between the daemons, the web gateways on free 127.0.0.1 ports)."""

    def __init__(self, src, build, tag, units=("police-studio", "marriage-studio"),
                 extra_conf="", log_level="debug", edit_conf=None, tls=False):
        self.src, self.build = src, build
        self.tag = tag
        self.units = list(units)
        self.extra_conf = extra_conf
        self.log_level = log_level
        self.edit_conf = edit_conf
        self.tls = tls  # https:// gateways with deploy/tls-setup's certificate (mkdeploy --web-tls)
        self.cafile = None
        self.procs = {}  # name -> Popen
        self.passwords = {}  # (site, name) -> password
        self.coordinator = None  # (name, password) mkdeploy printed
        self.coord_person = None  # (name, password) of COORDINATOR
        self.dir = None

    # --- paths and programs ---
    def prog(self, rel):
        return os.path.join(self.build, rel)

    @property
    def mediactl(self):
        return self.prog("services/mediactl")

    @property
    def gateway(self):
        return self.prog("services/mediation-web")

    def ctl(self, *args, stdin=None, timeout=60):
        """mediactl --config CONF ARGS...: (exit status, stdout+stderr)."""
        p = subprocess.run([self.mediactl, "--config", self.conf] + list(args),
                           input=stdin.encode("utf-8") if isinstance(stdin, str) else stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def site_port(self, site):
        if site == "coordinators":
            return self.web_port
        return self.web_port + 1 + UNIT_ORDER.index(site)

    def client(self, site, source=None, timeout=30):
        return Client("127.0.0.1", self.site_port(site), source=source, timeout=timeout,
                      https=self.tls, cafile=self.cafile)

    # --- starting and stopping ---
    def start(self):
        self.dir = tempfile.mkdtemp(prefix="mediation-web-%s." % self.tag,
                                    dir=os.environ.get("TMPDIR", "/tmp"))
        os.makedirs(os.path.join(self.dir, "logs"))
        self.deploy_dir = os.path.join(self.dir, "d")
        self.conf = os.path.join(self.deploy_dir, "mediation.conf")
        self.web_port = free_ports(6)
        tls_args = []
        if self.tls:
            tls_dir = os.path.join(self.dir, "tls")
            p = subprocess.run(["sh", os.path.join(self.src, "deploy/tls-setup"), "--dir", tls_dir,
                                "--name", "localhost", "--ip", "127.0.0.1"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            if p.returncode != 0:
                raise RuntimeError("tls-setup failed: " + p.stdout.decode("utf-8", "replace"))
            self.cafile = os.path.join(tls_dir, "ca.pem")
            tls_args = ["--web-tls", tls_dir]
        p = subprocess.run(
            ["sh", os.path.join(self.src, "deploy/mkdeploy"), "--dir", self.deploy_dir,
             "--keygen", self.prog("rpc/mediation-keygen"), "--mediactl", self.mediactl,
             "--web-port", str(self.web_port)] + tls_args,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        out = p.stdout.decode("utf-8", "replace")
        if p.returncode != 0:
            raise RuntimeError("mkdeploy failed (%d): %s%s" % (
                p.returncode, out, p.stderr.decode("utf-8", "replace")))
        m = re.search(r"^web account (\S+) password (\S+)$", out, re.M)
        if not m:
            raise RuntimeError("mkdeploy printed no first coordinator account: %s%s" % (
                out, p.stderr.decode("utf-8", "replace")))
        self.coordinator = (m.group(1), m.group(2))
        self.passwords[("coordinators", m.group(1))] = m.group(2)
        with open(self.conf, encoding="utf-8") as f:
            text = f.read()
        if self.edit_conf:
            text = self.edit_conf(text)
        text += "\n" + self.extra_conf + "\n"
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(text)

        self.spawn("router", [self.prog("router/mediation-router"), "--config", self.conf])
        self.wait_health("router")
        for u in self.units:
            self.start_unit(u)
        for u in self.units:
            for person in PEOPLE[u]:
                self.add_account(u, person, "mediator")
        # A coordinator with a person's name (mkdeploy's first account is
        # named by a generic word): the one the tests log in as.
        self.coord_person = (COORDINATOR, self.add_account("coordinators", COORDINATOR,
                                                           "coordinator"))
        self.start_gateway("coordinators")
        for u in self.units:
            self.start_gateway(u)
        return self

    def spawn(self, name, argv):
        log = open(os.path.join(self.dir, "logs", name + ".log"), "ab")
        self.procs[name] = subprocess.Popen(argv + ["--log-level", self.log_level],
                                            stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        log.close()

    def wait_health(self, name, unit=None, limit=30):
        args = (["--unit", unit] if unit else []) + ["--timeout", "2", "health"]
        deadline = time.time() + limit
        while time.time() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError("%s stopped: %s" % (name, self.log_tail(name)))
            rc, _ = self.ctl(*args)
            if rc == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("%s did not answer Health within %d s: %s" % (
            name, limit, self.log_tail(name)))

    def start_unit(self, unit):
        self.spawn(unit, [self.prog("services/" + UNIT_PROGRAMS[unit]), "--config", self.conf,
                          "--unit", unit])
        self.wait_health(unit, unit)

    def stop(self, name, sig=signal.SIGTERM):
        p = self.procs.pop(name, None)
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def add_account(self, site, name, role, password=None):
        """mediactl user add (a unit's person must be on its roster, with the
        roster's role: `role` is what the test expects to see)."""
        if password is None:
            password = "pw-" + os.urandom(9).hex()
        rc, out = self.ctl(*self.user_args(site), "add", name, "--password-stdin",
                           stdin=password + "\n")
        if rc != 0:
            raise RuntimeError("mediactl user add %s %s failed (%d): %s" % (site, role, rc, out))
        self.passwords[(site, name)] = password
        return password

    @staticmethod
    def user_args(site):
        """mediactl's words before a `user` subcommand for a site."""
        if site == "coordinators":
            return ["user", "--coordinators"]
        return ["--unit", site, "user"]

    def start_gateway(self, site):
        where = ["--coordinator"] if site == "coordinators" else ["--unit", site]
        name = "web-" + site
        self.spawn(name, [self.gateway, "--config", self.conf] + where)
        deadline = time.time() + 30
        c = self.client(site, timeout=2)
        while time.time() < deadline:
            if self.procs[name].poll() is not None:
                raise RuntimeError("%s stopped: %s" % (name, self.log_tail(name)))
            try:
                if c.request("GET", "/api/v1/session").status == 401:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("%s did not answer within 30 s: %s" % (name, self.log_tail(name)))

    def alive(self, name):
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def log_tail(self, name, n=15):
        try:
            with open(os.path.join(self.dir, "logs", name + ".log"), encoding="utf-8",
                      errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def logs(self, prefix=""):
        """{name: text} of every log whose name starts with prefix."""
        out = {}
        d = os.path.join(self.dir, "logs")
        for f in sorted(os.listdir(d)):
            if f.startswith(prefix):
                with open(os.path.join(d, f), "rb") as fh:
                    out[f] = fh.read().decode("utf-8", "replace")
        return out

    def diagnose(self):
        for name in sorted(self.procs):
            print("--- %s: %s" % (name, "running" if self.alive(name) else "gone"))
            for line in self.log_tail(name, 8).splitlines():
                print("    " + line)

    def close(self, keep=False):
        # Gateways first, then units, then the router: nothing is left behind.
        for name in sorted(self.procs, key=lambda n: (0 if n.startswith("web-") else
                                                     2 if n == "router" else 1)):
            self.stop(name)
        if self.dir and not keep and not os.environ.get("MEDIATION_KEEP_TEST_DIR"):
            shutil.rmtree(self.dir, ignore_errors=True)
        elif self.dir:
            print("kept " + self.dir)


def run(main, src, build, tag, **kw):
    """Builds a Deployment, runs main(deployment, checks), always stops it;
    exits 0 or 1 (77 when the gateway is not built: skipped)."""
    checks = Checks()
    d = Deployment(src, build, tag, **kw)
    if not os.access(d.gateway, os.X_OK):
        print("SKIP: %s is not built" % d.gateway)
        sys.exit(77)
    # SIGTERM from ctest's timeout: stop the daemons all the same.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        d.start()
        main(d, checks)
        # Every daemon still running stops cleanly: exit 0 on SIGTERM (under
        # ASan, a leak or an error found at exit is a non-zero exit).
        for name in sorted(d.procs, key=lambda n: 0 if n.startswith("web-") else 1):
            if name == "router":
                continue
            rc = d.stop(name)
            checks.check(rc == 0, "%s exits 0 on SIGTERM (%s)" % (name, rc), d.log_tail(name))
        if "router" in d.procs:
            rc = d.stop("router")
            checks.check(rc == 0, "router exits 0 on SIGTERM (%s)" % rc, d.log_tail("router"))
    except Exception as e:  # noqa: BLE001 - reported, then the deployment is stopped
        import traceback
        checks.fail("the test stopped: %r" % e, traceback.format_exc())
        if d.dir:
            d.diagnose()
    finally:
        d.close(keep=checks.failures > 0 and bool(os.environ.get("MEDIATION_KEEP_FAILED")))
    checks.done()


def year():
    return time.gmtime(time.time() + 8 * 3600).tm_year


def intake(summary="家庭琐事", parties=None, kind="relationship", community="kongque"):
    """A TakeIn request body (DeskTakeInRequest) the police studio refers to
    the marriage studio (a relationship dispute)."""
    return {
        "intake": {
            "kind": kind,
            "difficulty": "ordinary",
            "source": "walk_in",
            "community": community,
            "summary": summary,
            "parties": parties or [{"name": "某甲", "role": "applicant"},
                                   {"name": "某乙", "role": "respondent"}],
        },
    }
