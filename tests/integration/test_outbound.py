#!/usr/bin/env python3
"""Outbound delivery against real peers (SPEC R-OUT-4..9, R-LOOP-1, R-NDR-1..2; security catalogue §7 G, H).

mailflow relays to SMTP sinks (peers.SmtpSink) on 127.x addresses that share one port number, which
the config gives as service.remote_smtp_port; MX and A records come from dnsmasq on loopback
(peers.DnsServer) through service.dns.servers. Mail enters from a test client as a message for
external_relay domains (relayed through a connector or by MX) or from a local mailbox user, whose
Maildir then receives the NDRs.
"""
import email
import email.policy
import email.utils
import time
import unittest

import harness
import peers

SENDER = "david@contoso.test"  # a local mailbox: NDRs land in its Maildir


def organizations(connectors=None, extra_domains=None, recipients=None):
    domains = [
        {"domain": "contoso.test", "type": "authoritative"},
        {"domain": "fabrikam.test", "type": "external_relay"},
        {"domain": "mx.test", "type": "external_relay"},
    ] + (extra_domains or [])
    org = {
        "name": "contoso",
        "accepted_domains": domains,
        "recipients": [
            {"type": "mailbox", "address": SENDER},
            {"type": "mail_contact", "address": "partner@contoso.test", "target_address": "partner@mx.test"},
        ] + (recipients or []),
    }
    if connectors:
        org["outbound_connectors"] = connectors
    return [org]


def connector(name, hosts, **extra):
    c = {"name": name, "connector_type": "partner", "recipient_domains": ["fabrikam.test"], "smart_hosts": hosts}
    c.update(extra)
    return c


