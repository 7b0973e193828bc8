#!/usr/bin/env python3
"""Receiving mail and delivering it into Maildir (SPEC §2 R-DOM-2, R-DOM-3, R-RCPT-1, R-IN-5, §3),
driven with smtplib and swaks."""

import re
import smtplib

import harness
from harness import HOSTNAME, MailflowTestCase, make_message, new_token


class ReceiveTest(MailflowTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()  # SIGTERM → exit status 0

    # -- helpers
    def send(self, sender, recipients, message, mail_options=(), expect_rcpt=250):
        """MAIL/RCPT/DATA with smtplib; asserts each step; returns the DATA reply (code, text)."""
        with self.server.smtp() as s:
            code, _ = s.ehlo()
            self.assertEqual(code, 250)
            code, msg = s.mail(sender, list(mail_options))
            self.assertEqual(code, 250, msg)
            self.assertTrue(msg.startswith(b"2.1.0"), msg)
            for r in recipients:
                code, msg = s.rcpt(r)
                self.assertEqual(code, expect_rcpt, f"RCPT {r}: {code} {msg!r}")
                self.assertTrue(msg.startswith(b"2.1.5"), msg)
            data = message.encode("utf-8") if isinstance(message, str) else message
            code, msg = s.data(data)
            text = msg.decode("utf-8", "replace")
            self.assertEqual(code, 250, text)
            self.assertIsNotNone(harness.queued_id(text), f"end-of-data reply {text!r}")
            return code, text

    def delivered_one(self, org, address, token):
        files = self.server.wait_for_messages(org, address, token)
        self.assertEqual(len(files), 1, f"expected exactly one file with {token} in {org}/{address}/new, "
                                        f"got {len(files)}")
        return harness.Delivered(files[0])

    def assert_trace_headers(self, d, sender, address, sent):
        """Return-Path, Delivered-To, Received (by mx.test.example), the service's four
        X-MailFlow-Organization-* markers (R-IN-8), then the message as sent."""
        self.assertEqual(d.field(0), f"Return-Path: <{sender}>")
        m = re.fullmatch(r"Delivered-To: <?([^<>]+)>?", d.field(1))
        self.assertIsNotNone(m, f"second header is {d.field(1)!r}")
        self.assertEqual(m.group(1).lower(), address.lower())
        received = d.field(2)
        self.assertTrue(received.startswith("Received: "), f"third header is {received!r}")
        self.assertIn(f"by {HOSTNAME}", received)
        markers = [d.field(i) for i in range(3, 7)]
        self.assertEqual([f.split(":")[0] for f in markers],
                         ["X-MailFlow-Organization-Id", "X-MailFlow-Organization-AuthAs",
                          "X-MailFlow-Organization-MessageDirectionality", "X-MailFlow-Organization-Attribution"])
        self.assertEqual(markers[1], "X-MailFlow-Organization-AuthAs: Anonymous")
        expected = sent.encode("utf-8") if isinstance(sent, str) else sent
        self.assertEqual(d.after_fields(7), expected.replace(b"\r\n", b"\n"))

    # -- tests
    def test_greeting_and_ehlo_keywords(self):
        with smtplib.SMTP(local_hostname=harness.CLIENT_NAME, timeout=15,
                                  source_address=(self.server.client_address, 0)) as s:
            code, msg = s.connect(self.server.address, self.server.port)
            self.assertEqual((code, msg), (220, f"{HOSTNAME} ESMTP mailflow".encode()))
            code, _ = s.ehlo()
            self.assertEqual(code, 250)
            for kw in ("pipelining", "8bitmime", "enhancedstatuscodes", "smtputf8", "dsn"):
                self.assertTrue(s.has_extn(kw), f"EHLO does not list {kw.upper()}: {s.esmtp_features}")
            self.assertEqual(s.esmtp_features.get("size"), "1048576")
            self.assertFalse(s.has_extn("starttls"), "STARTTLS offered without service.tls")

    def test_mailbox_delivery_with_trace_headers(self):
        token = new_token("mbx")
        # Leading dots exercise dot-stuffing (smtplib stuffs, the server must unstuff; catalogue B08).
        sent = make_message(token, to="david@contoso.test",
                            body_lines=[".leading dot", "..two dots", ".", "last line"])
        self.send("sender@example.org", ["david@contoso.test"], sent)
        d = self.delivered_one("contoso", "david@contoso.test", token)
        self.assert_trace_headers(d, "sender@example.org", "david@contoso.test", sent)

    def test_swaks_delivery(self):
        token = new_token("swaks")
        p = self.server.swaks("--from", "swaks@example.org", "--to", "julie@contoso.test",
                              "--header", f"Subject: swaks {token}", "--body", f"hello {token}")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"<- {2}250 2\.0\.0 Ok: queued as \S+")
        d = self.delivered_one("contoso", "julie@contoso.test", token)
        self.assertEqual(d.field(0), "Return-Path: <swaks@example.org>")
        self.assertIn(f"Subject: swaks {token}".encode(), d.raw)

    def test_proxy_address_delivers_to_primary_mailbox(self):
        for rcpt in ("dave@contoso.test", "Dave@CONTOSO.test", "DAVID@contoso.TEST"):
            with self.subTest(rcpt=rcpt):
                token = new_token("proxy")
                self.send("p@example.org", [rcpt], make_message(token, to=rcpt))
                self.delivered_one("contoso", "david@contoso.test", token)
                if rcpt.lower() != "david@contoso.test":
                    self.assertFalse(self.server.maildir("contoso", rcpt).exists(),
                                     f"a separate Maildir was created for {rcpt}")

    def test_group_delivers_one_copy_per_member(self):
        token = new_token("group")
        self.send("g@example.org", ["team@contoso.test"], make_message(token, to="team@contoso.test"))
        self.delivered_one("contoso", "david@contoso.test", token)
        self.delivered_one("contoso", "julie@contoso.test", token)
        self.assertFalse(self.server.maildir("contoso", "team@contoso.test").exists(),
                         "a group must not get a Maildir of its own")

    def test_group_and_member_in_one_message_deliver_once(self):
        token = new_token("groupdup")
        self.send("g@example.org", ["team@contoso.test", "david@contoso.test"],
                  make_message(token, to="team@contoso.test"))
        self.delivered_one("contoso", "david@contoso.test", token)
        self.delivered_one("contoso", "julie@contoso.test", token)

    def test_null_sender(self):
        token = new_token("null")
        sent = make_message(token, sender="mailer-daemon@example.org", to="julie@contoso.test")
        self.send("", ["julie@contoso.test"], sent)
        d = self.delivered_one("contoso", "julie@contoso.test", token)
        self.assertEqual(d.field(0), "Return-Path: <>")

    def test_two_organizations_in_one_message(self):
        token = new_token("orgs")
        self.send("o@example.org", ["ALEX@Fabrikam.Test", "julie@contoso.test"],
                  make_message(token, to="alex@fabrikam.test"))
        # Maildir folders are named by the address in lower case (SPEC §3).
        self.delivered_one("fabrikam", "alex@fabrikam.test", token)
        self.delivered_one("contoso", "julie@contoso.test", token)
        mixed_case = self.server.data_dir / "mailboxes" / "fabrikam" / "Alex@fabrikam.test"
        self.assertFalse(mixed_case.exists(), "Maildir folder names must be lower case")

    def test_unknown_recipient_in_authoritative_domain(self):
        # R-DOM-2: directory-based edge blocking.
        with self.server.smtp() as s:
            s.ehlo()
            self.assertEqual(s.mail("u@example.org")[0], 250)
            code, msg = s.rcpt("nobody@contoso.test")
            self.assertEqual((code, msg), (550, b"5.4.1 Recipient address rejected: Access denied"))
            code, msg = s.rcpt("nobody@fabrikam.test")
            self.assertEqual((code, msg), (550, b"5.4.1 Recipient address rejected: Access denied"))
            self.assertEqual(s.rcpt("julie@contoso.test")[0], 250)  # the session goes on
            s.rset()
        self.assertFalse(self.server.maildir("contoso", "nobody@contoso.test").exists())

    def test_relay_refused_and_address_tricks(self):
        # R-IN-5; security catalogue D01-D06.
        # (RCPT argument, expected code, expected text after the code; a text ending in a space is a
        # prefix: the enhanced code alone)
        relay = (550, "5.7.54 Unable to relay recipient in non-accepted domain")
        unknown = (550, "5.4.1 Recipient address rejected: Access denied")
        cases = [
            ("<x@other.test>", relay),                       # D01
            ("<X@OTHER.TEST>", relay),
            ("<x%other.test@contoso.test>", unknown),        # D02: local part "x%other.test"
            ('<"x@other.test"@contoso.test>', unknown),      # D03: quoted local part
            ("<other.test!x@contoso.test>", unknown),        # D06: bang path is a local part
            ("<@contoso.test:x@other.test>", relay),         # D05: source route ignored
            ("<@contoso.test,@relay.contoso.test:x@other.test>", relay),
            ("<x@other.test@contoso.test>", (501, "5.1.3 ")),  # D04
        ]
        with self.server.smtp() as s:
            s.ehlo()
            self.assertEqual(s.mail("r@example.org")[0], 250)
            for rcpt, (code, text) in cases:
                with self.subTest(rcpt=rcpt):
                    got_code, got_msg = s.docmd("RCPT", f"TO:{rcpt}")
                    got = got_msg.decode("utf-8", "replace")
                    self.assertEqual(got_code, code, f"RCPT TO:{rcpt} → {got_code} {got}")
                    if text.endswith(" "):
                        self.assertTrue(got.startswith(text), f"RCPT TO:{rcpt} → {got_code} {got}")
                    else:
                        self.assertEqual(got, text, f"RCPT TO:{rcpt}")
            code, msg = s.docmd("DATA")
            self.assertEqual(code, 554, "DATA with no accepted recipient")
        self.assertEqual([p for p, _ in self.server.all_maildir_files() if "other.test" in str(p)], [])

    def test_internal_relay_unknown_recipient_is_accepted_and_queued(self):
        # R-DOM-3: unknown recipients of an internal_relay domain are accepted (relayed later).
        token = new_token("irelay")
        self.send("ir@example.org", ["someone@relay.contoso.test"],
                  make_message(token, to="someone@relay.contoso.test"))
        for p, data in self.server.all_maildir_files():
            self.assertNotIn(token.encode(), data, f"relay-domain mail delivered locally into {p}")

    def test_size_declared_at_mail(self):
        with self.server.smtp() as s:
            s.ehlo()
            code, msg = s.mail("big@example.org", ["SIZE=2000000"])
            self.assertEqual(code, 552, msg)
            self.assertTrue(msg.startswith(b"5.3.4"), msg)
            code, msg = s.mail("small@example.org", ["SIZE=1000"])
            self.assertEqual(code, 250, msg)
            s.rset()

    def test_message_over_max_size_after_data(self):
        token = new_token("big")
        filler = ["x" * 76] * 16000  # ~1.2 MB > max_message_size (1 MiB), no SIZE= given
        big = make_message(token, to="david@contoso.test", body_lines=filler)
        with self.server.smtp(timeout=60) as s:
            s.ehlo()
            self.assertEqual(s.mail("big@example.org")[0], 250)
            self.assertEqual(s.rcpt("david@contoso.test")[0], 250)
            code, msg = s.data(big.encode())
            self.assertEqual(code, 552, msg)
            self.assertTrue(msg.startswith(b"5.3.4"), msg)
            # The session is still in sync: a small message goes through.
            small_token = new_token("small")
            self.assertEqual(s.mail("small@example.org")[0], 250)
            self.assertEqual(s.rcpt("david@contoso.test")[0], 250)
            code, msg = s.data(make_message(small_token).encode())
            self.assertEqual(code, 250, msg)
        self.delivered_one("contoso", "david@contoso.test", small_token)
        for p, data in self.server.all_maildir_files():
            self.assertNotIn(token.encode(), data, f"over-size message delivered into {p}")

    def test_too_many_recipients(self):
        # max_recipients is 100 (security catalogue E06): the 101st gets 452 4.5.3, the message is
        # accepted for the first 100.
        token = new_token("rcpts")
        with self.server.smtp(timeout=60) as s:
            s.ehlo()
            self.assertEqual(s.mail("many@example.org")[0], 250)
            self.assertEqual(s.rcpt("david@contoso.test")[0], 250)
            for i in range(99):
                code, msg = s.rcpt(f"user{i}@relay.contoso.test")
                self.assertEqual(code, 250, f"recipient {i + 2}: {msg!r}")
            code, msg = s.rcpt("julie@contoso.test")
            self.assertEqual(code, 452, msg)
            self.assertTrue(msg.startswith(b"4.5.3"), msg)
            code, msg = s.data(make_message(token).encode())
            self.assertEqual(code, 250, msg)
        self.delivered_one("contoso", "david@contoso.test", token)
        self.assertEqual(self.server.wait_for_messages("contoso", "julie@contoso.test", token, timeout=1), [])

    def test_utf8_addresses_with_smtputf8(self):
        token = new_token("utf8")
        sender = "ñandú@example.org"
        sent = (f"From: <{sender}>\r\nTo: <josé@contoso.test>\r\nSubject: {token} ¡hola!\r\n\r\n"
                f"Grüße {token}\r\n")
        self.send(sender, ["josé@contoso.test"], sent.encode("utf-8"), mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        d = self.delivered_one("contoso", "josé@contoso.test", token)
        self.assert_trace_headers(d, sender, "josé@contoso.test", sent)

    def test_8bit_body_is_kept_byte_exact(self):
        token = new_token("8bit")
        sent = (f"Subject: {token}\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n").encode() + \
            b"caf\xe9 \xa0 \xff\r\n"
        self.send("e@example.org", ["julie@contoso.test"], sent, mail_options=["BODY=8BITMIME"])
        d = self.delivered_one("contoso", "julie@contoso.test", token)
        self.assert_trace_headers(d, "e@example.org", "julie@contoso.test", sent)

    def test_rset_clears_the_transaction(self):
        # Security catalogue A34: after RSET no stale recipients.
        token = new_token("rset")
        with self.server.smtp() as s:
            s.ehlo()
            self.assertEqual(s.mail("a@example.org")[0], 250)
            self.assertEqual(s.rcpt("david@contoso.test")[0], 250)
            self.assertEqual(s.rset()[0], 250)
            self.assertEqual(s.mail("b@example.org")[0], 250)
            self.assertEqual(s.rcpt("julie@contoso.test")[0], 250)
            self.assertEqual(s.data(make_message(token).encode())[0], 250)
        self.delivered_one("contoso", "julie@contoso.test", token)
        self.assertEqual(self.server.wait_for_messages("contoso", "david@contoso.test", token, timeout=1), [])

    def test_several_messages_in_one_session(self):
        tokens = [new_token("multi") for _ in range(5)]
        with self.server.smtp() as s:
            s.ehlo()
            ids = set()
            for t in tokens:
                self.assertEqual(s.mail("m@example.org")[0], 250)
                self.assertEqual(s.rcpt("david@contoso.test")[0], 250)
                code, msg = s.data(make_message(t).encode())
                self.assertEqual(code, 250, msg)
                ids.add(harness.queued_id(msg.decode()))
            self.assertEqual(len(ids), 5, f"queue ids must be unique: {ids}")
        for t in tokens:
            self.delivered_one("contoso", "david@contoso.test", t)


if __name__ == "__main__":
    harness.main()
