#!/usr/bin/env python3
"""The admin API, the queue/trace/reload CLI verbs and hot reload against a real `mailflow serve`
(issue 7; SPEC §5, §6). Peers: an SMTP sink (peers.SmtpSink) as the smart host of contoso's
connector for partner.test, whose RCPT reply a test can switch between 451 and 250.

Covered: token file created 0600 and required (401) except for /healthz; queue list/show/summary
(CLI and JSON) for a deferred message; retry; hold survives the retry schedule and a restart, release
delivers; delete removes without an NDR; the trace of a bifurcated message (local mailbox + remote
copy) has RECEIVE, BIFURCATE, DELIVER and SEND with one message id and distinct copy ids; /metrics in
Prometheus text; reload via the CLI (a new recipient becomes valid), a refused reload keeps the old
configuration, and reloads under load lose no message.
"""

import json
import os
import re
import stat
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request

import harness
import peers
from harness import MailflowTestCase, make_message, new_token


def organizations(sink, extra_recipients=()):
    return [{
        "name": "contoso",
        "accepted_domains": [{"domain": "contoso.test", "type": "authoritative"}],
        "recipients": [{"type": "mailbox", "address": "david@contoso.test"},
                       *({"type": "mailbox", "address": a} for a in extra_recipients)],
        "outbound_connectors": [{"name": "To partner", "connector_type": "partner",
                                 "recipient_domains": ["partner.test"],
                                 "smart_hosts": [f"{sink.host}:{sink.port}"]}],
        "inbound_connectors": [{"name": "Test clients", "connector_type": "on_premises",
                                "sender_ip_addresses": ["127.0.0.0/8"]}],
    }]


