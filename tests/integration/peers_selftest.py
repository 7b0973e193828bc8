"""peers_selftest.py — self-test of peers.py (SmtpSink, DnsServer, certificates) with smtplib, raw
sockets and raw DNS queries. Needs no mailflow binary:

    python3 tests/integration/peers_selftest.py [unittest options]
"""

import os
import smtplib
import socket
import ssl
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import peers  # noqa: E402
from peers import DROP, HANG, DnsServer, SmtpSink  # noqa: E402

CLIENT = "client.test.example"


def message(token, extra=""):
    return (f"From: <a@example.org>\r\nTo: <b@fabrikam.test>\r\nSubject: {token}\r\n\r\n"
            f"body {token}\r\n.leading dot line\r\n..two dots\r\n{extra}END\r\n")


class SinkCase(unittest.TestCase):
    def sink(self, **kw):
        s = SmtpSink(**kw)
        self.addCleanup(s.stop)
        return s

    def smtp(self, sink, timeout=5.0, server_name="mail.fabrikam.test"):
        c = smtplib.SMTP(local_hostname=CLIENT, timeout=timeout)
        self.addCleanup(self._close_smtp, c)
        c.connect_reply = c.connect(sink.host, sink.port)
        c._host = server_name  # the name STARTTLS verifies
        return c

    @staticmethod
    def _close_smtp(c):
        try:
            c.close()
        except Exception:
            pass

    def raw(self, sink, timeout=5.0):
        c = harness.SmtpClient(sink.host, sink.port, timeout=timeout)
        self.addCleanup(c.close)
        return c


