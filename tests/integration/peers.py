"""peers.py — real remote peers for mailflow's outbound-delivery integration tests (Python 3 standard
library only, plus /usr/sbin/dnsmasq and the openssl command).

Everything binds to 127.0.0.0/8 only. Several "hosts" may share one port number on different
127.x.y.z addresses, so that one `remote_smtp_port: P` in mailflow's config reaches all of them.

SMTP sinks
----------
    SmtpSink(host=None, port=0, *, hostname=None, greeting=None, ehlo_keywords=None,
             pipelining=True, starttls=None, client_ca=None, require_client_cert=False,
             ssl_context=None, reply_overrides=None, drop_at=None, delays=None,
             silent=False, refuse=False, idle_timeout=120.0)
        A threaded SMTP server (socket/ssl/threading; no smtpd), listening as soon as it is built.
        host      127.x.y.z; None = a fresh unique loopback address (harness.new_loopback_address()).
        port      0 = a free port; or a fixed port (e.g. shared with other sinks, see shared_port()).
        hostname  name in the default greeting / EHLO reply (default "sink.<host>.test").
        greeting  the whole greeting reply (default "220 <hostname> ESMTP sink").
        ehlo_keywords  EHLO keyword lines (default PIPELINING, SIZE 10485760, 8BITMIME,
                  ENHANCEDSTATUSCODES, SMTPUTF8, DSN, plus STARTTLS when starttls is set);
                  pipelining=False drops PIPELINING from the default list. Pipelined input is always
                  accepted: commands are read as they come, replies are sent in order and flushed
                  when no further complete command is buffered (like Postfix).
        starttls  (certfile, keyfile) (str/Path; certfile may hold a chain) or None.
        client_ca CA file: request a client certificate and verify it (CERT_OPTIONAL, or
                  CERT_REQUIRED with require_client_cert=True); its subject is recorded.
        ssl_context  a ready ssl.SSLContext (server side) used instead of the one built from
                  starttls/client_ca (e.g. to pin a TLS version); STARTTLS is then advertised. Its
                  sni_callback is set to the sink's recorder unless it already has one.
        reply_overrides  {stage: reply}. Stages: "greeting", "ehlo", "helo", "mail",
                  "rcpt:<address lower-cased>" (looked up before "rcpt"), "rcpt", "data" (the reply
                  to DATA), "eod" (after the final dot), "starttls", "rset", "noop", "quit", and any
                  other verb in lower case. A reply is a line like "451 4.3.0 try later" (several
                  lines separated by "\\n" make a multi-line reply), DROP (close the connection
                  without replying), HANG (never reply, keep the connection open until the client
                  or stop() closes it), None (default behaviour), or a callable(session) returning
                  one of these (session.index is the 1-based connection number on this sink,
                  session.tls, session.helo, session.transactions ... — e.g.
                  `lambda s: "421 4.3.2 busy" if s.index == 1 else None`).
                  Semantics: a 2xx to MAIL/RCPT/EHLO/HELO/eod, 3xx to DATA and 2xx to STARTTLS
                  are taken as success; anything else as refusal. A 421 closes the connection after
                  it is sent. After a non-2xx greeting every command but QUIT gets 503.
        drop_at   a stage or a list of stages where the connection is closed without a reply
                  (same names as above, plus "data-mid": after the first message bytes after 354
                  arrive — possibly the whole message if the client wrote it in one go — and
                  "tls": right after the 220 to STARTTLS, before the handshake).
                  A plaintext command pipelined after STARTTLS is discarded, never executed, and
                  flagged in .sessions[i]["starttls_injection"]. After the handshake EHLO is
                  required again and STARTTLS is no longer advertised. SIZE in MAIL or a message
                  larger than the advertised SIZE gets 552 5.3.4.
        delays    {stage: seconds} to wait before replying (interrupted by stop()); stage names as
                  above, but "rcpt" only (not per address).
        silent    accept TCP connections and never send anything (for timeouts).
        refuse    bind the port but do not listen: connecting gets "connection refused".

      Attributes / thread-safe accessors (each returns a copy):
        .host .port .address ("host:port") .hostname
        .messages      accepted messages, list of dicts {mail_from, mail_params (dict, keys upper),
                       rcpts (accepted), rcpt_params (list of dicts, parallel to rcpts), data (bytes,
                       dot-unstuffed, up to and including the CRLF before the final dot), tls (bool),
                       tls_version, cipher, sni, client_cert_subject ("CN=...", or None), helo,
                       connection (1-based index), peer ("ip:port" of the client), pipelined (a
                       command of the transaction arrived before the reply to the previous one was
                       sent), data_early (message bytes arrived before the 354), accepted, reply}
        .transactions  every transaction that got a 354: accepted or refused at end of data
                       (accepted False, reply = the refusal), or dropped/hung during DATA or at
                       end of data (reply None; data None when the drop came before the final dot)
        .connections   number of TCP connections accepted
        .commands      every command line received (str), all connections, in order
        .command_log   dicts {connection, line, tls, pipelined}
        .sessions      per-connection dicts {index, peer, helo, tls, tls_version, sni,
                       client_cert_subject, commands, starttls_injection, end}
        .tls_errors    handshake failures, dicts {connection, error}
        wait_for_messages(n, timeout=10.0) -> messages (fewer than n on timeout)
        wait_for_connections(n, timeout=10.0) -> count
        wait_for(predicate, timeout=10.0) -> bool   (predicate(sink) re-checked on every event)
        set_override(stage, reply) / clear_overrides()
        stop()  (idempotent; also a context manager: `with SmtpSink(...) as s:`)

    start_sinks(hosts, port=0, **options) -> [SmtpSink]   one sink per host, all on one port
        (a port free on every host; retried on a bind race). options may be a dict per host:
        start_sinks(hosts, per_host={"127.0.1.12": {"refuse": True}}, hostname=...).
    shared_port(hosts) -> int          a TCP port free on every one of hosts right now.
    closed_port_on(host=None, port=0) -> "host:port"   a bound-but-not-listening socket (kept
        until release_closed_ports() or exit): connecting gets ECONNREFUSED, and no other process
        can take the port meanwhile.
    release_closed_ports()

DNS
---
    DnsServer(records=None, *, mx=None, a=None, aaaa=None, cname=None, txt=None,
              nxdomain_zones=None, servfail_zones=(), timeout_zones=(), host="127.0.53.1",
              port=0, extra_options=())
        /usr/sbin/dnsmasq answering only from its configuration.
        records   optional dict with any of the keys mx/a/aaaa/cname/txt/nxdomain_zones.
        mx        {"fabrikam.test": [(10, "mx1.fabrikam.test"), (20, "mx2.fabrikam.test")]};
                  the target "." makes a null MX ("0 ." of RFC 7505, supported).
        a / aaaa  {"mx1.fabrikam.test": "127.0.1.21"} or a list of addresses per name.
        cname     {"alias.test": "target.test"} (target must be a configured name).
        txt       {"name": "text"}.
        nxdomain_zones  zones answered from the configuration only: unknown names -> NXDOMAIN,
                  known names without the asked type -> NOERROR/NODATA. Default: the last label
                  of every configured name (e.g. ["test"]). Names outside every zone get REFUSED.
        servfail_zones  queries under these zones are forwarded to a helper that answers SERVFAIL.
        timeout_zones   queries under these zones are forwarded to a socket that never answers.
      start() -> self (waits until a query is answered), stop(), restart(), context manager.
        .server  "127.0.53.1:PORT" for mailflow's service.dns.servers; .host .port
        .queries() -> [(qtype, name)] from dnsmasq's query log.
    dns_query(server, name, qtype="A", timeout=2.0, tcp=False) -> DnsAnswer(rcode, rcode_name,
        answers=[(type_name, value)], aa, tc): a minimal stub resolver (MX value = (pref, name)).

Certificates (openssl CLI, EC P-256, in a per-process temporary directory unless directory=)
------------
    make_ca(name="peers test CA", *, parent=None, directory=None) -> CA (.cert .key .name .chain)
        parent=CA makes an intermediate CA signed by it.
    make_cert(name, sans=None, ca=None, expired=False, *, not_yet_valid=False, days=7,
              directory=None) -> Cert (.cert .key .chain .name .sans .ca)
        name is the CN; sans default [name]; bare names become DNS:, IP-looking ones IP:, or give
        "DNS:x"/"IP:y". ca=None makes a self-signed certificate. Extended key usage: serverAuth
        and clientAuth. .chain = leaf followed by the intermediates (not the root).
    test_pki() -> namespace with ca, leaf (mail.fabrikam.test + SANs), wildcard (*.fabrikam.test),
        self_signed, expired (all made once per process).
    client_context(ca=None, cert=None) -> ssl.SSLContext verifying against ca (Path/CA), with an
        optional client certificate (Cert).
"""

