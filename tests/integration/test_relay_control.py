#!/usr/bin/env python3
"""Relay control, connector attribution, the header firewall and tenant isolation, against a real
`mailflow serve` (SPEC §2 R-IN-1..5, R-IN-8, R-DOM-1/2; security reference §2.5, §6, catalogue §7
rows D and I; exchange-semantics §5). Partner restrictions (R-IN-6) and throttling (R-IN-7) are not
tested here.

One environment serves every test of this file (setUpModule):
  - an SMTP sink (peers.SmtpSink) on its own loopback address, standing for the whole internet: it is
    the smart host of an outbound connector with recipient_domains ["*"] in every organization, and
    dnsmasq (peers.DnsServer) makes it the MX of victim.example and of every other outside domain used
    here. A relay bug therefore really delivers, and the sink sees it;
  - TLS material made at test time: the harness's server certificate (mx.test.example), a "trusted"
    CA that the server's ca_bundle contains, a "rogue" CA that it does not, and client certificates
    (peers.make_cert) for the certificate connectors;
  - one mailflow with three organizations:
      contoso   contoso.test; on_premises connectors by certificate "*.contoso.test" and
                "*.eu.contoso.test" (eu.contoso.test is NOT accepted: ATTR36 by the immediate-parent
                rule)
      fabrikam  fabrikam.test, fabrikam-sales.test, relay.fabrikam.test (external_relay);
                on_premises connectors by IP 127.0.55.0/24 and (require_tls) 127.0.57.0/24
      northwind northwind.test; on_premises connector by certificate "relay.northwind-gw.test"
                (a domain northwind does not accept: ATTR36), a disabled one for
                "old.northwind.test", and a partner connector for 127.0.58.0/24
    contoso and fabrikam each have one transport rule that acts only on subjects with
    "[isolation-probe]" (the tenant-isolation test).
Clients bind to chosen 127.x.y.z source addresses (127.0.55.7 is inside fabrikam's range,
127.0.56.7 is outside every range).

Every test names the catalogue rows it covers. A test that shows a product bug keeps asserting the
behaviour the SPEC asks for and is marked @unittest.expectedFailure with the bug named beside it.
"""

import email
import email.policy
import json
import re
import ssl
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import harness
import peers
from harness import HOSTNAME, MailflowTestCase, new_token

# The replies of SPEC R-DOM-2, R-IN-3, R-IN-5 (code, enhanced code, text after the enhanced code).
RELAY_DENIED = (550, "5.7.54", "Unable to relay recipient in non-accepted domain")
UNKNOWN = (550, "5.4.1", "Recipient address rejected: Access denied")
TENANT = (550, "5.7.64", "TenantAttribution; Relay Access Denied")
ATTR36 = (550, "5.7.64", "TenantAttribution; Relay Access Denied ATTR36")
SYNTAX = (501, "5.1.3", None)           # not an RFC 5321 mailbox at all (catalogue D04)
UNDECLARED_UTF8 = (553, "5.6.7", None)  # a non-ASCII address without SMTPUTF8 (reference §2.5)

FABRIKAM_NET = "127.0.55.0/24"
FABRIKAM_IP = "127.0.55.7"   # inside fabrikam's on_premises connector
OUTSIDER_IP = "127.0.56.7"   # no connector of any organization
FABRIKAM_TLS_NET = "127.0.57.0/24"  # fabrikam's second connector, with require_tls
FABRIKAM_TLS_IP = "127.0.57.7"
PARTNER_NET = "127.0.58.0/24"       # northwind's partner (not on_premises) connector
PARTNER_IP = "127.0.58.7"
PROBE = "[isolation-probe]"         # subject marker the transport rules below act on

IDN_U = "bücher.example"
IDN_A = "xn--bcher-kva.example"

# Outside domains the sink is the MX of (a relay bug to any of them reaches the sink).
OUTSIDE_DOMAINS = ["victim.example", "outside.example", "elsewhere.example", "partner.example", IDN_A, "target.example",
                   "contoso.test.victim.example", "sub.contoso.test", "mx.test.example"]


class Env:
    pass


ENV = None


def organizations(sink):
    everywhere = [f"{sink.host}:{sink.port}"]
    return [
        {
            "name": "contoso",
            "accepted_domains": [{"domain": "contoso.test", "type": "authoritative"}],
            "recipients": [{"type": "mailbox", "address": "david@contoso.test"},
                           {"type": "mailbox", "address": "julie@contoso.test"}],
            "transport_rules": [{"name": "Contoso marks its probes", "priority": 0,
                                 "conditions": {"subject_contains": [PROBE]},
                                 "actions": {"set_header": {"name": "X-Contoso-Rule", "value": "ran"}}}],
            "outbound_connectors": [{"name": "Contoso to everywhere", "connector_type": "partner",
                                     "recipient_domains": ["*"], "smart_hosts": everywhere}],
            "inbound_connectors": [
                {"name": "Contoso on-premises", "connector_type": "on_premises",
                 "tls_sender_certificate_name": "*.contoso.test"},
                {"name": "Contoso EU", "connector_type": "on_premises",
                 "tls_sender_certificate_name": "*.eu.contoso.test"},
            ],
        },
        {
            "name": "fabrikam",
            "accepted_domains": [{"domain": "fabrikam.test", "type": "authoritative"},
                                 {"domain": "fabrikam-sales.test", "type": "authoritative"},
                                 {"domain": "relay.fabrikam.test", "type": "external_relay"}],
            "recipients": [{"type": "mailbox", "address": "Alex@fabrikam.test"},
                           {"type": "mailbox", "address": "alice@fabrikam.test"},
                           {"type": "mailbox", "address": "sales@fabrikam-sales.test"},
                           {"type": "mailbox", "address": "spy@fabrikam.test"}],
            # fabrikam's admin tries to grab contoso's copies of mail that also names fabrikam
            "transport_rules": [{"name": "Fabrikam grabs contoso copies", "priority": 0,
                                 "conditions": {"subject_contains": [PROBE], "recipient_domain": ["contoso.test"]},
                                 "actions": {"redirect_to": ["spy@fabrikam.test"]}}],
            "outbound_connectors": [{"name": "Fabrikam to everywhere", "connector_type": "partner",
                                     "recipient_domains": ["*"], "smart_hosts": everywhere}],
            "inbound_connectors": [{"name": "Fabrikam on-premises", "connector_type": "on_premises",
                                    "sender_ip_addresses": [FABRIKAM_NET]},
                                   {"name": "Fabrikam TLS only", "connector_type": "on_premises",
                                    "sender_ip_addresses": [FABRIKAM_TLS_NET], "require_tls": True}],
        },
        {
            "name": "northwind",
            "accepted_domains": [{"domain": "northwind.test", "type": "authoritative"}],
            "recipients": [{"type": "mailbox", "address": "nina@northwind.test"}],
            "outbound_connectors": [{"name": "Northwind to everywhere", "connector_type": "partner",
                                     "recipient_domains": ["*"], "smart_hosts": everywhere}],
            "inbound_connectors": [
                {"name": "Northwind gateway", "connector_type": "on_premises",
                 "tls_sender_certificate_name": "relay.northwind-gw.test"},
                {"name": "Northwind old gateway", "connector_type": "on_premises", "enabled": False,
                 "tls_sender_certificate_name": "old.northwind.test"},
                {"name": "Northwind partner", "connector_type": "partner", "sender_domains": ["partner.example"],
                 "sender_ip_addresses": [PARTNER_NET], "require_tls": False},
            ],
        },
    ]


