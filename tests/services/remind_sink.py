#!/usr/bin/python3
"""remind_sink.py - what test_remind sends mediation-remind's messages to.

Usage: remind_sink.py smtp|http OUTDIR [PORT]

smtp: an SMTP server (aiosmtpd, Debian's python3-aiosmtpd) standing in for
the relay; http: an HTTP server standing in for a WeCom/DingTalk group
robot, answering {"errcode":0,"errmsg":"ok"}. Both listen on 127.0.0.1, on
PORT or a free port, write the port to OUTDIR/<kind>.port once listening
(the test waits for that file), and store every message as
OUTDIR/<kind>-<n>.raw (as received) and OUTDIR/<kind>-<n>.txt (decoded:
envelope or path, subject, text), so the test can count messages and search
them as people would read them. Runs until SIGTERM. Started with Debian's
/usr/bin/python3, where the package installs aiosmtpd.
"""
import email
import email.policy
import http.server
import json
import os
import signal
import socket
import sys
import threading


def store(outdir, kind, raw, text):
    with LOCK:
        n = len([f for f in os.listdir(outdir) if f.startswith(kind + "-") and f.endswith(".txt")])
        for ext, data in ((".raw", raw), (".txt", text.encode("utf-8"))):
            tmp = os.path.join(outdir, "%s-%d%s.tmp" % (kind, n + 1, ext))
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, tmp[:-4])


LOCK = threading.Lock()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write_port(outdir, kind, port):
    tmp = os.path.join(outdir, kind + ".port.tmp")
    with open(tmp, "w") as f:
        f.write(str(port))
    os.rename(tmp, os.path.join(outdir, kind + ".port"))


def run_smtp(outdir, port):
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
            text = "FROM %s\nTO %s\nSubject: %s\n\n%s" % (
                envelope.mail_from, " ".join(envelope.rcpt_tos), msg["subject"],
                msg.get_content())
            store(outdir, "smtp", envelope.content, text)
            return "250 OK"

    ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    return ctl.stop


def run_http(outdir, port):
    class Robot(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                doc = json.loads(raw)
                text = "PATH %s\nTYPE %s\nmsgtype %s\n\n%s" % (
                    self.path, self.headers.get("Content-Type"), doc["msgtype"],
                    doc["text"]["content"])
                answer = {"errcode": 0, "errmsg": "ok"}
            except (ValueError, KeyError, TypeError) as e:
                text = "BAD %s" % e
                answer = {"errcode": 40008, "errmsg": "invalid message type"}
            store(outdir, "http", raw, text)
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Robot)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.shutdown


def main():
    kind, outdir = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3]) if len(sys.argv) > 3 else free_port()
    stop = run_smtp(outdir, port) if kind == "smtp" else run_http(outdir, port)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    write_port(outdir, kind, port)
    while not done.wait(0.2):
        pass
    stop()


if __name__ == "__main__":
    main()