class PlainTest(SinkCase):
    def test_plain_delivery_records_everything(self):
        sink = self.sink(hostname="mx1.fabrikam.test")
        c = self.smtp(sink)
        code, text = c.ehlo()
        self.assertEqual(code, 250)
        for kw in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "smtputf8", "dsn"):
            self.assertTrue(c.has_extn(kw), kw)
        self.assertFalse(c.has_extn("starttls"))
        self.assertEqual(c.esmtp_features["size"], "10485760")
        refused = c.sendmail("a@example.org", ["b@fabrikam.test", "C@Fabrikam.test"], message("t1"),
                             mail_options=["BODY=8BITMIME", "SIZE=200"], rcpt_options=["NOTIFY=FAILURE,DELAY"])
        self.assertEqual(refused, {})
        c.quit()
        msgs = sink.wait_for_messages(1, 5)
        self.assertEqual(len(msgs), 1)
        m = msgs[0]
        self.assertEqual(m["mail_from"], "a@example.org")
        self.assertEqual(m["rcpts"], ["b@fabrikam.test", "C@Fabrikam.test"])
        self.assertEqual(m["mail_params"], {"BODY": "8BITMIME", "SIZE": "200"})
        self.assertEqual(m["rcpt_params"], [{"NOTIFY": "FAILURE,DELAY"}] * 2)
        self.assertEqual(m["data"], message("t1").encode())  # dot-unstuffed again
        self.assertFalse(m["tls"])
        self.assertIsNone(m["tls_version"])
        self.assertIsNone(m["client_cert_subject"])
        self.assertEqual(m["helo"], CLIENT)
        self.assertTrue(m["accepted"])
        self.assertRegex(m["reply"], r"^250 2\.0\.0 Ok: queued as ")
        self.assertEqual(sink.connections, 1)
        self.assertEqual(sink.commands[0].upper(), f"EHLO {CLIENT.upper()}")  # smtplib sends "ehlo"
        self.assertEqual(sink.commands[-1].upper(), "QUIT")
        self.assertTrue(sink.wait_for(lambda s: s._sessions[0]["end"] == "quit", 5))

    def test_greeting_and_two_transactions_on_one_connection(self):
        sink = self.sink(greeting="220 custom.example hello there")
        c = self.smtp(sink)
        self.assertEqual(c.ehlo_resp, None)
        c.sendmail("a@example.org", ["x@fabrikam.test"], message("one"))
        c.sendmail("", ["y@fabrikam.test"], message("two"))
        c.quit()
        msgs = sink.wait_for_messages(2, 5)
        self.assertEqual([m["rcpts"] for m in msgs], [["x@fabrikam.test"], ["y@fabrikam.test"]])
        self.assertEqual(msgs[1]["mail_from"], "")
        self.assertEqual({m["connection"] for m in msgs}, {1})
        raw = self.raw(sink)
        self.assertEqual(raw.greeting().first_line, "220 custom.example hello there")

    def test_empty_message_and_custom_ehlo_keywords(self):
        sink = self.sink(ehlo_keywords=["SIZE 100", "8BITMIME"])
        c = self.raw(sink)
        c.greeting()
        r = c.ehlo()
        self.assertEqual(r.lines[1:], ["SIZE 100", "8BITMIME"])
        self.assertEqual(c.command("MAIL FROM:<a@example.org> SIZE=101").code, 552)
        self.assertEqual(c.command("MAIL FROM:<a@example.org> SIZE=50").code, 250)
        self.assertEqual(c.command("RCPT TO:<b@fabrikam.test>").code, 250)
        self.assertEqual(c.command("DATA").code, 354)
        c.send(b".\r\n")
        self.assertEqual(c.read_reply().code, 250)
        self.assertEqual(sink.wait_for_messages(1, 5)[0]["data"], b"")

    def test_sequence_errors(self):
        sink = self.sink()
        c = self.raw(sink)
        c.greeting()
        self.assertEqual(c.command("MAIL FROM:<a@example.org>").code, 503)
        c.ehlo()
        self.assertEqual(c.command("RCPT TO:<b@fabrikam.test>").code, 503)
        self.assertEqual(c.command("DATA").code, 503)
        self.assertEqual(c.command("XYZZY").code, 502)
        self.assertEqual(c.command("STARTTLS").code, 502)  # no certificate configured
        self.assertEqual(c.command("MAIL FROM:<a@example.org>").code, 250)
        self.assertEqual(c.command("MAIL FROM:<a@example.org>").code, 503)
        self.assertEqual(c.command("DATA").code, 554)  # no valid recipients
        self.assertEqual(c.command("RSET").code, 250)
        self.assertEqual(c.command("NOOP").code, 250)
        self.assertEqual(c.command("QUIT").code, 221)
        self.assertTrue(c.wait_closed(2))

    def test_wait_for_messages_times_out_with_fewer(self):
        sink = self.sink()
        t0 = time.monotonic()
        self.assertEqual(sink.wait_for_messages(1, 0.3), [])
        self.assertLess(time.monotonic() - t0, 2)

    def test_stop_with_open_connections_is_quick(self):
        sink = SmtpSink()
        c = self.raw(sink)
        c.greeting()
        silent = SmtpSink(silent=True)
        s2 = socket.create_connection((silent.host, silent.port), timeout=2)
        self.addCleanup(s2.close)
        silent.wait_for_connections(1, 5)
        t0 = time.monotonic()
        sink.stop()
        silent.stop()
        self.assertLess(time.monotonic() - t0, 2.5)
        self.assertTrue(c.wait_closed(2))
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((sink.host, sink.port), timeout=2).close()


