#!/usr/bin/env python3
"""Durability of outbound relay under SIGKILL (SPEC §7; security catalogue F01/F02, outbound side).

"Each recipient's outcome is recorded durably before the next step, so a crash can only repeat
deliveries that were in flight — never lose one."

4 client threads send 300 small messages at a moderate pace (a unique token in the Subject, one or two recipients of
the external_relay domain fabrikam.test, which an outbound connector routes to a peers.SmtpSink smart
host). mailflow is killed with SIGKILL at a random moment of the load and restarted on the same
data_dir. Then:

  - every (message, recipient) that got `250` from mailflow reaches the sink at least once, complete;
  - nothing whose final dot was never sent is relayed;
  - a delivery is repeated only if it was in flight at the kill: its outcome had not been recorded
    durably yet according to the log written before the kill (`event=finished id=X` for the whole
    message, or `event=delivered id=X rcpt=R` followed by `event=defer id=X`, which mailflow logs
    only after the outcomes of that attempt are in the spool);
  - the spool drains: `event=finished` for every acknowledged queue id, no NDR, and after a SIGTERM
    and another start `event=recover messages=0`.

test_kill_during_relay_to_a_healthy_smart_host: the sink answers at once.
test_kill_during_retries_and_slow_data: the sink answers `451` to the first RCPT of most recipients
(those messages sit in the retry state, `retry_intervals: ["1s"]`) and holds the reply to the final
dot of every other transaction for 0.5 s (so that the kill lands in DATA); it becomes healthy before
the restart.

The kill point is random; its seed is printed. Replay a run with MAILFLOW_IT_SEED=<seed>."""

import os
import random
import re
import sys
import threading
import time

import harness
import peers
from harness import MailflowTestCase

THREADS = 4
PER_THREAD = 75
SENDER = "david@contoso.test"  # a local mailbox: an NDR would show up as event=ndr in the log
TOKEN_RX = re.compile(rb"Subject: odur (odur-\d+-\d+-\d+-\d+)")
LOG_RX = re.compile(r"event=(delivered|failed|defer|finished|spool_error) id=(\S+)(?: rcpt=(\S+))?(.*)")


def organizations(sink):
    return [{
        "name": "contoso",
        "accepted_domains": [
            {"domain": "contoso.test", "type": "authoritative"},
            {"domain": "fabrikam.test", "type": "external_relay"},
        ],
        "recipients": [{"type": "mailbox", "address": SENDER}],
        "outbound_connectors": [{"name": "to-fabrikam", "connector_type": "partner",
                                 "recipient_domains": ["fabrikam.test"], "smart_hosts": [sink.host]}],
    }]


def recipients_of(token, n):
    """One recipient for 2 messages in 3, two for the others; the addresses are unique to the message
    so that the sink can fail a recipient's first attempt only."""
    rcpts = [f"{token}-a@fabrikam.test"]
    if n % 3 == 2:
        rcpts.append(f"{token}-b@fabrikam.test")
    return rcpts


def message(token, rcpts, lines):
    body = [f"line {i:03d} of {token} " + "0123456789" * 4 for i in range(lines)]
    return harness.make_message(token, sender=SENDER, to=rcpts[0], subject=f"odur {token}", body_lines=body)