def setUpModule():
    global ENV
    env = Env()
    env.trusted_ca = peers.make_ca("relay-control trusted CA")
    env.rogue_ca = peers.make_ca("relay-control rogue CA")
    mk = peers.make_cert
    env.certs = {
        "mail.contoso.test": mk("mail.contoso.test", ["mail.contoso.test"], env.trusted_ca),
        # the matching name only in a SAN; the CN is no host name at all
        "san-only": mk("Contoso relay appliance", ["DNS:gw.contoso.test"], env.trusted_ca),
        "rogue mail.contoso.test": mk("mail.contoso.test", ["mail.contoso.test"], env.rogue_ca),
        "self-signed mail.contoso.test": mk("mail.contoso.test", ["mail.contoso.test"], None),
        "expired mail.contoso.test": mk("mail.contoso.test", ["mail.contoso.test"], env.trusted_ca, expired=True),
        "a.b.contoso.test": mk("a.b.contoso.test", ["a.b.contoso.test"], env.trusted_ca),
        "mail.eu.contoso.test": mk("mail.eu.contoso.test", ["mail.eu.contoso.test"], env.trusted_ca),
        "relay.northwind-gw.test": mk("relay.northwind-gw.test", ["relay.northwind-gw.test"], env.trusted_ca),
        "old.northwind.test": mk("old.northwind.test", ["old.northwind.test"], env.trusted_ca),
    }
    env.sink = peers.SmtpSink(hostname="mx.victim.example")
    unittest.addModuleCleanup(env.sink.stop)
    env.dns = peers.DnsServer(mx={d: [(10, "mx.victim.example")] for d in OUTSIDE_DOMAINS},
                              a={"mx.victim.example": env.sink.host})
    unittest.addModuleCleanup(env.dns.cleanup)
    env.dns.start()
    service = {"remote_smtp_port": env.sink.port, "dns": {"servers": [env.dns.server]},
               "queue": {"retry_intervals": ["1s"], "message_expiration": "60s"}}
    # max_errors: the matrix sends many refused RCPTs in one session on purpose.
    srv = harness.MailflowServer(tls=True, service=service, organizations=organizations(env.sink),
                                 limits={"max_errors": 1000})
    # ca_bundle: the harness CA (the server's own chain) and the trusted client CA, not the rogue one.
    harness_ca = harness.certificates().ca
    (srv.config_dir / "ca.pem").write_bytes(Path(harness_ca).read_bytes() + env.trusted_ca.cert.read_bytes())
    unittest.addModuleCleanup(srv.cleanup)
    env.server = srv.start()
    env.harness_ca = harness_ca
    ENV = env


def tearDownModule():
    if ENV is not None and ENV.server.running():
        ENV.server.stop()


def message(token, sender, rcpts, extra_headers=(), body_lines=(), subject=None):
    lines = [f"From: <{sender or 'mailer-daemon@nowhere.example'}>",
             f"To: {', '.join(f'<{r}>' for r in rcpts)}",
             f"Subject: {subject or 'relay-control'} {token}",
             f"Message-ID: <{token}@relay-control.test>",
             *extra_headers,
             "",
             f"token {token}",
             *body_lines,
             f"END {token}"]
    return "\r\n".join(lines) + "\r\n"


class RelayTestCase(MailflowTestCase):
    """Sessions from a chosen source address, optionally with STARTTLS and a client certificate."""

    @property
    def server(self):
        return ENV.server

    @property
    def sink(self):
        return ENV.sink

    def session(self, source=None, cert=None, tls=False):
        """Connected, greeted, EHLO done; with cert (a key of ENV.certs or a cert object) or tls=True,
        STARTTLS done (verifying the server) and EHLO sent again inside TLS."""
        c = harness.SmtpClient(self.server.address, self.server.port,
                               source=source or harness.new_loopback_address())
        self.addCleanup(c.close)
        self.assertReply(c.greeting(), 220)
        self.assertReply(c.ehlo(), 250)
        if cert is not None or tls:
            ctx = ssl.create_default_context(cafile=str(ENV.harness_ca))
            if cert is not None:
                cert = ENV.certs[cert] if isinstance(cert, str) else cert
                ctx.load_cert_chain(str(cert.chain), str(cert.key))
            self.assertReply(c.command("STARTTLS"), 220, "2.0.0")
            c.starttls(ctx, server_hostname=HOSTNAME)
            self.assertReply(c.ehlo(), 250)
        return c

    def assertRcpt(self, client, rcpt, expected, params=""):
        """RCPT TO:<rcpt> (rcpt given without brackets unless it starts with '<') gets `expected`:
        (code, enhanced, text) or 250."""
        arg = rcpt if rcpt.startswith("<") else f"<{rcpt}>"
        r = client.command(f"RCPT TO:{arg}{(' ' + params) if params else ''}")
        if expected == 250:
            self.assertReply(r, 250, "2.1.5", msg=f"RCPT TO:{arg}")
        else:
            code, enhanced, text = expected
            self.assertReply(r, code, enhanced, text, msg=f"RCPT TO:{arg}")
        return r

    def mail(self, client, sender, params=""):
        r = client.command(f"MAIL FROM:<{sender}>{(' ' + params) if params else ''}")
        self.assertReply(r, 250, "2.1.0", msg=f"MAIL FROM:<{sender}>")
        return r

    def data(self, client, content, expect=250):
        r = client.command("DATA")
        if expect != 250:
            self.assertReply(r, expect, msg="DATA")
            return r
        self.assertReply(r, 354, msg="DATA")
        body = content.encode("utf-8") if isinstance(content, str) else content
        client.send(body + b".\r\n")
        r = client.read_reply(30)
        self.assertReply(r, 250, "2.0.0", msg="end of data")
        return r

    def sink_messages(self, token):
        return [m for m in self.sink.messages if m["data"] and token.encode() in m["data"]]

    def wait_sink(self, token, rcpts, timeout=15.0):
        """The sink receives the message carrying token, for exactly these envelope recipients
        (lower-cased, in any order, over however many transactions)."""
        want = sorted(r.lower() for r in rcpts)

        def done(sink):
            got = [r.lower() for m in sink.messages if m["data"] and token.encode() in m["data"] for r in m["rcpts"]]
            return sorted(got) == want
        ok = self.sink.wait_for(done, timeout)
        got = [(m["rcpts"], m["peer"]) for m in self.sink_messages(token)]
        self.assertTrue(ok, f"sink: expected {want} for {token}, got {got}")

    def assert_sink_never_saw(self, token, settle=1.5):
        time.sleep(settle)
        got = [(m["mail_from"], m["rcpts"]) for m in self.sink_messages(token)]
        self.assertEqual(got, [], f"a message carrying {token} reached the sink: OPEN RELAY")

    def local_copies(self, org, address, token, count=1):
        files = self.server.wait_for_messages(org, address, token, count=count)
        self.assertEqual(len(files), count, f"{address}: expected {count} Maildir file(s) with {token}")
        return files