class PipeliningTest(SinkCase):
    def test_pipelined_batch_replies_in_order(self):
        sink = self.sink(reply_overrides={"rcpt:nobody@fabrikam.test": "550 5.1.1 user unknown"})
        c = self.raw(sink)
        c.greeting()
        c.ehlo()
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@fabrikam.test>\r\nRCPT TO:<Nobody@fabrikam.test>\r\n"
               b"RCPT TO:<c@fabrikam.test>\r\nDATA\r\n")
        codes = [c.read_reply().code for _ in range(5)]
        self.assertEqual(codes, [250, 250, 550, 250, 354])
        c.send(message("pipe").replace("\r\n.", "\r\n..").encode() + b".\r\nQUIT\r\n")
        self.assertEqual(c.read_reply().code, 250)
        self.assertEqual(c.read_reply().code, 221)
        m = sink.wait_for_messages(1, 5)[0]
        self.assertEqual(m["rcpts"], ["b@fabrikam.test", "c@fabrikam.test"])
        self.assertTrue(m["pipelined"])
        self.assertFalse(m["data_early"])
        self.assertEqual(m["data"], message("pipe").encode())
        log = sink.command_log
        self.assertEqual([e["pipelined"] for e in log], [False, False, True, True, True, True, True])

    def test_lock_step_client_is_not_pipelined(self):
        sink = self.sink()
        c = self.smtp(sink)
        c.sendmail("a@example.org", ["b@fabrikam.test"], message("lock"))
        self.assertFalse(sink.wait_for_messages(1, 5)[0]["pipelined"])
        self.assertFalse(any(e["pipelined"] for e in sink.command_log))

    def test_data_sent_before_354_is_flagged(self):
        sink = self.sink()
        c = self.raw(sink)
        c.greeting()
        c.ehlo()
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@fabrikam.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n")
        self.assertEqual([c.read_reply().code for _ in range(4)], [250, 250, 354, 250])
        self.assertTrue(sink.wait_for_messages(1, 5)[0]["data_early"])

    def test_pipelining_not_advertised(self):
        sink = self.sink(pipelining=False)
        c = self.smtp(sink)
        c.ehlo()
        self.assertFalse(c.has_extn("pipelining"))
        self.assertTrue(c.has_extn("size"))