import atexit
import ipaddress
import itertools
import os
import random
import re
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path

import harness

DROP = "<drop>"
HANG = "<hang>"

DEFAULT_SIZE = 10485760


# ----------------------------------------------------------------------------------------------------
# Ports


def _bindable(host, port, kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def shared_port(hosts, udp=False):
    """A port free (TCP, and UDP too with udp=True) on every one of `hosts` right now."""
    hosts = list(hosts)
    for _ in range(200):
        port = harness.free_port(hosts[0])
        if all(_bindable(h, port) for h in hosts) and \
                (not udp or all(_bindable(h, port, socket.SOCK_DGRAM) for h in hosts)):
            return port
    raise RuntimeError(f"no port free on all of {hosts}")


_closed_ports = []
_closed_lock = threading.Lock()


def closed_port_on(host=None, port=0):
    """'host:port' where nothing listens: a socket bound there without listen() keeps the port
    (connections get ECONNREFUSED) until release_closed_ports() or the end of the process."""
    host = host or harness.new_loopback_address()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, port))
    with _closed_lock:
        _closed_ports.append(s)
    return f"{host}:{s.getsockname()[1]}"


def release_closed_ports():
    with _closed_lock:
        for s in _closed_ports:
            s.close()
        _closed_ports.clear()


atexit.register(release_closed_ports)


# ----------------------------------------------------------------------------------------------------
# SMTP sink


def _format_reply(reply):
    """'550 a\\n550 b' or '550-a\\r\\n550 b' -> b'550-a\\r\\n550 b\\r\\n'."""
    lines = [l for l in re.split(r"\r?\n", reply) if l != ""]
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"(\d{3})[ -]?(.*)", line, re.S)
        if m:
            sep = " " if i == len(lines) - 1 else "-"
            line = f"{m.group(1)}{sep}{m.group(2)}"
        out.append(line)
    return ("\r\n".join(out) + "\r\n").encode("utf-8")


def _reply_code(reply):
    m = re.match(r"(\d{3})", reply)
    return int(m.group(1)) if m else 0


def _parse_params(text):
    params = {}
    for tok in text.split():
        k, eq, v = tok.partition("=")
        params[k.upper()] = v if eq else None
    return params


def _parse_path(arg):
    """'FROM:<a@b> SIZE=1' (after the verb) -> ('a@b', {'SIZE': '1'}) or None if malformed."""
    m = re.match(r"\s*(?:FROM|TO)\s*:\s*(<[^>]*>|\S+)\s*(.*)$", arg, re.I | re.S)
    if not m:
        return None
    path = m.group(1)
    if path.startswith("<"):
        path = path[1:-1]
    if ":" in path and path.startswith("@"):  # source route
        path = path.split(":", 1)[1]
    return path, _parse_params(m.group(2))


_SHORT_NAMES = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C",
                "localityName": "L", "stateOrProvinceName": "ST", "emailAddress": "emailAddress"}


