"""A real SMTP server on loopback for funnel's delivery tests (aiosmtpd).

Usage: smtp_server.py MESSAGES.jsonl [--auth USER:PASSWORD]
Prints `READY <port>` once listening; appends one JSON object per
received message ({"from", "to", "data"}) to MESSAGES.jsonl. Recipients
starting with `reject` get `550 5.1.1`; it stops when stdin closes.
"""
import json
import socket
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Handler:
    def __init__(self, path):
        self.path = path

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 5.1.1 <%s>: no such user" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
        }
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        return "250 OK queued"


def main():
    path = sys.argv[1]
    auth = None
    if len(sys.argv) > 3 and sys.argv[2] == "--auth":
        user, password = sys.argv[3].split(":", 1)

        def authenticator(server, session, envelope, mechanism, login_data):
            ok = (
                login_data.login.decode() == user
                and login_data.password.decode() == password
            )
            return AuthResult(success=ok, handled=False)

        auth = authenticator
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    kwargs = {}
    if auth:
        kwargs = dict(authenticator=auth, auth_require_tls=False, auth_required=True)
    controller = Controller(Handler(path), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print("READY %d" % port, flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
