#!/usr/bin/env python3
"""relay_bench.py — end-to-end relay benchmark: mailflow against a private Postfix instance.

Python 3 standard library only. Everything listens on 127.0.0.0/8; every temporary directory is removed
and the private Postfix instance is stopped at the end, also on Ctrl-C or an error.

Measurements (see bench/README.md for the meaning of every column):
  (a) relay throughput: Postfix smtp-source (20 sessions) -> MTA under test -> Postfix smtp-sink as the
      smart host.  A = mailflow, B = a private Postfix relay instance; interleaved A/B/A/B pairs; messages
      per second from the start of smtp-source until the sink has counted every message.
  (d) end-of-data -> 250 latency (includes the spool fsync), measured by a small Python SMTP client that
      sends one message per session while an (a) load runs against the same MTA.
  (e) failure mix (mailflow only): a Python SMTP sink answers 5 % of RCPTs 451 4.3.0 (first try only)
      and 1 % 550 5.1.1; check accepted recipients = delivered + bounced (NDRs in the local Maildir).

Usage:  python3 bench/relay_bench.py [--mailflow PATH] [--quick] [--messages N] [--size 10240,102400]
                                     [--pairs N] [--only a,d,e]
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SINK_ADDR = "127.0.70.2"
MAILFLOW_ADDR = "127.0.70.1"
POSTFIX_ADDR = "127.0.70.3"
PROBE_ADDR = "127.0.70.4"      # source address of the readiness probes and of the latency client
RELAY_DOMAIN = "example.test"  # external_relay domain at mailflow, relay_domains at Postfix
LOCAL_DOMAIN = "bench.test"    # authoritative domain at mailflow with the sender's mailbox
SENDER = f"sender@{LOCAL_DOMAIN}"
SESSIONS = 20

REPO = Path(__file__).resolve().parent.parent
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
POSTCONF = shutil.which("postconf") or "/usr/sbin/postconf"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ----------------------------------------------------------------------------------------------------
# Cleanup: every started resource registers an undo; they run in reverse order, also on Ctrl-C.

_cleanups = []


def on_cleanup(fn):
    _cleanups.append(fn)
    return fn


def run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep cleaning up
            log(f"cleanup error: {e!r}")


def _sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port(addr):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def wait_for_greeting(addr, port, timeout=20.0, proc=None, what="server"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{what} exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection((addr, port), timeout=5, source_address=(PROBE_ADDR, 0)) as s:
                data = s.recv(512)
                if data.startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return
                last = data
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise BenchError(f"{what} on {addr}:{port} not ready within {timeout:.0f}s ({last!r})")


def stop_process(proc, grace=20.0, sig=signal.SIGTERM):
    """Stop one process we started (by its pid); SIGKILL after the grace period. Returns the status."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    proc.send_signal(sig)
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(10)


# ----------------------------------------------------------------------------------------------------
# Postfix smtp-sink with -c counters: it prints "sess=N quit=N mesg=N" (CR-separated) each time a
# session ends, QUIT is executed or "." is received.  mesg counts completed DATA transactions; each relayed
# message is one transaction at the sink (one recipient per message), so mesg == messages received.


class CountingSink:
    def __init__(self, workdir):
        self.port = free_port(SINK_ADDR)
        cmd = [SMTP_SINK, "-c"]
        if os.geteuid() == 0:
            cmd += ["-u", "nobody"]  # required when run as root
        cmd += [f"{SINK_ADDR}:{self.port}", "1024"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=open(Path(workdir) / "smtp-sink.err", "wb"), bufsize=0)
        on_cleanup(lambda: stop_process(self.proc, 5))
        self.count = 0
        self.last_change = time.monotonic()
        self.reached = {}  # target count -> monotonic time it was reached
        self.targets = set()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        wait_for_greeting(SINK_ADDR, self.port, proc=self.proc, what="smtp-sink")

    def _read(self):
        rx = re.compile(rb"mesg=(\d+)")
        buf = b""
        while True:
            chunk = self.proc.stdout.read(65536)
            if not chunk:
                break
            now = time.monotonic()
            buf += chunk
            parts = buf.split(b"\r")
            buf = parts.pop()
            for p in reversed(parts):
                m = rx.search(p)
                if m:
                    n = int(m.group(1))
                    with self._cond:
                        if n != self.count:
                            self.count = n
                            self.last_change = now
                            for t in self.targets:
                                if n >= t and t not in self.reached:
                                    self.reached[t] = now
                            self._cond.notify_all()
                    break

    def expect(self, target):
        with self._cond:
            self.targets.add(target)
            if self.count >= target:
                self.reached.setdefault(target, time.monotonic())

    def wait(self, target, stall_timeout, hard_deadline):
        """Wait until `target` messages were counted; None on a stall (no progress for stall_timeout)."""
        with self._cond:
            while self.count < target:
                now = time.monotonic()
                if now - self.last_change > stall_timeout or now > hard_deadline:
                    return None
                self._cond.wait(0.5)
            return self.reached.get(target, time.monotonic())

    def stop(self):
        stop_process(self.proc, 5)