class Load:
    """Shared state of the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}        # token → (queue id, [recipients])
        self.dot_sent = set()  # tokens whose final ".\r\n" went (or may have gone) out
        self.errors = []       # failures before the kill
        self.killing = threading.Event()
        self.progress = threading.Condition(self.lock)


def worker(srv, load, prefix, index, rng):
    c = None
    for n in range(PER_THREAD):
        if load.killing.is_set():
            break
        token = f"{prefix}-{index}-{n}"
        rcpts = recipients_of(token, n)
        try:
            if c is None:
                c = srv.client(timeout=20)
                if c.greeting().code != 220 or c.ehlo().code != 250:
                    raise AssertionError("greeting/EHLO failed")
            if c.command(f"MAIL FROM:<{SENDER}>").code != 250:
                raise AssertionError(f"MAIL refused for {token}")
            for r in rcpts:
                if c.command(f"RCPT TO:<{r}>").code != 250:
                    raise AssertionError(f"RCPT {r} refused for {token}")
            if c.command("DATA").code != 354:
                raise AssertionError(f"DATA refused for {token}")
            c.send(message(token, rcpts, rng.randint(2, 20)).encode())
            with load.lock:
                load.dot_sent.add(token)
            c.send(b".\r\n")
            r = c.read_reply(30)
            qid = harness.queued_id(r.text) if r.code == 250 else None
            if qid:
                with load.progress:
                    load.acked[token] = (qid, rcpts)
                    load.progress.notify_all()
            elif not load.killing.is_set():
                raise AssertionError(f"end of data for {token}: {r.raw!r}")
            if rng.random() < 0.1:  # sometimes a fresh connection
                c.command("QUIT")
                c.close()
                c = None
            # Pace the load (~2-3 s in all) so that the kill can land while deliveries, retries and
            # restarts of deferred messages are going on, not only while messages are received.
            load.killing.wait(rng.uniform(0, 0.06))
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


def durable_outcomes(log_text):
    """From the log written before the kill: ({id: set of recipients whose outcome was durable},
    {ids finished}). mailflow logs event=delivered/failed for the outcomes of an attempt, then writes
    them to the spool, then logs event=defer (recipients left) or event=finished (message removed);
    a failed spool write logs event=spool_error for the id instead (then the outcomes are not durable)."""
    pending, durable, finished = {}, {}, set()
    for line in log_text.splitlines():
        m = LOG_RX.search(line)
        if not m:
            continue
        event, qid, rcpt, _ = m.groups()
        if event in ("delivered", "failed") and rcpt:
            pending.setdefault(qid, set()).add(rcpt.strip('"'))
        elif event == "spool_error":  # the outcomes logged so far for this id were not written
            pending.pop(qid, None)
        elif event == "defer":
            durable.setdefault(qid, set()).update(pending.pop(qid, set()))
        elif event == "finished":
            finished.add(qid)
            pending.pop(qid, None)
    return durable, finished


class OutboundDurabilityTest(MailflowTestCase):
    def test_kill_during_relay_to_a_healthy_smart_host(self):
        sink = peers.SmtpSink()
        self.addCleanup(sink.stop)
        self.run_scenario(sink, variant=1, heal=None)

    def test_kill_during_retries_and_slow_data(self):
        seen = set()
        seen_lock = threading.Lock()

        def rcpt(session):
            # 451 to the first attempt of every "-a" recipient of messages n % 3 != 0 (the 2-recipient
            # messages then have "-b" delivered and "-a" deferred: a partial outcome in the spool).
            line = session.commands[-1] if session.commands else ""
            m = re.search(r"<(odur-\d+-\d+-\d+-(\d+)-a@fabrikam\.test)>", line, re.I)
            if not m or int(m.group(2)) % 3 == 0:
                return None
            with seen_lock:
                first = m.group(1).lower() not in seen
                seen.add(m.group(1).lower())
            return "451 4.2.1 mailbox busy, try again later" if first else None

        def eod(session):
            # Every other transaction: the reply to the final dot comes 0.5 s late (the sink has the
            # message already; a kill meanwhile makes mailflow send it again after the restart).
            if session.transactions % 2 == 1:
                time.sleep(0.5)
            return None

        sink = peers.SmtpSink(reply_overrides={"rcpt": rcpt, "eod": eod})
        self.addCleanup(sink.stop)
        self.run_scenario(sink, variant=2, heal=sink.clear_overrides)

    # ------------------------------------------------------------------------------------------------

    def run_scenario(self, sink, variant, heal):
        name = f"outbound-durability/{variant}"
        seed = int(os.environ.get("MAILFLOW_IT_SEED", str(time.time_ns() % 1000000007)))
        rng = random.Random(seed * 10 + variant)
        total = THREADS * PER_THREAD
        kill_after = rng.randint(30, 240)  # acknowledged messages before the kill (of 300)
        print(f"\n[{name}] seed={seed} kill after {kill_after} acknowledged messages (replay: "
              f"MAILFLOW_IT_SEED={seed})", file=sys.stderr)

        srv = self.start_server(service={"remote_smtp_port": sink.port,
                                         "queue": {"retry_intervals": ["1s"], "message_expiration": "10m"}},
                                organizations=organizations(sink))
        prefix = f"odur-{seed}-{variant}"
        load = Load()
        threads = [threading.Thread(target=worker, args=(srv, load, prefix, i, random.Random(seed * 31 + i)),
                                    daemon=True) for i in range(THREADS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        with load.progress:
            load.progress.wait_for(lambda: len(load.acked) >= kill_after or len(load.errors) > 0
                                   or not any(t.is_alive() for t in threads), timeout=90)
        time.sleep(rng.uniform(0, 0.05))  # land somewhere inside the next transactions
        load.killing.set()
        srv.kill()
        killed_at = time.monotonic() - t0
        log_before_kill = srv.log()
        at_kill_sink = len(sink.messages)
        counts_at_kill, _ = self.scan(sink)
        for t in threads:
            t.join(60)
        self.assertFalse(any(t.is_alive() for t in threads), "client threads did not finish")
        self.assertEqual(load.errors, [], "failures before the kill")
        acked = dict(load.acked)
        self.assertGreaterEqual(len(acked), min(kill_after, 30), "too few messages before the kill")
        durable, finished_before = durable_outcomes(log_before_kill)
        deferred_before = {qid for line in log_before_kill.splitlines()
                           for qid in re.findall(r"event=defer id=(\S+)", line)}

        if heal:
            heal()
        restart_mark = srv.log_size()
        srv.start()
        t_restart = time.monotonic()

        # Every acknowledged (token, recipient) at the sink.
        expected = {(tok, r) for tok, (_, rcpts) in acked.items() for r in rcpts}
        deadline = time.monotonic() + 60
        while True:
            counts, incomplete = self.scan(sink)
            missing = expected - set(counts)
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        delivered_at = time.monotonic() - t_restart

        # The spool drains: every message the restart recovered ends with event=finished.
        acked_ids = {qid: tok for tok, (qid, _) in acked.items()}
        recovered_line = srv.wait_for_log(r"event=recover messages=\d+", timeout=10, since=restart_mark)
        recovered = re.search(r"event=recover messages=(\d+)", recovered_line or "")
        recovered_n = int(recovered.group(1)) if recovered else None
        deadline = time.monotonic() + (30 if not missing else 1)
        while True:
            after = srv.log()[restart_mark:]
            finished_after = set(re.findall(r"event=finished id=(\S+)", after))
            _, finished_all = durable_outcomes(srv.log())
            unfinished = sorted(set(acked_ids) - finished_all)
            if not unfinished or (recovered_n is not None and len(finished_after) >= recovered_n) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        time.sleep(0.3)  # a late duplicate has the chance to show up
        counts, incomplete = self.scan(sink)
        # An acknowledged message without event=finished is one the kill caught between its durable
        # removal from the spool and that log line: it was delivered before the kill, and the restart
        # neither recovered it nor logged anything about it. Anything else is a message that was
        # recovered and never finished.
        after = srv.log()[restart_mark:]
        mentioned_after = set(re.findall(r"\bid=(\S+)", after))
        log_line_lost = [qid for qid in unfinished if qid not in mentioned_after and
                         all(counts_at_kill.get((acked_ids[qid], r.lower()), 0) > 0 for r in acked[acked_ids[qid]][1])]
        unfinished = [qid for qid in unfinished if qid not in log_line_lost]

        # Duplicates: allowed only where the outcome was not yet durable at the kill ("in flight").
        id_of = {tok: qid for tok, (qid, _) in acked.items()}
        duplicates = {k: n for k, n in counts.items() if n > 1}
        not_in_flight = sorted(
            f"{tok} rcpt={r} id={id_of[tok]} x{n}" for (tok, r), n in duplicates.items()
            if tok in id_of and (id_of[tok] in finished_before or r.lower() in
                                 {x.lower() for x in durable.get(id_of[tok], ())}))
        open_at_kill = [tok for tok, (qid, _) in acked.items() if qid not in finished_before]
        open_deliveries = sum(len(acked[tok][1]) for tok in open_at_kill)
        extra = sum(n - 1 for n in duplicates.values())
        delivered_tokens = {tok for (tok, _) in counts}
        without_250 = delivered_tokens - set(acked)
        print(f"[{name}] killed at {killed_at:.2f}s: sent-final-dot={len(load.dot_sent)} acknowledged={len(acked)} "
              f"finished-before-kill={len(finished_before & set(acked_ids))} "
              f"deferred-before-kill={len(deferred_before)} "
              f"partly-done-before-kill={len([q for q, rs in durable.items() if rs and q not in finished_before])} "
              f"sink-messages-at-kill={at_kill_sink}; "
              f"restart recovered={recovered.group(1) if recovered else '?'}; all delivered after "
              f"{delivered_at:.2f}s; sink-messages={len(sink.messages)} recipient-deliveries={sum(counts.values())} "
              f"relayed-without-250={len(without_250)} duplicate-deliveries={extra} (bound: "
              f"{open_deliveries} deliveries of {len(open_at_kill)} messages not finished at the kill, plus "
              f"unacknowledged ones) missing={len(missing)} unfinished={len(unfinished)} "
              f"removed-but-not-logged-at-kill={len(log_line_lost)}",
              file=sys.stderr)

        lost = sorted(f"{tok} rcpt={r} id={id_of[tok]}" for tok, r in missing)
        self.assertEqual(lost[:20], [], f"{len(lost)} acknowledged deliveries lost (seed {seed})")
        self.assertEqual(incomplete, [], "truncated or altered messages reached the sink")
        self.assertEqual(sorted(delivered_tokens - load.dot_sent), [],
                         "messages whose final dot was never sent were relayed")
        self.assertEqual(not_in_flight[:20], [],
                         f"deliveries whose outcome was durable before the kill were repeated (seed {seed})")
        # Implied by the check above, kept as the plain bound: repeats come only from the messages
        # still open at the kill (plus those that never got their 250).
        self.assertLessEqual(sum(n - 1 for (tok, _), n in duplicates.items() if tok in id_of), open_deliveries)
        self.assertEqual([f"{qid} ({acked_ids[qid]})" for qid in unfinished][:20], [],
                         f"acknowledged messages never finished (seed {seed})")
        failures = re.findall(r".*event=(?:failed|ndr) .*", srv.log())
        self.assertEqual(failures[:10], [], "a recipient failed or an NDR was made")

        # Nothing is left in the spool: a clean stop, then another start recovers no message.
        srv.stop()
        mark = srv.log_size()
        srv.start()
        line = srv.wait_for_log(r"event=recover messages=\d+", timeout=10, since=mark)
        self.assertIsNotNone(line, "no event=recover line after the second restart")
        self.assertRegex(line, r"event=recover messages=0 ", f"the spool did not drain (seed {seed})")
        srv.stop()

    @staticmethod
    def scan(sink):
        """{(token, recipient): number of accepted transactions carrying it} and the list of messages
        that are not complete."""
        counts, incomplete = {}, []
        for m in sink.messages:
            found = TOKEN_RX.search(m["data"] or b"")
            if not found:
                continue
            token = found.group(1).decode()
            for r in m["rcpts"]:
                key = (token, r.lower())
                counts[key] = counts.get(key, 0) + 1
            if not m["data"].endswith(f"END {token}\r\n".encode()):
                incomplete.append(token)
        return counts, incomplete


if __name__ == "__main__":
    harness.main()