def _subject_text(cert):
    """'CN=client.contoso.test' (RDNs joined with ',', short attribute names) or None."""
    if not cert or "subject" not in cert:
        return None
    return ",".join(f"{_SHORT_NAMES.get(k, k)}={v}" for rdn in cert["subject"] for (k, v) in rdn)


def _record_sni(sslsock, name, _ctx):
    session = getattr(sslsock, "sink_session", None)
    if session is not None:
        session.sni = name


class _Closed(Exception):
    pass


class _Session:
    """One connection; visible to reply callables as their argument."""

    def __init__(self, sink, sock, index, peer):
        self.sink = sink
        self.sock = sock
        self.index = index
        self.peer = peer
        self.buf = b""
        self.out = []
        self.helo = None
        self.tls = False
        self.tls_version = None
        self.cipher = None
        self.sni = None
        self.client_cert_subject = None
        self.commands = []
        self.transactions = 0
        self.greeting_ok = True
        self.starttls_injection = False
        self.end = None
        self.reset()

    def reset(self):
        self.mail_from = None
        self.mail_params = None
        self.rcpts = []
        self.rcpt_params = []
        self.pipelined = False

    # -- I/O
    def _recv(self):
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise _Closed("idle timeout")
        except (OSError, ssl.SSLError) as e:
            raise _Closed(f"recv error: {e}")
        if not chunk:
            raise _Closed("closed by client")
        self.buf += chunk

    def flush(self):
        if self.out:
            data = b"".join(self.out)
            self.out = []
            try:
                self.sock.sendall(data)
            except (OSError, ssl.SSLError) as e:
                raise _Closed(f"send error: {e}")

    def readline(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 1:]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buf) > 1 << 20:
                raise _Closed("line too long")
            self.flush()  # nothing complete buffered: send the replies of the batch, then block
            self._recv()

    def more_buffered(self):
        return b"\n" in self.buf


