#!/usr/bin/env python3
"""Tests of `mailflow queue|trace|reload` (SPEC §5): the real binary against fake_admin_server, a real
AdminServer over a scripted in-memory backend (tests/admin/fake_backend.cpp). Checks each verb's human
output, --json, and the exit codes 0 ok / 1 user error / 2 service unreachable or failing.

Usage:
  admin_cli_test.py --mailflow build/src/cli/mailflow --fake-server build/tests/admin/fake_admin_server

Loopback only (127.0.0.1); standard library only.
"""

import argparse
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

MAILFLOW = None
FAKE = None


class FakeServer:
    """fake_admin_server on 127.0.0.1:<free port>; stops when its stdin closes."""

    def __init__(self, tmp, *flags):
        self.token_file = Path(tmp) / f"admin-{len(os.listdir(tmp))}.token"
        self.proc = subprocess.Popen([FAKE, "--token-file", str(self.token_file), *flags],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.proc.kill()
            raise RuntimeError(f"fake_admin_server did not print its port: {line!r}")
        self.port = int(line)
        self.address = f"127.0.0.1:{self.port}"

    def target(self):
        return ["--admin", self.address, "--token-file", str(self.token_file)]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run(*args):
    return subprocess.run([MAILFLOW, *args], capture_output=True, text=True, timeout=60)


def expect(p, rc, stdout=(), stderr=()):
    """Asserts the exit code and that each string appears in stdout / stderr."""
    where = f"\n$ mailflow {' '.join(p.args[1:])}\nexit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    assert p.returncode == rc, f"exit code {p.returncode}, want {rc}{where}"
    for s in stdout:
        assert s in p.stdout, f"stdout lacks {s!r}{where}"
    for s in stderr:
        assert s in p.stderr, f"stderr lacks {s!r}{where}"
    if rc != 0:
        assert p.stderr.strip(), f"no message on stderr{where}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp, admin_yaml):
    path = Path(tmp) / "mailflow.yaml"
    path.write_text(
        "service:\n"
        "  hostname: mx.test.example\n"
        "  listeners: [{name: mx, address: \"127.0.0.1:2525\"}]\n"
        + admin_yaml +
        "organizations:\n"
        "  - name: test\n"
        "    accepted_domains: [{domain: test.example, type: authoritative}]\n"
        "    recipients: [{type: mailbox, address: a@test.example}]\n", encoding="utf-8")
    return str(path)


# --- the tests ---------------------------------------------------------------------------------------

def test_token_file_created_0600(tmp):
    with FakeServer(tmp) as srv:
        mode = stat.S_IMODE(srv.token_file.stat().st_mode)
        assert mode == 0o600, oct(mode)
        assert len(srv.token_file.read_text().strip()) == 64


def test_queue_list(tmp):
    with FakeServer(tmp) as srv:
        p = run("queue", "list", *srv.target())
        expect(p, 0, stdout=["ID", "SIZE", "ARRIVED (UTC)", "1A2B3C4D", "2023-11-14T22:13:20Z", "alice@contoso.com",
                             "bob@fabrikam.com  deferred, via mx.fabrikam.com (to-fabrikam), 3 attempts",
                             "(451 4.7.1 Greylisted, try again later)", "9C0D1E2F!", "<>",
                             "-- 3 messages, 4 recipients, 100 KiB"])
        j = run("queue", "list", "--json", *srv.target())
        expect(j, 0)
        doc = json.loads(j.stdout)
        assert [m["id"] for m in doc["messages"]] == ["1A2B3C4D", "5E6F7A8B", "9C0D1E2F"], doc
        # The target options are accepted before the verb too.
        expect(run("queue", *srv.target(), "list"), 0, stdout=["1A2B3C4D"])


def test_queue_summary(tmp):
    with FakeServer(tmp) as srv:
        p = run("queue", "summary", *srv.target())
        expect(p, 0, stdout=["3 messages, 4 recipients in the queue; oldest 2h0m", "NEXT HOP", "CONNECTOR",
                             "ORGANIZATION", "mx.fabrikam.com", "to-fabrikam", "contoso"])
        j = run("queue", "summary", "--json", *srv.target())
        expect(j, 0)
        assert json.loads(j.stdout)["recipients"] == 4


def test_queue_show(tmp):
    with FakeServer(tmp) as srv:
        p = run("queue", "show", "1A2B3C4D", *srv.target())
        expect(p, 0, stdout=["Message 1A2B3C4D", "Sender:        alice@contoso.com", "Organization:  contoso",
                             "Size:          2048 bytes", "Held:          no", "State:         deferred",
                             "Next hop:      mx.fabrikam.com", "Connector:     to-fabrikam", "Attempts:      3",
                             "Last error:    451 4.7.1 Greylisted, try again later"])
        j = run("queue", "show", "9C0D1E2F", "--json", *srv.target())
        expect(j, 0)
        doc = json.loads(j.stdout)
        assert doc["id"] == "9C0D1E2F" and doc["held"] is True, doc
        expect(run("queue", "show", "NOPE", *srv.target()), 1, stderr=["no queued message with id NOPE"])
        expect(run("queue", "show", *srv.target()), 1)  # the id is required


def test_queue_steering(tmp):
    with FakeServer(tmp) as srv:
        t = srv.target()
        expect(run("queue", "hold", "5E6F7A8B", *t), 0, stdout=["message 5E6F7A8B held"])
        expect(run("queue", "list", *t), 0, stdout=["5E6F7A8B!"])
        expect(run("queue", "release", "5E6F7A8B", *t), 0, stdout=["message 5E6F7A8B released"])
        expect(run("queue", "release", "5E6F7A8B", *t), 1, stderr=["message 5E6F7A8B is not held"])
        expect(run("queue", "retry", "1A2B3C4D", *t), 0, stdout=["message 1A2B3C4D scheduled for delivery now"])
        expect(run("queue", "retry", *t), 0, stdout=["1 deferred message(s) scheduled for delivery now"])
        j = run("queue", "delete", "1A2B3C4D", "--json", *t)
        expect(j, 0)
        assert json.loads(j.stdout) == {"status": "ok", "message": "message 1A2B3C4D deleted", "affected": 1}
        expect(run("queue", "delete", "1A2B3C4D", *t), 1, stderr=["no queued message with id 1A2B3C4D"])
        expect(run("queue", "show", "1A2B3C4D", *t), 1)


def test_trace(tmp):
    with FakeServer(tmp) as srv:
        t = srv.target()
        p = run("trace", *t)
        expect(p, 0, stdout=["TIME (UTC)", "EVENT", "RECIPIENT", "CONNECTOR -> NEXT HOP", "REPLY",
                             "2023-11-14T22:13:20.000Z", "RECEIVE", "DEFER", "SEND",
                             "to-fabrikam -> mx.fabrikam.com", "451 4.7.1 Greylisted, try again later",
                             "[TLSv1.3 TLS_AES_256_GCM_SHA384]"])
        lines = p.stdout.strip().splitlines()
        assert len(lines) == 5, lines  # the header and one line per event
        j = run("trace", "--json", "--recipient", "carol@example.net", *t)
        expect(j, 0)
        events = json.loads(j.stdout)["events"]
        assert [e["event"] for e in events] == ["SEND"], events
        expect(run("trace", "--sender", "alice@contoso.com", "--message-id", "1A2B3C4D", *t), 0,
               stdout=["RECEIVE", "DEFER"])
        since = run("trace", "--since", "2023-11-14T22:13:21Z", "--json", *t)
        expect(since, 0)
        assert {e["message_id"] for e in json.loads(since.stdout)["events"]} == {"5E6F7A8B"}, since.stdout
        # The fake's events are from 2023: nothing in the last day.
        expect(run("trace", "--since", "1d", *t), 0, stdout=["No trace events match"])
        expect(run("trace", "--since", "15m", *t), 0)
        expect(run("trace", "--since", "last tuesday", *t), 1, stderr=["bad --since"])


def test_reload(tmp):
    with FakeServer(tmp) as srv:
        expect(run("reload", *srv.target()), 0, stdout=["configuration reloaded"])
    with FakeServer(tmp, "--reload-fails") as srv:
        expect(run("reload", *srv.target()), 1,
               stderr=["the configuration has errors; the old one stays in force",
                       "mailflow.yaml:3:13: service.hostname: must be a domain name"])


def test_service_failures_exit_2(tmp):
    with FakeServer(tmp, "--trace-fails", "--summary-throws") as srv:
        expect(run("trace", *srv.target()), 2, stderr=["the service failed", "trace store is locked"])
        expect(run("queue", "summary", *srv.target()), 2, stderr=["the service failed"])


def test_unreachable_exit_2(tmp):
    token = Path(tmp) / "t.token"
    token.write_text("0123456789abcdef0123456789abcdef\n")
    port = free_port()
    for args in (["queue", "list"], ["trace"], ["reload"], ["queue", "delete", "X"]):
        expect(run(*args, "--admin", f"127.0.0.1:{port}", "--token-file", str(token)), 2,
               stderr=[f"service unreachable at 127.0.0.1:{port}"])


def test_wrong_token_exit_1(tmp):
    other = Path(tmp) / "other.token"
    other.write_text("ffffffffffffffffffffffffffffffff\n")
    with FakeServer(tmp) as srv:
        expect(run("queue", "list", "--admin", srv.address, "--token-file", str(other)), 1,
               stderr=["invalid bearer token"])


def test_target_resolution(tmp):
    expect(run("queue", "list"), 1, stderr=["--config"])
    expect(run("trace", "--admin", "127.0.0.1:1"), 1, stderr=["--token-file"])
    expect(run("reload", "--admin", "nonsense", "--token-file", "/nonexistent"), 1, stderr=["bad admin address"])
    expect(run("queue", "list", "--admin", "127.0.0.1:1", "--token-file", str(Path(tmp) / "absent")), 1,
           stderr=["absent"])
    no_admin = write_config(tmp, "")
    expect(run("queue", "list", "--config", no_admin), 1, stderr=["service.admin.address is not set"])
    with FakeServer(tmp) as srv:
        config = write_config(tmp, f"  admin: {{address: \"{srv.address}\", token_file: {srv.token_file.name}}}\n")
        expect(run("queue", "list", "--config", config), 0, stdout=["1A2B3C4D"])
        expect(run("trace", "--config", config, "--json"), 0)
        expect(run("reload", "--config", config), 0)


def test_help_documents_exit_codes(tmp):
    for args in (["queue", "--help"], ["trace", "--help"], ["reload", "--help"]):
        p = run(*args)
        expect(p, 0, stdout=["Exit codes: 0 ok", "2 service unreachable"])


def main():
    global MAILFLOW, FAKE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mailflow", required=True)
    ap.add_argument("--fake-server", required=True)
    ap.add_argument("tests", nargs="*", help="run only these tests (names without test_)")
    args = ap.parse_args()
    MAILFLOW, FAKE = args.mailflow, args.fake_server
    tests = {name[5:]: fn for name, fn in globals().items() if name.startswith("test_") and callable(fn)}
    selected = args.tests or list(tests)
    failed = []
    for name in selected:
        with tempfile.TemporaryDirectory(prefix="mailflow-admin-cli-") as tmp:
            try:
                tests[name](tmp)
                print(f"ok    {name}")
            except Exception:  # noqa: BLE001 - report every failure, then exit 1
                failed.append(name)
                print(f"FAIL  {name}\n{traceback.format_exc()}")
    print(f"{len(selected) - len(failed)}/{len(selected)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
