#!/usr/bin/env python3
"""Process life cycle (SPEC §4, §5): SIGTERM stops cleanly with exit status 0 and closes the port; a
transaction in flight at SIGTERM completes; `mailflow check` reports OK or every error as
`file:line:column: key.path: message` with exit status 1; `serve` refuses a bad config with exit 1."""

import re
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import harness
from harness import MailflowTestCase, make_message, new_token


def connect_refused(address, port):
    try:
        with socket.create_connection((address, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


class SignalTest(MailflowTestCase):
    def test_sigterm_exits_0_and_closes_the_port(self):
        srv = self.start_server()
        with srv.client() as c:
            self.assertReply(c.greeting(), 220)
            self.assertReply(c.command("QUIT"), 221)
        started = time.monotonic()
        self.assertEqual(srv.stop(), 0)
        self.assertLess(time.monotonic() - started, srv.shutdown_grace + 5)
        self.assertTrue(connect_refused(srv.address, srv.port), "the port still accepts after exit")

    def test_sigterm_lets_the_transaction_in_flight_finish(self):
        srv = self.start_server(limits={"shutdown_grace": "10s"})
        token = new_token("inflight")
        idle = srv.client()
        self.addCleanup(idle.close)
        self.assertReply(idle.greeting(), 220)
        self.assertReply(idle.ehlo(), 250)

        busy = srv.client()
        self.addCleanup(busy.close)
        self.assertReply(busy.greeting(), 220)
        self.assertReply(busy.ehlo(), 250)
        self.assertReply(busy.command("MAIL FROM:<inflight@example.org>"), 250)
        self.assertReply(busy.command("RCPT TO:<david@contoso.test>"), 250)
        self.assertReply(busy.command("DATA"), 354)
        msg = make_message(token).encode()
        busy.send(msg[: len(msg) // 2])

        srv.proc.send_signal(signal.SIGTERM)
        # The idle session is told the service is going away, and closed.
        r = idle.read_reply(5)
        self.assertReply(r, 421, "4.")
        self.assertClosed(idle)
        # New connections are no longer accepted.
        deadline = time.monotonic() + 3
        while not connect_refused(srv.address, srv.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertTrue(connect_refused(srv.address, srv.port), "still accepting connections after SIGTERM")
        self.assertIsNone(srv.proc.poll(), "exited while a transaction was in flight")

        time.sleep(0.5)
        busy.send(msg[len(msg) // 2:] + b".\r\n")
        self.assertReply(busy.read_reply(10), 250, "2.0.0")
        try:
            busy.command("QUIT", timeout=5)
        except (harness.PeerClosed, OSError):
            pass  # a 421 + close after the transaction is fine too
        rc = srv.wait_exit(srv.shutdown_grace + 10)
        self.assertEqual(rc, 0, "exit status after SIGTERM")

        # The 250 means it is on disk: delivered before the exit, or at the next start.
        files = srv.mailbox_files("contoso", "david@contoso.test")
        if not [f for f in files if token.encode() in f]:
            srv.start()
            files = srv.wait_for_messages("contoso", "david@contoso.test", token)
            srv.stop()
        self.assertEqual(len([f for f in files if token.encode() in f]), 1)

    def test_second_instance_on_the_same_data_dir_refuses_to_start(self):
        srv = self.start_server()
        # Same config folder (so the same ./var), another port.
        other_cfg = dict(srv.config)
        other_svc = dict(other_cfg["service"])
        other_addr = harness.new_loopback_address()
        other_svc["listeners"] = [{"name": "mx", "address": f"{other_addr}:{harness.free_port(other_addr)}"}]
        other_cfg["service"] = other_svc
        path = srv.config_dir / "second.yaml"
        path.write_text("\n".join(harness.to_yaml(other_cfg)) + "\n", encoding="utf-8")
        p = subprocess.run([harness.binary(), "serve", "--config", str(path)], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        # The first instance is unaffected.
        with srv.client() as c:
            self.assertReply(c.greeting(), 220)
        srv.stop()


VALID = """\
service:
  hostname: mx.test.example
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
  data_dir: ./var
  tls: {certificate: server.pem, key: server.key, ca_bundle: ca.pem}
  max_message_size: 1048576
  max_recipients: 100
  limits: {max_connections_per_ip: 5, max_errors: 20, command_timeout: 300s, data_timeout: 600s,
           shutdown_grace: 10s, min_free_disk: 0}
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.test, type: authoritative}
      - {domain: relay.contoso.test, type: internal_relay}
    recipients:
      - {type: mailbox, address: david@contoso.test, proxy_addresses: [dave@contoso.test]}
      - {type: mailbox, address: julie@contoso.test}
      - {type: group, address: team@contoso.test, members: [david@contoso.test, julie@contoso.test]}
"""

# (name, config text, expected line, expected key path, or a prefix of it ending in "*")
BAD_CONFIGS = [
    ("unknown key", """\
service:
  hostname: mx.test.example
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
  limits:
    max_conections_per_ip: 5
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.test, type: authoritative}
""", 5, "service.limits.max_conections_per_ip"),
    ("duplicate accepted domain", """\
service:
  hostname: mx.test.example
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.test, type: authoritative}
  - name: fabrikam
    accepted_domains:
      - {domain: fabrikam.test, type: authoritative}
      - {domain: Contoso.Test, type: authoritative}
""", 11, "organizations[1].accepted_domains[1]*"),
    ("bad duration", """\
service:
  hostname: mx.test.example
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
  limits:
    command_timeout: 5x
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.test, type: authoritative}
""", 5, "service.limits.command_timeout"),
    ("bad CIDR", """\
service:
  hostname: mx.test.example
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.test, type: authoritative}
    inbound_connectors:
      - name: From partner
        connector_type: partner
        sender_domains: [partner.test]
        sender_ip_addresses:
          - 192.0.2.0/24
          - 192.0.2.0/33
""", 14, "organizations[0].inbound_connectors[0].sender_ip_addresses*"),
    ("missing connector", """\
service:
  hostname: mx.test.example
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.test, type: authoritative}
    transport_rules:
      - name: Legal via archive
        priority: 0
        conditions: {subject_contains: ["[legal]"]}
        actions:
          route_via_connector: Archive
""", 13, "organizations[0].transport_rules[0].actions*"),
]


class ConfigCheckTest(MailflowTestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="mailflow-it-check-")
        self.addCleanup(tmp.cleanup)
        self.dir = Path(tmp.name)

    def write(self, name, text):
        p = self.dir / name
        p.write_text(text, encoding="utf-8")
        return p

    def run_cli(self, *args, timeout=30):
        return subprocess.run([harness.binary(), *args], capture_output=True, text=True, timeout=timeout,
                              cwd="/", stdin=subprocess.DEVNULL)

    def assertOneErrorAt(self, output, path, line, key_path):
        rx = re.compile(rf"^{re.escape(str(path))}:(\d+):(\d+): (\S+): (.+)$", re.M)
        errors = rx.findall(output)
        self.assertEqual(len(errors), 1, f"expected one error line, got:\n{output}")
        got_line, column, got_path, message = errors[0]
        self.assertEqual(int(got_line), line, output)
        self.assertGreaterEqual(int(column), 1, output)
        if key_path.endswith("*"):
            self.assertTrue(got_path.startswith(key_path[:-1]), f"key path {got_path!r}, expected {key_path}")
        else:
            self.assertEqual(got_path, key_path, output)
        self.assertTrue(message.strip(), output)

    def test_check_ok(self):
        certs = harness.certificates()
        for f in ("server.pem", "server.key", "ca.pem"):
            shutil.copy(certs.dir / f, self.dir / f)
        path = self.write("ok.yaml", VALID)
        p = self.run_cli("check", "--config", str(path))  # run from "/": paths resolve against the file
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"{path}: configuration OK", p.stdout)

    def test_check_reports_errors_with_location(self):
        for name, text, line, key_path in BAD_CONFIGS:
            with self.subTest(case=name):
                path = self.write(name.replace(" ", "_") + ".yaml", text)
                p = self.run_cli("check", "--config", str(path))
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertOneErrorAt(p.stderr, path, line, key_path)
                self.assertNotIn("configuration OK", p.stdout)

    def test_check_missing_file(self):
        p = self.run_cli("check", "--config", str(self.dir / "does-not-exist.yaml"))
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("does-not-exist.yaml", p.stderr)

    def test_serve_refuses_a_bad_config(self):
        for name, text, line, key_path in BAD_CONFIGS[:3]:
            with self.subTest(case=name):
                path = self.write("serve_" + name.replace(" ", "_") + ".yaml", text)
                p = self.run_cli("serve", "--config", str(path), timeout=30)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertOneErrorAt(p.stderr, path, line, key_path)


if __name__ == "__main__":
    harness.main()