# ----------------------------------------------------------------------------------------------------
# 1. The open-relay matrix from an unattributed client


class OpenRelayMatrixTest(RelayTestCase):
    """R-IN-5: a client that matched no on_premises connector may only reach accepted domains."""

    def cases(self):
        srv_ip = self.server.address
        sink_ip = self.sink.host
        # (RCPT argument, expected reply, catalogue row / what it is)
        return [
            ("x@victim.example", RELAY_DENIED, "D01 plain relay"),
            ("User@VICTIM.Example", RELAY_DENIED, "D01 mixed case"),
            ("x@victim.example.", RELAY_DENIED, "D01 trailing dot on the domain (absolute name)"),
            ("x%victim.example@contoso.test", UNKNOWN, "D02 percent hack inside an accepted domain"),
            ("x%victim.example@fabrikam.test", UNKNOWN, "D02 percent hack, other organization"),
            ('"x@victim.example"@contoso.test', UNKNOWN, "D03 quoted local part with @"),
            ('"x%victim.example"@contoso.test', UNKNOWN, "D03 quoted local part with %"),
            ("x@victim.example@contoso.test", SYNTAX, "D04 double @"),
            ("<@contoso.test:x@victim.example>", RELAY_DENIED, "D05 source route via an accepted domain"),
            ("<@contoso.test,@fabrikam.test:x@victim.example>", RELAY_DENIED, "D05 two-hop source route"),
            (f"<@[{srv_ip}]:x@victim.example>", RELAY_DENIED, "D05 source route via our IP literal"),
            (f"<@{HOSTNAME}:x@victim.example>", RELAY_DENIED, "D05 source route via our host name"),
            ("victim.example!x@contoso.test", UNKNOWN, "D06 bang path inside an accepted domain"),
            ("victim.example!x", SYNTAX, "D06 bare bang path (no domain)"),
            (f"victim.example!x@[{srv_ip}]", RELAY_DENIED, "D06/D08 bang path at our IP literal"),
            (f"victim.example!x@{HOSTNAME}", RELAY_DENIED, "D06/D08 bang path at our host name"),
            ("x@[127.0.0.1]", RELAY_DENIED, "D07 IPv4 literal"),
            ("x@[IPv6:::1]", RELAY_DENIED, "D07 IPv6 literal"),
            (f"x@[{sink_ip}]", RELAY_DENIED, "D07 the sink's IP literal"),
            (f"x@[{srv_ip}]", RELAY_DENIED, "D07 our own IP literal"),
            (f"x%victim.example@[{srv_ip}]", RELAY_DENIED, "D07 percent hack at our IP literal"),
            (f"x%victim.example@{HOSTNAME}", RELAY_DENIED, "D08 percent hack at our host name"),
            (f'"x@victim.example"@[{srv_ip}]', RELAY_DENIED, "D08 quoted @ at our IP literal"),
            (f'"x@victim.example"@{HOSTNAME}', RELAY_DENIED, "D08 quoted @ at our host name"),
            ('"x@victim.example"', SYNTAX, "D08 quoted address without domain"),
            ('"x%victim.example"', SYNTAX, "D08 quoted percent address without domain"),
            (f"x@{IDN_A}", RELAY_DENIED, "IDN, A-label form"),
            ("x@contoso.test.victim.example", RELAY_DENIED, "accepted-domain lookalike (suffix)"),
            ("x@sub.contoso.test", RELAY_DENIED, "subdomain of an exact accepted domain (R-DOM-1)"),
            ("x@victim-contoso.test", RELAY_DENIED, "accepted-domain lookalike (prefix)"),
            ("x@", SYNTAX, "empty domain"),
            ("x@.victim.example", SYNTAX, "empty label"),
            ("x@victim..example", SYNTAX, "empty inner label"),
            ("x@-victim.example", SYNTAX, "label starting with a hyphen"),
            ("x@vic tim.example", SYNTAX, "space in the domain"),
            ("x@127.0.0.1", SYNTAX, "numeric domain without brackets"),
            ("x@[127.0.0.300]", SYNTAX, "invalid IPv4 literal"),
            ("x@[IPv6:::zz]", SYNTAX, "invalid IPv6 literal"),
            ("@victim.example", SYNTAX, "empty local part"),
        ]

    def run_matrix(self, sender, source, token):
        c = self.session(source=source)
        self.mail(c, sender, "SMTPUTF8")
        for rcpt, expected, what in self.cases():
            with self.subTest(sender=sender, rcpt=rcpt, case=what):
                self.assertRcpt(c, rcpt, expected)
        with self.subTest(sender=sender, rcpt=f"x@{IDN_U}", case="IDN U-label with SMTPUTF8"):
            self.assertRcpt(c, f"x@{IDN_U}", RELAY_DENIED)
        # Nothing was accepted, so there is no message at all.
        with self.subTest(sender=sender, step="DATA with no accepted recipient"):
            r = c.command("DATA")
            if r.code == 354:  # something was accepted: let it go, so that the sink check shows where to
                c.send(message(token, sender, ["x@victim.example"]).encode() + b".\r\n")
                c.read_reply(30)
            self.assertReply(r, 554, msg="DATA")
        self.assertReply(c.command("RSET"), 250)
        # Without SMTPUTF8 the U-label form is not even an address (reference §2.5).
        self.mail(c, sender)
        self.assertRcpt(c, f"x@{IDN_U}", UNDECLARED_UTF8)
        self.assertReply(c.command("QUIT"), 221)

    def test_d01_d08_address_tricks_are_refused_and_nothing_reaches_the_sink(self):
        # security catalogue D01-D08 (every trick, from anonymous / spoofed senders), I07-like
        # sender spoofing: MAIL FROM of a tenant gives no relay right without its connector.
        token = new_token("open-relay")
        senders = [
            ("attacker@victim.example", harness.new_loopback_address()),
            ("david@contoso.test", harness.new_loopback_address()),    # spoofed tenant sender (cert org)
            ("alice@fabrikam.test", OUTSIDER_IP),                       # spoofed tenant sender (IP org), wrong IP
            ("", harness.new_loopback_address()),                       # null sender
        ]
        for sender, source in senders:
            self.run_matrix(sender, source, token)
        # A transaction that does get a message through (a local mailbox) must carry none of the
        # refused recipients: the mailbox gets its copy, the sink nothing.
        c = self.session()
        self.mail(c, "attacker@victim.example", "SMTPUTF8")
        self.assertRcpt(c, "david@contoso.test", 250)
        for rcpt, expected, _ in self.cases():
            with self.subTest(mixed=rcpt):
                self.assertRcpt(c, rcpt, expected)
        self.data(c, message(token, "attacker@victim.example", ["david@contoso.test"]))
        files = self.local_copies("contoso", "david@contoso.test", token)
        self.assertIn(b"Delivered-To: david@contoso.test", files[0])
        self.assert_sink_never_saw(token)
        seen = [line for line in self.sink.commands if "victim" in line.lower() or "bcher" in line.lower()]
        self.assertEqual(seen, [], "the sink was asked to relay for victim.example: OPEN RELAY")
        # Positive control: the same sink is reachable, so the refusals above are what kept it empty.
        control = new_token("relay-control-positive")
        c = self.session(source=FABRIKAM_IP)
        self.mail(c, "alice@fabrikam.test")
        self.assertRcpt(c, "x@victim.example", 250)
        self.data(c, message(control, "alice@fabrikam.test", ["x@victim.example"]))
        self.wait_sink(control, ["x@victim.example"])

    def test_dns_makes_the_sink_the_mx_of_the_victim(self):
        # The premise of the matrix: a relay by MX would reach the sink.
        for name in ("victim.example", IDN_A, "contoso.test.victim.example"):
            with self.subTest(name=name):
                ans = peers.dns_query(ENV.dns.server, name, "MX")
                self.assertEqual([(t, (v[0], v[1].rstrip("."))) for t, v in ans.answers],
                                 [("MX", (10, "mx.victim.example"))])
        self.assertEqual(peers.dns_query(ENV.dns.server, "mx.victim.example", "A").answers, [("A", self.sink.host)])

    def test_d10_routing_tricks_in_a_relay_domain_go_to_its_connector_unchanged(self):
        # security catalogue D10 (allow_untrusted_routing=no): relay.fabrikam.test is external_relay,
        # so any local part is accepted -- and handed to fabrikam's connector exactly as written,
        # never routed by the %, ! or quoted @ inside it.
        token = new_token("d10")
        rcpts = ["x%target.example@relay.fabrikam.test", "target.example!y@relay.fabrikam.test",
                 '"z@target.example"@relay.fabrikam.test']
        c = self.session()
        self.mail(c, "someone@elsewhere.example")
        for r in rcpts:
            self.assertRcpt(c, r, 250)
        self.assertRcpt(c, "x@target.example", RELAY_DENIED)
        self.data(c, message(token, "someone@elsewhere.example", ["list@relay.fabrikam.test"]))
        self.wait_sink(token, rcpts)
        time.sleep(0.5)
        got = [r for m in self.sink_messages(token) for r in m["rcpts"]]
        self.assertEqual(sorted(got), sorted(rcpts))

    def test_d08_partner_connector_gives_no_relay(self):
        # security catalogue D08 ("every connector type") / R-IN-5: a partner connector is not
        # on_premises: its sender domain and IP reach the organization, never the internet.
        token = new_token("partner")
        for sender in ("x@partner.example", "nina@northwind.test", "david@contoso.test"):
            with self.subTest(sender=sender):
                c = self.session(source=PARTNER_IP)
                self.mail(c, sender)
                self.assertRcpt(c, "bob@outside.example", RELAY_DENIED)
                self.assertRcpt(c, "x@victim.example", RELAY_DENIED)
                self.assertRcpt(c, "nina@northwind.test", 250)
                self.assertRcpt(c, "david@contoso.test", 250)   # not subject to 5.7.64 either
        self.assert_sink_never_saw(token, settle=0)

    def test_i06_claimed_identities_give_no_relay(self):
        # security catalogue I06 and D01: XCLIENT / XFORWARD / a PROXY line from an unlisted client,
        # an EHLO name of the organization, and an AUTH= parameter on MAIL FROM without AUTH change
        # nothing: the relay is still refused.
        c = harness.SmtpClient(self.server.address, self.server.port, source=OUTSIDER_IP)
        self.addCleanup(c.close)
        self.assertReply(c.greeting(), 220)
        r = c.command(f"PROXY TCP4 {FABRIKAM_IP} {self.server.address} 40000 {self.server.port}")
        self.assertGreaterEqual(r.code, 500, r.raw)
        self.assertReply(c.command("EHLO mail.contoso.test"), 250)
        for cmd in (f"XCLIENT ADDR={FABRIKAM_IP} NAME=mail.fabrikam.test", f"XFORWARD ADDR={FABRIKAM_IP}"):
            with self.subTest(cmd=cmd):
                r = c.command(cmd)
                self.assertGreaterEqual(r.code, 500, r.raw)
        self.assertReply(c.command("MAIL FROM:<alice@fabrikam.test> AUTH=<alice@fabrikam.test>"), 250)
        self.assertRcpt(c, "bob@outside.example", RELAY_DENIED)
        self.assertRcpt(c, "Alex@fabrikam.test", 250)
        self.assertRcpt(c, "david@contoso.test", 250)   # no connector: no 5.7.64 either

    def test_d05_source_route_to_a_local_mailbox_is_delivered_there(self):
        # security catalogue D05: the route is ignored, the mailbox (not the route) decides.
        token = new_token("route-local")
        c = self.session()
        self.mail(c, "someone@victim.example")
        self.assertRcpt(c, "<@victim.example:julie@contoso.test>", 250)
        self.data(c, message(token, "someone@victim.example", ["julie@contoso.test"]))
        self.local_copies("contoso", "julie@contoso.test", token)
        self.assert_sink_never_saw(token, settle=0.5)

    def test_i03_certificates_that_do_not_match_give_no_relay(self):
        # security catalogue I03 / R-IN-2: a certificate from an untrusted CA (or self-signed, or
        # expired) that carries the connector's name, a name two labels below "*.contoso.test", and a name only a
        # disabled connector (of another organization) lists: no connector matched, so 5.7.54 --
        # whatever the sender.
        token = new_token("cert-nomatch")
        for cert in ("rogue mail.contoso.test", "self-signed mail.contoso.test", "expired mail.contoso.test",
                     "a.b.contoso.test", "old.northwind.test"):
            for sender in ("stranger@elsewhere.example", "david@contoso.test", "nina@northwind.test"):
                with self.subTest(cert=cert, sender=sender):
                    c = self.session(cert=cert)
                    self.mail(c, sender)
                    self.assertRcpt(c, "x@victim.example", RELAY_DENIED)
                    self.assertRcpt(c, "bob@outside.example", RELAY_DENIED)
                    self.assertRcpt(c, "david@contoso.test", 250)   # inbound mail still works
                    self.assertReply(c.command("RSET"), 250)
        # The same without any certificate, inside TLS.
        c = self.session(tls=True)
        self.mail(c, "david@contoso.test")
        self.assertRcpt(c, "x@victim.example", RELAY_DENIED)
        self.assert_sink_never_saw(token, settle=0)


