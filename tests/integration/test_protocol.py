#!/usr/bin/env python3
"""Byte-exact SMTP command handling over a raw socket: security catalogue A01, A02, A04, A05, A06,
A08-A12, A29 and pipelining synchronisation (reference replies: security-and-reliability.md §2.8)."""

import time

import harness
from harness import HOSTNAME, MailflowTestCase, new_token


class ProtocolTest(MailflowTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def session(self, ehlo=True):
        c = self.server.client()
        self.addCleanup(c.close)
        g = c.greeting()
        self.assertReply(g, 220)
        self.assertEqual(g.lines, [f"{HOSTNAME} ESMTP mailflow"])
        if ehlo:
            r = c.ehlo()
            self.assertReply(r, 250)
            self.assertEqual(r.lines[0].split()[0], HOSTNAME)
        return c

    def assertInSync(self, c):
        """After whatever came before, NOOP gets exactly one 250 and nothing else is pending."""
        self.assertNoMoreReplies(c, 0.3)
        self.assertReply(c.command("NOOP"), 250, "2.0.0")
        self.assertNoMoreReplies(c, 0.3)

    def test_a01_unknown_verb_then_too_many_errors(self):
        c = self.session()
        self.assertReply(c.command("XYZZY"), 500, "5.5.2")
        self.assertInSync(c)
        # max_errors is 20: the error that reaches the limit (or the next command) gets
        # 421 4.7.0 ... too many errors, and the connection is closed.
        codes = [500]
        for _ in range(25):
            try:
                r = c.command("XYZZY")
            except harness.PeerClosed:
                self.fail(f"closed without a 421 after {len(codes)} errors")
            codes.append(r.code)
            if r.code == 421:
                self.assertReply(r, 421, "4.7.0")
                break
            self.assertReply(r, 500, "5.5.2")
        self.assertEqual(codes[-1], 421, f"no 421 after {len(codes)} unknown commands")
        self.assertIn(len(codes), (20, 21), f"421 after {len(codes)} errors, max_errors is 20")
        self.assertClosed(c)

    def test_a02_overlong_commands(self):
        c = self.session()
        # 513 octets including CRLF: at or just past the RFC 5321 minimum; either accepted (NOOP with
        # an argument) or refused as too long, but exactly one reply and the session stays in sync.
        line = "NOOP " + "x" * (513 - 7)
        self.assertEqual(len(line) + 2, 513)
        r = c.command(line)
        self.assertIn(r.code, (250, 500), r.raw)
        self.assertInSync(c)
        # 100 KB without CRLF, then CRLF: skipped to the CRLF, one 500 5.5.2, session in sync.
        c.send(b"MAIL FROM:<" + b"a" * 100 * 1024)
        time.sleep(0.2)
        c.send(b">\r\n")
        self.assertReply(c.read_reply(), 500, "5.5.2")
        self.assertInSync(c)
        # A 20 KB RCPT line inside a transaction: refused, and the transaction is intact.
        self.assertReply(c.command("MAIL FROM:<long@example.org>"), 250, "2.1.0")
        self.assertReply(c.command("RCPT TO:<" + "b" * 20000 + "@contoso.test>"), 500, "5.5.2")
        self.assertReply(c.command("RCPT TO:<david@contoso.test>"), 250, "2.1.5")
        self.assertReply(c.command("RSET"), 250)

    def test_a04_nul_in_command(self):
        c = self.session()
        self.assertReply(c.command(b"NOOP\x00"), 501, "5.5.2")
        self.assertReply(c.command(b"MAIL FROM:<a\x00b@example.org>"), 501, "5.5.2")
        self.assertInSync(c)
        # The refused MAIL left no transaction behind.
        self.assertReply(c.command("RCPT TO:<david@contoso.test>"), 503, "5.5.1")

    def test_a05_bare_lf_is_never_a_silent_command_split(self):
        c = self.session()
        # Normalise policy: two commands, two 250s. Reject or "bare LF is no terminator" policy:
        # exactly one error reply for the whole line. Never anything in between.
        c.send(b"RSET\nNOOP\r\n")
        first = c.read_reply()
        if first.code == 250:
            self.assertReply(c.read_reply(), 250)
        else:
            self.assertEqual(first.code // 100, 5, first.raw)
            self.assertIsNotNone(first.enhanced, first.raw)
        self.assertInSync(c)

    def test_a06_bare_cr_inside_a_command_is_one_malformed_line(self):
        c = self.session()
        c.send(b"MAIL FROM:<a@example.org>\rRCPT TO:<david@contoso.test>\r\n")
        r = c.read_reply()
        self.assertReply(r, 501, "5.")
        self.assertInSync(c)
        # Neither MAIL nor RCPT was executed.
        self.assertReply(c.command("RCPT TO:<david@contoso.test>"), 503, "5.5.1")
        self.assertReply(c.command("DATA"), 503, "5.5.1")

    def test_a08_mail_before_ehlo(self):
        c = self.session(ehlo=False)
        self.assertReply(c.command("MAIL FROM:<a@example.org>"), 503, "5.5.1")
        self.assertReply(c.ehlo(), 250)
        self.assertReply(c.command("MAIL FROM:<a@example.org>"), 250, "2.1.0")

    def test_a09_nested_mail(self):
        c = self.session()
        self.assertReply(c.command("MAIL FROM:<a@example.org>"), 250, "2.1.0")
        self.assertReply(c.command("MAIL FROM:<b@example.org>"), 503, "5.5.1")
        # The first transaction is untouched.
        self.assertReply(c.command("RCPT TO:<david@contoso.test>"), 250, "2.1.5")

    def test_a10_rcpt_before_mail_and_data_before_rcpt(self):
        c = self.session()
        self.assertReply(c.command("RCPT TO:<david@contoso.test>"), 503, "5.5.1")
        self.assertReply(c.command("DATA"), 503, "5.5.1")
        self.assertReply(c.command("MAIL FROM:<a@example.org>"), 250, "2.1.0")
        self.assertReply(c.command("DATA"), 503, "5.5.1")
        self.assertReply(c.command("RCPT TO:<julie@contoso.test>"), 250, "2.1.5")

    def test_a11_data_with_every_recipient_rejected(self):
        c = self.session()
        self.assertReply(c.command("MAIL FROM:<a@example.org>"), 250, "2.1.0")
        self.assertReply(c.command("RCPT TO:<nobody@contoso.test>"), 550, "5.4.1")
        self.assertReply(c.command("RCPT TO:<x@other.test>"), 550, "5.7.54")
        self.assertReply(c.command("DATA"), 554, "5.5.1")
        self.assertInSync(c)

    def test_a12_null_sender_and_null_recipient(self):
        token = new_token("a12")
        c = self.session()
        self.assertReply(c.command("MAIL FROM:<>"), 250, "2.1.0")
        self.assertReply(c.command("RCPT TO:<>"), 501, "5.1.3")
        self.assertReply(c.command("RCPT TO:<julie@contoso.test>"), 250, "2.1.5")
        self.assertReply(c.command("DATA"), 354)
        c.send(harness.make_message(token).encode() + b".\r\n")
        r = c.read_reply()
        self.assertReply(r, 250, "2.0.0")
        self.assertIsNotNone(harness.queued_id(r.lines[0]), r.raw)
        files = self.server.wait_for_messages("contoso", "julie@contoso.test", token)
        self.assertEqual(len(files), 1)
        self.assertEqual(harness.Delivered(files[0]).field(0), "Return-Path: <>")

    def test_a29_http_and_headers_as_commands(self):
        # Cross-protocol defence: the connection is dropped.
        cases = [
            (b"GET / HTTP/1.1\r\nHost: mx.test.example\r\n\r\n", (221,), "2.7.0"),
            (b"POST /form HTTP/1.1\r\nHost: x\r\n\r\n", (221, 554), None),
            (b"CONNECT 127.0.0.1:25 HTTP/1.1\r\n\r\n", (221, 554), None),
            (b"Host: mx.test.example\r\n", (221, 554), None),
            (b"Subject: hello\r\n", (221, 554), None),
        ]
        for payload, codes, enhanced in cases:
            with self.subTest(payload=payload[:20]):
                c = self.session(ehlo=False)
                c.send(payload)
                r = c.read_reply()
                self.assertIn(r.code, codes, r.raw)
                if enhanced:
                    self.assertReply(r, r.code, enhanced)
                self.assertClosed(c)
                self.assertEqual(c.trailing, b"", "only one reply before the close")

    def test_pipelining_after_ehlo_is_a_synchronisation_error(self):
        # EHLO is a synchronisation point (RFC 2920): commands sent with it in one packet get
        # 554 5.5.0 and the connection is closed; the pipelined MAIL/RCPT are never executed.
        c = self.session(ehlo=False)
        c.send(b"EHLO client.test.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<david@contoso.test>\r\n")
        replies = []
        try:
            while True:
                replies.append(c.read_reply(5))
        except (harness.PeerClosed, TimeoutError, OSError):
            pass
        codes = [r.code for r in replies]
        sync = [r for r in replies if r.code == 554]
        self.assertTrue(sync, f"no 554 among {[r.raw for r in replies]}")
        self.assertReply(sync[0], 554, "5.5.0")
        self.assertNotIn("2.1.0", [r.enhanced for r in replies], f"pipelined MAIL was executed: {codes}")
        self.assertNotIn("2.1.5", [r.enhanced for r in replies], f"pipelined RCPT was executed: {codes}")
        self.assertTrue(c.closed_by_peer or c.wait_closed(), "connection not closed after 554")

    def test_pipelining_mail_rcpt_data_is_allowed_after_ehlo_reply(self):
        # PIPELINING is advertised: MAIL, RCPT, RCPT, DATA in one packet after the EHLO reply works.
        token = new_token("pipe")
        c = self.session()
        c.send(b"MAIL FROM:<p@example.org>\r\nRCPT TO:<david@contoso.test>\r\n"
               b"RCPT TO:<nobody@contoso.test>\r\nDATA\r\n")
        self.assertReply(c.read_reply(), 250, "2.1.0")
        self.assertReply(c.read_reply(), 250, "2.1.5")
        self.assertReply(c.read_reply(), 550, "5.4.1")
        self.assertReply(c.read_reply(), 354)
        c.send(harness.make_message(token).encode() + b".\r\n")
        self.assertReply(c.read_reply(), 250, "2.0.0")
        self.assertEqual(len(self.server.wait_for_messages("contoso", "david@contoso.test", token)), 1)

    def test_quit(self):
        c = self.session()
        self.assertReply(c.command("QUIT"), 221, "2.0.0")
        self.assertClosed(c)


if __name__ == "__main__":
    harness.main()