class OutboundTest(harness.MailflowTestCase):
    def start(self, port, connectors=None, dns=None, queue=None, **kw):
        service = {"remote_smtp_port": port,
                   "queue": queue or {"retry_intervals": ["1s"], "message_expiration": "30s"}}
        if dns is not None:
            service["dns"] = {"servers": [dns.server]}
        srv = self.start_server(service=service, organizations=organizations(connectors, **kw))
        return srv

    def send(self, srv, rcpts, token, sender=SENDER, extra_headers=""):
        with srv.smtp() as s:
            msg = (f"From: <{sender}>\r\nTo: <{rcpts[0]}>\r\nSubject: outbound {token}\r\n{extra_headers}\r\n"
                   f"body of {token}\r\n.leading dot line\r\n")
            s.sendmail(sender, rcpts, msg.encode())

    def ndrs(self, srv, token, count=1, timeout=20.0):
        files = srv.wait_for_messages("contoso", SENDER, token, count=count, timeout=timeout)
        self.assertGreaterEqual(len(files), count, f"expected {count} NDR(s) mentioning {token}")
        return [email.message_from_bytes(f, policy=email.policy.default) for f in files]

    def dsn_fields(self, ndr):
        self.assertEqual(ndr.get_content_type(), "multipart/report")
        self.assertEqual(ndr.get_param("report-type"), "delivery-status")
        parts = list(ndr.iter_parts())
        self.assertEqual(parts[1].get_content_type(), "message/delivery-status")
        return parts[1].as_string()

    # -- smart hosts ---------------------------------------------------------------------------------

    def test_smart_host_delivery_with_dot_stuffing_and_envelope(self):
        sink = peers.SmtpSink()
        self.addCleanup(sink.stop)
        srv = self.start(sink.port, [connector("to-fabrikam", [sink.host])])
        token = harness.new_token("sh")
        self.send(srv, ["alice@fabrikam.test", "bob@fabrikam.test"], token)
        got = sink.wait_for_messages(1, timeout=15)
        self.assertEqual(len(got), 1, srv.log_dump())
        m = got[0]
        self.assertEqual(m["mail_from"], SENDER)
        self.assertEqual(sorted(m["rcpts"]), ["alice@fabrikam.test", "bob@fabrikam.test"])
        self.assertIn(token.encode(), m["data"])
        self.assertIn(b"\r\n.leading dot line\r\n", m["data"])  # dot-stuffed on the wire, unstuffed by the sink
        self.assertIn(b"Received: from", m["data"])
        srv.wait_for_log(r"event=finished", timeout=10)

    def test_r_out_4_round_robin_between_smart_hosts(self):
        sinks = peers.start_sinks([harness.new_loopback_address() for _ in range(2)])
        for s in sinks:
            self.addCleanup(s.stop)
        srv = self.start(sinks[0].port, [connector("to-fabrikam", [s.host for s in sinks])])
        for i in range(6):
            self.send(srv, ["alice@fabrikam.test"], harness.new_token(f"rr{i}"))
            deadline = time.time() + 15
            while len(sinks[0].messages) + len(sinks[1].messages) < i + 1 and time.time() < deadline:
                time.sleep(0.05)
        counts = [len(s.messages) for s in sinks]
        self.assertEqual(sum(counts), 6)
        self.assertGreaterEqual(min(counts), 2, f"no round robin: {counts}")

    def test_r_out_5_refused_and_4xx_hosts_fail_over_at_once(self):  # catalogue G01, G03
        hosts = [harness.new_loopback_address() for _ in range(3)]
        port = peers.shared_port(hosts)
        refused = peers.SmtpSink(hosts[0], port, refuse=True)
        busy = peers.SmtpSink(hosts[1], port, reply_overrides={"greeting": "421 4.3.2 busy"})
        good = peers.SmtpSink(hosts[2], port)
        for s in (refused, busy, good):
            self.addCleanup(s.stop)
        srv = self.start(port, [connector("to-fabrikam", hosts)])
        for i in range(3):
            self.send(srv, ["alice@fabrikam.test"], harness.new_token(f"fo{i}"))
        self.assertEqual(len(good.wait_for_messages(3, timeout=20)), 3, srv.log_dump())

    def test_r_out_5_rcpt_4xx_moves_recipient_to_next_host(self):
        hosts = [harness.new_loopback_address() for _ in range(2)]
        port = peers.shared_port(hosts)
        first = peers.SmtpSink(hosts[0], port, reply_overrides={"rcpt:bob@fabrikam.test": "451 4.2.1 mailbox busy"})
        second = peers.SmtpSink(hosts[1], port)
        self.addCleanup(first.stop)
        self.addCleanup(second.stop)
        # Pin the rotation: only the first message matters, the rotation starts at hosts[0].
        srv = self.start(port, [connector("to-fabrikam", hosts)])
        token = harness.new_token("rcpt4xx")
        self.send(srv, ["alice@fabrikam.test", "bob@fabrikam.test"], token)
        deadline = time.time() + 20
        while time.time() < deadline:
            rcpts = [r for s in (first, second) for m in s.messages for r in m["rcpts"]]
            if sorted(rcpts) == ["alice@fabrikam.test", "bob@fabrikam.test"]:
                break
            time.sleep(0.1)
        rcpts = [r for s in (first, second) for m in s.messages for r in m["rcpts"]]
        self.assertEqual(sorted(rcpts), ["alice@fabrikam.test", "bob@fabrikam.test"], srv.log_dump())
        self.assertNotIn("bob@fabrikam.test", [r for m in first.messages for r in m["rcpts"]])

    def test_r_out_6_5xx_is_an_ndr_at_once_without_other_hosts(self):  # catalogue G04
        hosts = [harness.new_loopback_address() for _ in range(2)]
        port = peers.shared_port(hosts)
        rejecting = [peers.SmtpSink(h, port, reply_overrides={"rcpt:bob@fabrikam.test": "550 5.1.1 <bob@fabrikam.test>: user unknown"})
                     for h in hosts]
        for s in rejecting:
            self.addCleanup(s.stop)
        srv = self.start(port, [connector("to-fabrikam", hosts)])
        token = harness.new_token("perm")
        self.send(srv, ["alice@fabrikam.test", "bob@fabrikam.test"], token)
        (ndr,) = self.ndrs(srv, token)
        self.assertEqual(email.utils.parseaddr(str(ndr["From"]))[1], "postmaster@contoso.test")
        self.assertEqual(email.utils.parseaddr(str(ndr["To"]))[1], SENDER)
        self.assertEqual(ndr["Auto-Submitted"], "auto-replied")
        fields = self.dsn_fields(ndr)
        self.assertRegex(fields, r"Final-Recipient: rfc822; ?bob@fabrikam.test")
        self.assertIn("Action: failed", fields)
        self.assertIn("Status: 5.1.1", fields)
        self.assertIn("550 5.1.1 <bob@fabrikam.test>: user unknown", fields)
        self.assertNotIn("alice@fabrikam.test", fields)
        # alice was delivered once; bob's RCPT was tried on one host only.
        delivered = [r for s in rejecting for m in s.messages for r in m["rcpts"]]
        self.assertEqual(delivered, ["alice@fabrikam.test"])
        bob_tries = [c for s in rejecting for c in s.commands if "bob@fabrikam.test" in c]
        self.assertEqual(len(bob_tries), 1, bob_tries)
        # The envelope of the NDR is <> (Return-Path written by the Maildir delivery).
        self.assertTrue(str(ndr["Return-Path"]).strip() in ("<>", ""), ndr["Return-Path"])

    def test_temporary_failures_are_retried_then_expire_with_4_4_7(self):  # R-OUT-5, R-NDR-2, catalogue G02
        sink = peers.SmtpSink(reply_overrides={"mail": "451 4.3.0 try again later"})
        self.addCleanup(sink.stop)
        srv = self.start(sink.port, [connector("to-fabrikam", [sink.host])],
                         queue={"retry_intervals": ["1s"], "message_expiration": "4s"})
        token = harness.new_token("exp")
        self.send(srv, ["alice@fabrikam.test"], token)
        (ndr,) = self.ndrs(srv, token, timeout=30)
        fields = self.dsn_fields(ndr)
        self.assertIn("Status: 4.4.7", fields)
        self.assertIn("451 4.3.0 try again later", ndr.as_string())
        self.assertGreaterEqual(len([c for c in sink.commands if c.upper().startswith("MAIL")]), 2,
                                "the message was not retried before it expired")

    def test_retry_after_4xx_delivers(self):
        sink = peers.SmtpSink(reply_overrides={"mail": lambda s: "451 4.3.0 later" if s.index == 1 else None})
        self.addCleanup(sink.stop)
        srv = self.start(sink.port, [connector("to-fabrikam", [sink.host])])
        self.send(srv, ["alice@fabrikam.test"], harness.new_token("retry"))
        self.assertEqual(len(sink.wait_for_messages(1, timeout=20)), 1, srv.log_dump())
        self.assertGreaterEqual(sink.connections, 2)

    def test_drop_mid_data_is_temporary(self):  # catalogue G05
        def eod(session):
            if session.index == 1:
                return "DROP"
            return None
        sink = peers.SmtpSink(reply_overrides={"eod": eod})
        self.addCleanup(sink.stop)
        srv = self.start(sink.port, [connector("to-fabrikam", [sink.host])])
        self.send(srv, ["alice@fabrikam.test"], harness.new_token("drop"))
        self.assertEqual(len(sink.wait_for_messages(1, timeout=20)), 1, srv.log_dump())

    def test_g02_554_greeting_tries_the_next_host(self):  # catalogue G02
        hosts = [harness.new_loopback_address() for _ in range(2)]
        port = peers.shared_port(hosts)
        grumpy = peers.SmtpSink(hosts[0], port, reply_overrides={"greeting": "554 5.7.1 no service for you"})
        good = peers.SmtpSink(hosts[1], port)
        self.addCleanup(grumpy.stop)
        self.addCleanup(good.stop)
        srv = self.start(port, [connector("to-fabrikam", hosts)])
        for i in range(2):  # whichever host the rotation starts with, both messages reach `good`
            self.send(srv, ["alice@fabrikam.test"], harness.new_token(f"g02-{i}"))
        self.assertEqual(len(good.wait_for_messages(2, timeout=20)), 2, srv.log_dump())

    def test_g11_message_over_the_peer_size_is_bounced_without_sending(self):  # catalogue G11
        sink = peers.SmtpSink(ehlo_keywords=["PIPELINING", "SIZE 1000", "8BITMIME", "ENHANCEDSTATUSCODES"])
        self.addCleanup(sink.stop)
        srv = self.start(sink.port, [connector("to-fabrikam", [sink.host])])
        token = harness.new_token("g11")
        self.send(srv, ["alice@fabrikam.test"], token, extra_headers="X-Pad: " + "x" * 2000 + "\r\n")
        (ndr,) = self.ndrs(srv, token)
        self.assertIn("Status: 5.3.4", self.dsn_fields(ndr))
        self.assertFalse([c for c in sink.commands if c.upper().startswith("DATA")], sink.commands)

    def test_ndr_for_a_remote_sender_is_relayed_with_a_null_sender(self):  # R-NDR-1
        sink = peers.SmtpSink(reply_overrides={"rcpt:bob@fabrikam.test": "550 5.1.1 unknown user"})
        self.addCleanup(sink.stop)
        srv = self.start(sink.port, [connector("to-fabrikam", [sink.host])])
        token = harness.new_token("remote-ndr")
        self.send(srv, ["bob@fabrikam.test"], token, sender="carol@fabrikam.test")
        got = sink.wait_for_messages(1, timeout=20)
        self.assertEqual(len(got), 1, srv.log_dump())
        self.assertEqual(got[0]["mail_from"], "")
        self.assertEqual(got[0]["rcpts"], ["carol@fabrikam.test"])
        self.assertIn(b"multipart/report", got[0]["data"])
        self.assertIn(token.encode(), got[0]["data"])

    # -- MX --------------------------------------------------------------------------------------------

    def test_r_out_8_mx_preference_order_and_backup(self):
        hosts = [harness.new_loopback_address() for _ in range(2)]
        port = peers.shared_port(hosts)
        primary = peers.SmtpSink(hosts[0], port, refuse=True)
        backup = peers.SmtpSink(hosts[1], port)
        self.addCleanup(primary.stop)
        self.addCleanup(backup.stop)
        dns = peers.DnsServer(mx={"mx.test": [(10, "mx1.mx.test"), (20, "mx2.mx.test")]},
                              a={"mx1.mx.test": hosts[0], "mx2.mx.test": hosts[1]}).start()
        self.addCleanup(dns.cleanup)
        srv = self.start(port, dns=dns)
        self.send(srv, ["partner@contoso.test"], harness.new_token("mx"))  # mail_contact → partner@mx.test
        got = backup.wait_for_messages(1, timeout=20)
        self.assertEqual(len(got), 1, srv.log_dump())
        self.assertEqual(got[0]["rcpts"], ["partner@mx.test"])

    def test_null_mx_fails_at_once_with_5_1_10(self):
        dns = peers.DnsServer(mx={"mx.test": [(0, ".")]}).start()
        self.addCleanup(dns.cleanup)
        srv = self.start(peers.shared_port([harness.new_loopback_address()]), dns=dns)
        token = harness.new_token("nullmx")
        self.send(srv, ["partner@contoso.test"], token)
        (ndr,) = self.ndrs(srv, token)
        self.assertIn("Status: 5.1.10", self.dsn_fields(ndr))

    def test_nxdomain_fails_with_5_4_4(self):
        dns = peers.DnsServer(a={"other.test": "127.0.0.9"}, nxdomain_zones=["test"]).start()
        self.addCleanup(dns.cleanup)
        srv = self.start(peers.shared_port([harness.new_loopback_address()]), dns=dns)
        token = harness.new_token("nx")
        self.send(srv, ["partner@contoso.test"], token)
        (ndr,) = self.ndrs(srv, token)
        self.assertIn("Status: 5.4.4", self.dsn_fields(ndr))

    def test_r_loop_1_next_hop_is_ourselves(self):
        dns = peers.DnsServer(mx={"mx.test": [(10, "self.mx.test")]}, a={"self.mx.test": "127.0.0.1"}).start()
        self.addCleanup(dns.cleanup)
        srv = self.start(2525, dns=dns)
        # Point the A record at the server's own address and port.
        dns.a = {"self.mx.test": srv.address}
        dns.restart()
        srv.config["service"]["remote_smtp_port"] = srv.port
        srv.write_config()
        srv.stop()
        srv.start()
        token = harness.new_token("loop")
        self.send(srv, ["partner@contoso.test"], token)
        (ndr,) = self.ndrs(srv, token)
        self.assertIn("Status: 5.3.5", self.dsn_fields(ndr))

    def test_dns_servfail_is_temporary_then_expires(self):  # issue 3: SERVFAIL/timeout are temporary
        dns = peers.DnsServer(a={"other.test": "127.0.0.9"}, servfail_zones=["mx.test"]).start()
        self.addCleanup(dns.cleanup)
        srv = self.start(peers.shared_port([harness.new_loopback_address()]), dns=dns,
                         queue={"retry_intervals": ["1s"], "message_expiration": "3s"})
        token = harness.new_token("servfail")
        self.send(srv, ["partner@contoso.test"], token)
        (ndr,) = self.ndrs(srv, token, timeout=30)
        text = ndr.as_string()
        self.assertIn("Status: 4.4.7", text)
        self.assertRegex(srv.log(), r"event=defer .*DNS")

    def test_source_address_and_client_certificate(self):  # R-OUT-9 last paragraph
        pki = peers.test_pki()
        source = harness.new_loopback_address()
        sink = peers.SmtpSink(starttls=(pki.leaf.chain, pki.leaf.key), client_ca=pki.ca.cert)
        self.addCleanup(sink.stop)
        srv = self.start(sink.port, [connector("to-fabrikam", [sink.host])])
        srv.config["service"]["source_address"] = source
        self.use_ca(srv, pki.ca, cert=pki.leaf)
        self.send(srv, ["alice@fabrikam.test"], harness.new_token("src"))
        got = sink.wait_for_messages(1, timeout=15)
        self.assertEqual(len(got), 1, srv.log_dump())
        self.assertTrue(got[0]["tls"])
        self.assertEqual(got[0]["peer"].rsplit(":", 1)[0], source)
        self.assertIsNotNone(got[0]["client_cert_subject"], "the service certificate was not presented")

    # -- TLS ---------------------------------------------------------------------------------------------

    def tls_sink(self, cert, host=None, port=0):
        return peers.SmtpSink(host, port, starttls=(cert.chain, cert.key))

    def test_r_out_9_opportunistic_uses_tls_when_offered(self):
        pki = peers.test_pki()
        sink = self.tls_sink(pki.self_signed)
        self.addCleanup(sink.stop)
        srv = self.start(sink.port, [connector("to-fabrikam", [sink.host])])
        self.send(srv, ["alice@fabrikam.test"], harness.new_token("opp"))
        (m,) = sink.wait_for_messages(1, timeout=15)
        self.assertTrue(m["tls"])

    def test_r_out_9_domain_validation_accepts_the_right_name(self):
        pki = peers.test_pki()
        sink = self.tls_sink(pki.leaf)
        self.addCleanup(sink.stop)
        srv = self.start(sink.port, [connector("to-fabrikam", [sink.host], tls_settings="domain_validation",
                                               tls_domain="mail.fabrikam.test")],
                         )
        self.use_ca(srv, pki.ca)
        self.send(srv, ["alice@fabrikam.test"], harness.new_token("dv"))
        (m,) = sink.wait_for_messages(1, timeout=15)
        self.assertTrue(m["tls"])

    def test_r_out_9_required_tls_never_falls_back_to_plain_text(self):  # catalogue H01, H02, H03
        pki = peers.test_pki()
        hosts = [harness.new_loopback_address() for _ in range(3)]
        port = peers.shared_port(hosts)
        plain = peers.SmtpSink(hosts[0], port)                              # no STARTTLS offered
        wrong_name = peers.SmtpSink(hosts[1], port, starttls=(pki.leaf.chain, pki.leaf.key))  # mail.fabrikam.test
        untrusted = peers.SmtpSink(hosts[2], port, starttls=(pki.self_signed.chain, pki.self_signed.key))
        for s in (plain, wrong_name, untrusted):
            self.addCleanup(s.stop)
        srv = self.start(port, [connector("to-fabrikam", hosts, tls_settings="domain_validation",
                                          tls_domain="other.fabrikam.test")],
                         queue={"retry_intervals": ["1s"], "message_expiration": "3s"})
        self.use_ca(srv, pki.ca)
        token = harness.new_token("tlsreq")
        self.send(srv, ["alice@fabrikam.test"], token)
        (ndr,) = self.ndrs(srv, token, timeout=30)
        text = ndr.as_string()
        self.assertIn("Status: 4.4.7", text)
        for s in (plain, wrong_name, untrusted):
            self.assertEqual(s.messages, [], "a message was sent although TLS was required")
        self.assertTrue("name" in text or "STARTTLS" in text or "trusted" in text, text)

    def test_h02_failed_handshake_under_opportunistic_retries_in_plain_text(self):  # catalogue H02
        pki = peers.test_pki()
        sink = peers.SmtpSink(starttls=(pki.leaf.chain, pki.leaf.key), drop_at="tls")
        self.addCleanup(sink.stop)
        srv = self.start(sink.port, [connector("to-fabrikam", [sink.host])])
        self.send(srv, ["alice@fabrikam.test"], harness.new_token("h02"))
        got = sink.wait_for_messages(1, timeout=20)
        self.assertEqual(len(got), 1, srv.log_dump())
        self.assertFalse(got[0]["tls"])

    def test_h02_failed_handshake_under_encryption_only_never_sends_plain_text(self):  # catalogue H02
        pki = peers.test_pki()
        sink = peers.SmtpSink(starttls=(pki.leaf.chain, pki.leaf.key), drop_at="tls")
        self.addCleanup(sink.stop)
        srv = self.start(sink.port, [connector("to-fabrikam", [sink.host], tls_settings="encryption_only")],
                         queue={"retry_intervals": ["1s"], "message_expiration": "2s"})
        token = harness.new_token("h02req")
        self.send(srv, ["alice@fabrikam.test"], token)
        (ndr,) = self.ndrs(srv, token, timeout=30)
        self.assertIn("Status: 4.4.7", ndr.as_string())
        self.assertEqual(sink.messages, [])

    def test_r_out_9_encryption_only_accepts_self_signed(self):
        pki = peers.test_pki()
        sink = self.tls_sink(pki.self_signed)
        self.addCleanup(sink.stop)
        srv = self.start(sink.port, [connector("to-fabrikam", [sink.host], tls_settings="encryption_only")])
        self.send(srv, ["alice@fabrikam.test"], harness.new_token("eo"))
        (m,) = sink.wait_for_messages(1, timeout=15)
        self.assertTrue(m["tls"])

    def test_certificate_validation_rejects_expired(self):  # catalogue H04
        pki = peers.test_pki()
        sink = self.tls_sink(pki.expired)
        self.addCleanup(sink.stop)
        srv = self.start(sink.port, [connector("to-fabrikam", [sink.host], tls_settings="certificate_validation")],
                         queue={"retry_intervals": ["1s"], "message_expiration": "2s"})
        self.use_ca(srv, pki.ca)
        token = harness.new_token("expired")
        self.send(srv, ["alice@fabrikam.test"], token)
        (ndr,) = self.ndrs(srv, token, timeout=30)
        self.assertIn("Status: 4.4.7", ndr.as_string())
        self.assertEqual(sink.messages, [])

    def use_ca(self, srv, ca, cert=None):
        """Restart the server trusting the test CA (service.tls.ca_bundle) for outbound checks, with
        `cert` (default: the harness server certificate) as its certificate."""
        import shutil
        shutil.copy(ca.cert, srv.config_dir / "peers-ca.pem")
        certs = harness.certificates()
        shutil.copy(cert.chain if cert else certs.server_cert, srv.config_dir / "server.pem")
        shutil.copy(cert.key if cert else certs.server_key, srv.config_dir / "server.key")
        srv.config["service"]["tls"] = {"certificate": "server.pem", "key": "server.key", "ca_bundle": "peers-ca.pem"}
        srv.write_config()
        srv.stop()
        srv.start()


if __name__ == "__main__":
    harness.main()