# ----------------------------------------------------------------------------------------------------
# 2. Attribution by client IP


class IpAttributionTest(RelayTestCase):
    """R-IN-2, R-IN-3 (2) and (3), seed 004 Point 3, with clients bound to 127.0.55.7 / 127.0.56.7."""

    def test_sender_of_the_organization_relays_from_its_ip(self):
        # R-IN-3 (2) / R-IN-4; security catalogue D08 (the connector type that may relay does, nothing else).
        token = new_token("ip-relay")
        c = self.session(source=FABRIKAM_IP)
        self.mail(c, "alice@fabrikam.test")
        self.assertRcpt(c, "bob@outside.example", 250)
        self.assertRcpt(c, "carol@partner.example", 250)     # originating: several domains are fine
        self.assertRcpt(c, "Alex@fabrikam.test", 250)
        self.data(c, message(token, "alice@fabrikam.test", ["bob@outside.example", "carol@partner.example"]))
        self.wait_sink(token, ["bob@outside.example", "carol@partner.example"])
        self.local_copies("fabrikam", "alex@fabrikam.test", token)
        # Domains compare case-insensitively (R-DOM-1).
        token2 = new_token("ip-relay-case")
        c = self.session(source="127.0.55.201")
        self.mail(c, "ALICE@FABRIKAM-SALES.TEST")
        self.assertRcpt(c, "bob@outside.example", 250)
        self.data(c, message(token2, "ALICE@FABRIKAM-SALES.TEST", ["bob@outside.example"]))
        self.wait_sink(token2, ["bob@outside.example"])

    def test_foreign_sender_second_recipient_domain_gets_5_7_64(self):
        # R-IN-3 (3) and seed 004 Point 3 note 2; security catalogue I01-like (attribution from the
        # recipient gives no relay right).
        token = new_token("ip-multidomain")
        c = self.session(source=FABRIKAM_IP)
        self.mail(c, "stranger@elsewhere.example")
        self.assertRcpt(c, "Alex@fabrikam.test", 250)
        self.assertRcpt(c, "sales@fabrikam-sales.test", TENANT)   # same organization, second domain
        self.assertRcpt(c, "david@contoso.test", TENANT)          # another organization's domain
        self.assertRcpt(c, "bob@outside.example", TENANT)         # outside: no relay right at all
        self.assertRcpt(c, "alice@fabrikam.test", 250)            # the first domain again is fine
        self.data(c, message(token, "stranger@elsewhere.example", ["Alex@fabrikam.test"]))
        self.local_copies("fabrikam", "alex@fabrikam.test", token)
        self.local_copies("fabrikam", "alice@fabrikam.test", token)
        self.assertEqual(self.server.mailbox_files("fabrikam", "sales@fabrikam-sales.test"), [])
        self.assert_sink_never_saw(token, settle=0.5)
        # The other order: the first domain attributes, whichever it is.
        c = self.session(source=FABRIKAM_IP)
        self.mail(c, "stranger@elsewhere.example")
        self.assertRcpt(c, "sales@fabrikam-sales.test", 250)
        self.assertRcpt(c, "Alex@fabrikam.test", TENANT)
        # A new transaction starts over (RSET forgets the first domain).
        self.assertReply(c.command("RSET"), 250)
        self.mail(c, "stranger@elsewhere.example")
        self.assertRcpt(c, "Alex@fabrikam.test", 250)

    def test_foreign_and_null_senders_from_the_connector_ip_cannot_relay(self):
        # R-IN-3; catalogue D09/I12-like: an IP attributed to fabrikam relays only for fabrikam's
        # accepted sender domains -- not for contoso's, not for a subdomain, not for <>.
        for sender in ("stranger@elsewhere.example", "david@contoso.test", "x@sub.fabrikam.test",
                       "x@fabrikam.test.victim.example", ""):
            with self.subTest(sender=sender):
                c = self.session(source=FABRIKAM_IP)
                self.mail(c, sender)
                r = self.assertRcpt(c, "bob@outside.example", (550, "5.7.64", None))
                self.assertIn("TenantAttribution; Relay Access Denied", r.text)

    def test_on_premises_require_tls_matches_tls_connections_only(self):
        # R-IN-6 last sentence / R-IN-2: an on_premises connector with require_tls: true does not
        # match a plain-text connection from its IPs (so no relay), and does match after STARTTLS.
        c = self.session(source=FABRIKAM_TLS_IP)
        self.mail(c, "alice@fabrikam.test")
        self.assertRcpt(c, "bob@outside.example", RELAY_DENIED)
        token = new_token("onprem-tls")
        c = self.session(source=FABRIKAM_TLS_IP, tls=True)
        self.mail(c, "alice@fabrikam.test")
        self.assertRcpt(c, "bob@outside.example", 250)
        self.data(c, message(token, "alice@fabrikam.test", ["bob@outside.example"]))
        self.wait_sink(token, ["bob@outside.example"])

    def test_no_connector_ip_with_tenant_sender_gets_5_7_54(self):
        # R-IN-5; catalogue D01, I07/I12-like: sender spoofing gives no relay right.
        token = new_token("ip-outsider")
        c = self.session(source=OUTSIDER_IP)
        self.mail(c, "alice@fabrikam.test")
        self.assertRcpt(c, "bob@outside.example", RELAY_DENIED)
        # Ordinary inbound mail to several accepted domains is not subject to the 5.7.64 rule.
        self.assertRcpt(c, "Alex@fabrikam.test", 250)
        self.assertRcpt(c, "sales@fabrikam-sales.test", 250)
        self.assertRcpt(c, "david@contoso.test", 250)
        self.data(c, message(token, "alice@fabrikam.test", ["Alex@fabrikam.test"]))
        self.local_copies("fabrikam", "alex@fabrikam.test", token)
        self.local_copies("fabrikam", "sales@fabrikam-sales.test", token)
        self.local_copies("contoso", "david@contoso.test", token)
        self.assert_sink_never_saw(token, settle=0.5)