class AdminTest(MailflowTestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = peers.SmtpSink(hostname="mx.partner.test")
        cls.addClassCleanup(cls.sink.stop)
        admin_host = harness.new_loopback_address()
        cls.admin_port = harness.free_port(admin_host)
        cls.admin_base = f"http://{admin_host}:{cls.admin_port}"
        cls.service = {"admin": {"address": f"{admin_host}:{cls.admin_port}", "token_file": "admin.token"},
                       "queue": {"retry_intervals": ["1s"], "message_expiration": "10m"}}
        cls.srv = harness.MailflowServer(service=cls.service, organizations=organizations(cls.sink))
        cls.addClassCleanup(cls.srv.cleanup)
        cls.server = cls.srv.start()
        cls.token = (cls.srv.config_dir / "admin.token").read_text().strip()

    def setUp(self):
        self.sink.clear_overrides()

    # -- helpers
    def api(self, method, path, token=True):
        req = urllib.request.Request(self.admin_base + path, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def cli(self, *args):
        return subprocess.run([harness.binary(), *args, "--config", str(self.srv.config_path)],
                              capture_output=True, text=True, timeout=60)

    def send(self, rcpts, token, subject=None):
        with self.server.client() as c:
            self.assertReply(c.greeting(), 220)
            self.assertReply(c.ehlo(), 250)
            replies = c.send_mail("alice@contoso.test", rcpts,
                                  make_message(token, sender="alice@contoso.test", to=rcpts[0], subject=subject))
            self.assertEqual(replies[-1].code, 250, [r.raw for r in replies])
            return harness.queued_id(replies[-1].text)

    def queued(self, mid):
        status, _, body = self.api("GET", f"/api/v1/messages/{mid}")
        return json.loads(body) if status == 200 else None

    def wait(self, predicate, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.1)
        return predicate()

    def sink_got(self, token):
        return [m for m in self.sink.messages if m["data"] and token.encode() in m["data"]]

    def deferred_message(self):
        self.sink.set_override("rcpt", "451 4.3.0 partner busy")
        token = new_token("admin")
        mid = self.send(["bob@partner.test"], token)
        self.assertTrue(self.wait(lambda: self.attempts(mid) >= 1), self.queued(mid))
        return mid, token

    def attempts(self, mid):
        """Attempts made for the message's queued recipients (0 while it is on a connection: the
        recipients of a job being delivered are not listed)."""
        info = self.queued(mid)
        return max([r["attempts"] for r in info["recipients"]] or [0]) if info else 0

    # -- tests
    def test_token_file_is_created_0600_and_required(self):
        mode = stat.S_IMODE(os.stat(self.srv.config_dir / "admin.token").st_mode)
        self.assertEqual(mode, 0o600)
        self.assertGreaterEqual(len(self.token), 32)
        status, _, body = self.api("GET", "/healthz", token=False)
        self.assertEqual(status, 200)
        for method, path in (("GET", "/api/v1/queue"), ("GET", "/metrics"), ("POST", "/api/v1/reload"),
                             ("GET", "/api/v1/trace"), ("GET", "/api/v1/messages")):
            with self.subTest(path=path):
                status, headers, _ = self.api(method, path, token=False)
                self.assertEqual(status, 401)
                self.assertIn("Bearer", headers.get("WWW-Authenticate", ""))

    def test_queue_shows_a_deferred_message_and_retry_delivers_it(self):
        mid, token = self.deferred_message()
        info = self.queued(mid)
        self.assertEqual(info["sender"], "alice@contoso.test")
        self.assertEqual(info["organization"], "contoso")
        r = info["recipients"][0]
        self.assertEqual(r["address"], "bob@partner.test")
        self.assertEqual(r["connector"], "To partner")
        self.assertIn("451 4.3.0 partner busy", r["last_error"])
        out = self.cli("queue", "list")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(mid, out.stdout)
        self.assertIn("bob@partner.test", out.stdout)
        out = self.cli("queue", "show", mid, "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["id"], mid)
        status, _, body = self.api("GET", "/api/v1/queue")
        self.assertEqual(status, 200)
        summary = json.loads(body)
        self.assertGreaterEqual(summary["messages"], 1)
        self.assertIn("To partner", [g["key"] for g in summary["by_connector"]])
        self.sink.clear_overrides()
        out = self.cli("queue", "retry", mid)
        self.assertEqual(out.returncode, 0, out.stderr + out.stdout)
        self.assertTrue(self.wait(lambda: self.sink_got(token)))
        self.assertTrue(self.wait(lambda: self.queued(mid) is None))
        self.assertEqual(self.cli("queue", "show", mid).returncode, 1)  # gone: a user error (404)

    def test_hold_stops_attempts_across_a_restart_and_release_delivers(self):
        mid, token = self.deferred_message()
        out = self.cli("queue", "hold", mid)
        self.assertEqual(out.returncode, 0, out.stderr + out.stdout)
        self.assertTrue(self.queued(mid)["held"])
        self.sink.clear_overrides()  # the partner would accept now, but the message is held
        before = self.sink.connections
        time.sleep(3)  # three retry intervals of 1 s
        self.assertEqual(self.sink.connections, before)
        self.assertEqual(self.sink_got(token), [])
        # The hold survives a restart.
        self.server.stop()
        self.server.start()
        self.assertTrue(self.wait(lambda: self.queued(mid) is not None))
        self.assertTrue(self.queued(mid)["held"])
        time.sleep(2)
        self.assertEqual(self.sink_got(token), [])
        self.assertEqual(self.cli("queue", "release", mid).returncode, 0)
        self.assertTrue(self.wait(lambda: self.sink_got(token)))
        self.assertEqual(len(self.sink_got(token)), 1)
        self.assertEqual(self.cli("queue", "release", mid).returncode, 1)  # no longer queued or held

    def test_delete_removes_the_message_without_an_ndr(self):
        mid, token = self.deferred_message()
        out = self.cli("queue", "delete", mid)
        self.assertEqual(out.returncode, 0, out.stderr + out.stdout)
        self.assertTrue(self.wait(lambda: self.queued(mid) is None))
        self.sink.clear_overrides()
        time.sleep(2)
        self.assertEqual(self.sink_got(token), [])
        # No NDR to alice (her mailbox is not local here, but an NDR would be queued or sent out).
        self.assertFalse(any(b"alice@contoso.test" in (m["data"] or b"") and b"delivery-status" in (m["data"] or b"")
                             for m in self.sink.messages))
        events = json.loads(self.cli("trace", "--message-id", mid, "--json").stdout)["events"]
        drops = [e for e in events if e["event"] == "DROP"]
        self.assertEqual(len(drops), 1, events)
        self.assertIn("deleted by administrator", drops[0]["detail"])
        self.assertNotIn("NDR", [e["event"] for e in events])

    def test_trace_of_a_bifurcated_message(self):
        token = new_token("trace")
        mid = self.send(["david@contoso.test", "carol@partner.test"], token)
        self.assertTrue(self.wait(lambda: self.sink_got(token)))
        self.assertTrue(self.server.wait_for_messages("contoso", "david@contoso.test", token))

        def events():
            out = self.cli("trace", "--message-id", mid, "--json")
            self.assertEqual(out.returncode, 0, out.stderr)
            return json.loads(out.stdout)["events"]

        self.assertTrue(self.wait(lambda: {"DELIVER", "SEND"} <= {e["event"] for e in events()}), events())
        evs = events()
        self.assertTrue(all(e["message_id"] == mid for e in evs))
        types = [e["event"] for e in evs]
        self.assertEqual(types[0], "RECEIVE")
        self.assertEqual(evs[0]["internet_message_id"], f"{token}@client.test.example")
        copies = [e for e in evs if e["event"] == "BIFURCATE"]
        self.assertEqual(len(copies), 2, evs)
        self.assertEqual(len({c["copy_id"] for c in copies}), 2)
        deliver = [e for e in evs if e["event"] == "DELIVER"]
        send = [e for e in evs if e["event"] == "SEND"]
        self.assertEqual([e["recipient"] for e in deliver], ["david@contoso.test"])
        self.assertEqual([e["recipient"] for e in send], ["carol@partner.test"])
        self.assertEqual(send[0]["connector"], "To partner")
        self.assertTrue(send[0]["reply"].startswith("250"), send[0])
        self.assertNotEqual(deliver[0]["copy_id"], send[0]["copy_id"])
        # The same through the API, by the Message-ID header and by recipient.
        status, _, body = self.api("GET", f"/api/v1/trace?message_id={token}%40client.test.example")
        self.assertEqual(status, 200)
        self.assertEqual(len(json.loads(body)["events"]), len(evs))
        out = self.cli("trace", "--recipient", "carol@partner.test")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(mid, out.stdout)
        self.assertIn("SEND", out.stdout)

    def test_metrics_are_prometheus_text(self):
        token = new_token("metrics")
        self.send(["david@contoso.test"], token)
        self.assertTrue(self.server.wait_for_messages("contoso", "david@contoso.test", token))
        status, headers, body = self.api("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("Content-Type", "").startswith("text/plain"))
        for name in ("mailflow_connections_total", "mailflow_messages_received_total", "mailflow_queue_messages",
                     "mailflow_spool_bytes", "mailflow_spool_sync_seconds_bucket"):
            self.assertIn(name, body)
        m = re.search(r'^mailflow_messages_received_total\{organization="contoso"\} (\d+)', body, re.M)
        self.assertIsNotNone(m, body)
        self.assertGreaterEqual(int(m.group(1)), 1)
        m = re.search(r'^mailflow_connections_total\{listener="mx"\} (\d+)', body, re.M)
        self.assertIsNotNone(m, body)
        # A refused RCPT is counted by reason.
        def unknown_rejects():
            _, _, text = self.api("GET", "/metrics")
            m = re.search(r'^mailflow_rejects_total\{reason="unknown_recipient"\} (\d+)', text, re.M)
            return int(m.group(1)) if m else 0
        before = unknown_rejects()
        with self.server.client() as c:
            c.greeting(); c.ehlo()
            c.command("MAIL FROM:<x@example.org>")
            self.assertReply(c.command("RCPT TO:<nobody@contoso.test>"), 550, "5.4.1")
        self.assertEqual(unknown_rejects(), before + 1)

    def test_reload_applies_a_new_recipient_and_refuses_a_bad_file(self):
        cfg = self.srv.config
        rcpt = "newcomer@contoso.test"
        with self.server.client() as c:
            c.greeting(); c.ehlo()
            c.command("MAIL FROM:<x@example.org>")
            self.assertReply(c.command(f"RCPT TO:<{rcpt}>"), 550, "5.4.1")
        try:
            cfg["organizations"] = organizations(self.sink, [rcpt])
            self.srv.write_config()
            out = self.cli("reload")
            self.assertEqual(out.returncode, 0, out.stderr + out.stdout)
            with self.server.client() as c:
                c.greeting(); c.ehlo()
                c.command("MAIL FROM:<x@example.org>")
                self.assertReply(c.command(f"RCPT TO:<{rcpt}>"), 250)
            # A broken file is refused with its errors; the running configuration stays.
            good = self.srv.config_path.read_text()
            self.srv.config_path.write_text(good + "\nbogus_top_level_key: 1\n")
            out = self.cli("reload")
            self.assertEqual(out.returncode, 1)
            self.assertIn("bogus_top_level_key", out.stderr + out.stdout)
            self.srv.config_path.write_text(good)
            with self.server.client() as c:
                c.greeting(); c.ehlo()
                c.command("MAIL FROM:<x@example.org>")
                self.assertReply(c.command(f"RCPT TO:<{rcpt}>"), 250)
        finally:
            cfg["organizations"] = organizations(self.sink)
            self.srv.write_config()
            self.cli("reload")

    def test_reload_under_load_loses_nothing(self):
        # Four clients send 15 messages each while the configuration is reloaded again and again
        # (SIGHUP and API, alternating): every message gets 250 and arrives exactly once.
        token = new_token("load")
        errors = []
        ids = []
        lock = threading.Lock()

        def client(n):
            try:
                with self.server.client(timeout=30) as c:
                    c.greeting(); c.ehlo()
                    for i in range(15):
                        body = make_message(f"{token}-{n}-{i}", sender="alice@contoso.test", to="david@contoso.test")
                        replies = c.send_mail("alice@contoso.test", ["david@contoso.test"], body)
                        if replies[-1].code != 250:
                            errors.append([r.raw for r in replies])
                        else:
                            with lock:
                                ids.append(harness.queued_id(replies[-1].text))
                        time.sleep(0.03)  # spread the messages over several reloads
            except Exception as e:  # noqa: BLE001 - reported by the assertion below
                errors.append(repr(e))

        stop = threading.Event()
        reloads = [0]

        def reloader():
            while not stop.is_set():
                if reloads[0] % 2 == 0:
                    out = self.cli("reload")
                    if out.returncode != 0:
                        errors.append(out.stderr)
                else:
                    self.server.proc.send_signal(1)  # SIGHUP
                reloads[0] += 1
                time.sleep(0.02)

        r = threading.Thread(target=reloader)
        r.start()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        r.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(ids), 60)
        self.assertGreaterEqual(reloads[0], 4)
        got = self.server.wait_for_messages("contoso", "david@contoso.test", token, count=60, timeout=30)
        self.assertEqual(len(got), 60)


if __name__ == "__main__":
    harness.main()
