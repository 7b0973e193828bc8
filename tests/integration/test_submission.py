#!/usr/bin/env python3
"""SMTP submission (SPEC §2 R-SUB-1, R-SUB-2; RFC 4954 AUTH PLAIN and LOGIN) on a listener with
`role: submission`, next to the ordinary mx listener of the same server.

Password hashes are made at test time: SHA-512 / SHA-256 crypt with `openssl passwd`, argon2id with
libargon2 through ctypes (that test is skipped when the library cannot be loaded). Every test that
fails an AUTH on purpose uses its own client address, so that the per-IP failure limit (5 in 300 s)
of one test never reaches another."""

import base64
import ctypes
import ctypes.util
import smtplib
import subprocess

import harness
from harness import CLIENT_NAME, HOSTNAME, MailflowTestCase, make_message, new_token

DAVID_PW = "david-Pw-4711"
JULIE_PW = "julie pw with spaces"
ANNA_PW = "anna-argon2-pw"
ALEX_PW = "alex-fabrikam-pw"

AUTH_OK = "Authentication successful"
AUTH_BAD = "Authentication credentials invalid"
NOT_OWNED = "Sender address rejected: not owned by user"


def openssl_passwd(flag, password):
    p = subprocess.run(["openssl", "passwd", flag, "-stdin"], input=password + "\n", capture_output=True, text=True,
                       check=True)
    return p.stdout.strip()


def argon2id_hash(password):
    """An argon2id PHC string made with libargon2 (t=1, m=1 MiB), or None without the library."""
    name = ctypes.util.find_library("argon2") or "libargon2.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    u32, size = ctypes.c_uint32, ctypes.c_size_t
    lib.argon2_encodedlen.restype = size
    lib.argon2_encodedlen.argtypes = [u32, u32, u32, u32, u32, ctypes.c_int]
    lib.argon2id_hash_encoded.restype = ctypes.c_int
    lib.argon2id_hash_encoded.argtypes = [u32, u32, u32, ctypes.c_void_p, size, ctypes.c_void_p, size, size,
                                          ctypes.c_char_p, size]
    pwd, salt = password.encode(), b"integration-salt"
    n = lib.argon2_encodedlen(1, 1024, 1, len(salt), 32, 2)  # 2 = Argon2_id
    buf = ctypes.create_string_buffer(n)
    if lib.argon2id_hash_encoded(1, 1024, 1, pwd, len(pwd), salt, len(salt), 32, buf, n) != 0:
        return None
    return buf.value.decode()


def b64(text):
    return base64.b64encode(text.encode("utf-8")).decode()


def plain(user, password, authzid=""):
    return b64(f"{authzid}\0{user}\0{password}")