# ----------------------------------------------------------------------------------------------------
# 3. Certificate connectors


class CertificateConnectorTest(RelayTestCase):
    """R-IN-2, R-IN-3 (1), ATTR36 (exchange-semantics §5.1)."""

    def test_connector_certificate_relays_anywhere_with_any_sender(self):
        # R-IN-3 (1): CN or SAN mail.contoso.test / gw.contoso.test matches "*.contoso.test" and
        # contoso.test is accepted -> may relay anywhere, whatever the sender.
        for cert in ("mail.contoso.test", "san-only"):
            with self.subTest(cert=cert):
                token = new_token("cert-relay")
                c = self.session(cert=cert)
                self.mail(c, "stranger@elsewhere.example")
                self.assertRcpt(c, "bob@outside.example", 250)
                self.assertRcpt(c, "carol@partner.example", 250)
                self.assertRcpt(c, "nina@northwind.test", 250)   # another tenant: pass-through (R-IN-4)
                self.data(c, message(token, "stranger@elsewhere.example",
                                     ["bob@outside.example", "carol@partner.example"]))
                self.wait_sink(token, ["bob@outside.example", "carol@partner.example"])
                self.local_copies("northwind", "nina@northwind.test", token)
                # the null sender too (on-premises NDRs to the internet, exchange-semantics §5.1)
                token = new_token("cert-relay-null")
                c = self.session(cert=cert)
                self.mail(c, "")
                self.assertRcpt(c, "bob@outside.example", 250)
                self.data(c, message(token, "", ["bob@outside.example"]))
                self.wait_sink(token, ["bob@outside.example"])

    def test_attr36_certificate_domain_not_accepted(self):
        # R-IN-3 ATTR36 (both forms of S-ATTR36): "mail.eu.contoso.test" matches "*.eu.contoso.test"
        # but its immediate parent eu.contoso.test is not accepted; "relay.northwind-gw.test" is
        # northwind's connector name but northwind-gw.test is not northwind's domain.
        for cert, org_sender in (("mail.eu.contoso.test", "julie@contoso.test"),
                                 ("relay.northwind-gw.test", "nina@northwind.test")):
            with self.subTest(cert=cert, sender="foreign"):
                c = self.session(cert=cert)
                self.mail(c, "stranger@elsewhere.example")
                self.assertRcpt(c, "bob@outside.example", ATTR36)
                self.assertRcpt(c, "x@victim.example", ATTR36)
            with self.subTest(cert=cert, sender="null"):
                c = self.session(cert=cert)
                self.mail(c, "")
                self.assertRcpt(c, "bob@outside.example", ATTR36)
            with self.subTest(cert=cert, sender="the organization's own"):
                # fall through to (2): the MAIL FROM domain is accepted by the connector's organization
                token = new_token("attr36-mailfrom")
                c = self.session(cert=cert)
                self.mail(c, org_sender)
                self.assertRcpt(c, "bob@outside.example", 250)
                self.data(c, message(token, org_sender, ["bob@outside.example"]))
                self.wait_sink(token, ["bob@outside.example"])
            with self.subTest(cert=cert, sender="foreign, to the organization"):
                # fall through to (3): one accepted recipient domain is accepted, a second one is not
                token = new_token("attr36-rcpt")
                c = self.session(cert=cert)
                self.mail(c, "stranger@elsewhere.example")
                local = org_sender
                self.assertRcpt(c, local, 250)
                self.assertRcpt(c, "Alex@fabrikam.test", (550, "5.7.64", None))
                self.data(c, message(token, "stranger@elsewhere.example", [local]))
                self.local_copies(local.split("@")[1].split(".")[0], local, token)

    def test_two_labels_below_the_wildcard_does_not_match(self):
        # R-IN-2 "wildcards honoured": "*.contoso.test" covers one label, not a.b.contoso.test.
        c = self.session(cert="a.b.contoso.test")
        self.mail(c, "stranger@elsewhere.example")
        self.assertRcpt(c, "bob@outside.example", RELAY_DENIED)
        self.assertRcpt(c, "david@contoso.test", 250)
        self.assertRcpt(c, "Alex@fabrikam.test", 250)    # no connector: not subject to 5.7.64