class SmtpSink:
    def __init__(self, host=None, port=0, *, hostname=None, greeting=None, ehlo_keywords=None,
                 pipelining=True, starttls=None, client_ca=None, require_client_cert=False,
                 ssl_context=None, reply_overrides=None, drop_at=None, delays=None, silent=False,
                 refuse=False, idle_timeout=120.0):
        self.host = host or harness.new_loopback_address()
        self.hostname = hostname or f"sink.{self.host}.test"
        self.silent = silent
        self.refuse = refuse
        self.idle_timeout = idle_timeout
        self._lock = threading.Condition()
        self._overrides = {k.lower(): v for k, v in (reply_overrides or {}).items()}
        if greeting is not None:
            self._overrides.setdefault("greeting", greeting)
        if drop_at:
            for stage in ([drop_at] if isinstance(drop_at, str) else drop_at):
                self._overrides[stage.lower()] = DROP
        self._delays = {k.lower(): v for k, v in (delays or {}).items()}
        self._ctx = ssl_context
        if self._ctx is None and starttls:
            certfile, keyfile = starttls
            self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._ctx.load_cert_chain(str(certfile), str(keyfile))
            if client_ca:
                self._ctx.load_verify_locations(str(client_ca))
                self._ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
        if self._ctx is not None and self._ctx.sni_callback is None:
            self._ctx.sni_callback = _record_sni
        if ehlo_keywords is None:
            ehlo_keywords = (["PIPELINING"] if pipelining else []) + [
                f"SIZE {DEFAULT_SIZE}", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN"]
            if self._ctx is not None:
                ehlo_keywords.append("STARTTLS")
        self.ehlo_keywords = list(ehlo_keywords)
        self.size_limit = None
        for kw in self.ehlo_keywords:
            m = re.fullmatch(r"SIZE\s+(\d+)", kw.strip(), re.I)
            if m and int(m.group(1)) > 0:
                self.size_limit = int(m.group(1))
        self._messages = []
        self._transactions = []
        self._commands = []
        self._command_log = []
        self._sessions = []
        self._tls_errors = []
        self._connections = 0
        self._live = set()
        self._threads = []
        self._stop = threading.Event()
        self._queue_ids = itertools.count(1)

        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listener.bind((self.host, port))
        except OSError:
            self._listener.close()
            raise
        self.port = self._listener.getsockname()[1]
        self._accept_thread = None
        if not refuse:
            self._listener.listen(64)
            self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True,
                                                   name=f"sink-{self.address}")
            self._accept_thread.start()

    # -- public
    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def __repr__(self):
        return f"SmtpSink({self.address})"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _copy(self, attr):
        with self._lock:
            return list(getattr(self, attr))

    messages = property(lambda self: self._copy("_messages"))
    transactions = property(lambda self: self._copy("_transactions"))
    commands = property(lambda self: self._copy("_commands"))
    command_log = property(lambda self: self._copy("_command_log"))
    sessions = property(lambda self: [dict(s, commands=list(s["commands"])) for s in self._copy("_sessions")])
    tls_errors = property(lambda self: self._copy("_tls_errors"))

    @property
    def connections(self):
        with self._lock:
            return self._connections

    def set_override(self, stage, reply):
        stage = stage.lower()
        with self._lock:
            if reply is None:
                self._overrides.pop(stage, None)
            else:
                self._overrides[stage] = reply

    def clear_overrides(self):
        with self._lock:
            self._overrides.clear()

    def wait_for(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.2))
            return True

    def wait_for_messages(self, n=1, timeout=10.0):
        """The accepted messages once there are at least n (fewer if the timeout expires)."""
        self.wait_for(lambda s: len(s._messages) >= n, timeout)
        return self.messages

    def wait_for_connections(self, n=1, timeout=10.0):
        self.wait_for(lambda s: s._connections >= n, timeout)
        return self.connections

    def wait_for_sessions_ended(self, timeout=10.0):
        """.sessions once every connection so far has ended: a session's helo/tls/end fields are
        filled in when it closes, which can be just after the client has exited."""
        self.wait_for(lambda s: all(r["end"] is not None for r in s._sessions), timeout)
        return self.sessions

    def stop(self):
        if self._stop.is_set():
            return
        self._stop.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            live = list(self._live)
        for s in live:
            try:
                socket.socket.shutdown(s, socket.SHUT_RDWR)
            except (OSError, TypeError):
                pass
        if self._accept_thread is not None:
            self._accept_thread.join(5)
        for t in list(self._threads):
            t.join(5)

    # -- internals
    def _event(self):
        self._lock.notify_all()

    def _accept_loop(self):
        import select
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self._listener], [], [], 0.5)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                sock, peer = self._listener.accept()
            except OSError:
                if self._stop.is_set():
                    return
                continue
            with self._lock:
                self._connections += 1
                index = self._connections
                self._live.add(sock)
                self._event()
            t = threading.Thread(target=self._serve, args=(sock, index, peer), daemon=True,
                                 name=f"sink-{self.address}-{index}")
            self._threads = [x for x in self._threads if x.is_alive()] + [t]
            t.start()

    def _override(self, session, *stages):
        with self._lock:
            for stage in stages:
                if stage in self._overrides:
                    value = self._overrides[stage]
                    break
            else:
                return None, stages[-1]
        if callable(value):
            value = value(session)
        return value, stage

    def _wait_delay(self, session, stage):
        with self._lock:
            delay = self._delays.get(stage)
        if delay:
            session.flush()
            if self._stop.wait(delay):
                raise _Closed("stopped")

    def _reply(self, session, default, *stages):
        """Queue the reply for `stages` (override or default); returns the reply text sent.
        DROP/HANG and 421 end the session (raise _Closed)."""
        value, stage = self._override(session, *stages)
        reply = default if value is None else value
        self._wait_delay(session, stages[-1])
        if reply == DROP:
            raise _Closed(f"dropped at {stage}")
        if reply == HANG:
            session.flush()
            self._hang(session)
            raise _Closed(f"hung at {stage}")
        session.out.append(_format_reply(reply))
        if _reply_code(reply) == 421:
            session.flush()
            raise _Closed(f"421 at {stage}")
        return reply

    def _hang(self, session):
        """Keep the connection open, read and discard, until the client closes or stop()."""
        session.sock.settimeout(0.5)
        while not self._stop.is_set():
            try:
                if not session.sock.recv(65536):
                    return
            except (socket.timeout, TimeoutError):
                continue
            except (OSError, ssl.SSLError):
                return

    def _serve(self, sock, index, peer):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self.idle_timeout)
        session = _Session(self, sock, index, f"{peer[0]}:{peer[1]}")
        record = {"index": index, "peer": session.peer, "helo": None, "tls": False, "tls_version": None,
                  "sni": None, "client_cert_subject": None, "commands": session.commands,
                  "starttls_injection": False, "end": None}
        with self._lock:
            self._sessions.append(record)
        try:
            if self.silent:
                self._hang(session)
                raise _Closed("silent")
            self._run(session)
        except _Closed as e:
            session.end = str(e)
        except Exception as e:  # a bug in the sink: keep it visible in .sessions
            session.end = f"sink error: {e!r}"
        finally:
            try:
                session.flush()
            except _Closed:
                pass
            with self._lock:
                self._live.discard(sock)
                self._live.discard(session.sock)
                record.update(helo=session.helo, tls=session.tls, tls_version=session.tls_version,
                              sni=session.sni, client_cert_subject=session.client_cert_subject,
                              starttls_injection=session.starttls_injection, end=session.end)
                self._event()
            try:
                session.sock.close()
            except OSError:
                pass

    def _run(self, session):
        greeting = self._reply(session, f"220 {self.hostname} ESMTP sink", "greeting")
        session.greeting_ok = _reply_code(greeting) // 100 == 2
        while True:
            line = session.readline()
            pipelined = bool(session.out)  # replies still queued: the client did not wait for them
            text = line.decode("utf-8", "replace")
            session.commands.append(text)
            with self._lock:
                self._commands.append(text)
                self._command_log.append({"connection": session.index, "line": text, "tls": session.tls,
                                          "pipelined": pipelined})
                self._event()
            verb, _, arg = text.partition(" ")
            verb = verb.upper()
            if not session.greeting_ok and verb != "QUIT":
                self._reply(session, "503 5.5.1 Bad sequence of commands (no service)", verb.lower())
                continue
            handler = getattr(self, f"_cmd_{verb.lower()}", None) if verb.isalpha() else None
            if handler is None:
                self._reply(session, "502 5.5.2 Error: command not recognized", verb.lower() or "empty")
                continue
            if verb in ("RCPT", "DATA") and pipelined:
                session.pipelined = True
            handler(session, arg)

    # -- commands
    def _cmd_ehlo(self, session, arg):
        name = arg.strip()
        if not name:
            self._reply(session, "501 5.5.4 Syntax: EHLO hostname", "ehlo")
            return
        keywords = [k for k in self.ehlo_keywords if not (session.tls and k.strip().upper() == "STARTTLS")]
        reply = self._reply(session, "\n".join([f"250 {self.hostname}"] + [f"250 {k}" for k in keywords]), "ehlo")
        if _reply_code(reply) // 100 == 2:
            session.helo = name
            session.reset()

    def _cmd_helo(self, session, arg):
        name = arg.strip()
        if not name:
            self._reply(session, "501 5.5.4 Syntax: HELO hostname", "helo")
            return
        reply = self._reply(session, f"250 {self.hostname}", "helo")
        if _reply_code(reply) // 100 == 2:
            session.helo = name
            session.reset()

    def _cmd_starttls(self, session, arg):
        if self._ctx is None:
            self._reply(session, "502 5.5.1 STARTTLS not available", "starttls")
            return
        if session.tls:
            self._reply(session, "503 5.5.1 Already in TLS", "starttls")
            return
        reply = self._reply(session, "220 2.0.0 Ready to start TLS", "starttls")
        if _reply_code(reply) // 100 != 2:
            return
        session.flush()
        if session.buf:
            session.starttls_injection = True  # plaintext pipelined after STARTTLS: discarded
            session.buf = b""
        value, _ = self._override(session, "tls")
        if value == DROP:
            raise _Closed("dropped at tls")
        session.sock.settimeout(min(self.idle_timeout, 30))
        try:
            tls_sock = self._ctx.wrap_socket(session.sock, server_side=True, do_handshake_on_connect=False)
            with self._lock:
                self._live.add(tls_sock)
            session.sock = tls_sock  # the plain socket object was detached: close this one at the end
            tls_sock.sink_session = session  # for _record_sni
            tls_sock.do_handshake()
        except (ssl.SSLError, OSError) as e:
            with self._lock:
                self._tls_errors.append({"connection": session.index, "error": str(e)})
                self._event()
            raise _Closed(f"TLS handshake failed: {e}")
        tls_sock.settimeout(self.idle_timeout)
        session.tls = True
        session.tls_version = tls_sock.version()
        session.cipher = (tls_sock.cipher() or (None,))[0]
        try:
            session.client_cert_subject = _subject_text(tls_sock.getpeercert())
        except ValueError:
            session.client_cert_subject = None
        session.helo = None
        session.reset()

    def _cmd_mail(self, session, arg):
        if session.helo is None:
            self._reply(session, "503 5.5.1 Error: send HELO/EHLO first", "mail")
            return
        if session.mail_from is not None:
            self._reply(session, "503 5.5.1 Error: nested MAIL command", "mail")
            return
        parsed = _parse_path(arg) if arg.upper().lstrip().startswith("FROM") else None
        if parsed is None:
            self._reply(session, "501 5.5.4 Syntax: MAIL FROM:<address>", "mail")
            return
        sender, params = parsed
        default = "250 2.1.0 Ok"
        size = params.get("SIZE")
        if self.size_limit and size and size.isdigit() and int(size) > self.size_limit:
            default = "552 5.3.4 Message size exceeds fixed limit"
        reply = self._reply(session, default, "mail")
        if _reply_code(reply) // 100 == 2:
            session.reset()
            session.mail_from = sender
            session.mail_params = params

    def _cmd_rcpt(self, session, arg):
        if session.mail_from is None:
            self._reply(session, "503 5.5.1 Error: need MAIL command", "rcpt")
            return
        parsed = _parse_path(arg) if arg.upper().lstrip().startswith("TO") else None
        if parsed is None:
            self._reply(session, "501 5.5.4 Syntax: RCPT TO:<address>", "rcpt")
            return
        rcpt, params = parsed
        reply = self._reply(session, "250 2.1.5 Ok", f"rcpt:{rcpt.lower()}", "rcpt")
        if _reply_code(reply) // 100 == 2:
            session.rcpts.append(rcpt)
            session.rcpt_params.append(params)

    def _cmd_data(self, session, arg):
        if session.mail_from is None:
            self._reply(session, "503 5.5.1 Error: need MAIL command", "data")
            return
        if not session.rcpts:
            self._reply(session, "554 5.5.1 Error: no valid recipients", "data")
            return
        data_early = bool(session.buf)
        reply = self._reply(session, "354 End data with <CR><LF>.<CR><LF>", "data")
        if _reply_code(reply) // 100 != 3:
            return
        txn = {"mail_from": session.mail_from, "mail_params": session.mail_params, "rcpts": list(session.rcpts),
               "rcpt_params": list(session.rcpt_params), "data": None, "tls": session.tls,
               "tls_version": session.tls_version, "cipher": session.cipher, "sni": session.sni,
               "client_cert_subject": session.client_cert_subject, "helo": session.helo,
               "connection": session.index, "peer": session.peer, "pipelined": session.pipelined,
               "data_early": data_early, "accepted": False, "reply": None}
        try:
            raw = self._read_data(session)
        except _Closed:
            with self._lock:
                self._transactions.append(txn)
                self._event()
            raise
        lines = raw.split(b"\r\n")
        txn["data"] = b"\r\n".join(l[1:] if l.startswith(b".") else l for l in lines)
        session.transactions += 1
        default = f"250 2.0.0 Ok: queued as S{self.port}X{next(self._queue_ids)}"
        if self.size_limit and len(txn["data"]) > self.size_limit:
            default = "552 5.3.4 Message size exceeds fixed limit"
        try:
            reply = self._reply(session, default, "eod")
        except _Closed:
            with self._lock:
                self._transactions.append(txn)
                self._event()
            raise
        txn["reply"] = reply
        txn["accepted"] = _reply_code(reply) // 100 == 2
        with self._lock:
            self._transactions.append(txn)
            if txn["accepted"]:
                self._messages.append(txn)
            self._event()
        session.reset()

    def _read_data(self, session):
        """The message bytes up to and including the CRLF before the final '.', still dot-stuffed."""
        session.flush()
        mid_checked = False
        while True:
            if session.buf and not mid_checked:
                mid_checked = True
                value, _ = self._override(session, "data-mid")
                if value == DROP:
                    raise _Closed("dropped at data-mid")
            prefixed = b"\r\n" + session.buf  # the end marker may be the very first line
            i = prefixed.find(b"\r\n.\r\n")
            if i >= 0:
                raw, session.buf = prefixed[2:i + 2], prefixed[i + 5:]
                return raw
            session._recv()

    def _cmd_rset(self, session, arg):
        self._reply(session, "250 2.0.0 Ok", "rset")
        session.reset()

    def _cmd_noop(self, session, arg):
        self._reply(session, "250 2.0.0 Ok", "noop")

    def _cmd_vrfy(self, session, arg):
        self._reply(session, "252 2.0.0 Cannot VRFY user", "vrfy")

    def _cmd_quit(self, session, arg):
        self._reply(session, "221 2.0.0 Bye", "quit")
        session.flush()
        raise _Closed("quit")


