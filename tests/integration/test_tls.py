#!/usr/bin/env python3
"""STARTTLS on the inbound listener (SPEC §4 service.tls; security catalogue C01-C06).

The TLS material is made at test time with `openssl`: a CA, a server certificate for
mx.test.example signed by it (the server's ca_bundle is that CA), a client certificate signed by it,
and a self-signed client certificate the CA does not vouch for."""

import re
import subprocess

import harness
from harness import CA_NAME, HOSTNAME, MailflowTestCase, make_message, new_token

READY = "Ready to start TLS"


class TlsTest(MailflowTestCase):
    @classmethod
    def setUpClass(cls):
        cls.certs = harness.certificates()
        cls.server = cls.start_class_server(tls=True)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def plain_session(self, source=None):
        c = self.server.client(source=source)
        self.addCleanup(c.close)
        self.assertReply(c.greeting(), 220)
        r = c.ehlo()
        self.assertReply(r, 250)
        self.assertIn("STARTTLS", [line.split()[0].upper() for line in r.lines[1:]], r.raw)
        return c

    def tls_session(self, context=None, source=None):
        c = self.plain_session(source)
        self.assertReply(c.command("STARTTLS"), 220, "2.0.0", READY)
        self.assertEqual(c.buf, b"", "plaintext bytes after 220 Ready")
        c.starttls(context or self.certs.client_context())
        return c

    def tls_log_line(self, ip, since):
        return self.server.wait_for_log(rf"event=tls\b.*\bclient={re.escape(ip)}(?![\d.])", since=since)

    # -- STARTTLS itself
    def test_starttls_then_ehlo_again(self):
        token = new_token("tls")
        c = self.tls_session()
        self.assertEqual(c.sock.version() in ("TLSv1.2", "TLSv1.3"), True, c.sock.version())
        # C03: the pre-TLS EHLO is forgotten: MAIL before the new EHLO is out of sequence.
        self.assertReply(c.command("MAIL FROM:<t@example.org>"), 503, "5.5.1")
        r = c.ehlo()
        self.assertReply(r, 250)
        keywords = [line.split()[0].upper() for line in r.lines[1:]]
        self.assertNotIn("STARTTLS", keywords, "STARTTLS offered inside TLS")
        for kw in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN"):
            self.assertIn(kw, keywords)
        replies = c.send_mail("t@example.org", ["david@contoso.test"], make_message(token))
        self.assertReply(replies[-1], 250, "2.0.0")
        files = self.server.wait_for_messages("contoso", "david@contoso.test", token)
        self.assertEqual(len(files), 1)

    def test_smtplib_starttls_verifying_the_server(self):
        token = new_token("smtplib-tls")
        with self.server.smtp() as s:
            s.ehlo()
            self.assertTrue(s.has_extn("starttls"))
            code, msg = s.starttls(context=self.certs.client_context())
            self.assertEqual((code, msg), (220, f"2.0.0 {READY}".encode()))
            cert = s.sock.getpeercert()
            self.assertIn(("DNS", HOSTNAME), cert.get("subjectAltName", ()))
            s.ehlo()
            self.assertFalse(s.has_extn("starttls"))
            self.assertEqual(s.sendmail("s@example.org", ["julie@contoso.test"], make_message(token)), {})
        self.assertEqual(len(self.server.wait_for_messages("contoso", "julie@contoso.test", token)), 1)

    def test_swaks_tls(self):
        token = new_token("swaks-tls")
        p = self.server.swaks("--tls", "--tls-verify", "--tls-ca-path", str(self.certs.ca),
                              "--from", "sw@example.org", "--to", "julie@contoso.test",
                              "--header", f"Subject: {token}", "--body", f"body {token}")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"220 2.0.0 {READY}", p.stdout)
        self.assertRegex(p.stdout, r"TLS started")
        self.assertRegex(p.stdout, r"250 2\.0\.0 Ok: queued as \S+")
        self.assertEqual(len(self.server.wait_for_messages("contoso", "julie@contoso.test", token)), 1)

    def test_swaks_tls_with_client_certificate(self):
        token = new_token("swaks-cert")
        source = harness.new_loopback_address()
        since = self.server.log_size()
        p = subprocess.run(
            ["swaks", "--server", self.server.address, "--port", str(self.server.port), "--local-interface",
             source, "--helo", harness.CLIENT_NAME, "--timeout", "20", "--tls", "--tls-verify",
             "--tls-ca-path", str(self.certs.ca), "--tls-cert", str(self.certs.client_cert), "--tls-key",
             str(self.certs.client_key), "--from", "cert@example.org", "--to", "david@contoso.test",
             "--header", f"Subject: {token}", "--body", f"body {token}"],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"250 2\.0\.0 Ok: queued as \S+")
        self.assertEqual(len(self.server.wait_for_messages("contoso", "david@contoso.test", token)), 1)
        line = self.tls_log_line(source, since)
        self.assertIsNotNone(line, "no event=tls log line for the swaks session")
        self.assertRegex(line, r"\bcert=yes\b.*\bverified=yes\b")

    # -- client certificates
    def test_client_certificate_is_requested_with_our_ca(self):
        p = subprocess.run(
            ["openssl", "s_client", "-connect", f"{self.server.address}:{self.server.port}", "-starttls", "smtp",
             "-name", harness.CLIENT_NAME, "-servername", HOSTNAME, "-CAfile", str(self.certs.ca),
             "-verify_return_error", "-msg", "-cert", str(self.certs.client_cert), "-key",
             str(self.certs.client_key)],
            input="NOOP\r\n", capture_output=True, text=True, timeout=30)
        out = p.stdout + p.stderr
        self.assertIn("CertificateRequest", out, "the server did not ask for a client certificate")
        self.assertIn("Verify return code: 0 (ok)", out)
        m = re.search(r"Acceptable client certificate CA names\n(.*?)\n(?:---|Requested|Client Certificate)",
                      out, re.S)
        self.assertIsNotNone(m, out)
        self.assertIn(CA_NAME, m.group(1), "the CertificateRequest does not name the ca_bundle CA")

    def test_client_certificates_are_verified_but_not_required(self):
        cases = [
            ("signed by the CA", self.certs.client_cert, self.certs.client_key, r"\bcert=yes\b.*\bverified=yes\b"),
            ("self-signed", self.certs.rogue_cert, self.certs.rogue_key, r"\bcert=yes\b.*\bverified=no\b"),
            ("none", None, None, r"\bcert=no\b"),
        ]
        for name, cert, key, log_rx in cases:
            with self.subTest(client_certificate=name):
                token = new_token("ccert")
                source = harness.new_loopback_address()
                since = self.server.log_size()
                with self.server.smtp(source=source) as s:
                    s.ehlo()
                    code, _ = s.starttls(context=self.certs.client_context(cert, key))
                    self.assertEqual(code, 220)
                    s.ehlo()
                    self.assertEqual(s.sendmail("c@example.org", ["david@contoso.test"], make_message(token)), {})
                self.assertEqual(len(self.server.wait_for_messages("contoso", "david@contoso.test", token)), 1)
                line = self.tls_log_line(source, since)
                self.assertIsNotNone(line, f"no event=tls log line for client {source}")
                self.assertRegex(line, log_rx)

    # -- catalogue C
    def test_c01_commands_pipelined_with_starttls_are_discarded(self):
        injections = [
            b"MAIL FROM:<evil@evil.test>\r\n",
            b"RSET\r\nMAIL FROM:<evil@evil.test>\r\nRCPT TO:<david@contoso.test>\r\n",
            b"EHLO evil.test\r\nMAIL FROM:<evil@evil.test>\r\n",
        ]
        for injected in injections:
            with self.subTest(injected=injected):
                c = self.plain_session()
                c.send(b"STARTTLS\r\n" + injected)
                self.assertReply(c.read_reply(), 220, "2.0.0", READY)
                # No plaintext reply to the injected commands before the handshake...
                self.assertEqual(c.buf, b"", "the server answered injected plaintext commands")
                c.starttls(self.certs.client_context())
                # ...and none inside TLS either.
                self.assertNoMoreReplies(c, 0.5)
                self.assertReply(c.ehlo(), 250)
                # The injected MAIL was never executed: RCPT has no transaction, and a new MAIL is not nested.
                self.assertReply(c.command("RCPT TO:<david@contoso.test>"), 503, "5.5.1")
                self.assertReply(c.command("MAIL FROM:<good@example.org>"), 250, "2.1.0")
                self.assertReply(c.command("QUIT"), 221)

    def test_c04_starttls_with_an_argument(self):
        c = self.plain_session()
        self.assertReply(c.command("STARTTLS x"), 501, "5.")
        # Still plaintext and usable; a proper STARTTLS works.
        self.assertReply(c.command("NOOP"), 250)
        self.assertReply(c.command("STARTTLS"), 220, "2.0.0", READY)
        c.starttls(self.certs.client_context())
        self.assertReply(c.ehlo(), 250)

    def test_c05_starttls_inside_tls(self):
        c = self.tls_session()
        self.assertReply(c.ehlo(), 250)
        self.assertReply(c.command("STARTTLS"), 554, "5.")
        self.assertReply(c.command("NOOP"), 250)

    def test_c06_garbage_instead_of_a_handshake(self):
        c = self.plain_session()
        self.assertReply(c.command("STARTTLS"), 220, "2.0.0", READY)
        c.send(b"MAIL FROM:<plain@example.org>\r\nRCPT TO:<david@contoso.test>\r\n")
        self.assertClosed(c, 15, "the server kept the connection after a failed handshake")
        self.assertNotRegex(c.trailing, rb"(^|\r\n)[2-5]\d\d[ -]", "plaintext SMTP reply after a failed handshake")


if __name__ == "__main__":
    harness.main()