# ----------------------------------------------------------------------------------------------------
# 4. Header firewall


FORGED = [
    "X-MailFlow-Organization-AuthAs: Internal",
    "x-mailflow-organization-id: fabrikam",
    "X-MailFlow-Organization-Custom: forged-{token}",
    "X-MAILFLOW-ORGANIZATION-FOLDED: first",
    "\tsecond-line-{token}",
    "X-MailFlow-Organizational: not-in-the-family-{token}",
    "X-MailFlow-Other: kept-{token}",
]


class HeaderFirewallTest(RelayTestCase):
    """R-IN-8; security catalogue I05 and reference §6.2 rule 6."""

    def send_forged(self, token, sender, rcpt, **session):
        c = self.session(**session)
        self.mail(c, sender)
        self.assertRcpt(c, rcpt, 250)
        headers = [h.format(token=token) for h in FORGED]
        self.data(c, message(token, sender, [rcpt], headers,
                             body_lines=["X-MailFlow-Organization-AuthAs: Internal (body text, not a header)"]))

    def headers_of(self, org, address, token):
        raw = self.local_copies(org, address, token)[0]
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
        return msg, head.decode("utf-8", "replace"), body.decode("utf-8", "replace")

    @staticmethod
    def values(msg, name):
        return [" ".join(str(v).split()) for v in (msg.get_all(name) or [])]

    def test_i05_unattributed_client_loses_forged_organization_headers(self):
        token = new_token("fw-anon")
        self.send_forged(token, "stranger@elsewhere.example", "david@contoso.test")
        msg, head, body = self.headers_of("contoso", "david@contoso.test", token)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-AuthAs"), ["Anonymous"], head)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-Id"), ["contoso"], head)
        self.assertEqual(msg.get_all("X-MailFlow-Organization-Custom"), None, head)
        self.assertEqual(msg.get_all("X-MailFlow-Organization-Folded"), None, head)
        self.assertNotIn(f"second-line-{token}", head, "the folded continuation of a removed field stayed")
        self.assertNotIn(f"forged-{token}", head)
        # other fields, and the body, are untouched
        self.assertIn(f"not-in-the-family-{token}", self.values(msg, "X-MailFlow-Organizational"))
        self.assertIn(f"kept-{token}", self.values(msg, "X-MailFlow-Other"))
        self.assertIn("X-MailFlow-Organization-AuthAs: Internal (body text, not a header)", body)

    def test_certificate_connector_keeps_organization_headers_and_stamps_internal(self):
        token = new_token("fw-cert")
        self.send_forged(token, "stranger@elsewhere.example", "david@contoso.test", cert="mail.contoso.test")
        msg, head, _ = self.headers_of("contoso", "david@contoso.test", token)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-AuthAs"), ["Internal"], head)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-Id"), ["contoso"], head)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-Custom"), [f"forged-{token}"], head)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-Folded"), [f"first second-line-{token}"], head)
        self.assertIn(f"kept-{token}", self.values(msg, "X-MailFlow-Other"))

    def test_ip_connector_keeps_organization_headers(self):
        # From fabrikam's IP with a fabrikam sender: originating (Internal), foreign fields kept.
        token = new_token("fw-ip")
        self.send_forged(token, "alice@fabrikam.test", "Alex@fabrikam.test", source=FABRIKAM_IP)
        msg, head, _ = self.headers_of("fabrikam", "alex@fabrikam.test", token)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-AuthAs"), ["Internal"], head)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-Id"), ["fabrikam"], head)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-Custom"), [f"forged-{token}"], head)
        # The same IP with a foreign sender: still a matched on_premises connector (fields kept),
        # but not originating, and the service's own stamps replace the forged ones.
        token = new_token("fw-ip-foreign")
        self.send_forged(token, "stranger@elsewhere.example", "Alex@fabrikam.test", source=FABRIKAM_IP)
        msg, head, _ = self.headers_of("fabrikam", "alex@fabrikam.test", token)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-AuthAs"), ["Anonymous"], head)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-Id"), ["fabrikam"], head)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-Custom"), [f"forged-{token}"], head)

    def test_partner_connector_loses_organization_headers(self):
        # R-IN-8: only on_premises connectors are trusted with the markers.
        token = new_token("fw-partner")
        self.send_forged(token, "x@partner.example", "nina@northwind.test", source=PARTNER_IP)
        msg, head, _ = self.headers_of("northwind", "nina@northwind.test", token)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-AuthAs"), ["Anonymous"], head)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-Id"), ["northwind"], head)
        self.assertEqual(msg.get_all("X-MailFlow-Organization-Custom"), None, head)

    def test_marker_hidden_behind_a_bare_lf_is_not_delivered(self):
        # R-IN-8 x catalogue B: the firewall ends lines at CRLF only; a field hidden behind a bare LF
        # would become a header line for a Maildir reader. Such content is refused (550 5.6.11,
        # test_smuggling.py's contract), so the forged marker never lands anywhere.
        token = new_token("fw-barelf")
        c = self.session()
        self.mail(c, "stranger@elsewhere.example")
        self.assertRcpt(c, "david@contoso.test", 250)
        self.assertReply(c.command("DATA"), 354)
        c.send(f"From: <s@elsewhere.example>\r\nSubject: {token}\r\nX-Innocent: a\n"
               f"X-MailFlow-Organization-AuthAs: Internal\r\n\r\nbody {token}\r\n.\r\n")
        self.assertReply(c.read_reply(30), 550, "5.6.11")
        time.sleep(0.5)
        self.assertEqual(self.server.wait_for_messages("contoso", "david@contoso.test", token, timeout=0.5), [])

    def test_ndr_sent_outside_carries_no_organization_headers(self):
        # R-IN-8 last sentence (exchange-semantics §6: the DSN copy loses org headers): a message
        # relayed through the certificate connector for an outside sender is refused by the next hop;
        # the NDR goes back outside (to the sink, the MX of elsewhere.example) and its copy of the
        # original headers has no X-MailFlow-Organization-* field, forged or stamped.
        token = new_token("fw-ndr")
        rcpt = f"ndr-{token}@outside.example"
        self.sink.set_override(f"rcpt:{rcpt.lower()}", "550 5.1.1 No such user here")
        self.addCleanup(self.sink.set_override, f"rcpt:{rcpt.lower()}", None)
        sender = f"ext-{token}@elsewhere.example"
        c = self.session(cert="mail.contoso.test")
        self.mail(c, sender)
        self.assertRcpt(c, rcpt, 250)
        headers = [h.format(token=token) for h in FORGED]
        self.data(c, message(token, sender, [rcpt], headers))
        ok = self.sink.wait_for(lambda s: any(m["mail_from"] == "" and sender in m["rcpts"] for m in s.messages), 20)
        self.assertTrue(ok, "no NDR reached the sink")
        ndr = next(m for m in self.sink.messages if m["mail_from"] == "" and sender in m["rcpts"])
        msg = email.message_from_bytes(ndr["data"], policy=email.policy.default)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        originals = [p for p in msg.walk() if p.get_content_type() in ("text/rfc822-headers", "message/rfc822")]
        self.assertTrue(originals, "the NDR has no copy of the original headers")
        text = "".join(p.as_string() for p in originals)
        self.assertIn(token, text, "the original headers are not the refused message's")
        self.assertNotRegex(text, r"(?im)^x-mailflow-organization-", "internal markers in the NDR sent outside")
        self.assertIn(f"kept-{token}", text)   # only the family is removed

    def test_untrusted_certificate_loses_organization_headers(self):
        # I03 + I05: a rogue certificate with the connector's name is an anonymous client.
        token = new_token("fw-rogue")
        self.send_forged(token, "david@contoso.test", "david@contoso.test", cert="rogue mail.contoso.test")
        msg, head, _ = self.headers_of("contoso", "david@contoso.test", token)
        self.assertEqual(self.values(msg, "X-MailFlow-Organization-AuthAs"), ["Anonymous"], head)
        self.assertEqual(msg.get_all("X-MailFlow-Organization-Custom"), None, head)