class SubmissionTest(MailflowTestCase):
    @classmethod
    def setUpClass(cls):
        cls.certs = harness.certificates()
        cls.anna_hash = argon2id_hash(ANNA_PW)
        contoso_recipients = [
            {"type": "mailbox", "address": "david@contoso.test", "proxy_addresses": ["dave@contoso.test"],
             "password_hash": openssl_passwd("-6", DAVID_PW)},
            {"type": "mailbox", "address": "julie@contoso.test", "password_hash": openssl_passwd("-5", JULIE_PW)},
            {"type": "mailbox", "address": "josé@contoso.test"},  # no password_hash: cannot authenticate
            {"type": "group", "address": "team@contoso.test", "members": ["david@contoso.test", "julie@contoso.test"]},
        ]
        if cls.anna_hash:
            contoso_recipients.append({"type": "mailbox", "address": "anna@contoso.test",
                                       "password_hash": cls.anna_hash})
        organizations = [
            {"name": "contoso",
             "accepted_domains": [{"domain": "contoso.test", "type": "authoritative"}],
             "recipients": contoso_recipients},
            {"name": "fabrikam",
             "accepted_domains": [{"domain": "fabrikam.test", "type": "authoritative"}],
             "recipients": [{"type": "mailbox", "address": "Alex@fabrikam.test",
                             "password_hash": openssl_passwd("-6", ALEX_PW)}]},
        ]
        srv = harness.MailflowServer(tls=True, organizations=organizations)
        srv.submission_port = harness.free_port(srv.address)
        srv.config["service"]["listeners"] = [
            {"name": "mx", "address": f"{srv.address}:{srv.port}"},
            {"name": "submission", "address": f"{srv.address}:{srv.submission_port}", "role": "submission"},
        ]
        srv.write_config()
        cls.addClassCleanup(srv.cleanup)
        cls.server = srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    # -- helpers
    def fresh_source(self):
        return harness.new_loopback_address()

    def connect(self, source=None, port=None):
        c = harness.SmtpClient(self.server.address, port or self.server.submission_port,
                               source=source or self.server.client_address)
        self.addCleanup(c.close)
        self.assertReply(c.greeting(), 220)
        return c

    @staticmethod
    def keywords(ehlo_reply):
        return [line.upper() for line in ehlo_reply.lines[1:]]

    def tls_client(self, source=None, port=None):
        """Connected, STARTTLS done (server certificate verified), EHLO sent inside TLS."""
        c = self.connect(source, port)
        self.assertReply(c.ehlo(), 250)
        self.assertReply(c.command("STARTTLS"), 220, "2.0.0")
        c.starttls(self.certs.client_context())
        r = c.ehlo()
        self.assertReply(r, 250)
        c.ehlo_keywords = self.keywords(r)
        return c

    def logged_in(self, user="david@contoso.test", password=DAVID_PW, source=None):
        c = self.tls_client(source)
        self.assertReply(c.command("AUTH PLAIN " + plain(user, password)), 235, "2.7.0", AUTH_OK)
        return c

    def smtplib_client(self, source=None):
        s = smtplib.SMTP(local_hostname=CLIENT_NAME, timeout=15,
                         source_address=(source or self.server.client_address, 0))
        s.connect(self.server.address, self.server.submission_port)
        s._host = HOSTNAME  # the name STARTTLS verifies the certificate against
        self.addCleanup(s.close)
        return s

    # -- R-SUB-1: TLS first, then AUTH
    def test_R_SUB_1_auth_not_offered_or_accepted_before_starttls(self):
        c = self.connect()
        r = c.ehlo()
        self.assertReply(r, 250)
        self.assertIn("STARTTLS", self.keywords(r))
        self.assertFalse([k for k in self.keywords(r) if k.startswith("AUTH")], r.raw)
        self.assertReply(c.command("AUTH PLAIN " + plain("david@contoso.test", DAVID_PW)), 530, "5.7.0",
                         "Must issue a STARTTLS command first")
        self.assertReply(c.command("AUTH LOGIN"), 530, "5.7.0", "Must issue a STARTTLS command first")
        self.assertReply(c.command("MAIL FROM:<david@contoso.test>"), 530, "5.7.0",
                         "Must issue a STARTTLS command first")

    def test_R_SUB_1_mail_before_auth_gets_530(self):
        c = self.tls_client()
        self.assertIn("AUTH PLAIN LOGIN", c.ehlo_keywords)
        self.assertReply(c.command("MAIL FROM:<david@contoso.test>"), 530, "5.7.0", "Authentication required")
        self.assertReply(c.command("RCPT TO:<julie@contoso.test>"), 503, "5.5.1")

    def test_R_SUB_1_smtplib_starttls_login_and_send_to_local_mailbox(self):
        token = new_token("submission")
        s = self.smtplib_client()
        s.ehlo()
        self.assertFalse(s.has_extn("auth"))
        code, _ = s.starttls(context=self.certs.client_context())
        self.assertEqual(code, 220)
        s.ehlo()
        self.assertTrue(s.has_extn("auth"))
        self.assertEqual(s.esmtp_features["auth"].split(), ["PLAIN", "LOGIN"])
        code, msg = s.login("david@contoso.test", DAVID_PW)
        self.assertEqual((code, msg), (235, f"2.7.0 {AUTH_OK}".encode()))
        message = make_message(token, sender="david@contoso.test", to="julie@contoso.test")
        self.assertEqual(s.sendmail("david@contoso.test", ["julie@contoso.test"], message), {})
        s.quit()
        files = self.server.wait_for_messages("contoso", "julie@contoso.test", token)
        self.assertEqual(len(files), 1)
        d = harness.Delivered(files[0])
        self.assertEqual(d.field(0), "Return-Path: <david@contoso.test>")
        self.assertIn(f"token {token}".encode(), files[0])
        # RFC 3848: STARTTLS and SMTP AUTH on the hop are both named in the Received header.
        self.assertRegex(d.raw.replace(b"\r\n", b"\n"), rb"Received: from [^\n]*\n\tby [^\n]* with ESMTPSA id ")

    def test_R_SUB_1_auth_login_with_proxy_address(self):
        token = new_token("login")
        c = self.tls_client()
        r = c.command("AUTH LOGIN")
        self.assertEqual((r.code, r.lines), (334, ["VXNlcm5hbWU6"]))
        r = c.command(b64("Dave@Contoso.test"))  # a proxy address, any case
        self.assertEqual((r.code, r.lines), (334, ["UGFzc3dvcmQ6"]))
        self.assertReply(c.command(b64(DAVID_PW)), 235, "2.7.0", AUTH_OK)
        # The proxy address is one of the mailbox's own addresses (R-SUB-2).
        replies = c.send_mail("dave@contoso.test", ["david@contoso.test"],
                              make_message(token, sender="dave@contoso.test", to="david@contoso.test"))
        self.assertReply(replies[0], 250, "2.1.0")
        self.assertReply(replies[-1], 250, "2.0.0")
        self.assertEqual(len(self.server.wait_for_messages("contoso", "david@contoso.test", token)), 1)

    def test_R_SUB_1_sha256_and_argon2id_hashes(self):
        c = self.logged_in("julie@contoso.test", JULIE_PW)
        self.assertReply(c.command("MAIL FROM:<julie@contoso.test>"), 250, "2.1.0")
        if not self.anna_hash:
            self.skipTest("libargon2 not loadable from Python: no argon2id hash to test with")
        c = self.logged_in("anna@contoso.test", ANNA_PW)
        self.assertReply(c.command("MAIL FROM:<anna@contoso.test>"), 250, "2.1.0")
        c = self.tls_client(self.fresh_source())
        self.assertReply(c.command("AUTH PLAIN " + plain("anna@contoso.test", DAVID_PW)), 535, "5.7.8", AUTH_BAD)

    def test_R_SUB_1_wrong_password_gets_535(self):
        c = self.tls_client(self.fresh_source())
        self.assertReply(c.command("AUTH PLAIN " + plain("david@contoso.test", "not-it")), 535, "5.7.8", AUTH_BAD)
        self.assertReply(c.command("MAIL FROM:<david@contoso.test>"), 530, "5.7.0", "Authentication required")
        # smtplib tries PLAIN, then LOGIN: both refused.
        s = self.smtplib_client(self.fresh_source())
        s.starttls(context=self.certs.client_context())
        with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
            s.login("david@contoso.test", "not-it")
        self.assertEqual(cm.exception.smtp_code, 535)

    def test_R_SUB_1_unknown_user_and_mailbox_without_password_get_535(self):
        c = self.tls_client(self.fresh_source())
        self.assertReply(c.command("AUTH PLAIN " + plain("nobody@contoso.test", DAVID_PW)), 535, "5.7.8", AUTH_BAD)
        self.assertReply(c.command("AUTH PLAIN " + plain("josé@contoso.test", "")), 535, "5.7.8", AUTH_BAD)
        c = self.tls_client(self.fresh_source())
        self.assertReply(c.command("AUTH PLAIN " + plain("josé@contoso.test", "anything")), 535, "5.7.8", AUTH_BAD)
        # A group is not a mailbox.
        self.assertReply(c.command("AUTH PLAIN " + plain("team@contoso.test", DAVID_PW)), 535, "5.7.8", AUTH_BAD)

    def test_R_SUB_1_rate_limit_454_after_5_failures(self):
        source = self.fresh_source()
        wrong = "AUTH PLAIN " + plain("david@contoso.test", "guess")
        c = self.tls_client(source)
        self.assertReply(c.command(wrong), 535, "5.7.8")
        self.assertReply(c.command(wrong), 535, "5.7.8")
        self.assertReply(c.command(wrong), 535, "5.7.8")
        # Three failures end the session.
        self.assertReply(c.read_reply(), 421, "4.7.0", "Too many authentication failures")
        self.assertClosed(c)
        c = self.tls_client(source)
        self.assertReply(c.command(wrong), 535, "5.7.8")
        self.assertReply(c.command(wrong), 535, "5.7.8")  # the fifth failure from this IP
        # Now even the right password is not checked.
        self.assertReply(c.command("AUTH PLAIN " + plain("david@contoso.test", DAVID_PW)), 454, "4.7.0",
                         "Too many authentication failures, try again later")
        self.assertReply(c.command("MAIL FROM:<david@contoso.test>"), 530, "5.7.0", "Authentication required")
        c = self.tls_client(source)
        self.assertReply(c.command("AUTH LOGIN " + b64("julie@contoso.test")), 334)
        self.assertReply(c.command(b64(JULIE_PW)), 454, "4.7.0")
        # Another client IP is not affected.
        self.logged_in(source=self.fresh_source())

    def test_R_SUB_1_mx_listener_does_not_offer_auth(self):
        c = self.tls_client(port=self.server.port)
        self.assertFalse([k for k in c.ehlo_keywords if k.startswith("AUTH")], c.ehlo_keywords)
        self.assertReply(c.command("AUTH PLAIN " + plain("david@contoso.test", DAVID_PW)), 502, "5.5.1")
        # Unauthenticated mail on the mx listener still may not relay.
        self.assertReply(c.command("MAIL FROM:<david@contoso.test>"), 250)
        self.assertReply(c.command("RCPT TO:<someone@external.example>"), 550, "5.7.54")

    def test_R_SUB_1_passwords_are_never_logged(self):
        since = self.server.log_size()
        self.logged_in()
        c = self.tls_client(self.fresh_source())
        self.assertReply(c.command("AUTH LOGIN " + b64("julie@contoso.test")), 334)
        self.assertReply(c.command(b64("julie-wrong-secret")), 535, "5.7.8")
        line = self.server.wait_for_log(r"event=auth\b.*result=failed", since=since)
        self.assertIsNotNone(line, "no event=auth result=failed log line")
        self.assertIsNotNone(self.server.wait_for_log(r"event=auth\b.*result=ok", since=since))
        log = self.server.log()[since:]
        for secret in (DAVID_PW, "julie-wrong-secret", b64("julie-wrong-secret"),
                       plain("david@contoso.test", DAVID_PW)):
            self.assertNotIn(secret, log)

    # -- R-SUB-2: own addresses only, any recipient
    def test_R_SUB_2_mail_from_of_another_user_gets_553(self):
        c = self.logged_in()
        for sender in ("julie@contoso.test", "Alex@fabrikam.test", "someone@example.org", ""):
            self.assertReply(c.command(f"MAIL FROM:<{sender}>"), 553, "5.7.1", NOT_OWNED, msg=f"MAIL FROM:<{sender}>")
        self.assertReply(c.command("MAIL FROM:<DAVID@contoso.test>"), 250, "2.1.0")  # own address, any case

    def test_R_SUB_2_other_tenant_user_cannot_send_as_contoso(self):
        c = self.logged_in("alex@fabrikam.test", ALEX_PW)
        self.assertReply(c.command("MAIL FROM:<david@contoso.test>"), 553, "5.7.1", NOT_OWNED)
        self.assertReply(c.command("MAIL FROM:<Alex@fabrikam.test>"), 250, "2.1.0")

    def test_R_SUB_2_authenticated_user_may_send_to_external_domain(self):
        # Needs routing::check_recipient to let submission (originating) mail relay; nothing is
        # delivered: the transaction is reset after RCPT.
        c = self.logged_in()
        self.assertReply(c.command("MAIL FROM:<david@contoso.test>"), 250, "2.1.0")
        self.assertReply(c.command("RCPT TO:<someone@external.example>"), 250, "2.1.5")
        self.assertReply(c.command("RSET"), 250)


if __name__ == "__main__":
    harness.main()