# ----------------------------------------------------------------------------------------------------
# MTA A: mailflow


class Mailflow:
    name = "mailflow"

    def __init__(self, binary, workdir, smart_host, queue=None, log_level="info"):
        self.root = Path(workdir)
        self.port = free_port(MAILFLOW_ADDR)
        self.addr = MAILFLOW_ADDR
        self.data_dir = self.root / "var"
        config = {
            "service": {
                "hostname": "mailflow-bench.example.net",
                "listeners": [{"name": "mx", "address": f"{MAILFLOW_ADDR}:{self.port}"}],
                "data_dir": str(self.data_dir),
                "max_message_size": 36700160,
                "max_recipients": 1000,
                "queue": queue or {"retry_intervals": ["60s", "300s"], "message_expiration": "1h"},
                # the default (1,000 messages per IP per 60 s) would throttle the benchmark client
                "throttling": {"window": "60s", "max_messages_per_ip": 1000000000},
                "limits": {"max_connections": 10000, "max_connections_per_ip": 10000, "min_free_disk": 0},
            },
            "organizations": [{
                "name": "bench",
                "accepted_domains": [{"domain": LOCAL_DOMAIN, "type": "authoritative"},
                                     {"domain": RELAY_DOMAIN, "type": "external_relay"}],
                "recipients": [{"type": "mailbox", "address": SENDER}],
                "outbound_connectors": [{"name": "to-sink", "connector_type": "partner",
                                         "recipient_domains": [RELAY_DOMAIN], "smart_hosts": [smart_host]}],
            }],
        }
        self.config_path = self.root / "mailflow.yaml"
        self.config_path.write_text(json.dumps(config, indent=1) + "\n")  # JSON is YAML
        self.log_path = self.root / "mailflow.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "serve", "--config", str(self.config_path), "--log-level", log_level],
                                     cwd=self.root, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        on_cleanup(self.stop)
        try:
            wait_for_greeting(self.addr, self.port, proc=self.proc, what="mailflow")
        except BenchError as e:
            raise BenchError(f"{e}\n{self.log_tail()}")

    def cpu_seconds(self):
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def stop(self):
        rc = stop_process(self.proc, 30)
        if not self._log.closed:
            self._log.close()
        return rc

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    def log_problems(self, limit=20):
        """warn/error/critical lines (a product problem if present in the throughput runs)."""
        lines = [l for l in self.log_text().splitlines() if re.match(r"\S+ (warning|error|critical) ", l)]
        return len(lines), lines[:limit]