# ----------------------------------------------------------------------------------------------------
# 5. Tenant isolation


class TenantIsolationTest(RelayTestCase):
    """R-IN-3, R-IN-4; security catalogue I01-I05, reference §6.2 rules 1-2."""

    def test_ip_of_one_organization_to_another_organizations_mailbox_passes_through(self):
        # R-IN-4: fabrikam-originated mail to contoso's and northwind's mailboxes is accepted and
        # delivered to them.
        token = new_token("pass-through")
        c = self.session(source=FABRIKAM_IP)
        self.mail(c, "alice@fabrikam.test")
        self.assertRcpt(c, "david@contoso.test", 250)
        self.assertRcpt(c, "nina@northwind.test", 250)
        self.assertRcpt(c, "nobody@contoso.test", UNKNOWN)   # the directory still decides (R-DOM-2)
        self.data(c, message(token, "alice@fabrikam.test", ["david@contoso.test", "nina@northwind.test"]))
        self.local_copies("contoso", "david@contoso.test", token)
        self.local_copies("northwind", "nina@northwind.test", token)
        self.assert_sink_never_saw(token, settle=0.5)

    # Regression test (tenant isolation): internet mail for recipients of two organizations was once
    # handled entirely by the first recipient's organization (its rules ran on the other tenant's
    # recipient, whose copy carried the wrong X-MailFlow-Organization-Id).
    def test_internet_mail_to_two_organizations_is_not_handled_by_the_first_ones_rules(self):
        # R-IN-3 "no connector matched: attributed by its recipient's accepted domain", R-RULE-1
        # (an organization's rules run on the organization's messages), reference §6.2 rule 1 and
        # catalogue I10 (one tenant's processing never reaches another tenant's mail): internet mail
        # to Alex@fabrikam.test and david@contoso.test is inbound mail of BOTH organizations. David's
        # copy is contoso's: contoso's rule marks it, fabrikam's rule (redirect contoso recipients to
        # fabrikam's spy mailbox) must not touch it -- whichever recipient comes first.
        for order in (["Alex@fabrikam.test", "david@contoso.test"], ["david@contoso.test", "Alex@fabrikam.test"]):
            with self.subTest(first=order[0]):
                token = new_token("isolation")
                c = self.session()
                self.mail(c, "newsletter@elsewhere.example")
                for r in order:
                    self.assertRcpt(c, r, 250)
                self.data(c, message(token, "newsletter@elsewhere.example", order, subject=PROBE))
                alex = self.server.wait_for_messages("fabrikam", "alex@fabrikam.test", token)
                self.assertEqual(len(alex), 1, "Alex's copy")
                david = self.server.wait_for_messages("contoso", "david@contoso.test", token, timeout=5)
                spy = self.server.mailbox_files("fabrikam", "spy@fabrikam.test")
                self.assertEqual([m for m in spy if token.encode() in m], [],
                                 "fabrikam's rule redirected contoso's recipient to fabrikam's mailbox")
                self.assertEqual(len(david), 1, "David's copy")
                dmsg = email.message_from_bytes(david[0], policy=email.policy.compat32)
                self.assertEqual(dmsg.get_all("X-Contoso-Rule"), ["ran"], "contoso's rule did not run on its mail")
                self.assertEqual(dmsg.get_all("X-MailFlow-Organization-Id"), ["contoso"])
                amsg = email.message_from_bytes(alex[0], policy=email.policy.compat32)
                self.assertEqual(amsg.get_all("X-Contoso-Rule"), None, "contoso's rule ran on fabrikam's copy")
                self.assertEqual(amsg.get_all("X-MailFlow-Organization-Id"), ["fabrikam"])

    def test_i01_ip_of_one_organization_gives_no_relay_for_another_organizations_sender(self):
        # fabrikam's IP with contoso's (or northwind's) sender domain: not fabrikam's accepted domain,
        # so no relay (catalogue I01 / I12: the channel decides, a sender address proves nothing).
        for sender in ("david@contoso.test", "nina@northwind.test"):
            with self.subTest(sender=sender):
                c = self.session(source=FABRIKAM_IP)
                self.mail(c, sender)
                self.assertRcpt(c, "bob@outside.example", (550, "5.7.64", None))

    def test_i03_certificate_configured_only_in_another_organization(self):
        # northwind's certificate names ("relay.northwind-gw.test" with a domain northwind does not
        # accept, "old.northwind.test" on a disabled connector) must not borrow contoso's or
        # fabrikam's connectors: a contoso or fabrikam sender gets no relay through them.
        cases = [("relay.northwind-gw.test", "david@contoso.test", ATTR36),
                 ("relay.northwind-gw.test", "alice@fabrikam.test", ATTR36),
                 ("old.northwind.test", "david@contoso.test", RELAY_DENIED),
                 ("old.northwind.test", "alice@fabrikam.test", RELAY_DENIED)]
        for cert, sender, expected in cases:
            with self.subTest(cert=cert, sender=sender):
                c = self.session(cert=cert)
                self.mail(c, sender)
                self.assertRcpt(c, "bob@outside.example", expected)

    def test_contoso_certificate_from_fabrikam_ip(self):
        # Both connectors match: the certificate one comes first (R-IN-3 order) and relays as contoso,
        # whatever the sender; the IP alone would not have let this sender relay.
        token = new_token("cert-and-ip")
        c = self.session(source="127.0.55.77", cert="mail.contoso.test")
        self.mail(c, "stranger@elsewhere.example")
        self.assertRcpt(c, "bob@outside.example", 250)
        self.data(c, message(token, "stranger@elsewhere.example", ["bob@outside.example"]))
        self.wait_sink(token, ["bob@outside.example"])

    def test_i02_config_check_refuses_shared_ranges_and_certificate_names(self):
        # R-IN-3 config check; catalogue I02.
        def org(name, domain, inbound):
            return {"name": name, "accepted_domains": [{"domain": domain, "type": "authoritative"}],
                    "recipients": [{"type": "mailbox", "address": f"u@{domain}"}],
                    "inbound_connectors": [dict(inbound, name=f"{name} on-prem", connector_type="on_premises")]}
        cases = [
            ("overlapping IP ranges", {"sender_ip_addresses": ["127.0.55.0/24"]},
             {"sender_ip_addresses": ["127.0.55.128/25"]}, r"overlaps"),
            ("same IPv6 address", {"sender_ip_addresses": ["2001:db8::1"]},
             {"sender_ip_addresses": ["2001:db8::/64"]}, r"overlaps"),
            ("same certificate name", {"tls_sender_certificate_name": "*.shared.test"},
             {"tls_sender_certificate_name": "*.shared.test"}, r"already used"),
        ]
        tmp = tempfile.TemporaryDirectory(prefix="mailflow-relay-check-")
        self.addCleanup(tmp.cleanup)
        for what, a, b, rx in cases:
            with self.subTest(what):
                cfg = harness.build_config("127.0.0.1", 2525, organizations=[org("a", "a.test", a),
                                                                             org("b", "b.test", b)])
                path = Path(tmp.name) / "mailflow.yaml"
                path.write_text("\n".join(harness.to_yaml(cfg)) + "\n")
                p = subprocess.run([harness.binary(), "check", "--config", str(path)], capture_output=True,
                                   text=True, timeout=30, stdin=subprocess.DEVNULL)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertRegex(p.stdout + p.stderr, rx)