def start_sinks(hosts, port=0, *, per_host=None, attempts=20, **options):
    """One SmtpSink per host, all on the same port (`port`, or one free on every host)."""
    hosts = list(hosts)
    per_host = per_host or {}
    for attempt in range(attempts):
        p = port or shared_port(hosts)
        sinks = []
        try:
            for h in hosts:
                opts = dict(options)
                opts.update(per_host.get(h, {}))
                sinks.append(SmtpSink(h, p, **opts))
            return sinks
        except OSError:
            for s in sinks:
                s.stop()
            if port or attempt == attempts - 1:
                raise
    raise RuntimeError("unreachable")


# ----------------------------------------------------------------------------------------------------
# DNS


QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33,
          "ANY": 255}
QTYPE_NAMES = {v: k for k, v in QTYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def _encode_name(name):
    name = name.rstrip(".")
    if not name:
        return b"\0"
    return b"".join(bytes([len(p)]) + p.encode("idna") for p in name.split(".")) + b"\0"


def _decode_name(msg, off):
    labels, jumped, end = [], False, None
    for _ in range(128):
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumped = True
            continue
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n].decode("ascii", "replace"))
        off += n
    return ".".join(labels) + ".", (end if jumped else off)


DnsAnswer = types.SimpleNamespace


def dns_build_query(name, qtype, qid=None):
    qid = random.randrange(65536) if qid is None else qid
    t = QTYPES[qtype.upper()] if isinstance(qtype, str) else qtype
    return qid, struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + _encode_name(name) + struct.pack(">HH", t, 1)


