#!/usr/bin/env python3
"""`mailflow validate-connector NAME --to ADDR [--send] [--json]` against real peers (SPEC R-OUT-10).

No mailflow server runs here: each test writes a config whose outbound connector points at SMTP sinks
(peers.SmtpSink) on 127.x addresses sharing one port (service.remote_smtp_port), runs the command and
checks what it printed, its exit code (0 = some host accepted the recipient, 1 = none did or a user
error) and what the sinks saw. TLS certificates are made at test time (peers.make_ca/make_cert); MX
records come from dnsmasq on loopback (peers.DnsServer) when /usr/sbin/dnsmasq exists.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

import harness
import peers

RCPT = "alice@fabrikam.test"


def connector(name, hosts=None, **extra):
    c = {"name": name, "connector_type": "partner", "recipient_domains": ["fabrikam.test"]}
    if hosts is not None:
        c["smart_hosts"] = hosts
    c.update(extra)
    return c


class ValidateConnectorTest(harness.MailflowTestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="mailflow-vc-")
        self.addCleanup(self._tmp.cleanup)
        self.dir = Path(self._tmp.name)

    def write_config(self, connectors, port, *, dns=None, ca=None, cert=None, service=None):
        """A config with organization contoso holding `connectors`; `ca` (a peers CA) becomes
        service.tls.ca_bundle, `cert` (a peers Cert; default the harness server certificate) the
        service certificate, presented as client certificate on outbound TLS."""
        listen = harness.new_loopback_address()
        svc = {"remote_smtp_port": port}
        if dns is not None:
            svc["dns"] = {"servers": [dns.server]}
        if ca is not None:
            certs = harness.certificates()
            shutil.copy(cert.chain if cert else certs.server_cert, self.dir / "server.pem")
            shutil.copy(cert.key if cert else certs.server_key, self.dir / "server.key")
            shutil.copy(ca.cert, self.dir / "peers-ca.pem")
            svc["tls"] = {"certificate": "server.pem", "key": "server.key", "ca_bundle": "peers-ca.pem"}
        svc.update(service or {})
        org = {
            "name": "contoso",
            "accepted_domains": [{"domain": "contoso.test", "type": "authoritative"},
                                 {"domain": "fabrikam.test", "type": "external_relay"}],
            "recipients": [{"type": "mailbox", "address": "david@contoso.test"}],
            "outbound_connectors": connectors,
        }
        config = harness.build_config(listen, harness.free_port(listen), service=svc, organizations=[org])
        path = self.dir / "mailflow.yaml"
        path.write_text("\n".join(harness.to_yaml(config)) + "\n", encoding="utf-8")
        return path

    def run_vc(self, config, name, *extra, to=RCPT):
        proc = subprocess.run([harness.binary(), "validate-connector", name, "--to", to, "--config", str(config),
                               *extra], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=180)
        return proc

    def sink(self, **kw):
        s = peers.SmtpSink(**kw)
        self.addCleanup(s.stop)
        return s

    def assertRan(self, proc, code):
        self.assertEqual(proc.returncode, code, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")

    # -- smart hosts, host by host ------------------------------------------------------------------

    def test_first_host_refuses_second_accepts(self):
        hosts = [harness.new_loopback_address() for _ in range(2)]
        refused, good = peers.start_sinks(hosts, per_host={hosts[0]: {"refuse": True}})
        for s in (refused, good):
            self.addCleanup(s.stop)
        cfg = self.write_config([connector("to-fabrikam", hosts)], good.port)
        proc = self.run_vc(cfg, "to-fabrikam")
        self.assertRan(proc, 0)
        out = proc.stdout
        self.assertIn(f"host 1 of 2: {hosts[0]}:{good.port}", out)
        self.assertIn(f"FAIL  connect      {hosts[0]}:{good.port}: connection refused", out)
        self.assertIn(f"host 2 of 2: {hosts[1]}:{good.port}", out)
        self.assertRegex(out, r"ok    banner       220 ")
        self.assertRegex(out, r"ok    EHLO         250 .*extensions: .*PIPELINING")
        self.assertIn("ok    MAIL FROM    250 2.1.0 Ok", out)
        self.assertIn("ok    RCPT TO      250 2.1.5 Ok", out)
        self.assertIn("-     DATA         not sent", out)
        self.assertIn("-     QUIT         221", out)
        self.assertIn(f"summary: 1 of 2 hosts passed ({hosts[1]}:{good.port})", out)
        # The order of the report is the order of the hosts.
        self.assertLess(out.index("host 1 of 2"), out.index("host 2 of 2"))
        # Up to RCPT only: the sink saw MAIL and RCPT, never DATA, and received nothing.
        commands = [c.split()[0].upper() for c in good.commands]
        self.assertIn("RCPT", commands)
        self.assertNotIn("DATA", commands)
        self.assertEqual(good.messages, [])
        self.assertIn(f"MAIL FROM:<postmaster@{harness.HOSTNAME}>", " ".join(good.commands))

    def test_rcpt_550_fails_with_the_reply_shown(self):
        s = self.sink(reply_overrides={"rcpt": "550 5.1.1 <alice@fabrikam.test>: no such user"})
        cfg = self.write_config([connector("to-fabrikam", [s.host])], s.port)
        proc = self.run_vc(cfg, "to-fabrikam")
        self.assertRan(proc, 1)
        self.assertIn("FAIL  RCPT TO      550 5.1.1 <alice@fabrikam.test>: no such user", proc.stdout)
        self.assertIn("=> FAILED: RCPT TO: 550 5.1.1", proc.stdout)
        self.assertIn("summary: 0 of 1 host passed; the connector cannot deliver", proc.stdout)

    def test_every_host_is_reported_after_a_failure(self):
        hosts = [harness.new_loopback_address() for _ in range(3)]
        sinks = peers.start_sinks(hosts, per_host={hosts[0]: {"reply_overrides": {"greeting": "554 5.3.2 go away"}},
                                                   hosts[1]: {"reply_overrides": {"mail": "451 4.3.0 try later"}}})
        for s in sinks:
            self.addCleanup(s.stop)
        cfg = self.write_config([connector("to-fabrikam", hosts)], sinks[0].port)
        proc = self.run_vc(cfg, "to-fabrikam")
        self.assertRan(proc, 0)
        self.assertIn("FAIL  banner       554 5.3.2 go away", proc.stdout)
        self.assertIn("FAIL  MAIL FROM    451 4.3.0 try later", proc.stdout)
        self.assertIn(f"summary: 1 of 3 hosts passed ({hosts[2]}:{sinks[0].port})", proc.stdout)

    # -- TLS policy (R-OUT-9) -----------------------------------------------------------------------

    def test_domain_validation_with_matching_and_wrong_tls_domain(self):
        ca = peers.make_ca("validate-connector test CA")
        cert = peers.make_cert("mail.fabrikam.test", ca=ca)
        ours = peers.make_cert(harness.HOSTNAME, ca=ca)  # serverAuth + clientAuth
        s = self.sink(starttls=(cert.chain, cert.key), client_ca=ca.cert)
        cfg = self.write_config([connector("to-fabrikam", [s.host], tls_settings="domain_validation",
                                           tls_domain="*.fabrikam.test")], s.port, ca=ca, cert=ours)
        proc = self.run_vc(cfg, "to-fabrikam")
        self.assertRan(proc, 0)
        out = proc.stdout
        self.assertIn("ok    STARTTLS     220", out)
        self.assertRegex(out, r"ok    TLS          TLSv1\.[23], \S+")
        self.assertRegex(out, r"certificate  subject CN=mail\.fabrikam\.test; names mail\.fabrikam\.test; "
                              r"issuer CN=validate-connector test CA; chain trusted")
        self.assertIn("ok    TLS policy   domain_validation: certificate chain trusted; certificate name "
                      "mail.fabrikam.test matches tls_domain *.fabrikam.test: ok", out)
        self.assertIn("(after STARTTLS)", out)
        sessions = s.wait_for_sessions_ended()  # filled in at close, maybe after the client exited
        self.assertTrue(any(x["tls"] for x in sessions if x.get("helo")), sessions)
        mail_lines = [c for c in s.command_log if c["line"].upper().startswith("MAIL")]
        self.assertTrue(mail_lines and all(c["tls"] for c in mail_lines), mail_lines)
        # The service certificate is presented as client certificate, as delivery does (R-OUT-9).
        self.assertIn("is offered as client certificate", out)
        tls_sessions = [x for x in sessions if x["tls"]]
        self.assertTrue(tls_sessions and tls_sessions[0]["client_cert_subject"], sessions)

        # The same host with a tls_domain its certificate does not carry: reported, not passed, and
        # nothing is sent after the handshake (no plain-text fallback).
        cfg = self.write_config([connector("to-fabrikam", [s.host], tls_settings="domain_validation",
                                           tls_domain="other.example.test")], s.port, ca=ca)
        before = len(s.commands)
        proc = self.run_vc(cfg, "to-fabrikam")
        self.assertRan(proc, 1)
        self.assertIn("FAIL  TLS policy   domain_validation: certificate chain trusted; no certificate name "
                      "(mail.fabrikam.test) matches tls_domain other.example.test: failed (certificate name mismatch)",
                      proc.stdout)
        self.assertIn("=> FAILED: TLS policy:", proc.stdout)
        later = [c.split()[0].upper() for c in s.commands[before:]]
        self.assertNotIn("MAIL", later)

    def test_failed_handshake_under_opportunistic_reconnects_in_plain_text(self):  # as delivery does (H02)
        ca = peers.make_ca("validate-connector test CA")
        cert = peers.make_cert("mail.fabrikam.test", ca=ca)
        s = self.sink(starttls=(cert.chain, cert.key), drop_at="tls")
        cfg = self.write_config([connector("to-fabrikam", [s.host])], s.port)
        proc = self.run_vc(cfg, "to-fabrikam")
        self.assertRan(proc, 0)
        out = proc.stdout
        self.assertIn("FAIL  TLS          handshake failed", out)
        self.assertIn("-     TLS policy   opportunistic: TLS handshake failed", out)
        self.assertIn("-     reconnect    opportunistic TLS failed: connecting again without STARTTLS", out)
        self.assertIn("opportunistic: no STARTTLS on the retry: plain text, no TLS", out)
        self.assertIn("ok    RCPT TO      250", out)
        self.assertEqual(s.connections, 2)

    def test_untrusted_certificate_under_certificate_validation(self):
        ca = peers.make_ca("validate-connector test CA")
        self_signed = peers.make_cert("mail.fabrikam.test")  # no CA: self-signed
        s = self.sink(starttls=(self_signed.chain, self_signed.key))
        cfg = self.write_config([connector("to-fabrikam", [s.host], tls_settings="certificate_validation")],
                                s.port, ca=ca)
        proc = self.run_vc(cfg, "to-fabrikam")
        self.assertRan(proc, 1)
        self.assertRegex(proc.stdout, r"FAIL  TLS policy   certificate_validation: certificate not trusted \(.+\): "
                                      r"failed \(certificate not trusted\)")

    def test_no_starttls_opportunistic_passes_encryption_only_fails(self):
        s = self.sink()  # offers no STARTTLS
        cfg = self.write_config([connector("opp", [s.host]),
                                 connector("enc", [s.host], tls_settings="encryption_only",
                                           recipient_domains=["other.test"])], s.port)
        proc = self.run_vc(cfg, "opp")
        self.assertRan(proc, 0)
        self.assertIn("ok    TLS policy   opportunistic: STARTTLS not offered: plain text, no TLS: ok", proc.stdout)
        self.assertIn("ok    RCPT TO", proc.stdout)

        before = len(s.commands)
        proc = self.run_vc(cfg, "enc")
        self.assertRan(proc, 1)
        self.assertIn("FAIL  TLS policy   encryption_only: STARTTLS not offered but TLS is required: "
                      "failed (STARTTLS not offered)", proc.stdout)
        # The recipient domain is outside this connector's recipient_domains: said, validated anyway.
        self.assertIn("fabrikam.test is not in the connector's recipient_domains", proc.stdout)
        later = [c.split()[0].upper() for c in s.commands[before:]]
        self.assertNotIn("MAIL", later)

    # -- DATA only with --send ----------------------------------------------------------------------

    def test_send_performs_data_and_exactly_one_message_arrives(self):
        s = self.sink()
        source = harness.new_loopback_address()
        cfg = self.write_config([connector("to-fabrikam", [s.host])], s.port, service={"source_address": source})
        proc = self.run_vc(cfg, "to-fabrikam")
        self.assertRan(proc, 0)
        self.assertEqual(s.messages, [])
        self.assertEqual(s.transactions, [])

        proc = self.run_vc(cfg, "to-fabrikam", "--send", "--from", "david@contoso.test")
        self.assertRan(proc, 0)
        self.assertIn("ok    DATA         354", proc.stdout)
        self.assertIn("ok    end of data  250", proc.stdout)
        self.assertIn("=> passed: recipient and test message accepted", proc.stdout)
        got = s.wait_for_messages(1, timeout=5)
        self.assertEqual(len(got), 1)
        self.assertEqual(len(s.messages), 1)
        m = got[0]
        self.assertEqual(m["mail_from"], "david@contoso.test")
        self.assertEqual(m["rcpts"], [RCPT])
        data = m["data"].decode()
        self.assertIn("Subject: mailflow connector validation\r\n", data)
        self.assertRegex(data, r"\r\nDate: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000\r\n")
        self.assertRegex(data, r"\r\nMessage-ID: <[^>]+@" + harness.HOSTNAME.replace(".", r"\.") + r">\r\n")
        # service.source_address is bound as delivery does (R-OUT-9).
        self.assertEqual(m["peer"].rsplit(":", 1)[0], source)
        self.assertIn(f"from {source}", proc.stdout)

    # -- JSON ---------------------------------------------------------------------------------------

    def test_json_structure(self):
        hosts = [harness.new_loopback_address() for _ in range(2)]
        refused, good = peers.start_sinks(hosts, per_host={hosts[0]: {"refuse": True}})
        for s in (refused, good):
            self.addCleanup(s.stop)
        cfg = self.write_config([connector("to-fabrikam", hosts)], good.port)
        proc = self.run_vc(cfg, "TO-FABRIKAM", "--json")
        self.assertRan(proc, 0)
        doc = json.loads(proc.stdout)
        self.assertEqual(doc["connector"], "to-fabrikam")
        self.assertEqual(doc["organization"], "contoso")
        self.assertTrue(doc["enabled"])
        self.assertEqual(doc["tls_settings"], "opportunistic")
        self.assertEqual(doc["to"], RCPT)
        self.assertFalse(doc["send"])
        self.assertTrue(doc["can_deliver"])
        self.assertEqual(doc["exit_code"], 0)
        self.assertEqual([t["ip"] for t in doc["resolution"]["targets"]], hosts)
        self.assertEqual(len(doc["hosts"]), 2)
        first, second = doc["hosts"]
        self.assertEqual((first["ip"], first["port"]), (hosts[0], good.port))
        self.assertFalse(first["connected"])
        self.assertFalse(first["passed"])
        self.assertIn("connection refused", first["reason"])
        self.assertEqual(first["steps"][0], {"step": "connect", "status": "failed",
                                             "detail": f"{hosts[0]}:{good.port}: connection refused"})
        self.assertTrue(second["connected"])
        self.assertTrue(second["passed"])
        self.assertTrue(second["rcpt_accepted"])
        self.assertFalse(second["data_sent"])
        self.assertIsNone(second["tls"])
        self.assertIn("PIPELINING", second["extensions"])
        self.assertEqual([r["command"] for r in second["replies"]], ["greeting", "EHLO", "MAIL FROM", "RCPT TO", "QUIT"])
        rcpt = second["replies"][3]
        self.assertEqual((rcpt["code"], rcpt["enhanced"]), (250, "2.1.5"))
        self.assertEqual(doc["passed_hosts"], [f"{hosts[1]}:{good.port}"])
        for step in second["steps"]:
            self.assertEqual(set(step), {"step", "status", "detail"})
            self.assertIn(step["status"], ("ok", "failed", "info"))

    # -- names and user errors ----------------------------------------------------------------------

    def test_unknown_connector_lists_the_names(self):
        cfg = self.write_config([connector("to-fabrikam", ["127.0.0.9"]), connector("Backup", ["127.0.0.9"])], 2525)
        proc = self.run_vc(cfg, "nope")
        self.assertRan(proc, 1)
        self.assertEqual(proc.stdout, "")
        self.assertIn('no outbound connector named "nope"', proc.stderr)
        self.assertIn("to-fabrikam (contoso)", proc.stderr)
        self.assertIn("Backup (contoso)", proc.stderr)

    def test_bad_recipient_is_a_user_error(self):
        cfg = self.write_config([connector("to-fabrikam", ["127.0.0.9"])], 2525)
        proc = self.run_vc(cfg, "to-fabrikam", to="not an address")
        self.assertRan(proc, 1)
        self.assertIn("--to", proc.stderr)

    def test_disabled_connector_is_validated_and_says_so(self):
        s = self.sink()
        cfg = self.write_config([connector("To-Fabrikam", [s.host], enabled=False)], s.port)
        proc = self.run_vc(cfg, "to-fabrikam")
        self.assertRan(proc, 0)
        self.assertIn('Outbound connector "To-Fabrikam" (organization contoso) -- DISABLED', proc.stdout)
        self.assertIn("the connector is disabled", proc.stdout)

    def test_help_documents_the_exit_codes(self):
        proc = subprocess.run([harness.binary(), "validate-connector", "--help"], capture_output=True, text=True,
                              timeout=30)
        self.assertEqual(proc.returncode, 0)
        self.assertIn("Exit codes: 0 at least one host accepted the recipient", proc.stdout)

    # -- use_mx_record through DNS on loopback ------------------------------------------------------

    @unittest.skipUnless(os.path.exists("/usr/sbin/dnsmasq"), "dnsmasq is not installed")
    def test_use_mx_record_resolved_through_dnsmasq(self):
        hosts = [harness.new_loopback_address() for _ in range(2)]
        bad, good = peers.start_sinks(hosts, per_host={hosts[0]: {"reply_overrides": {"rcpt": "450 4.2.0 busy"}}})
        for s in (bad, good):
            self.addCleanup(s.stop)
        dns = peers.DnsServer(mx={"fabrikam.test": [(10, "mx1.fabrikam.test"), (20, "mx2.fabrikam.test")]},
                              a={"mx1.fabrikam.test": hosts[0], "mx2.fabrikam.test": hosts[1]}).start()
        self.addCleanup(dns.cleanup)
        cfg = self.write_config([connector("by-mx", use_mx_record=True)], good.port, dns=dns)
        proc = self.run_vc(cfg, "by-mx")
        self.assertRan(proc, 0)
        out = proc.stdout
        self.assertIn("MX of fabrikam.test (use_mx_record)", out)
        self.assertIn("ok    MX           fabrikam.test: 10 mx1.fabrikam.test, 20 mx2.fabrikam.test", out)
        self.assertIn(f"ok    A/AAAA       mx1.fabrikam.test: {hosts[0]}", out)
        self.assertIn(f"host 1 of 2: mx1.fabrikam.test[{hosts[0]}]:{good.port}", out)
        self.assertIn("FAIL  RCPT TO      450 4.2.0 busy", out)
        self.assertIn(f"host 2 of 2: mx2.fabrikam.test[{hosts[1]}]:{good.port}", out)
        self.assertIn(f"summary: 1 of 2 hosts passed (mx2.fabrikam.test[{hosts[1]}]:{good.port})", out)

    @unittest.skipUnless(os.path.exists("/usr/sbin/dnsmasq"), "dnsmasq is not installed")
    def test_null_mx_is_reported(self):
        dns = peers.DnsServer(mx={"fabrikam.test": [(0, ".")]}).start()
        self.addCleanup(dns.cleanup)
        cfg = self.write_config([connector("by-mx", use_mx_record=True)], 2525, dns=dns)
        proc = self.run_vc(cfg, "by-mx")
        self.assertRan(proc, 1)
        self.assertIn("FAIL  MX           fabrikam.test: null MX", proc.stdout)
        self.assertIn("summary: 0 of 0 hosts passed", proc.stdout)


if __name__ == "__main__":
    harness.main()