# ----------------------------------------------------------------------------------------------------
# 6. `mailflow route` agrees with the live server


class RouteDryRunAgreesTest(RelayTestCase):
    """SPEC §5 `mailflow route`: the SMTP replies it predicts are the ones a real session gets."""

    def dry_run(self, client_ip, sender, rcpts, cert_name=None):
        cmd = [harness.binary(), "route", "--config", str(self.server.config_path), "--client-ip", client_ip,
               "--from", sender, "--to", ",".join(rcpts), "--json"]
        if cert_name:
            cmd += ["--tls-cert-name", cert_name]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        out = json.loads(p.stdout)
        return [r["reply"] for r in out["smtp"]["rcpt"]], out

    def live(self, source, sender, rcpts, cert=None):
        c = self.session(source=source, cert=cert)
        self.mail(c, sender)
        replies = [c.command(f"RCPT TO:<{r}>") for r in rcpts]
        self.assertReply(c.command("RSET"), 250)
        return replies

    def compare(self, source, sender, rcpts, cert=None, cert_name=None, expected=None):
        live = self.live(source, sender, rcpts, cert)
        dry, out = self.dry_run(source, sender, rcpts, cert_name)
        self.assertEqual(len(dry), len(live), out)
        for rcpt, l, d in zip(rcpts, live, dry):
            with self.subTest(rcpt=rcpt):
                m = re.match(r"(\d{3})[ -](\d\.\d{1,3}\.\d{1,3})?\s*(.*)", d)
                self.assertIsNotNone(m, d)
                self.assertEqual((l.code, l.enhanced), (int(m.group(1)), m.group(2)),
                                 f"live {l.first_line!r} vs route {d!r}")
                if l.code >= 400:
                    self.assertEqual(l.first_line, d, "refusal text differs between server and dry run")
        if expected is not None:
            self.assertEqual([r.code if r.code == 250 else (r.code, r.enhanced) for r in live], expected,
                             [r.first_line for r in live])
        return live, out

    def test_dry_run_and_server_agree(self):
        outsider = harness.new_loopback_address()
        cases = [
            # (what, source, sender, rcpts, cert key, cert name for route, expected live replies)
            ("IP, foreign sender, two fabrikam domains", FABRIKAM_IP, "stranger@elsewhere.example",
             ["Alex@fabrikam.test", "sales@fabrikam-sales.test"], None, None, [250, (550, "5.7.64")]),
            ("IP, organization sender", FABRIKAM_IP, "alice@fabrikam.test",
             ["bob@outside.example", "sales@fabrikam-sales.test"], None, None, [250, 250]),
            ("IP, null sender", FABRIKAM_IP, "", ["bob@outside.example"], None, None, [(550, "5.7.64")]),
            ("no connector, tenant sender", OUTSIDER_IP, "alice@fabrikam.test",
             ["bob@outside.example", "Alex@fabrikam.test", "david@contoso.test", "nobody@contoso.test"],
             None, None, [(550, "5.7.54"), 250, 250, (550, "5.4.1")]),
            ("certificate, any sender", outsider, "stranger@elsewhere.example",
             ["bob@outside.example", "nina@northwind.test"], "mail.contoso.test", "mail.contoso.test", [250, 250]),
            ("certificate two labels below the wildcard", outsider, "stranger@elsewhere.example",
             ["bob@outside.example"], "a.b.contoso.test", "a.b.contoso.test", [(550, "5.7.54")]),
            ("ATTR36 certificate", outsider, "stranger@elsewhere.example",
             ["bob@outside.example"], "mail.eu.contoso.test", "mail.eu.contoso.test", [(550, "5.7.64")]),
            ("ATTR36 certificate, organization sender", outsider, "julie@contoso.test",
             ["bob@outside.example"], "mail.eu.contoso.test", "mail.eu.contoso.test", [250]),
        ]
        for what, source, sender, rcpts, cert, cert_name, expected in cases:
            with self.subTest(what):
                self.compare(source, sender, rcpts, cert, cert_name, expected)


if __name__ == "__main__":
    harness.main()