# ----------------------------------------------------------------------------------------------------
# MTA B: a private Postfix instance (own config_directory and queue_directory in the temp dir; it never
# touches /etc/postfix, /var/spool/postfix or port 25).  Durable: cleanup fsyncs every queue file.

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
{listen} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixInstance:
    name = "postfix"

    def __init__(self, workdir, smart_host):
        self.root = Path(workdir)
        os.chmod(self.root, 0o755)
        self.addr = POSTFIX_ADDR
        self.port = free_port(POSTFIX_ADDR)
        self.config_dir = self.root / "etc"
        self.queue_dir = self.root / "spool"
        self.data_dir = self.root / "data"
        self.maillog = self.root / "maillog"
        for d in (self.config_dir, self.queue_dir, self.data_dir):
            d.mkdir(parents=True)
        shutil.chown(self.data_dir, "postfix", "postfix")
        main_cf = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "postfix-bench.example.net",
            "mydomain": "example.net",
            "myorigin": "$myhostname",
            "mydestination": "",
            "local_recipient_maps": "",
            "local_transport": "error:local delivery is disabled",
            "alias_maps": "",
            "alias_database": "",
            "relay_domains": RELAY_DOMAIN,
            "relayhost": smart_host,
            "mynetworks": "127.0.0.0/8",
            # must name addresses of a local interface (127.0.70.3 is routed to lo but not assigned); the only
            # listener is the explicit 127.0.70.3:<port> in master.cf, so nothing else is bound
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            # no reverse DNS of 127.0.70.x through the machine's resolver (mailflow does none either)
            "smtpd_peername_lookup": "no",
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": str(self.root),
            "biff": "no",
            "smtputf8_enable": "no",
            "notify_classes": "",
            "message_size_limit": "36700160",
        }
        (self.config_dir / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in main_cf.items()))
        (self.config_dir / "master.cf").write_text(MASTER_CF.format(listen=f"{POSTFIX_ADDR}:{self.port}"))
        self.started = False
        on_cleanup(self.stop)
        r = subprocess.run([POSTFIX, "-c", str(self.config_dir), "start"], capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            # postfix(1) prints its fatal message only to a terminal: ask again through script(1)
            why = subprocess.run(["script", "-qec", f"{POSTFIX} -c {self.config_dir} check", "/dev/null"],
                                 capture_output=True, text=True, timeout=60).stdout if shutil.which("script") else ""
            raise BenchError(f"postfix -c {self.config_dir} start failed ({r.returncode}):\n{r.stdout}{r.stderr}{why}"
                             f"\n{self.log_tail()}")
        self.started = True
        try:
            wait_for_greeting(self.addr, self.port, what="postfix")
        except BenchError as e:
            raise BenchError(f"{e}\n{self.log_tail()}")

    def master_pid(self):
        try:
            return int((self.queue_dir / "pid" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        if not self.started:
            return
        pid = self.master_pid()
        subprocess.run([POSTFIX, "-c", str(self.config_dir), "stop"], capture_output=True, timeout=60)
        deadline = time.monotonic() + 20
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)  # the master process of this instance only
                except ProcessLookupError:
                    pass
        self.started = False

    def log_tail(self, n=30):
        try:
            return "\n".join(self.maillog.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def log_problems(self, limit=20):
        try:
            lines = [l for l in self.maillog.read_text(errors="replace").splitlines()
                     if re.search(r"(warning|error|fatal|panic):", l)]
        except OSError:
            return 0, []
        return len(lines), lines[:limit]

    def cpu_seconds(self):
        return None


# ----------------------------------------------------------------------------------------------------
# (d) latency client: one message per session; times "\r\n.\r\n" -> 250.


def _read_reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise BenchError("connection closed")
        lines.append(line)
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3]), b"".join(lines)


def latency_one(addr, port, size, idx):
    body = (b"X" * 78 + b"\r\n") * max(1, size // 80)
    with socket.create_connection((addr, port), timeout=60, source_address=(PROBE_ADDR, 0)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")

        def cmd(line, want):
            s.sendall(line)
            code, text = _read_reply(f)
            if code != want:
                raise BenchError(f"{line.strip()!r}: {text!r}")

        code, text = _read_reply(f)
        if code != 220:
            raise BenchError(f"greeting {text!r}")
        cmd(b"EHLO latency.bench.test\r\n", 250)
        cmd(f"MAIL FROM:<{SENDER}>\r\n".encode(), 250)
        cmd(f"RCPT TO:<lat{idx}@{RELAY_DOMAIN}>\r\n".encode(), 250)
        cmd(b"DATA\r\n", 354)
        s.sendall(f"From: <{SENDER}>\r\nTo: <lat{idx}@{RELAY_DOMAIN}>\r\nSubject: latency {idx}\r\n"
                  f"Message-ID: <lat{idx}.{time.time()}@bench.test>\r\n\r\n".encode() + body)
        t0 = time.perf_counter()
        s.sendall(b"\r\n.\r\n")
        code, text = _read_reply(f)
        t1 = time.perf_counter()
        if code != 250:
            raise BenchError(f"end of data: {text!r}")
        try:
            s.sendall(b"QUIT\r\n")
            _read_reply(f)
        except (OSError, BenchError):
            pass
        return t1 - t0


class LatencyClient(threading.Thread):
    def __init__(self, addr, port, count, size, concurrency, under_load):
        super().__init__(daemon=True)
        self.addr, self.port, self.count, self.size = addr, port, count, size
        self.concurrency = concurrency
        self.under_load = under_load  # callable: is the smtp-source load still running?
        self.samples = []  # (seconds, under_load)
        self.errors = []
        self._next = 0
        self._lock = threading.Lock()

    def _worker(self):
        while True:
            with self._lock:
                if self._next >= self.count:
                    return
                self._next += 1
                idx = self._next
            try:
                loaded = self.under_load()
                dt = latency_one(self.addr, self.port, self.size, idx)
                with self._lock:
                    self.samples.append((dt, loaded and self.under_load()))
            except Exception as e:
                with self._lock:
                    self.errors.append(repr(e))

    def run(self):
        ts = [threading.Thread(target=self._worker, daemon=True) for _ in range(self.concurrency)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


def cpu_times():
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v) - idle, sum(v)
    except (OSError, ValueError, IndexError):
        return None


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))  # nearest-rank
    return v[k]


# ----------------------------------------------------------------------------------------------------
# (a) one relay run


def smtp_source_cmd(target_addr, port, messages, size, sender=SENDER, recipients=1):
    return [SMTP_SOURCE, "-s", str(SESSIONS), "-m", str(messages), "-l", str(size), "-r", str(recipients), "-N",
            "-f", sender, "-t", f"rcpt@{RELAY_DOMAIN}", "-M", "source.bench.test", f"{target_addr}:{port}"]


def relay_run(kind, args, base_tmp, size, messages, latency=None):
    """One throughput run; kind is 'mailflow' or 'postfix'.  Returns a result dict."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=base_tmp))
    os.chmod(workdir, 0o755)  # the Postfix daemons (user postfix) open files under absolute paths in here
    n_cleanups = len(_cleanups)
    result = {"mta": kind, "size": size, "messages": messages, "sessions": SESSIONS}
    try:
        sink = CountingSink(workdir)
        smart_host = f"{SINK_ADDR}:{sink.port}" if kind == "mailflow" else f"[{SINK_ADDR}]:{sink.port}"
        (workdir / "mta").mkdir()
        if kind == "mailflow":
            mta = Mailflow(args.mailflow, workdir / "mta", smart_host)
        else:
            mta = PostfixInstance(workdir / "mta", smart_host)
        sink.expect(messages)
        cmd = smtp_source_cmd(mta.addr, mta.port, messages, size)
        result["smtp_source_command"] = " ".join(cmd)
        cpu0 = mta.cpu_seconds()
        machine0 = cpu_times()
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        src = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        on_cleanup(lambda: stop_process(src, 2, signal.SIGKILL))
        lat = None
        if latency:
            lat = LatencyClient(mta.addr, mta.port, latency["count"], size, latency["concurrency"],
                                under_load=lambda: src.poll() is None)
            time.sleep(latency.get("delay", 0.1))  # let smtp-source open its sessions first
            lat.start()
        try:
            _, err = src.communicate(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            src.kill()
            _, err = src.communicate()
            result["error"] = f"smtp-source did not finish within {args.timeout}s (MTA stalled?)"
        t_inject = time.monotonic()
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # only smtp-source was reaped meanwhile
        result["smtp_source_cpu_seconds"] = round(children1.ru_utime + children1.ru_stime
                                                  - children0.ru_utime - children0.ru_stime, 2)
        result["smtp_source_rc"] = src.returncode
        if src.returncode != 0 and "error" not in result:
            result["error"] = f"smtp-source exited {src.returncode}: {err.decode(errors='replace').strip()[-500:]}"
        result["inject_seconds"] = round(t_inject - t0, 3)
        result["inject_msg_per_s"] = round(messages / (t_inject - t0), 1)
        t_done = sink.wait(messages, args.stall_timeout, t0 + args.timeout)
        if lat is not None:
            lat.join(args.timeout)
        if t_done is None:
            result["error"] = (result.get("error", "") + f" sink received {sink.count}/{messages} messages; no progress "
                               f"for {args.stall_timeout}s").strip()
            result["sink_count"] = sink.count
        else:
            result["seconds"] = round(t_done - t0, 3)
            result["msg_per_s"] = round(messages / (t_done - t0), 1)
            result["sink_count"] = sink.count
        cpu1 = mta.cpu_seconds()
        machine1 = cpu_times()
        if machine0 and machine1 and machine1[1] > machine0[1]:
            # share of all CPUs busy from the start until the sink had everything (or the stall)
            result["machine_cpu_busy_percent"] = round(100.0 * (machine1[0] - machine0[0]) / (machine1[1] - machine0[1]), 1)
        if cpu0 is not None and cpu1 is not None:
            result["mta_cpu_seconds"] = round(cpu1 - cpu0, 2)
        if lat is not None:
            vals = [d for d, _ in lat.samples]
            result["latency"] = {
                "samples": len(vals), "samples_under_load": sum(1 for _, l in lat.samples if l),
                "errors": len(lat.errors), "error_examples": lat.errors[:5],
                "p50_ms": None if not vals else round(percentile(vals, 50) * 1000, 2),
                "p99_ms": None if not vals else round(percentile(vals, 99) * 1000, 2),
                "max_ms": None if not vals else round(max(vals) * 1000, 2),
            }
        time.sleep(0.3)  # let late duplicate deliveries show up at the sink
        if sink.count > messages + (latency["count"] if latency else 0):
            result["duplicates_at_sink"] = sink.count - messages - (latency["count"] if latency else 0)
        nprob, probs = mta.log_problems()
        if nprob:
            result["mta_log_problem_lines"] = nprob
            result["mta_log_problem_examples"] = probs[:5]
        if "error" in result:
            result["mta_log_tail"] = mta.log_tail(40)
        return result
    finally:
        while len(_cleanups) > n_cleanups:
            fn = _cleanups.pop()
            try:
                fn()
            except Exception as e:
                log(f"cleanup error: {e!r}")
        shutil.rmtree(workdir, ignore_errors=True)


# ----------------------------------------------------------------------------------------------------
# (e) failure-mix sink: 5 % of recipients get 451 4.3.0 on their first RCPT, 1 % always get 550 5.1.1,
# decided by a hash of the address.


def rcpt_class(addr):
    h = int.from_bytes(hashlib.sha256(addr.lower().encode()).digest()[:4], "big") % 100
    if h < 1:
        return "550"
    if h < 6:
        return "451"
    return "ok"


class FailureSink:
    def __init__(self):
        self.lock = threading.Lock()
        self.delivered = {}       # rcpt -> times delivered (DATA 250)
        self.deferred = set()     # recipients answered 451 (once)
        self.rejected = {}        # rcpt -> times answered 550
        self.transactions = 0
        self.connections = 0
        self.last_change = time.monotonic()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                with sink.lock:
                    sink.connections += 1
                w = self.wfile
                w.write(b"220 failsink.bench.test ESMTP\r\n")
                w.flush()
                rcpts = []
                mail = False
                while True:
                    line = self.rfile.readline(4096)
                    if not line:
                        return
                    u = line[:10].upper()
                    if u.startswith(b"EHLO"):
                        w.write(b"250-failsink.bench.test\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
                                b"250 SIZE 104857600\r\n")
                    elif u.startswith(b"HELO"):
                        w.write(b"250 failsink.bench.test\r\n")
                    elif u.startswith(b"MAIL"):
                        mail, rcpts = True, []
                        w.write(b"250 2.1.0 ok\r\n")
                    elif u.startswith(b"RCPT"):
                        m = re.search(rb"<([^>]*)>", line)
                        addr = m.group(1).decode(errors="replace").lower() if m else ""
                        c = rcpt_class(addr)
                        with sink.lock:
                            if c == "550":
                                sink.rejected[addr] = sink.rejected.get(addr, 0) + 1
                                reply = b"550 5.1.1 <%s>: user unknown\r\n" % addr.encode()
                            elif c == "451" and addr not in sink.deferred:
                                sink.deferred.add(addr)
                                reply = b"451 4.3.0 try again later\r\n"
                            else:
                                rcpts.append(addr)
                                reply = b"250 2.1.5 ok\r\n"
                            sink.last_change = time.monotonic()
                        w.write(reply)
                    elif u.startswith(b"DATA"):
                        if not mail or not rcpts:
                            w.write(b"503 5.5.1 no valid recipients\r\n")
                            continue
                        w.write(b"354 go ahead\r\n")
                        w.flush()
                        while True:
                            l = self.rfile.readline(1 << 20)
                            if not l:
                                return
                            if l == b".\r\n":
                                break
                        with sink.lock:
                            for r in rcpts:
                                sink.delivered[r] = sink.delivered.get(r, 0) + 1
                            sink.transactions += 1
                            sink.last_change = time.monotonic()
                        w.write(b"250 2.0.0 queued\r\n")
                        mail, rcpts = False, []
                    elif u.startswith(b"RSET"):
                        mail, rcpts = False, []
                        w.write(b"250 2.0.0 ok\r\n")
                    elif u.startswith(b"NOOP"):
                        w.write(b"250 2.0.0 ok\r\n")
                    elif u.startswith(b"QUIT"):
                        w.write(b"221 2.0.0 bye\r\n")
                        w.flush()
                        return
                    else:
                        w.write(b"502 5.5.2 not implemented\r\n")
                    w.flush()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 1024

        self.port = free_port(SINK_ADDR)
        self.server = Server((SINK_ADDR, self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self.thread.start()
        on_cleanup(self.stop)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def parse_ndrs(mailbox_root):
    """Final-Recipient addresses of the NDRs in every Maildir under mailbox_root (failed actions only)."""
    files, failed = 0, []
    for p in Path(mailbox_root).glob("**/new/*"):
        files += 1
        text = p.read_text(errors="replace")
        for block in re.split(r"\n\s*\n", text):
            m = re.search(r"^Final-Recipient:\s*rfc822;\s*(\S+)", block, re.M | re.I)
            if m and re.search(r"^Action:\s*failed", block, re.M | re.I):
                failed.append(m.group(1).strip().lower())
    return files, failed


def failure_mix(args, base_tmp, messages, size):
    workdir = Path(tempfile.mkdtemp(prefix="failmix-", dir=base_tmp))
    n_cleanups = len(_cleanups)
    rcpts_per_msg = 2
    res = {"messages": messages, "size": size, "recipients_per_message": rcpts_per_msg}
    try:
        sink = FailureSink()
        (workdir / "mta").mkdir()
        mf = Mailflow(args.mailflow, workdir / "mta", f"{SINK_ADDR}:{sink.port}",
                      queue={"retry_intervals": ["1s"], "message_expiration": "1h"})
        cmd = smtp_source_cmd(mf.addr, mf.port, messages, size, recipients=rcpts_per_msg)
        res["smtp_source_command"] = " ".join(cmd)
        t0 = time.monotonic()
        src = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             timeout=args.timeout)
        res["smtp_source_rc"] = src.returncode
        if src.returncode != 0:
            res["error"] = f"smtp-source exited {src.returncode}: {src.stderr.decode(errors='replace')[-500:]}"
        # what mailflow accepted: its event=receive log lines (one per accepted message, with the recipients)
        accepted = []
        for line in mf.log_text().splitlines():
            if " event=receive " in line:
                m = re.search(r' to=("(?:[^"\\]|\\.)*"|\S+)', line)
                if m:
                    accepted += [a.lower() for a in m.group(1).strip('"').split(",") if a]
        res["accepted_messages_logged"] = sum(1 for l in mf.log_text().splitlines() if " event=receive " in l)
        expect_ok = {a for a in accepted if rcpt_class(a) != "550"}
        expect_550 = {a for a in accepted if rcpt_class(a) == "550"}
        mailboxes = mf.data_dir / "mailboxes"
        deadline = t0 + args.timeout
        settled_at = None
        while time.monotonic() < deadline:
            with sink.lock:
                delivered = set(sink.delivered)
                idle = time.monotonic() - sink.last_change
            nfiles, bounced = parse_ndrs(mailboxes)
            if expect_ok <= delivered and set(bounced) >= expect_550:
                settled_at = time.monotonic()
                break
            if idle > args.stall_timeout:
                break
            time.sleep(0.25)
        time.sleep(1.5)  # late extra deliveries or NDRs would show up as a mismatch
        with sink.lock:
            delivered_counts = dict(sink.delivered)
            deferred = set(sink.deferred)
            rejected = dict(sink.rejected)
        nfiles, bounced = parse_ndrs(mailboxes)
        acc = set(accepted)
        res.update({
            "accepted_recipients": len(accepted),
            "accepted_unique": len(acc),
            "delivered": sum(1 for a in delivered_counts if a in acc),
            "delivered_duplicates": sum(c - 1 for a, c in delivered_counts.items() if c > 1),
            "deferred_then_delivered": sum(1 for a in deferred if a in delivered_counts),
            "deferred_451_answers": len(deferred),
            "rejected_550_answers": sum(rejected.values()),
            "rejected_550_recipients": len(rejected),
            "bounced_ndr_files": nfiles,
            "bounced": len(set(bounced) & acc),
            "bounced_duplicates": len(bounced) - len(set(bounced)),
            "expected_delivered": len(expect_ok),
            "expected_bounced": len(expect_550),
            "sink_transactions": sink.transactions,
            "sink_connections": sink.connections,
        })
        unknown_delivered = [a for a in delivered_counts if a not in acc]
        if unknown_delivered:
            res["delivered_not_accepted"] = unknown_delivered[:10]
        ok = (res["accepted_recipients"] == res["delivered"] + res["bounced"] and res["delivered_duplicates"] == 0
              and res["bounced_duplicates"] == 0 and len(bounced) == res["bounced"])
        res["check"] = "OK" if ok else "MISMATCH"
        if settled_at is not None:
            res["seconds"] = round(settled_at - t0, 3)
            res["msg_per_s"] = round(messages / (settled_at - t0), 1)
        else:
            res["error"] = (res.get("error", "") + " not settled: missing deliveries or NDRs").strip()
            missing = sorted(expect_ok - set(delivered_counts))
            res["missing_deliveries"] = len(missing)
            res["missing_examples"] = missing[:10]
            res["missing_ndrs"] = sorted(expect_550 - set(bounced))[:10]
        nprob, probs = mf.log_problems()
        res["mta_log_problem_lines"] = nprob  # expected here: failed recipients are logged as warnings
        if "error" in res:
            res["mta_log_tail"] = mf.log_tail(40)
        return res
    finally:
        while len(_cleanups) > n_cleanups:
            fn = _cleanups.pop()
            try:
                fn()
            except Exception as e:
                log(f"cleanup error: {e!r}")
        shutil.rmtree(workdir, ignore_errors=True)


# ----------------------------------------------------------------------------------------------------
# Reporting


def machine_info(args):
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    except OSError:
        pass

    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "cpu_model": cpu,
        "memory": mem,
        "python": platform.python_version(),
        "postfix_version": out([POSTCONF, "-d", "-h", "mail_version"]),
        "mailflow_version": out([args.mailflow, "--version"]),
        "mailflow_binary": str(Path(args.mailflow).resolve()),
        "git_commit": out(["git", "-C", str(REPO), "rev-parse", "HEAD"]),
        "tmp_filesystem": out(["df", "--output=fstype,source", args.tmpdir or tempfile.gettempdir()]).splitlines()[-1:],
        "rlimit_nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "loadavg_at_start": os.getloadavg(),  # other work on the machine skews the figures
    }


def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}{unit}" if v >= 100 else f"{v:.2f}{unit}"
    return f"{v}{unit}"


def print_table(rows):
    headers = ("benchmark", "mailflow", "postfix", "ratio / notes")
    cells = [headers] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells[:]) for i in range(3)]
    print()
    for i, r in enumerate(cells):
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
        if i == 0:
            print("-" * (sum(widths) + 4 + 2 + 40))
    print()


# ----------------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mailflow", default=str(REPO / "build-release/src/cli/mailflow"), help="mailflow binary")
    ap.add_argument("--quick", action="store_true", help="small run: 500 messages, 10 KB, 2 pairs")
    ap.add_argument("--messages", type=int, help="messages per (a) run (default 5000, quick 500)")
    ap.add_argument("--size", help="comma-separated body sizes in bytes for (a) (default 10240,102400; quick 10240)")
    ap.add_argument("--pairs", type=int, help="A/B pairs per size (default 2)")
    ap.add_argument("--only", default="a,d,e", help="which parts to run: a,d,e")
    ap.add_argument("--latency-messages", type=int, help="(d) messages of the latency client (default 200, quick 50)")
    ap.add_argument("--latency-concurrency", type=int, default=4, help="(d) parallel latency sessions")
    ap.add_argument("--failure-messages", type=int, help="(e) messages (default 2000, quick 300)")
    ap.add_argument("--timeout", type=float, default=900, help="hard limit per run, seconds")
    ap.add_argument("--stall-timeout", type=float, default=60, help="give up when the sink makes no progress this long")
    ap.add_argument("--tmpdir", help="where the temporary data/queue dirs go (default: $TMPDIR or /tmp; same disk for both)")
    ap.add_argument("--results", default=str(REPO / "bench/results"), help="directory for the JSON result")
    args = ap.parse_args()

    only = {p.strip() for p in args.only.split(",") if p.strip()}
    if not only <= {"a", "d", "e"}:
        ap.error("--only takes a comma-separated subset of a,d,e")
    messages = args.messages or (500 if args.quick else 5000)
    sizes = [int(s) for s in (args.size or ("10240" if args.quick else "10240,102400")).split(",")]
    pairs = args.pairs or 2
    lat_n = args.latency_messages or (50 if args.quick else 200)
    fail_n = args.failure_messages or (300 if args.quick else 2000)
    args.mailflow = str(Path(args.mailflow).resolve())

    for tool in (SMTP_SOURCE, SMTP_SINK, POSTFIX, POSTCONF):
        if not os.access(tool, os.X_OK):
            sys.exit(f"missing {tool}: install the Debian package 'postfix'")
    if not os.access(args.mailflow, os.X_OK):
        sys.exit(f"mailflow binary not found: {args.mailflow} (build it, or pass --mailflow PATH)")
    if os.geteuid() != 0 and only & {"a", "d"}:
        log("warning: not root; the private Postfix instance needs root to start")

    signal.signal(signal.SIGTERM, _sigterm)
    nofile = raise_nofile()
    started = datetime.datetime.now(datetime.timezone.utc)
    base_tmp = tempfile.mkdtemp(prefix="relay-bench-", dir=args.tmpdir)
    os.chmod(base_tmp, 0o755)
    on_cleanup(lambda: shutil.rmtree(base_tmp, ignore_errors=True))
    report = {
        "started_utc": started.isoformat(timespec="seconds"),
        "command_line": " ".join([sys.executable] + sys.argv),
        "machine": machine_info(args),
        "parameters": {"messages": messages, "sizes": sizes, "pairs": pairs, "sessions": SESSIONS, "only": sorted(only),
                       "latency_messages": lat_n, "latency_concurrency": args.latency_concurrency,
                       "failure_messages": fail_n, "rlimit_nofile": nofile},
        "relay": [], "latency": {}, "failure_mix": None,
    }
    rows = []
    interrupted = False
    try:
        if "a" in only:
            for size in sizes:
                ratios, rates = [], {"mailflow": [], "postfix": []}
                for p in range(1, pairs + 1):
                    pair = {"size": size, "pair": p}
                    for kind in ("mailflow", "postfix"):
                        log(f"(a) size {size} pair {p}: {kind}, {messages} messages ...")
                        r = relay_run(kind, args, base_tmp, size, messages)
                        log(f"    {kind}: {r.get('msg_per_s', 'FAILED')} msg/s {r.get('error', '')}")
                        pair[kind] = r
                        if "msg_per_s" in r:
                            rates[kind].append(r["msg_per_s"])
                    a, b = pair["mailflow"].get("msg_per_s"), pair["postfix"].get("msg_per_s")
                    pair["ratio"] = round(a / b, 2) if a and b else None
                    if pair["ratio"]:
                        ratios.append(pair["ratio"])
                    report["relay"].append(pair)
                    notes = f"x{pair['ratio']}" if pair["ratio"] else "FAILED: " + "; ".join(
                        f"{k}: {pair[k].get('error')}" for k in ("mailflow", "postfix") if pair[k].get("error"))
                    rows.append((f"(a) relay {size // 1024} KB, pair {p} [msg/s]", fmt(a), fmt(b), notes))
                med = {k: (statistics.median(v) if v else None) for k, v in rates.items()}
                mr = round(statistics.median(ratios), 2) if ratios else None
                report.setdefault("relay_summary", []).append(
                    {"size": size, "median_mailflow": med["mailflow"], "median_postfix": med["postfix"],
                     "median_ratio": mr, "ratios": ratios})
                target = " (SPEC target >= 5)" if size == 10240 else ""
                rows.append((f"(a) relay {size // 1024} KB, median [msg/s]", fmt(med["mailflow"]), fmt(med["postfix"]),
                             f"median ratio x{mr:.2f}{target}" if mr else "-"))
        if "d" in only:
            size = 10240
            for kind in ("mailflow", "postfix"):
                log(f"(d) {kind}: latency client ({lat_n} messages) under a {messages}-message load ...")
                r = relay_run(kind, args, base_tmp, size, messages,
                              latency={"count": lat_n, "concurrency": args.latency_concurrency, "delay": 0.1})
                log(f"    {kind}: {r.get('latency')} {r.get('error', '')}")
                report["latency"][kind] = r
            lm, lp = report["latency"]["mailflow"].get("latency") or {}, report["latency"]["postfix"].get("latency") or {}
            for q in ("p50", "p99"):
                a, b = lm.get(f"{q}_ms"), lp.get(f"{q}_ms")
                note = (f"samples under load: mailflow {lm.get('samples_under_load')}/{lm.get('samples')}, "
                        f"postfix {lp.get('samples_under_load')}/{lp.get('samples')}")
                if lm.get("errors") or lp.get("errors"):
                    note += f"; errors mailflow {lm.get('errors')}, postfix {lp.get('errors')}"
                rows.append((f"(d) end-of-data->250 {q} [ms] (includes the spool fsync)", fmt(a), fmt(b), note))
        if "e" in only:
            log(f"(e) failure mix: {fail_n} messages x 2 recipients ...")
            r = failure_mix(args, base_tmp, fail_n, 10240)
            report["failure_mix"] = r
            log(f"    {r.get('check')} {r.get('error', '')}")
            rows.append(("(e) failure mix: accepted recipients", r.get("accepted_recipients"), "n/a",
                         f"{fail_n} msgs x 2 rcpts via smtp-source"))
            rows.append(("(e) delivered", r.get("delivered"), "n/a",
                         f"expected {r.get('expected_delivered')}, duplicates {r.get('delivered_duplicates')}"))
            rows.append(("(e) deferred (451) then delivered", r.get("deferred_then_delivered"), "n/a",
                         f"451 answers {r.get('deferred_451_answers')}"))
            rows.append(("(e) bounced (NDRs in local Maildir)", r.get("bounced"), "n/a",
                         f"expected {r.get('expected_bounced')}, 550 answers {r.get('rejected_550_answers')}, "
                         f"NDR files {r.get('bounced_ndr_files')}"))
            rows.append(("(e) accepted = delivered + bounced", r.get("check"), "n/a", r.get("error", "")))
            rows.append(("(e) throughput until settled [msg/s]", fmt(r.get("msg_per_s")), "n/a",
                         "includes >= 1 s retry of the 451s and the Python sink"))
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted; cleaning up")
    except BenchError as e:
        report["error"] = str(e)
        log(f"error: {e}")
    except Exception as e:  # a bug in this script: still clean up and write what was measured
        import traceback
        report["error"] = traceback.format_exc()
        log(f"error: {report['error']}")
    finally:
        run_cleanups()

    report["machine"]["loadavg_at_end"] = os.getloadavg()
    report["finished_utc"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    if interrupted:
        report["interrupted"] = True
    print_table(rows)
    out_dir = Path(args.results)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"relay-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {out}")
    if interrupted:
        sys.exit(130)
    if report.get("error"):
        sys.exit(1)


if __name__ == "__main__":
    main()
