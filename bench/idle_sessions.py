#!/usr/bin/env python3
"""bench/idle_sessions.py — issue 4 benchmark (b), SPEC §7: "Concurrency: 10,000 simultaneous idle
SMTP sessions held in under 500 MB of memory."

Run (Release build):
    cmake -S . -B build-rbench -G Ninja -DCMAKE_BUILD_TYPE=Release -DMAILFLOW_TESTS=OFF -DMAILFLOW_BENCH=ON
    ninja -C build-rbench mailflow
    python3 bench/idle_sessions.py --mailflow build-rbench/src/cli/mailflow [--sessions 10000] [--json out.json]

What it does: writes a configuration in a temporary folder (one listener on a 127.x address,
service.limits {max_connections: 20000, max_connections_per_ip: 20000, command_timeout: 600s}),
starts `mailflow serve` with RLIMIT_NOFILE raised, opens --sessions TCP sessions from several 127.x
source addresses (non-blocking sockets + selectors, at most --window handshakes in flight), reads
each 220 greeting and completes EHLO, holds them all idle for --hold seconds, reads mailflow's
VmHWM / VmRSS from /proc/<pid>/status, checks that every session is still open (no EOF and no
unsolicited reply on any of them) and that NOOP on a sample of --sample sessions gets 250, prints
the result and exits 0 on pass, 1 on fail (2 when the run itself could not be carried out).
Python 3 standard library only. Needs RLIMIT_NOFILE hard limit >= sessions + a few hundred, for
this script and for mailflow (each holds one descriptor per session).
"""

import argparse
import errno
import json
import os
import random
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mailflow", required=True, help="path of the mailflow executable (Release build)")
    p.add_argument("--sessions", type=int, default=10000)
    p.add_argument("--sources", type=int, default=8, help="number of 127.x client source addresses")
    p.add_argument("--window", type=int, default=256, help="handshakes (connect+220+EHLO) in flight at once")
    p.add_argument("--hold", type=float, default=10.0, help="seconds to hold the sessions idle before measuring")
    p.add_argument("--sample", type=int, default=100, help="sessions that get a NOOP at the end")
    p.add_argument("--target-mb", type=float, default=500.0)
    p.add_argument("--timeout", type=float, default=300.0, help="give up opening sessions after this many seconds")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (config, log)")
    return p.parse_args()


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "VmSize", "Threads"):
                out[key] = int(rest.split()[0])  # kB (Threads: a count)
    return out


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def free_port(address):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def write_config(folder, address, port, sessions):
    limit = max(20000, sessions + 100)
    text = f"""service:
  hostname: mx.bench.example
  listeners:
    - {{name: mx, address: "{address}:{port}"}}
  data_dir: ./var
  limits: {{max_connections: {limit}, max_connections_per_ip: {limit}, command_timeout: 600s}}
organizations:
  - name: bench
    accepted_domains:
      - {{domain: bench.example, type: authoritative}}
    recipients:
      - {{type: mailbox, address: alice@bench.example}}
"""
    path = os.path.join(folder, "mailflow.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


class Session:
    __slots__ = ("sock", "state", "buf", "started")

    def __init__(self, sock):
        self.sock = sock
        self.state = "connect"  # connect → greeting → ehlo → idle | failed
        self.buf = b""
        self.started = time.monotonic()


def complete_reply(buf):
    """(code, rest) when buf holds a complete SMTP reply (last line "ddd " or "ddd\\r\\n"), else None."""
    start = 0
    while True:
        end = buf.find(b"\r\n", start)
        if end < 0:
            return None
        line = buf[start:end]
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3]) if line[:3].isdigit() else -1, buf[end + 2:]
        start = end + 2