def dns_parse_response(msg):
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        _, off = _decode_name(msg, off)
        off += 4
    answers = []
    for _ in range(an):
        rname, off = _decode_name(msg, off)
        rtype, _cls, ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        if rtype == 1:
            value = socket.inet_ntop(socket.AF_INET, rdata)
        elif rtype == 28:
            value = socket.inet_ntop(socket.AF_INET6, rdata)
        elif rtype == 15:
            value = (struct.unpack(">H", rdata[:2])[0], _decode_name(msg, off + 2)[0])
        elif rtype in (2, 5, 12):
            value = _decode_name(msg, off)[0]
        elif rtype == 16:
            parts, i = [], 0
            while i < len(rdata):
                parts.append(rdata[i + 1:i + 1 + rdata[i]].decode("utf-8", "replace"))
                i += 1 + rdata[i]
            value = "".join(parts)
        else:
            value = rdata
        answers.append((QTYPE_NAMES.get(rtype, rtype), value))
        off += rdlen
    rcode = flags & 0xF
    return DnsAnswer(id=qid, rcode=rcode, rcode_name=RCODES.get(rcode, str(rcode)), answers=answers,
                     aa=bool(flags & 0x0400), tc=bool(flags & 0x0200))


def dns_query(server, name, qtype="A", timeout=2.0, tcp=False, source=None):
    """Ask `server` ("ip:port") one question; returns DnsAnswer(rcode, rcode_name, answers, aa, tc).
    Raises socket.timeout when nothing answers."""
    host, _, port = server.rpartition(":")
    qid, q = dns_build_query(name, qtype)
    if tcp:
        with socket.create_connection((host, int(port)), timeout=timeout,
                                      source_address=(source, 0) if source else None) as s:
            s.sendall(struct.pack(">H", len(q)) + q)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("DNS server closed the TCP connection")
                buf += chunk
            return dns_parse_response(buf[2:])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        s.sendto(q, (host, int(port)))
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.001, deadline - time.monotonic()))
            msg, _ = s.recvfrom(65536)
            if len(msg) >= 12 and struct.unpack(">H", msg[:2])[0] == qid:
                return dns_parse_response(msg)


def _as_list(v):
    return [v] if isinstance(v, str) else list(v)


class _ServfailResponder:
    """A UDP socket answering SERVFAIL to every query (dnsmasq forwards servfail_zones here)."""

    def __init__(self, host):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.3)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="dns-servfail")
        self.thread.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                msg, addr = self.sock.recvfrom(65536)
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            if len(msg) < 12:
                continue
            qid, flags, qd = struct.unpack(">HHH", msg[:6])
            off = 12
            try:
                for _ in range(qd):
                    _, off = _decode_name(msg, off)
                    off += 4
            except (IndexError, struct.error):
                continue
            resp = struct.pack(">HHHHHH", qid, 0x8000 | (flags & 0x0100) | 0x0080 | 2, qd, 0, 0, 0) + msg[12:off]
            try:
                self.sock.sendto(resp, addr)
            except OSError:
                pass

    def stop(self):
        self._stop.set()
        self.thread.join(2)
        self.sock.close()


