#!/usr/bin/env python3
"""Durability under SIGKILL (SPEC §7; security catalogue F01, F02).

8 client threads send ~400 messages, each with a unique token; the server is killed with SIGKILL at a
random moment during the load and restarted on the same data_dir. Within 60 s every token that got
`250` must be in a Maildir file of every mailbox it was addressed to (duplicates are allowed: a
delivery in flight at the kill may be repeated), every delivered file is complete, and no message whose
final dot was never sent is delivered. Set MAILFLOW_IT_SEED to replay a run."""

import os
import random
import re
import sys
import threading
import time

import harness
from harness import MailflowTestCase

THREADS = 8
PER_THREAD = 50
# Recipient sets by message number; the group expands to both mailboxes.
RECIPIENTS = [
    (["david@contoso.test"], ["david@contoso.test"]),
    (["julie@contoso.test"], ["julie@contoso.test"]),
    (["team@contoso.test"], ["david@contoso.test", "julie@contoso.test"]),
]
TOKEN_RX = re.compile(rb"Subject: durability (dur-\d+-\d+-\d+)")


class Load:
    """Shared state of the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}        # token → mailboxes it must reach
        self.dot_sent = set()  # tokens whose final ".\r\n" went (or may have gone) out
        self.started = set()   # tokens that got 354
        self.errors = []       # failures before the kill
        self.killing = threading.Event()
        self.progress = threading.Condition(self.lock)


def message(token, size_hint):
    filler = [f"line {i:04d} of {token} " + "abcdefghij" * 5 for i in range(size_hint)]
    return harness.make_message(token, sender="load@example.org", subject=f"durability {token}",
                                body_lines=filler)


def worker(srv, load, seed, index, rng):
    c = None
    for n in range(PER_THREAD):
        if load.killing.is_set():
            break
        token = f"dur-{seed}-{index}-{n}"
        rcpts, mailboxes = RECIPIENTS[n % 3]
        try:
            if c is None:
                c = srv.client(timeout=20)
                if c.greeting().code != 220 or c.ehlo().code != 250:
                    raise AssertionError("greeting/EHLO failed")
            if c.command("MAIL FROM:<load@example.org>").code != 250:
                raise AssertionError(f"MAIL refused for {token}")
            for r in rcpts:
                if c.command(f"RCPT TO:<{r}>").code != 250:
                    raise AssertionError(f"RCPT {r} refused for {token}")
            if c.command("DATA").code != 354:
                raise AssertionError(f"DATA refused for {token}")
            with load.lock:
                load.started.add(token)
            body = message(token, rng.randint(5, 40)).encode()
            half = len(body) // 2
            c.send(body[:half])
            c.send(body[half:])
            with load.lock:
                load.dot_sent.add(token)
            c.send(b".\r\n")
            r = c.read_reply(30)
            if r.code == 250 and r.enhanced == "2.0.0":
                with load.progress:
                    load.acked[token] = mailboxes
                    load.progress.notify_all()
            elif not load.killing.is_set():
                raise AssertionError(f"end of data for {token}: {r.raw!r}")
            if rng.random() < 0.1:  # vary the session pattern: sometimes a fresh connection
                c.command("QUIT")
                c.close()
                c = None
        except (OSError, harness.PeerClosed, AssertionError) as e:
            if c is not None:
                c.close()
                c = None
            if load.killing.is_set():
                break
            with load.lock:
                load.errors.append(f"{token}: {e!r}")
    if c is not None:
        c.close()
    with load.progress:
        load.progress.notify_all()


class DurabilityTest(MailflowTestCase):
    def test_f01_sigkill_during_load_loses_no_acknowledged_message(self):
        seed = int(os.environ.get("MAILFLOW_IT_SEED", str(time.time_ns() % 1000000007)))
        rng = random.Random(seed)
        kill_after = rng.randint(40, 300)  # acknowledged messages before the kill (of 400)
        print(f"\n[durability] seed={seed} kill after {kill_after} acknowledged messages", file=sys.stderr)

        srv = self.start_server()
        load = Load()
        threads = [threading.Thread(target=worker, args=(srv, load, seed, i, random.Random(seed * 31 + i)),
                                    daemon=True) for i in range(THREADS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        with load.progress:
            load.progress.wait_for(lambda: len(load.acked) >= kill_after or len(load.errors) > 0
                                   or not any(t.is_alive() for t in threads), timeout=120)
        time.sleep(rng.uniform(0, 0.02))  # land somewhere inside the next transactions
        load.killing.set()
        srv.kill()
        killed_at = time.monotonic() - t0
        for t in threads:
            t.join(60)
        self.assertFalse(any(t.is_alive() for t in threads), "client threads did not finish")
        self.assertEqual(load.errors, [], "failures before the kill")
        acked = dict(load.acked)
        self.assertGreaterEqual(len(acked), min(kill_after, 40), "too few messages before the kill")

        srv.start()
        expected = {(t, mbx) for t, mailboxes in acked.items() for mbx in mailboxes}
        deadline = time.monotonic() + 60
        while True:
            found, incomplete = self.scan(srv)
            missing = expected - set(found)
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.25)

        delivered_tokens = {t for (t, _) in found}
        in_flight = delivered_tokens - set(acked)
        duplicates = sum(n - 1 for n in found.values() if n > 1)
        print(f"[durability] killed at {killed_at:.2f}s: acknowledged={len(acked)} "
              f"started={len(load.started)} final-dot-sent={len(load.dot_sent)} "
              f"delivered-files={sum(found.values())} delivered-tokens={len(delivered_tokens)} "
              f"delivered-without-250={len(in_flight)} duplicate-files={duplicates} missing={len(missing)}",
              file=sys.stderr)

        self.assertEqual(sorted(missing)[:20], [], f"{len(missing)} acknowledged deliveries lost (seed {seed})")
        self.assertEqual(incomplete, [], "truncated or partial message files were delivered")
        never_finished = delivered_tokens - load.dot_sent
        self.assertEqual(sorted(never_finished), [], "messages whose final dot was never sent were delivered")

        # The service goes on after the crash: a new message is accepted and delivered, then SIGTERM → 0.
        token = harness.new_token("after-restart")
        with srv.client() as c:
            self.assertReply(c.greeting(), 220)
            self.assertReply(c.ehlo(), 250)
            replies = c.send_mail("after@example.org", ["david@contoso.test"], harness.make_message(token))
            self.assertReply(replies[-1], 250, "2.0.0")
        self.assertEqual(len(srv.wait_for_messages("contoso", "david@contoso.test", token)), 1)
        srv.stop()

    @staticmethod
    def scan(srv):
        """{(token, mailbox): number of files} and the list of files that are not complete."""
        found, incomplete = {}, []
        for path, data in srv.all_maildir_files():
            m = TOKEN_RX.search(data)
            if not m:
                continue
            token = m.group(1).decode()
            mailbox = path.parent.parent.name
            found[(token, mailbox)] = found.get((token, mailbox), 0) + 1
            if not data.replace(b"\r\n", b"\n").endswith(f"END {token}\n".encode()):
                incomplete.append(str(path))
        return found, incomplete


if __name__ == "__main__":
    harness.main()