def open_sessions(args, server, sources):
    """Opens args.sessions sessions and takes each through 220 + EHLO. Returns (idle sessions, failures)."""
    sel = selectors.DefaultSelector()
    idle, failures = [], {}
    pending = 0
    opened = 0
    deadline = time.monotonic() + args.timeout
    last_report = time.monotonic()

    def fail(s, why):
        nonlocal pending
        failures[why] = failures.get(why, 0) + 1
        try:
            sel.unregister(s.sock)
        except (KeyError, ValueError):
            pass
        s.sock.close()
        s.state = "failed"
        pending -= 1

    while len(idle) + sum(failures.values()) < args.sessions:
        now = time.monotonic()
        if now > deadline:
            raise RuntimeError(f"timed out: {len(idle)} sessions idle, {pending} in flight, failures {failures}")
        while pending < args.window and opened < args.sessions:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((sources[opened % len(sources)], 0))
            sock.setblocking(False)
            err = sock.connect_ex(server)
            s = Session(sock)
            opened += 1
            pending += 1
            if err not in (0, errno.EINPROGRESS):
                fail(s, f"connect: {os.strerror(err)}")
                continue
            sel.register(sock, selectors.EVENT_WRITE, s)
        for key, _ in sel.select(timeout=1.0):
            s = key.data
            if s.state == "connect":
                err = s.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(s, f"connect: {os.strerror(err)}")
                    continue
                s.state = "greeting"
                sel.modify(s.sock, selectors.EVENT_READ, s)
                continue
            try:
                data = s.sock.recv(4096)
            except BlockingIOError:
                continue
            except OSError as e:
                fail(s, f"recv: {e.strerror}")
                continue
            if not data:
                fail(s, f"closed by server during {s.state}" + (f" after {s.buf[:60]!r}" if s.buf else ""))
                continue
            s.buf += data
            r = complete_reply(s.buf)
            if r is None:
                continue
            code, s.buf = r
            if s.state == "greeting":
                if code != 220:
                    fail(s, f"greeting {code}")
                    continue
                s.sock.send(b"EHLO client.bench.example\r\n")  # 28 bytes: fits any empty send buffer
                s.state = "ehlo"
            elif s.state == "ehlo":
                if code != 250:
                    fail(s, f"EHLO {code}")
                    continue
                s.state = "idle"
                sel.unregister(s.sock)
                idle.append(s)
                pending -= 1
        if time.monotonic() - last_report > 5:
            last_report = time.monotonic()
            print(f"  ... {len(idle)} sessions idle, {pending} in flight, failures {failures}", flush=True)
    sel.close()
    return idle, failures


def count_open(sessions):
    """Sessions with nothing to read (still open and quiet); the others are closed or got a reply."""
    sel = selectors.DefaultSelector()
    for s in sessions:
        sel.register(s.sock, selectors.EVENT_READ, s)
    readable = {key.data for key, _ in sel.select(timeout=0.5)}
    sel.close()
    closed, spoke = 0, 0
    for s in readable:
        try:
            data = s.sock.recv(4096, socket.MSG_PEEK)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if data:
            spoke += 1
        else:
            closed += 1
    return len(sessions) - closed - spoke, closed, spoke


def noop(s, timeout=10.0):
    s.sock.setblocking(True)
    s.sock.settimeout(timeout)
    try:
        s.sock.sendall(b"NOOP\r\n")
        buf = b""
        while True:
            r = complete_reply(buf)
            if r is not None:
                return r[0]
            data = s.sock.recv(4096)
            if not data:
                return 0
            buf += data
    except OSError:
        return 0
    finally:
        s.sock.setblocking(False)