class DnsServer:
    DNSMASQ = "/usr/sbin/dnsmasq"

    def __init__(self, records=None, *, mx=None, a=None, aaaa=None, cname=None, txt=None, nxdomain_zones=None,
                 servfail_zones=(), timeout_zones=(), host="127.0.53.1", port=0, extra_options=()):
        records = dict(records or {})
        self.mx = dict(records.get("mx", {}), **(mx or {}))
        self.a = dict(records.get("a", {}), **(a or {}))
        self.aaaa = dict(records.get("aaaa", {}), **(aaaa or {}))
        self.cname = dict(records.get("cname", {}), **(cname or {}))
        self.txt = dict(records.get("txt", {}), **(txt or {}))
        if nxdomain_zones is None:
            nxdomain_zones = records.get("nxdomain_zones")
        if nxdomain_zones is None:
            names = list(self.mx) + list(self.a) + list(self.aaaa) + list(self.cname) + list(self.txt)
            nxdomain_zones = sorted({n.rstrip(".").rsplit(".", 1)[-1] for n in names if n.strip(".")})
        self.nxdomain_zones = list(nxdomain_zones)
        self.servfail_zones = list(servfail_zones)
        self.timeout_zones = list(timeout_zones)
        self.extra_options = list(extra_options)
        self.host = host
        self.port = port
        self._fixed_port = bool(port)
        self._tmp = tempfile.TemporaryDirectory(prefix="mailflow-it-dns-")
        self.dir = Path(self._tmp.name)
        self.conf_path = self.dir / "dnsmasq.conf"
        self.log_path = self.dir / "dnsmasq.log"
        self.proc = None
        self._log_fh = None
        self._servfail = None
        self._blackhole = None

    @property
    def server(self):
        return f"{self.host}:{self.port}"

    def __repr__(self):
        return f"DnsServer({self.server})"

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def config_lines(self):
        lines = []
        for zone in self.nxdomain_zones:
            lines.append(f"local=/{zone.strip('.')}/")
        if self.servfail_zones:
            if self._servfail is None:
                self._servfail = _ServfailResponder(self.host)
            for zone in self.servfail_zones:
                lines.append(f"server=/{zone.strip('.')}/{self.host}#{self._servfail.port}")
        if self.timeout_zones:
            if self._blackhole is None:
                self._blackhole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._blackhole.bind((self.host, 0))  # never read: queries go unanswered
            for zone in self.timeout_zones:
                lines.append(f"server=/{zone.strip('.')}/{self.host}#{self._blackhole.getsockname()[1]}")
        for name, targets in self.mx.items():
            for pref, target in targets:
                lines.append(f"mx-host={name.rstrip('.')},{target.rstrip('.') or '.'},{int(pref)}")
        for name, addrs in self.a.items():
            for addr in _as_list(addrs):
                ipaddress.IPv4Address(addr)
                lines.append(f"host-record={name.rstrip('.')},{addr}")
        for name, addrs in self.aaaa.items():
            for addr in _as_list(addrs):
                ipaddress.IPv6Address(addr)
                lines.append(f"host-record={name.rstrip('.')},{addr}")
        for name, target in self.cname.items():
            lines.append(f"cname={name.rstrip('.')},{target.rstrip('.')}")
        for name, text in self.txt.items():
            lines.append(f'txt-record={name.rstrip(".")},"{text}"')
        lines += self.extra_options
        return lines

    def _command(self):
        cmd = [self.DNSMASQ, "--no-daemon", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces",
               f"--listen-address={self.host}", f"--port={self.port}", f"--conf-file={self.conf_path}",
               f"--pid-file={self.dir / 'dnsmasq.pid'}", "--cache-size=0", "--log-queries",
               "--log-facility=-"]
        if os.geteuid() == 0:
            cmd += ["--user=root", "--group=root"]
        return cmd

    def start(self, timeout=10.0):
        if not os.path.exists(self.DNSMASQ):
            raise RuntimeError(f"{self.DNSMASQ} not found (Debian package dnsmasq-base)")
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("dnsmasq already running")
        self.conf_path.write_text("\n".join(self.config_lines()) + "\n")
        for attempt in range(10):
            if not self._fixed_port:
                self.port = shared_port([self.host], udp=True)
            mark = len(self.log())
            self._log_fh = open(self.log_path, "ab")
            self.proc = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL, stdout=self._log_fh,
                                         stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            while True:
                rc = self.proc.poll()
                if rc is not None:
                    self._close_log()
                    text = self.log()[mark:]
                    if "in use" in text and not self._fixed_port:
                        break  # lost a race for the port: try another one
                    raise RuntimeError(f"dnsmasq exited with status {rc}:\n{text}")
                try:
                    dns_query(self.server, "ready.check.invalid", "A", timeout=0.2)
                    return self
                except OSError:  # timeout, ICMP port unreachable
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"dnsmasq did not answer on {self.server} within {timeout}s:\n{self.log()}")
        raise RuntimeError(f"dnsmasq could not bind a port on {self.host}:\n{self.log()}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close_log()

    def cleanup(self):
        self.stop()
        if self._servfail is not None:
            self._servfail.stop()
            self._servfail = None
        if self._blackhole is not None:
            self._blackhole.close()
            self._blackhole = None
        self._tmp.cleanup()

    def restart(self):
        """Stop, rewrite the configuration from the attributes (mx, a, ...), start on the same port."""
        self.stop()
        self._fixed_port = True
        return self.start()

    def _close_log(self):
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def queries(self):
        """[(qtype, name)] for every query dnsmasq logged (the readiness probe excluded)."""
        out = []
        for m in re.finditer(r"query\[(\w+)\] (\S+) from", self.log()):
            if m.group(2) != "ready.check.invalid":
                out.append((m.group(1), m.group(2)))
        return out


# ----------------------------------------------------------------------------------------------------
# Certificates


_CA_CNF = """
[ca]
default_ca = ca_default
[ca_default]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none
[policy_any]
commonName = supplied
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
"""

_EXT = """
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
{san}
"""

_pki_lock = threading.RLock()
_pki_tmp = None
_pki_counter = itertools.count(1)


def _pki_dir(directory):
    global _pki_tmp
    if directory is not None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        return d
    with _pki_lock:
        if _pki_tmp is None:
            _pki_tmp = tempfile.TemporaryDirectory(prefix="mailflow-it-peers-pki-")
            atexit.register(_pki_tmp.cleanup)
        return Path(_pki_tmp.name)


def _openssl(cwd, *args):
    proc = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))} failed:\n{proc.stderr}")
    return proc.stdout


def _slug(name):
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name.replace("*", "wildcard")).strip("_") or "cert"


def _asn1_time(dt):
    return dt.strftime("%Y%m%d%H%M%SZ")


def _san_line(sans):
    items = []
    for s in sans:
        if re.match(r"(?i)^(DNS|IP|email|URI):", s):
            items.append(s)
        else:
            try:
                ipaddress.ip_address(s)
                items.append(f"IP:{s}")
            except ValueError:
                items.append(f"DNS:{s}")
    return "subjectAltName = " + ", ".join(items) if items else ""