class OverrideTest(SinkCase):
    def test_greeting_554_then_503_until_quit(self):
        sink = self.sink(reply_overrides={"greeting": "554 5.3.2 no service"})
        with self.assertRaises(smtplib.SMTPConnectError):
            smtplib.SMTP(sink.host, sink.port, local_hostname=CLIENT, timeout=5)
        c = self.raw(sink)
        self.assertEqual(c.greeting().code, 554)
        self.assertEqual(c.ehlo().code, 503)
        self.assertEqual(c.command("QUIT").code, 221)

    def test_greeting_421_closes(self):
        sink = self.sink(greeting="421 4.3.2 busy")
        c = self.raw(sink)
        self.assertEqual(c.greeting().code, 421)
        self.assertTrue(c.wait_closed(2))

    def test_ehlo_refused_client_falls_back_to_helo(self):
        sink = self.sink(reply_overrides={"ehlo": "502 5.5.2 no EHLO here"})
        c = self.smtp(sink)
        c.sendmail("a@example.org", ["b@fabrikam.test"], message("helo"))
        m = sink.wait_for_messages(1, 5)[0]
        self.assertEqual(m["helo"], CLIENT)
        self.assertEqual([x.upper() for x in sink.commands[:2]], [f"EHLO {CLIENT}".upper(), f"HELO {CLIENT}".upper()])

    def test_mail_451(self):
        sink = self.sink(reply_overrides={"mail": "451 4.3.0 try later"})
        c = self.smtp(sink)
        with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
            c.sendmail("a@example.org", ["b@fabrikam.test"], message("m"))
        self.assertEqual(cm.exception.smtp_code, 451)
        self.assertEqual(sink.messages, [])

    def test_rcpt_one_refused_and_all_refused(self):
        sink = self.sink(reply_overrides={"rcpt:gone@fabrikam.test": "550 5.1.1 user unknown"})
        c = self.smtp(sink)
        refused = c.sendmail("a@example.org", ["b@fabrikam.test", "Gone@Fabrikam.test"], message("r"))
        self.assertEqual(refused, {"Gone@Fabrikam.test": (550, b"5.1.1 user unknown")})
        self.assertEqual(sink.wait_for_messages(1, 5)[0]["rcpts"], ["b@fabrikam.test"])
        sink.set_override("rcpt", "452 4.2.2 mailbox full")
        with self.assertRaises(smtplib.SMTPRecipientsRefused):
            c.sendmail("a@example.org", ["b@fabrikam.test"], message("r2"))
        self.assertEqual(len(sink.messages), 1)

    def test_data_and_eod_overrides(self):
        sink = self.sink(reply_overrides={"data": "554 5.5.1 no thanks"})
        c = self.smtp(sink)
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            c.sendmail("a@example.org", ["b@fabrikam.test"], message("d"))
        self.assertEqual(cm.exception.smtp_code, 554)
        sink.clear_overrides()
        sink.set_override("eod", "451 4.3.0 queue trouble")
        c.rset()
        with self.assertRaises(smtplib.SMTPDataError) as cm:
            c.sendmail("a@example.org", ["b@fabrikam.test"], message("e"))
        self.assertEqual(cm.exception.smtp_code, 451)
        self.assertEqual(sink.messages, [])
        txn = sink.transactions
        self.assertEqual(len(txn), 1)
        self.assertFalse(txn[0]["accepted"])
        self.assertEqual(txn[0]["reply"], "451 4.3.0 queue trouble")
        self.assertEqual(txn[0]["data"], message("e").encode())

    def test_multiline_override(self):
        sink = self.sink(reply_overrides={"eod": "550 5.7.1 first line\n550 5.7.1 second line"})
        c = self.raw(sink)
        c.greeting()
        c.ehlo()
        r = c.send_mail("a@example.org", ["b@fabrikam.test"], "Subject: x\r\n\r\nhi\r\n")[-1]
        self.assertEqual(r.raw, b"550-5.7.1 first line\r\n550 5.7.1 second line\r\n")

    def test_421_mid_session_closes(self):
        sink = self.sink(reply_overrides={"rcpt": "421 4.4.5 shutting down"})
        c = self.raw(sink)
        c.greeting()
        c.ehlo()
        c.command("MAIL FROM:<a@example.org>")
        self.assertEqual(c.command("RCPT TO:<b@fabrikam.test>").code, 421)
        self.assertTrue(c.wait_closed(2))

    def test_callable_override_per_connection(self):
        sink = self.sink(reply_overrides={"greeting": lambda s: "421 4.3.2 busy" if s.index == 1 else None})
        self.assertEqual(self.smtp(sink).connect_reply[0], 421)
        c = self.smtp(sink)
        c.sendmail("a@example.org", ["b@fabrikam.test"], message("second"))
        self.assertEqual(sink.wait_for_messages(1, 5)[0]["connection"], 2)
        self.assertEqual(sink.connections, 2)

    def test_delay(self):
        sink = self.sink(delays={"mail": 0.4})
        c = self.raw(sink)
        c.greeting()
        c.ehlo()
        t0 = time.monotonic()
        self.assertEqual(c.command("MAIL FROM:<a@example.org>").code, 250)
        self.assertGreaterEqual(time.monotonic() - t0, 0.35)