def main():
    args = parse_args()
    mailflow = os.path.abspath(args.mailflow)
    if not os.access(mailflow, os.X_OK):
        print(f"not an executable: {mailflow}", file=sys.stderr)
        return 2
    want = args.sessions + 1024
    soft, hard = raise_nofile(want)
    if soft < args.sessions + 64:
        print(f"RLIMIT_NOFILE is {soft} (hard {hard}); {args.sessions} sessions need about {want}", file=sys.stderr)
        return 2

    pid_byte = 1 + os.getpid() % 200
    listen_addr = f"127.{pid_byte}.250.1"
    sources = [f"127.{pid_byte}.251.{i + 1}" for i in range(args.sources)]
    port = free_port(listen_addr)
    folder = tempfile.mkdtemp(prefix="mailflow-idle.")
    config = write_config(folder, listen_addr, port, args.sessions)
    log_path = os.path.join(folder, "mailflow.log")
    log = open(log_path, "wb")

    def child_limits():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    cmd = [mailflow, "serve", "--config", config, "--log-level", "warn"]
    proc = subprocess.Popen(cmd, cwd=folder, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=child_limits)
    result = {"sessions_wanted": args.sessions, "target_mb": args.target_mb, "mailflow": mailflow,
              "listener": f"{listen_addr}:{port}", "sources": sources, "command": cmd}
    sessions = []
    rc = 2
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mailflow exited with {proc.returncode}; log: {open(log_path).read()[-4000:]}")
            try:
                with socket.create_connection((listen_addr, port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mailflow does not accept connections")
                time.sleep(0.05)
        time.sleep(0.2)
        baseline = proc_status(proc.pid)
        result["baseline_kb"] = baseline
        print(f"mailflow pid {proc.pid} on {listen_addr}:{port}; RLIMIT_NOFILE {soft}; baseline VmRSS "
              f"{baseline['VmRSS'] / 1024:.1f} MB", flush=True)

        t0 = time.monotonic()
        sessions, failures = open_sessions(args, (listen_addr, port), sources)
        result["open_seconds"] = round(time.monotonic() - t0, 2)
        result["open_failures"] = failures
        print(f"{len(sessions)} sessions through 220 + EHLO in {result['open_seconds']} s; failures: {failures}",
              flush=True)

        time.sleep(args.hold)
        if proc.poll() is not None:
            raise RuntimeError(f"mailflow exited with {proc.returncode} while holding the sessions")
        st = proc_status(proc.pid)
        result["held_kb"] = st
        result["mailflow_fds"] = fd_count(proc.pid)
        still_open, closed, spoke = count_open(sessions)
        result.update(still_open=still_open, closed=closed, unsolicited=spoke)

        sample = random.Random(1).sample(sessions, min(args.sample, len(sessions)))
        codes = [noop(s) for s in sample]
        noop_ok = sum(1 for c in codes if c == 250)
        result.update(noop_sample=len(sample), noop_250=noop_ok,
                      noop_other=sorted({c for c in codes if c != 250}))
        after = proc_status(proc.pid)
        result["after_noop_kb"] = after

        hwm_mb = after["VmHWM"] / 1024
        rss_mb = st["VmRSS"] / 1024
        per_session_kb = (st["VmRSS"] - baseline["VmRSS"]) / max(1, len(sessions))
        ok = (len(sessions) == args.sessions and still_open == args.sessions and noop_ok == len(sample)
              and hwm_mb < args.target_mb)
        result.update(sessions=len(sessions), vmhwm_mb=round(hwm_mb, 1), vmrss_mb=round(rss_mb, 1),
                      rss_per_session_kb=round(per_session_kb, 2), passed=ok)
        print(f"sessions held:    {still_open}/{args.sessions} open after {args.hold:g} s idle "
              f"(closed {closed}, unsolicited replies {spoke}); mailflow fds {result['mailflow_fds']}")
        print(f"NOOP sample:      {noop_ok}/{len(sample)} got 250" +
              (f" (others: {result['noop_other']})" if noop_ok != len(sample) else ""))
        print(f"mailflow memory:  VmHWM {hwm_mb:.1f} MB, VmRSS {rss_mb:.1f} MB (RssAnon {st.get('RssAnon', 0) / 1024:.1f}"
              f" MB, baseline VmRSS {baseline['VmRSS'] / 1024:.1f} MB, {per_session_kb:.1f} kB per session), "
              f"threads {st.get('Threads')}")
        print(f"target:           < {args.target_mb:g} MB for {args.sessions} idle sessions -> {'PASS' if ok else 'FAIL'}")
        rc = 0 if ok else 1
    except Exception as e:  # noqa: BLE001 — report, clean up, exit 2
        result["error"] = str(e)
        print(f"error: {e}", file=sys.stderr)
        rc = 2
    finally:
        for s in sessions:
            try:
                s.sock.close()
            except OSError:
                pass
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        result["mailflow_exit"] = proc.returncode
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
                f.write("\n")
        if args.keep or rc == 2:
            print(f"kept {folder} (config, mailflow.log)", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
