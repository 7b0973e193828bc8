#!/usr/bin/env python3
"""Resource limits: connections per IP (security catalogue E01), idle timeouts (E05), free disk space
at MAIL (F04). Each test runs its own server with the limit under test set low."""

import time

import harness
from harness import HOSTNAME, MailflowTestCase, make_message, new_token


class ConnectionsPerIpTest(MailflowTestCase):
    def test_e01_connections_over_the_per_ip_limit_are_refused_at_connect(self):
        srv = self.start_server(limits={"max_connections_per_ip": 5})
        ip = harness.new_loopback_address()
        held = []
        for i in range(5):
            c = srv.client(source=ip)
            self.addCleanup(c.close)
            self.assertReply(c.greeting(), 220, msg=f"connection {i + 1} of 5")
            held.append(c)
        # The sixth from the same IP: 421 at connect, then the server closes.
        extra = srv.client(source=ip)
        self.addCleanup(extra.close)
        r = extra.read_reply()
        self.assertEqual(r.raw.decode(),
                         f"421 4.7.0 {HOSTNAME} Error: too many connections from {ip}\r\n")
        self.assertClosed(extra)
        # Other IPs are not affected.
        other = srv.client(source=harness.new_loopback_address())
        self.addCleanup(other.close)
        self.assertReply(other.greeting(), 220)
        self.assertReply(other.ehlo(), 250)
        # The five held sessions still work.
        for c in held:
            self.assertReply(c.command("NOOP"), 250)
        # When one goes away, the IP may connect again.
        self.assertReply(held[0].command("QUIT"), 221)
        self.assertClosed(held[0])
        deadline = time.monotonic() + 5
        while True:
            again = srv.client(source=ip)
            self.addCleanup(again.close)
            r = again.read_reply()
            if r.code == 220 or time.monotonic() > deadline:
                break
            again.close()
            time.sleep(0.1)
        self.assertReply(r, 220, msg="a slot was freed by QUIT")
        srv.stop()


class IdleTimeoutTest(MailflowTestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = cls.start_class_server(limits={"command_timeout": "2s", "data_timeout": "2s"})

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def assertTimesOut(self, c, started):
        r = c.read_reply(10)
        elapsed = time.monotonic() - started
        self.assertReply(r, 421, "4.4.2")
        self.assertGreaterEqual(elapsed, 1.5, "timed out before command_timeout")
        self.assertLess(elapsed, 8, "took far longer than command_timeout")
        self.assertClosed(c)

    def session(self):
        c = self.server.client()
        self.addCleanup(c.close)
        self.assertReply(c.greeting(), 220)
        return c

    def test_e05_idle_after_greeting(self):
        c = self.session()
        self.assertTimesOut(c, time.monotonic())

    def test_e05_idle_inside_a_transaction(self):
        c = self.session()
        self.assertReply(c.ehlo(), 250)
        self.assertReply(c.command("MAIL FROM:<idle@example.org>"), 250)
        self.assertReply(c.command("RCPT TO:<david@contoso.test>"), 250)
        self.assertTimesOut(c, time.monotonic())

    def test_e05_idle_during_data_queues_nothing(self):
        token = new_token("idle-data")
        c = self.session()
        self.assertReply(c.ehlo(), 250)
        self.assertReply(c.command("MAIL FROM:<idle@example.org>"), 250)
        self.assertReply(c.command("RCPT TO:<david@contoso.test>"), 250)
        self.assertReply(c.command("DATA"), 354)
        c.send(make_message(token).encode())  # no final dot
        self.assertTimesOut(c, time.monotonic())
        self.assertEqual(self.server.wait_for_messages("contoso", "david@contoso.test", token, timeout=1), [])

    def test_activity_keeps_the_session_alive(self):
        # The timeout is per command, not per session: a NOOP every second for 4 s is fine.
        c = self.session()
        self.assertReply(c.ehlo(), 250)
        for _ in range(4):
            time.sleep(1)
            self.assertReply(c.command("NOOP"), 250)
        self.assertReply(c.command("QUIT"), 221)


class DiskSpaceTest(MailflowTestCase):
    def test_f04_insufficient_disk_space_at_mail(self):
        srv = self.start_server(limits={"min_free_disk": 10000000000000000})
        c = srv.client()
        self.addCleanup(c.close)
        self.assertReply(c.greeting(), 220)
        self.assertReply(c.ehlo(), 250)
        for _ in range(2):
            r = c.command("MAIL FROM:<disk@example.org>")
            self.assertReply(r, 452, "4.3.1", "Insufficient system storage")
        # A temporary refusal: the session goes on, and nothing was started.
        self.assertReply(c.command("RCPT TO:<david@contoso.test>"), 503, "5.5.1")
        self.assertReply(c.command("NOOP"), 250)
        self.assertReply(c.command("QUIT"), 221)
        srv.stop()


if __name__ == "__main__":
    harness.main()