class DropTest(SinkCase):
    def start_data(self, sink):
        c = self.raw(sink)
        c.greeting()
        c.ehlo()
        self.assertEqual(c.command("MAIL FROM:<a@example.org>").code, 250)
        self.assertEqual(c.command("RCPT TO:<b@fabrikam.test>").code, 250)
        self.assertEqual(c.command("DATA").code, 354)
        return c

    def test_drop_mid_data(self):
        sink = self.sink(drop_at="data-mid")
        c = self.start_data(sink)
        c.send(b"Subject: half\r\n\r\nfirst part of the body\r\n")
        self.assertTrue(c.wait_closed(3))
        self.assertEqual(c.trailing, b"")
        self.assertTrue(sink.wait_for(lambda s: s._transactions, 3))
        txn = sink.transactions[0]
        self.assertIsNone(txn["reply"])
        self.assertFalse(txn["accepted"])
        self.assertEqual(sink.messages, [])

    def test_drop_mid_data_smtplib(self):
        sink = self.sink(drop_at="data-mid")
        c = self.smtp(sink)
        with self.assertRaises(smtplib.SMTPServerDisconnected):
            c.sendmail("a@example.org", ["b@fabrikam.test"], message("x" * 10, "y" * 200000 + "\r\n"))

    def test_drop_at_eod(self):
        sink = self.sink(drop_at="eod")
        c = self.start_data(sink)
        c.send(b"Subject: whole\r\n\r\nbody\r\n.\r\n")
        self.assertTrue(c.wait_closed(3))
        self.assertEqual(c.trailing, b"")
        self.assertTrue(sink.wait_for(lambda s: s._transactions, 3))
        self.assertEqual(sink.transactions[0]["data"], b"Subject: whole\r\n\r\nbody\r\n")
        self.assertEqual(sink.messages, [])

    def test_drop_at_greeting_rcpt_and_data(self):
        for stage in ("greeting", "ehlo", "mail", "rcpt", "data"):
            with self.subTest(stage=stage):
                sink = self.sink(drop_at=stage)
                c = self.smtp if stage != "greeting" else None
                if c is None:
                    with self.assertRaises(smtplib.SMTPServerDisconnected):
                        self.smtp(sink)
                    continue
                client = self.smtp(sink)
                with self.assertRaises(smtplib.SMTPServerDisconnected):
                    client.sendmail("a@example.org", ["b@fabrikam.test"], message(stage))
                self.assertEqual(sink.messages, [])

    def test_hang_at_eod(self):
        sink = self.sink(reply_overrides={"eod": HANG})
        c = self.start_data(sink)
        c.send(b"Subject: hang\r\n\r\nbody\r\n.\r\n")
        with self.assertRaises((socket.timeout, TimeoutError)):
            c.read_reply(timeout=0.5)

    def test_drop_constant_in_callable(self):
        sink = self.sink(reply_overrides={"eod": lambda s: DROP if s.index == 1 else None})
        c = self.smtp(sink)
        with self.assertRaises(smtplib.SMTPServerDisconnected):
            c.sendmail("a@example.org", ["b@fabrikam.test"], message("first"))
        c2 = self.smtp(sink)
        c2.sendmail("a@example.org", ["b@fabrikam.test"], message("second"))
        self.assertEqual(len(sink.wait_for_messages(1, 5)), 1)


class TimeoutAndRefuseTest(SinkCase):
    def test_silent_server_times_out(self):
        sink = self.sink(silent=True)
        t0 = time.monotonic()
        with self.assertRaises((smtplib.SMTPServerDisconnected, socket.timeout, TimeoutError)) as cm:
            self.smtp(sink, timeout=0.5)
        self.assertIn("timed out", str(cm.exception))
        self.assertLess(time.monotonic() - t0, 3)
        self.assertEqual(sink.connections, 1)

    def test_refuse_mode(self):
        sink = self.sink(refuse=True)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((sink.host, sink.port), timeout=2)
        self.assertEqual(sink.connections, 0)

    def test_closed_port_on(self):
        addr = peers.closed_port_on("127.0.1.99")
        self.addCleanup(peers.release_closed_ports)
        host, port = addr.rsplit(":", 1)
        self.assertEqual(host, "127.0.1.99")
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=2)
        with self.assertRaises(ConnectionRefusedError):
            smtplib.SMTP(host, int(port), timeout=2)


class SharedPortTest(SinkCase):
    def test_hosts_share_one_port(self):
        hosts = [harness.new_loopback_address() for _ in range(3)]
        sinks = peers.start_sinks(hosts, per_host={hosts[2]: {"refuse": True}},
                                  reply_overrides={"mail": "250 2.1.0 shared"})
        for s in sinks:
            self.addCleanup(s.stop)
        port = sinks[0].port
        self.assertEqual({s.port for s in sinks}, {port})
        for i, s in enumerate(sinks[:2]):
            c = smtplib.SMTP(s.host, port, local_hostname=CLIENT, timeout=5)
            c.sendmail("a@example.org", [f"r{i}@fabrikam.test"], message(f"shared{i}"))
            c.quit()
        self.assertEqual(sinks[0].wait_for_messages(1, 5)[0]["rcpts"], ["r0@fabrikam.test"])
        self.assertEqual(sinks[1].wait_for_messages(1, 5)[0]["rcpts"], ["r1@fabrikam.test"])
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((hosts[2], port), timeout=2)

    def test_fixed_port(self):
        hosts = [harness.new_loopback_address() for _ in range(2)]
        port = peers.shared_port(hosts)
        a = self.sink(host=hosts[0], port=port)
        b = self.sink(host=hosts[1], port=port)
        self.assertEqual((a.address, b.address), (f"{hosts[0]}:{port}", f"{hosts[1]}:{port}"))
        with self.assertRaises(OSError):
            SmtpSink(host=hosts[0], port=port)


