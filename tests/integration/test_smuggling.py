#!/usr/bin/env python3
"""SMTP smuggling (SEC Consult 2023, CERT VU#302671): security catalogue B01-B06.

Only <CRLF>.<CRLF> ends DATA. A message whose content has a bare CR or bare LF is refused after the
real end of data with 550 5.6.11, and the bytes that imitate an end of data followed by a second
transaction never become a second message. Each case then sends a clean control message in the same
session, so exactly one message is delivered per case (two when the server keeps a NUL-containing
body, B05) and the session is proven to be in sync."""

import harness
from harness import MailflowTestCase, new_token

FORGED_RCPT = "david@contoso.test"   # the smuggled transaction targets David...
REAL_RCPT = "julie@contoso.test"     # ...the real one, Julie

# (catalogue id, the fake end-of-data sequence, does it contain a bare CR or LF)
CASES = [
    ("B01", b"\n.\n", True),
    ("B02", b"\n.\r\n", True),
    ("B03", b"\r\n.\n", True),
    ("B04a", b"\r.\r", True),
    ("B04b", b"\r.\n", True),
    ("B04c", b"\n.\r", True),
    ("B04d", b"\r.\r\n", True),
    ("B04e", b"\r\n.\r", True),
    ("B05", b"\r\n\x00.\r\n", False),
]


def forged_transaction(token):
    return (b"MAIL FROM:<attacker@evil.test>\r\n"
            b"RCPT TO:<" + FORGED_RCPT.encode() + b">\r\n"
            b"DATA\r\n"
            b"From: <ceo@contoso.test>\r\n"
            b"Subject: forged " + token.encode() + b"\r\n"
            b"\r\n"
            b"forged body " + token.encode() + b"\r\n")


class SmugglingTest(MailflowTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def open_data(self, c, sender="real@example.org"):
        self.assertReply(c.command(f"MAIL FROM:<{sender}>"), 250, "2.1.0")
        self.assertReply(c.command(f"RCPT TO:<{REAL_RCPT}>"), 250, "2.1.5")
        self.assertReply(c.command("DATA"), 354)

    def send_control(self, c, token):
        self.open_data(c, "control@example.org")
        c.send(f"Subject: control {token}\r\n\r\ncontrol body {token}\r\n.\r\n".encode())
        self.assertReply(c.read_reply(), 250, "2.0.0")

    def assertNoForgedMessage(self, token):
        """No delivered file is (or starts) the smuggled message, and the forged recipient got nothing."""
        tok = token.encode()
        self.assertEqual(self.server.wait_for_messages("contoso", FORGED_RCPT, tok, timeout=0.5), [],
                         "the smuggled transaction was delivered to its recipient")
        for path, data in self.server.all_maildir_files():
            if tok not in data:
                continue
            header_part = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
            self.assertNotIn(b"Subject: forged", header_part, f"{path} is the forged message")
            self.assertNotIn(b"attacker@evil.test", header_part, f"{path} carries the forged envelope")

    def test_fake_end_of_data_sequences(self):
        for case_id, fake_end, bare in CASES:
            with self.subTest(case=case_id, sequence=fake_end):
                token = new_token(case_id)
                c = self.server.client()
                self.addCleanup(c.close)
                self.assertReply(c.greeting(), 220)
                self.assertReply(c.ehlo(), 250)
                self.open_data(c)
                payload = (b"From: <real@example.org>\r\nSubject: first " + token.encode() + b"\r\n\r\n"
                           b"hello " + token.encode() + fake_end + forged_transaction(token) + b".\r\n")
                c.send(payload)
                r = c.read_reply(15)
                if bare:
                    self.assertReply(r, 550, "5.6.11")
                else:
                    # B05: the NUL line is content. Policy: keep it (250) or refuse the message (5xx).
                    self.assertIn(r.code, (250, 550, 554), r.raw)
                # Exactly one reply: the fake end and the forged commands produced none.
                self.assertNoMoreReplies(c, 0.5)
                self.send_control(c, token)
                self.assertReply(c.command("QUIT"), 221)

                control = self.server.wait_for_messages("contoso", REAL_RCPT, f"control body {token}")
                self.assertEqual(len(control), 1, "the control message must be delivered once")
                files = self.server.wait_for_messages("contoso", REAL_RCPT, token, timeout=0.5)
                expected = 2 if r.code == 250 else 1
                self.assertEqual(len(files), expected,
                                 f"{len(files)} messages with {token} delivered to {REAL_RCPT}")
                if r.code == 250:
                    first = [f for f in files if b"first " + token.encode() in f]
                    self.assertEqual(len(first), 1)
                    # The forged lines are body text of the first message, not a message of their own.
                    self.assertIn(b"forged body " + token.encode(), first[0])
                self.assertNoForgedMessage(token)

    def test_b06_valid_end_of_data_with_pipelined_second_transaction(self):
        # A valid end of data in the same segment as the next MAIL/RCPT/DATA from an unauthenticated
        # client: 554 5.5.0 + close, or only the first message accepted and the rest refused.
        token = new_token("B06")
        c = self.server.client()
        self.addCleanup(c.close)
        self.assertReply(c.greeting(), 220)
        self.assertReply(c.ehlo(), 250)
        self.open_data(c)
        c.send(b"Subject: first " + token.encode() + b"\r\n\r\nhello " + token.encode() + b"\r\n.\r\n"
               + forged_transaction(token) + b".\r\n")
        first = c.read_reply(15)
        self.assertReply(first, 250, "2.0.0")
        rest = []
        try:
            while True:
                rest.append(c.read_reply(2))
        except (harness.PeerClosed, TimeoutError, OSError):
            pass
        for r in rest:
            self.assertNotEqual(r.code, 354, f"the pipelined DATA was accepted: {[x.raw for x in rest]}")
            self.assertFalse(r.code == 250 and r.enhanced == "2.0.0",
                             f"a second message was queued: {[x.raw for x in rest]}")
        if rest and rest[0].code == 554:
            self.assertReply(rest[0], 554, "5.5.0")
            self.assertTrue(c.closed_by_peer or c.wait_closed(), "no close after 554 5.5.0")
        files = self.server.wait_for_messages("contoso", REAL_RCPT, token)
        self.assertEqual(len(files), 1, "exactly the first message is delivered")
        self.assertNoForgedMessage(token)

    def test_dot_lines_inside_the_body_are_content(self):
        # Only "\r\n.\r\n" ends the data; on every other line that starts with a dot the first dot is
        # removed (RFC 5321 §4.5.2): "..", ". ", "...x" become ".", " ", "..x".
        token = new_token("dots")
        c = self.server.client()
        self.addCleanup(c.close)
        self.assertReply(c.greeting(), 220)
        self.assertReply(c.ehlo(), 250)
        self.open_data(c)
        c.send(b"Subject: dots " + token.encode() + b"\r\n\r\nline\r\n..\r\n. \r\n .\r\n...x\r\nend "
               + token.encode() + b"\r\n.\r\n")
        self.assertReply(c.read_reply(), 250, "2.0.0")
        self.assertNoMoreReplies(c, 0.3)
        files = self.server.wait_for_messages("contoso", REAL_RCPT, token)
        self.assertEqual(len(files), 1)
        body = harness.Delivered(files[0]).after_fields(3)
        self.assertTrue(body.endswith(b"line\n.\n \n .\n..x\nend " + token.encode() + b"\n"), body)


if __name__ == "__main__":
    harness.main()
