"""An SMTP server for the email-channel tests, on 127.0.0.1 only.

Usage: smtp_sink.py starttls|tls CERT KEY USER PASSWORD

It takes mail only over TLS (upgraded with STARTTLS, or from the first byte) and only from
USER with PASSWORD. It prints {"port": N} once listening, then one JSON line per message
received: the envelope, the decoded subject and body, and whether the session was
encrypted and signed in.
"""
import asyncio
import email
import email.policy
import json
import logging
import socket
import ssl
import sys
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    def __init__(self, implicit_tls):
        self.implicit_tls = implicit_tls

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        print(json.dumps({
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(message["subject"]),
            "from": str(message["from"]),
            "body": message.get_body(preferencelist=("plain",)).get_content(),
            # With implicit TLS every connection is encrypted, but aiosmtpd records TLS only
            # for sessions upgraded with STARTTLS.
            "tls": self.implicit_tls or session.ssl is not None,
            "authenticated": bool(session.authenticated),
        }), flush=True)
        return "250 OK"


def main():
    mode, cert, key, user, password = sys.argv[1:6]
    # aiosmtpd logs a warning about its own use of a deprecated field on every sign-in.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login.decode() == user
              and auth_data.password.decode() == password)
        # handled=False: aiosmtpd then answers a failure with 535 itself.
        return AuthResult(success=ok, handled=False)

    if mode == "starttls":
        tls = {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
    else:
        # aiosmtpd cannot tell an implicit-TLS session is encrypted, so it would never offer
        # AUTH if told to require TLS for it; the socket itself is TLS-only, so its warning
        # about that does not apply.
        tls = {"ssl_context": context, "auth_require_tls": False}
        warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    port = free_port()
    controller = Controller(
        Sink(mode == "tls"), hostname="127.0.0.1", port=port, authenticator=authenticator,
        auth_required=True, **tls,
    )
    controller.start()
    print(json.dumps({"port": port}), flush=True)
    try:
        asyncio.new_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