class TlsTest(SinkCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = peers.test_pki()

    def tls_sink(self, cert, **kw):
        return self.sink(starttls=(cert.chain, cert.key), **kw)

    def test_starttls_with_test_ca(self):
        sink = self.tls_sink(self.pki.leaf, hostname="mail.fabrikam.test")
        c = self.smtp(sink)
        c.ehlo()
        self.assertTrue(c.has_extn("starttls"))
        c.starttls(context=peers.client_context(self.pki.ca))
        c.ehlo()
        self.assertFalse(c.has_extn("starttls"))
        c.sendmail("a@example.org", ["b@fabrikam.test"], message("tls"))
        c.quit()
        m = sink.wait_for_messages(1, 5)[0]
        self.assertTrue(m["tls"])
        self.assertIn(m["tls_version"], ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(m["sni"], "mail.fabrikam.test")
        self.assertIsNone(m["client_cert_subject"])
        self.assertEqual(m["helo"], CLIENT)
        self.assertEqual([x.upper() for x in sink.commands].count(f"EHLO {CLIENT}".upper()), 2)

    def test_wildcard_and_intermediate(self):
        sink = self.tls_sink(self.pki.wildcard)
        c = self.smtp(sink, server_name="mx7.fabrikam.test")
        c.starttls(context=peers.client_context(self.pki.ca))
        c.noop()
        inter = peers.make_ca("peers intermediate", parent=self.pki.ca)
        leaf = peers.make_cert("deep.fabrikam.test", ["deep.fabrikam.test"], inter)
        sink2 = self.tls_sink(leaf)
        c2 = self.smtp(sink2, server_name="deep.fabrikam.test")
        c2.starttls(context=peers.client_context(self.pki.ca))
        c2.noop()

    def test_bad_certificates_fail_verification(self):
        cases = [("self_signed", "mail.fabrikam.test", "self-signed"),
                 ("expired", "mail.fabrikam.test", "expired"),
                 ("leaf", "other.contoso.test", "match")]
        for attr, name, fragment in cases:
            with self.subTest(attr):
                sink = self.tls_sink(getattr(self.pki, attr))
                c = self.smtp(sink, server_name=name)
                with self.assertRaises(ssl.SSLCertVerificationError) as cm:
                    c.starttls(context=peers.client_context(self.pki.ca))
                self.assertIn(fragment, str(cm.exception))
                self.assertTrue(sink.wait_for(lambda s: s._tls_errors, 3))
                self.assertEqual(sink.messages, [])
        # opportunistic clients (no verification) still get through
        sink = self.tls_sink(self.pki.self_signed)
        c = self.smtp(sink)
        c.starttls(context=peers.client_context(None))
        c.sendmail("a@example.org", ["b@fabrikam.test"], message("opportunistic"))
        self.assertTrue(sink.wait_for_messages(1, 5)[0]["tls"])

    def test_client_certificate_recorded(self):
        client = peers.make_cert("client.contoso.test", None, self.pki.ca)
        sink = self.tls_sink(self.pki.leaf, client_ca=self.pki.ca.cert)
        c = self.smtp(sink)
        c.starttls(context=peers.client_context(self.pki.ca, client))
        c.sendmail("a@example.org", ["b@fabrikam.test"], message("cc"))
        c2 = self.smtp(sink)
        c2.starttls(context=peers.client_context(self.pki.ca))
        c2.sendmail("a@example.org", ["b@fabrikam.test"], message("nocc"))
        msgs = sink.wait_for_messages(2, 5)
        self.assertEqual([m["client_cert_subject"] for m in msgs], ["CN=client.contoso.test", None])

    def test_required_client_certificate_rejects_unknown(self):
        sink = self.tls_sink(self.pki.leaf, client_ca=self.pki.ca.cert, require_client_cert=True)
        c = self.smtp(sink)
        with self.assertRaises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
            c.starttls(context=peers.client_context(self.pki.ca, self.pki.self_signed))
            c.noop()  # TLS 1.3: the server's verdict arrives after the client's handshake finished
        self.assertTrue(sink.wait_for(lambda s: s._tls_errors, 3))

    def test_starttls_override_and_drop(self):
        sink = self.tls_sink(self.pki.leaf, reply_overrides={"starttls": "454 4.7.0 TLS not available"})
        c = self.smtp(sink)
        with self.assertRaises(smtplib.SMTPResponseException) as cm:
            c.starttls(context=peers.client_context(self.pki.ca))
        self.assertEqual(cm.exception.smtp_code, 454)
        c.sendmail("a@example.org", ["b@fabrikam.test"], message("plain after 454"))
        self.assertFalse(sink.wait_for_messages(1, 5)[0]["tls"])
        sink2 = self.tls_sink(self.pki.leaf, drop_at="tls")
        c2 = self.smtp(sink2)
        with self.assertRaises((ssl.SSLError, OSError)):
            c2.starttls(context=peers.client_context(self.pki.ca))

    def test_starttls_injection_is_discarded_and_flagged(self):
        sink = self.tls_sink(self.pki.leaf)
        c = self.raw(sink)
        c.greeting()
        c.ehlo()
        c.send(b"STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
        self.assertEqual(c.read_reply().code, 220)
        c.starttls(peers.client_context(self.pki.ca), server_hostname="mail.fabrikam.test")
        self.assertEqual(c.command("MAIL FROM:<a@example.org>").code, 503)  # EHLO needed again
        c.ehlo()
        c.command("QUIT")
        self.assertTrue(sink.wait_for(lambda s: s._sessions and s._sessions[0]["end"], 3))
        self.assertTrue(sink.sessions[0]["starttls_injection"])
        self.assertNotIn("MAIL FROM:<injected@example.org>", sink.commands)


HAVE_DNSMASQ = os.path.exists(DnsServer.DNSMASQ)


@unittest.skipUnless(HAVE_DNSMASQ, "dnsmasq (Debian package dnsmasq-base) not installed")
class DnsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer({
            "mx": {"fabrikam.test": [(10, "mx1.fabrikam.test"), (20, "mx2.fabrikam.test")],
                   "nullmx.test": [(0, ".")]},
            "a": {"mx1.fabrikam.test": "127.0.1.21", "mx2.fabrikam.test": ["127.0.1.22", "127.0.1.23"],
                  "smart.contoso.test": "127.0.1.31"},
            "aaaa": {"mx1.fabrikam.test": "::1", "v6only.test": "::1"},
            "cname": {"alias.contoso.test": "smart.contoso.test"},
            "txt": {"fabrikam.test": "v=spf1 -all"},
        }, servfail_zones=["broken.example"], timeout_zones=["slow.example"])
        cls.addClassCleanup(cls.dns.cleanup)
        cls.dns.start()

    def q(self, name, qtype, **kw):
        return peers.dns_query(self.dns.server, name, qtype, **kw)

    def test_server_string(self):
        host, port = self.dns.server.rsplit(":", 1)
        self.assertEqual(host, "127.0.53.1")
        self.assertGreater(int(port), 0)

    def test_mx(self):
        r = self.q("fabrikam.test", "MX")
        self.assertEqual(r.rcode_name, "NOERROR")
        self.assertTrue(r.aa)
        self.assertEqual(sorted(v for t, v in r.answers if t == "MX"),
                         [(10, "mx1.fabrikam.test."), (20, "mx2.fabrikam.test.")])

    def test_null_mx(self):
        r = self.q("nullmx.test", "MX")
        self.assertEqual(r.rcode_name, "NOERROR")
        self.assertEqual(r.answers, [("MX", (0, "."))])

    def test_a_aaaa_multiple(self):
        self.assertEqual(self.q("mx1.fabrikam.test", "A").answers, [("A", "127.0.1.21")])
        self.assertEqual(self.q("mx1.fabrikam.test", "AAAA").answers, [("AAAA", "::1")])
        self.assertEqual(sorted(v for _, v in self.q("mx2.fabrikam.test", "A").answers),
                         ["127.0.1.22", "127.0.1.23"])

    def test_nxdomain_and_nodata(self):
        r = self.q("nosuch.fabrikam.test", "A")
        self.assertEqual(r.rcode_name, "NXDOMAIN")
        self.assertEqual(self.q("nosuch.test", "MX").rcode_name, "NXDOMAIN")
        r = self.q("smart.contoso.test", "MX")  # A only: NODATA for MX (implicit MX case)
        self.assertEqual((r.rcode_name, r.answers), ("NOERROR", []))
        r = self.q("v6only.test", "A")
        self.assertEqual((r.rcode_name, r.answers), ("NOERROR", []))
        self.assertEqual(self.q("outside.invalid", "A").rcode_name, "REFUSED")

    def test_cname_txt_tcp(self):
        r = self.q("alias.contoso.test", "A")
        self.assertIn(("CNAME", "smart.contoso.test."), r.answers)
        self.assertIn(("A", "127.0.1.31"), r.answers)
        self.assertEqual(self.q("fabrikam.test", "TXT").answers, [("TXT", "v=spf1 -all")])
        r = self.q("fabrikam.test", "MX", tcp=True)
        self.assertEqual(len([a for a in r.answers if a[0] == "MX"]), 2)

    def test_servfail_and_timeout_zones(self):
        self.assertEqual(self.q("x.broken.example", "MX").rcode_name, "SERVFAIL")
        with self.assertRaises((socket.timeout, TimeoutError)):
            self.q("x.slow.example", "MX", timeout=0.5)

    def test_queries_logged(self):
        self.q("mx1.fabrikam.test", "A")
        deadline = time.monotonic() + 3
        while ("A", "mx1.fabrikam.test") not in self.dns.queries() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn(("A", "mx1.fabrikam.test"), self.dns.queries())


@unittest.skipUnless(HAVE_DNSMASQ, "dnsmasq (Debian package dnsmasq-base) not installed")
class DnsLifecycleTest(unittest.TestCase):
    def test_two_servers_restart_and_stop(self):
        a = DnsServer(a={"one.test": "127.0.1.1"})
        b = DnsServer(a={"one.test": "127.0.1.2"}, host=harness.new_loopback_address())
        self.addCleanup(a.cleanup)
        self.addCleanup(b.cleanup)
        a.start()
        b.start()
        self.assertEqual(a.nxdomain_zones, ["test"])
        self.assertEqual(peers.dns_query(a.server, "one.test", "A").answers, [("A", "127.0.1.1")])
        self.assertEqual(peers.dns_query(b.server, "one.test", "A").answers, [("A", "127.0.1.2")])
        port = a.port
        a.a["one.test"] = "127.0.1.9"
        a.mx["one.test"] = [(5, "one.test")]
        a.restart()
        self.assertEqual(a.port, port)
        self.assertEqual(peers.dns_query(a.server, "one.test", "A").answers, [("A", "127.0.1.9")])
        self.assertEqual(peers.dns_query(a.server, "one.test", "MX").answers, [("MX", (5, "one.test."))])
        a.stop()
        with self.assertRaises(OSError):
            peers.dns_query(a.server, "one.test", "A", timeout=0.3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