class CA:
    """A certificate authority in its own folder (openssl ca database)."""

    def __init__(self, name, directory, parent=None):
        self.name = name
        self.parent = parent
        self.dir = directory
        self.cert = directory / "ca.pem"
        self.key = directory / "ca.key"
        (directory / "newcerts").mkdir(parents=True, exist_ok=True)
        (directory / "index.txt").write_text("")
        (directory / "serial").write_text(f"{random.randrange(1 << 60, 1 << 62):x}\n")
        self.cnf = directory / "ca.cnf"
        self.cnf.write_text(_CA_CNF.format(dir=directory))
        self._lock = threading.Lock()
        # chain: this CA's certificate followed by its ancestors except the root
        self.intermediates = [] if parent is None else [self.cert] + parent.intermediates

    @property
    def chain(self):
        return self.cert if self.parent is None else self.dir / "chain.pem"


def _ec_key_and_csr(directory, stem, cn):
    _openssl(directory, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", f"/CN={cn}", "-config",
             directory / "req.cnf")


def _write_req_cnf(directory):
    p = directory / "req.cnf"
    if not p.exists():
        p.write_text("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n")


def make_ca(name="peers test CA", *, parent=None, directory=None, days=7):
    """A root CA (or an intermediate signed by `parent`)."""
    base = _pki_dir(directory)
    with _pki_lock:
        d = base / f"ca-{next(_pki_counter)}-{_slug(name)}"
    d.mkdir(parents=True)
    ca = CA(name, d, parent)
    _write_req_cnf(d)
    _ec_key_and_csr(d, "ca", name)
    ext = d / "ca_ext.cnf"
    ext.write_text(_EXT.format(san=""))
    now = datetime.now(timezone.utc)
    start, end = now - timedelta(hours=1), now + timedelta(days=days)
    if parent is None:
        # self-signed root via `openssl ca -selfsign`
        _openssl(d, "ca", "-batch", "-notext", "-selfsign", "-config", ca.cnf, "-in", "ca.csr", "-out", "ca.pem",
                 "-keyfile", "ca.key", "-extfile", ext, "-extensions", "ca_ext",
                 "-startdate", _asn1_time(start), "-enddate", _asn1_time(end))
    else:
        with parent._lock:
            _openssl(parent.dir, "ca", "-batch", "-notext", "-config", parent.cnf, "-in", d / "ca.csr",
                     "-out", d / "ca.pem", "-cert", parent.cert, "-keyfile", parent.key, "-extfile", ext,
                     "-extensions", "ca_ext", "-startdate", _asn1_time(start), "-enddate", _asn1_time(end))
        (d / "chain.pem").write_bytes(b"".join(Path(p).read_bytes() for p in ca.intermediates))
    return ca


def make_cert(name, sans=None, ca=None, expired=False, *, not_yet_valid=False, days=7, directory=None):
    """A leaf certificate for CN=name with the given SANs, signed by `ca` (self-signed if None)."""
    sans = [name] if sans is None else list(sans)
    base = _pki_dir(directory) if directory is not None or ca is None else ca.dir
    with _pki_lock:
        stem = f"leaf-{next(_pki_counter)}-{_slug(name)}"
    d = base / stem
    d.mkdir(parents=True)
    _write_req_cnf(d)
    _ec_key_and_csr(d, "cert", name)
    ext = d / "ext.cnf"
    ext.write_text(_EXT.format(san=_san_line(sans)))
    now = datetime.now(timezone.utc)
    if expired:
        start, end = now - timedelta(days=30), now - timedelta(days=1)
    elif not_yet_valid:
        start, end = now + timedelta(days=1), now + timedelta(days=30)
    else:
        start, end = now - timedelta(hours=1), now + timedelta(days=days)
    signer = ca
    if signer is None:
        signer = CA(name, d / "self")  # a throwaway database for `openssl ca -selfsign`
        _openssl(d, "ca", "-batch", "-notext", "-selfsign", "-config", signer.cnf, "-in", "cert.csr",
                 "-out", "cert.pem", "-keyfile", "cert.key", "-extfile", ext, "-extensions", "leaf_ext",
                 "-startdate", _asn1_time(start), "-enddate", _asn1_time(end))
    else:
        with ca._lock:
            _openssl(ca.dir, "ca", "-batch", "-notext", "-config", ca.cnf, "-in", d / "cert.csr", "-out",
                     d / "cert.pem", "-cert", ca.cert, "-keyfile", ca.key, "-extfile", ext, "-extensions",
                     "leaf_ext", "-startdate", _asn1_time(start), "-enddate", _asn1_time(end))
    cert = types.SimpleNamespace(name=name, sans=sans, ca=ca, cert=d / "cert.pem", key=d / "cert.key",
                                 chain=d / "chain.pem", dir=d, expired=expired)
    parts = [cert.cert] + (list(ca.intermediates) if ca is not None else [])
    cert.chain.write_bytes(b"".join(Path(p).read_bytes() for p in parts))
    return cert


_test_pki = None


def test_pki():
    """The standard set, made once per process: ca, leaf (mail.fabrikam.test, SANs mail.fabrikam.test,
    mx1.fabrikam.test, mx2.fabrikam.test, fabrikam.test), wildcard (*.fabrikam.test), self_signed
    (mail.fabrikam.test, no CA), expired (mail.fabrikam.test, signed by ca, expired yesterday)."""
    global _test_pki
    with _pki_lock:
        if _test_pki is None:
            ca = make_ca("peers test CA")
            _test_pki = types.SimpleNamespace(
                ca=ca,
                leaf=make_cert("mail.fabrikam.test", ["mail.fabrikam.test", "mx1.fabrikam.test",
                                                      "mx2.fabrikam.test", "fabrikam.test"], ca),
                wildcard=make_cert("*.fabrikam.test", ["*.fabrikam.test"], ca),
                self_signed=make_cert("mail.fabrikam.test", None, None),
                expired=make_cert("mail.fabrikam.test", None, ca, expired=True),
            )
        return _test_pki


def client_context(ca=None, cert=None):
    """A TLS client context verifying against `ca` (CA object or path), optionally presenting `cert`."""
    if ca is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=str(getattr(ca, "cert", ca)))
    if cert is not None:
        ctx.load_cert_chain(str(cert.chain), str(cert.key))
    return ctx
