#!/usr/bin/env python3
"""Partner connector restrictions (SPEC R-IN-6) and IP throttling (R-IN-7) against a real
`mailflow serve`, with clients bound to chosen 127.x.y.z source addresses and client certificates made
at test time (exchange-semantics §2 and §5.2; security catalogue I08: one tenant's settings never
refuse another tenant's mail).

Two servers:
  - `multi` (class PartnerRestrictions): organizations contoso and litware. contoso has partner
    connectors for fabrikam.test (require_tls, the default), woodgrove.test (restricted to
    127.0.61.0/24), tailspin.test (restricted to a certificate "*.tailspin.test") and its own
    on_premises servers at 127.0.62.0/24; litware has none. Partner settings are applied per
    recipient organization at RCPT.
  - `single` (class OneOrganization): one organization, so R-IN-6 answers at MAIL FROM as the SPEC
    says ("MAIL FROM before STARTTLS gets 451 5.7.3"); and the IP throttle (class Throttling) with
    max_messages_per_ip 5 in a 3 s window, an on_premises connector at 127.0.64.0/24 and a partner
    connector at 127.0.65.0/24 (connector-matched clients are never throttled).
"""

import ssl
import time
import unittest
from pathlib import Path

import harness
import peers
from harness import HOSTNAME, MailflowTestCase, make_message, new_token

STARTTLS_REQUIRED = (451, "5.7.3", "STARTTLS is required to send mail")
RESTRICTED = (550, "5.7.51",
              "TenantInboundAttribution; RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set")

WOODGROVE_IP = "127.0.61.7"
CONTOSO_ONPREM_IP = "127.0.62.7"
OUTSIDER_IP = "127.0.63.7"
THROTTLE_ONPREM_IP = "127.0.64.7"
THROTTLE_PARTNER_IP = "127.0.65.7"


def multi_orgs():
    return [
        {
            "name": "contoso",
            "accepted_domains": [{"domain": "contoso.test", "type": "authoritative"}],
            "recipients": [{"type": "mailbox", "address": "david@contoso.test"}],
            "inbound_connectors": [
                {"name": "Fabrikam", "connector_type": "partner", "sender_domains": ["fabrikam.test"]},
                {"name": "Woodgrove", "connector_type": "partner", "sender_domains": ["woodgrove.test"],
                 "require_tls": False, "restrict_domains_to_ip_addresses": True,
                 "sender_ip_addresses": ["127.0.61.0/24"]},
                {"name": "Tailspin", "connector_type": "partner", "sender_domains": ["tailspin.test"],
                 "require_tls": False, "restrict_domains_to_certificate": True,
                 "tls_sender_certificate_name": "*.tailspin.test"},
                {"name": "Contoso servers", "connector_type": "on_premises",
                 "sender_ip_addresses": ["127.0.62.0/24"]},
            ],
        },
        {
            "name": "litware",
            "accepted_domains": [{"domain": "litware.test", "type": "authoritative"}],
            "recipients": [{"type": "mailbox", "address": "lee@litware.test"}],
        },
    ]


def single_org():
    return [{
        "name": "contoso",
        "accepted_domains": [{"domain": "contoso.test", "type": "authoritative"}],
        "recipients": [{"type": "mailbox", "address": "david@contoso.test"}],
        "inbound_connectors": [
            {"name": "Fabrikam", "connector_type": "partner", "sender_domains": ["fabrikam.test"]},
            {"name": "Scanner partner", "connector_type": "partner", "sender_domains": ["scanner.test"],
             "require_tls": False, "sender_ip_addresses": ["127.0.65.0/24"]},
            {"name": "Contoso servers", "connector_type": "on_premises", "sender_ip_addresses": ["127.0.64.0/24"]},
        ],
    }]


class Base(MailflowTestCase):
    server = None

    def session(self, source, tls=False, cert=None):
        c = harness.SmtpClient(self.server.address, self.server.port, source=source)
        self.addCleanup(c.close)
        self.assertReply(c.greeting(), 220)
        self.assertReply(c.ehlo(), 250)
        if tls or cert is not None:
            ctx = ssl.create_default_context(cafile=str(harness.certificates().ca))
            if cert is not None:
                ctx.load_cert_chain(str(cert.chain), str(cert.key))
            self.assertReply(c.command("STARTTLS"), 220, "2.0.0")
            c.starttls(ctx, server_hostname=HOSTNAME)
            self.assertReply(c.ehlo(), 250)
        return c

    def deliver(self, c, sender, rcpt, org):
        """A whole transaction that must succeed and land in rcpt's mailbox."""
        token = new_token("partner")
        replies = c.send_mail(sender, [rcpt], make_message(token, sender=sender, to=rcpt))
        self.assertEqual([r.code for r in replies], [250, 250, 354, 250], [r.raw for r in replies])
        self.assertEqual(len(self.server.wait_for_messages(org, rcpt, token)), 1)


class PartnerRestrictions(Base):
    @classmethod
    def setUpClass(cls):
        ca = peers.make_ca("partner test CA")
        cls.good_cert = peers.make_cert("mx.tailspin.test", ["mx.tailspin.test"], ca)
        cls.other_cert = peers.make_cert("mx.elsewhere.test", ["mx.elsewhere.test"], ca)
        srv = harness.MailflowServer(tls=True, organizations=multi_orgs(), limits={"max_errors": 1000})
        # The server trusts the harness CA (its own chain) and the partner CA for client certificates.
        (srv.config_dir / "ca.pem").write_bytes(Path(harness.certificates().ca).read_bytes() + ca.cert.read_bytes())
        cls.addClassCleanup(srv.cleanup)
        cls.server = srv.start()

    def test_r_in_6_require_tls_refuses_plain_mail_for_its_own_organization_only(self):
        c = self.session(OUTSIDER_IP)
        self.assertReply(c.command("MAIL FROM:<a@fabrikam.test>"), 250)
        self.assertReply(c.command("RCPT TO:<david@contoso.test>"), *STARTTLS_REQUIRED)
        # catalogue I08: contoso's partner connector does not touch litware's mail.
        self.assertReply(c.command("RCPT TO:<lee@litware.test>"), 250, "2.1.5")

    def test_r_in_6_require_tls_is_satisfied_by_starttls(self):
        self.deliver(self.session(OUTSIDER_IP, tls=True), "a@fabrikam.test", "david@contoso.test", "contoso")

    def test_r_in_6_restrict_domains_to_ip_addresses(self):
        c = self.session(OUTSIDER_IP, tls=True)
        self.assertReply(c.command("MAIL FROM:<a@woodgrove.test>"), 250)
        self.assertReply(c.command("RCPT TO:<david@contoso.test>"), *RESTRICTED)
        # no harvesting: an unknown address gets the same refusal, not 5.4.1
        self.assertReply(c.command("RCPT TO:<nobody@contoso.test>"), *RESTRICTED)
        self.deliver(self.session(WOODGROVE_IP), "a@woodgrove.test", "david@contoso.test", "contoso")

    def test_r_in_6_restrict_domains_to_certificate(self):
        c = self.session(OUTSIDER_IP)
        self.assertReply(c.command("MAIL FROM:<a@tailspin.test>"), 250)
        self.assertReply(c.command("RCPT TO:<david@contoso.test>"), *RESTRICTED)  # plain text: no certificate
        c = self.session(OUTSIDER_IP, tls=True)
        self.assertReply(c.command("MAIL FROM:<a@tailspin.test>"), 250)
        self.assertReply(c.command("RCPT TO:<david@contoso.test>"), *RESTRICTED)
        c = self.session(OUTSIDER_IP, cert=self.other_cert)
        self.assertReply(c.command("MAIL FROM:<a@tailspin.test>"), 250)
        self.assertReply(c.command("RCPT TO:<david@contoso.test>"), *RESTRICTED)
        self.deliver(self.session(OUTSIDER_IP, cert=self.good_cert), "a@tailspin.test", "david@contoso.test", "contoso")

    def test_r_in_6_the_organizations_own_servers_are_not_partners(self):
        self.deliver(self.session(CONTOSO_ONPREM_IP), "a@woodgrove.test", "david@contoso.test", "contoso")

    def test_r_in_6_other_senders_are_not_restricted(self):
        self.deliver(self.session(OUTSIDER_IP), "a@example.org", "david@contoso.test", "contoso")

    def test_r_in_6_route_gives_the_same_answers(self):
        # `mailflow route` runs the same decision: the RCPT replies agree with the live session.
        import json
        import subprocess
        out = subprocess.run([harness.binary(), "route", "--config", str(self.server.config_path), "--json",
                              "--client-ip", OUTSIDER_IP, "--from", "a@fabrikam.test",
                              "--to", "david@contoso.test,lee@litware.test"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        rcpt = [r["reply"] for r in json.loads(out.stdout)["smtp"]["rcpt"]]
        self.assertEqual(rcpt, ["451 5.7.3 STARTTLS is required to send mail", "250 2.1.5 Recipient OK"])


class OneOrganization(Base):
    @classmethod
    def setUpClass(cls):
        srv = harness.MailflowServer(tls=True, organizations=single_org(), limits={"max_errors": 1000},
                                     service={"throttling": {"window": "3s", "max_messages_per_ip": 5}})
        cls.addClassCleanup(srv.cleanup)
        cls.server = srv.start()

    def test_r_in_6_mail_from_before_starttls_gets_451_5_7_3(self):
        c = self.session(harness.new_loopback_address())
        self.assertReply(c.command("MAIL FROM:<a@fabrikam.test>"), *STARTTLS_REQUIRED)
        # The session goes on: the same client may STARTTLS and try again.
        self.assertReply(c.command("STARTTLS"), 220, "2.0.0")
        c.starttls(ssl.create_default_context(cafile=str(harness.certificates().ca)), server_hostname=HOSTNAME)
        self.assertReply(c.ehlo(), 250)
        self.assertReply(c.command("MAIL FROM:<a@fabrikam.test>"), 250, "2.1.0")

    def test_r_in_7_an_unknown_ip_is_throttled_then_let_through_when_its_rate_falls(self):
        ip = harness.new_loopback_address()
        c = self.session(ip)
        for i in range(5):
            self.assertReply(c.command("MAIL FROM:<a@example.org>"), 250, "2.1.0", msg=f"message {i + 1}")
            self.assertReply(c.command("RSET"), 250)
        r = c.command("MAIL FROM:<a@example.org>")
        self.assertReply(r, 451, "4.7.500", f"Server busy, please try again later from [{ip}]")
        # A new connection from the same IP is throttled too; another IP is not.
        self.assertReply(self.session(ip).command("MAIL FROM:<a@example.org>"), 451, "4.7.500")
        self.deliver(self.session(harness.new_loopback_address()), "a@example.org", "david@contoso.test", "contoso")
        self.assertTrue(self.server.wait_for_log(r"event=throttle .*client=" + ip.replace(".", r"\.")))
        # Two windows later (3 s each) the client is welcome again.
        time.sleep(6.5)
        self.deliver(self.session(ip), "a@example.org", "david@contoso.test", "contoso")

    def test_r_in_7_connector_matched_clients_are_never_throttled(self):
        for ip, sender in ((THROTTLE_ONPREM_IP, "a@contoso.test"), (THROTTLE_PARTNER_IP, "a@scanner.test")):
            with self.subTest(ip=ip):
                c = self.session(ip)
                for i in range(12):
                    self.assertReply(c.command(f"MAIL FROM:<{sender}>"), 250, "2.1.0", msg=f"message {i + 1}")
                    self.assertReply(c.command("RSET"), 250)
                self.deliver(c, sender, "david@contoso.test", "contoso")


if __name__ == "__main__":
    harness.main()
