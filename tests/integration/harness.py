"""harness.py — shared machinery for mailflow's integration tests (Python 3 standard library only).

Every test_*.py script imports this module and ends with `harness.main()`. What it provides:

  - the binary under test: `--mailflow PATH` on the command line, else $MAILFLOW_BIN;
  - isolation per server: a unique loopback address 127.a.b.c (a from the pid, c from a counter) and a
    free port on it, a private TemporaryDirectory holding the YAML config, the TLS material (made with
    the `openssl` command at test time), the data_dir and the captured log;
  - MailflowServer: start (waits until the port accepts, 20 s at most, fails with the log), stop with
    SIGTERM (asserts exit status 0) or SIGKILL, restart on the same data_dir, Maildir readers;
  - SmtpClient: a raw-socket SMTP client for byte-exact tests (send bytes, read replies with a
    timeout, STARTTLS on the same socket, detect the peer closing);
  - MailflowTestCase: assertion helpers, and on a failing test it prints the server log lines
    written while that test ran.

Only addresses in 127.0.0.0/8 are ever used; nothing is sent anywhere else.
"""

import argparse
import itertools
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

HOSTNAME = "mx.test.example"
CLIENT_NAME = "client.test.example"
GREETING = f"{HOSTNAME} ESMTP mailflow"
START_TIMEOUT = 20.0

_binary = None


def binary():
    """Absolute path of the mailflow executable under test."""
    if _binary is None:
        raise RuntimeError("harness.main() was not called (no --mailflow PATH / MAILFLOW_BIN)")
    return _binary


# ----------------------------------------------------------------------------------------------------
# Loopback addresses and ports


_address_counter = itertools.count(1)
_address_lock = threading.Lock()


def new_loopback_address():
    """A loopback address no other test in this process uses (and, through the pid, unlikely to be
    used by a test script running in parallel)."""
    with _address_lock:
        n = next(_address_counter)
    pid = os.getpid()
    second = 1 + pid % 250
    third = (pid // 250 + n // 250) % 256
    fourth = 1 + n % 250
    return f"127.{second}.{third}.{fourth}"


def free_port(address):
    """A TCP port free on `address` right now (bind port 0, read it back, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------------------
# TLS material, made once per process with the openssl command


_OPENSSL_CNF = f"""
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:{HOSTNAME}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectAltName = DNS:{CLIENT_NAME}
subjectKeyIdentifier = hash
"""

CA_NAME = "mailflow integration test CA"


class Certificates:
    """A CA, a server certificate for mx.test.example signed by it, a client certificate signed by
    it, and a self-signed ("rogue") client certificate that the CA does not vouch for."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        cnf = self.dir / "openssl.cnf"
        cnf.write_text(_OPENSSL_CNF)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

        def run(*args):
            proc = subprocess.run(["openssl", *args], cwd=self.dir, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"openssl {' '.join(args)} failed:\n{proc.stderr}")

        run("req", "-config", str(cnf), "-x509", "-new", *ec, "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "3", "-subj", f"/CN={CA_NAME}", "-extensions", "v3_ca")
        for name, cn, section in (("server", HOSTNAME, "server"), ("client", CLIENT_NAME, "client")):
            run("req", "-config", str(cnf), "-new", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={cn}")
            run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial",
                str(int(time.time() * 1000) + len(name)), "-days", "3", "-out", f"{name}.pem", "-extfile",
                str(cnf), "-extensions", section)
        run("req", "-config", str(cnf), "-x509", "-new", *ec, "-keyout", "rogue.key", "-out", "rogue.pem",
            "-days", "3", "-subj", "/CN=rogue.test.example", "-extensions", "client")
        self.ca = self.dir / "ca.pem"
        self.server_cert = self.dir / "server.pem"
        self.server_key = self.dir / "server.key"
        self.client_cert = self.dir / "client.pem"
        self.client_key = self.dir / "client.key"
        self.rogue_cert = self.dir / "rogue.pem"
        self.rogue_key = self.dir / "rogue.key"

    def client_context(self, client_cert=None, client_key=None):
        """A TLS client context that verifies mx.test.example against the test CA."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if client_cert:
            ctx.load_cert_chain(str(client_cert), str(client_key))
        return ctx


_certs = None
_certs_dir = None
_certs_lock = threading.Lock()


def certificates():
    global _certs, _certs_dir
    with _certs_lock:
        if _certs is None:
            _certs_dir = tempfile.TemporaryDirectory(prefix="mailflow-it-certs-")
            _certs = Certificates(_certs_dir.name)
        return _certs


# ----------------------------------------------------------------------------------------------------
# Configuration


def _scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar
    raise TypeError(f"cannot write {v!r} as YAML")


def to_yaml(value, indent=0):
    """Block-style YAML lines for nested dicts/lists of str/int/bool (lists of scalars go inline)."""
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, list) and all(not isinstance(x, (dict, list)) for x in v):
                lines.append(f"{pad}{k}: [{', '.join(_scalar(x) for x in v)}]")
            elif isinstance(v, dict) and not v:
                lines.append(f"{pad}{k}: {{}}")
            elif isinstance(v, (dict, list)):
                lines.append(f"{pad}{k}:")
                lines += to_yaml(v, indent + 1)
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                sub = to_yaml(item, indent + 1)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines += sub[1:]
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(pad + _scalar(value))
    return lines


DEFAULT_LIMITS = {
    "max_connections_per_ip": 50,
    "max_errors": 20,
    "command_timeout": "300s",
    "data_timeout": "600s",
    "shutdown_grace": "10s",
    "min_free_disk": 0,
}


def default_organizations():
    return [
        {
            "name": "contoso",
            "accepted_domains": [
                {"domain": "contoso.test", "type": "authoritative"},
                {"domain": "relay.contoso.test", "type": "internal_relay"},
            ],
            "recipients": [
                {"type": "mailbox", "address": "david@contoso.test", "proxy_addresses": ["dave@contoso.test"]},
                {"type": "mailbox", "address": "julie@contoso.test"},
                {"type": "mailbox", "address": "josé@contoso.test"},
                {"type": "group", "address": "team@contoso.test",
                 "members": ["david@contoso.test", "julie@contoso.test"]},
            ],
        },
        {
            "name": "fabrikam",
            "accepted_domains": [{"domain": "fabrikam.test", "type": "authoritative"}],
            "recipients": [{"type": "mailbox", "address": "Alex@fabrikam.test"}],
        },
    ]


def build_config(address, port, *, tls=False, limits=None, service=None, organizations=None):
    merged_limits = dict(DEFAULT_LIMITS)
    merged_limits.update(limits or {})
    svc = {
        "hostname": HOSTNAME,
        "listeners": [{"name": "mx", "address": f"{address}:{port}"}],
        "data_dir": "./var",
        "max_message_size": 1048576,
        "max_recipients": 100,
        "limits": merged_limits,
    }
    if tls:
        svc["tls"] = {"certificate": "server.pem", "key": "server.key", "ca_bundle": "ca.pem"}
    svc.update(service or {})
    return {"service": svc, "organizations": organizations if organizations is not None else default_organizations()}


def parse_duration(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", str(text))
    if not m:
        return 10.0
    n, unit = int(m.group(1)), m.group(2)
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


# ----------------------------------------------------------------------------------------------------
# The server process


_servers = []  # every MailflowServer created in this process (for log dumps)


class MailflowServer:
    """One `mailflow serve` process with its own directory, address and port.

    The layout of its TemporaryDirectory:  etc/mailflow.yaml (+ TLS files), etc/var/ (data_dir, given
    as the relative path ./var), cwd/ (the process's working directory: relative paths must resolve
    against the config file's folder, not here), mailflow.log (stdout+stderr of every start)."""

    def __init__(self, *, tls=False, limits=None, service=None, organizations=None):
        self._tmp = tempfile.TemporaryDirectory(prefix="mailflow-it-")
        self.root = Path(self._tmp.name)
        self.config_dir = self.root / "etc"
        self.cwd = self.root / "cwd"
        self.config_dir.mkdir()
        self.cwd.mkdir()
        self.address = new_loopback_address()
        self.client_address = new_loopback_address()  # source address of this server's test clients
        self.probe_address = new_loopback_address()   # source address of the readiness probe
        self.port = free_port(self.address)
        self.tls = tls
        if tls:
            certs = certificates()
            shutil.copy(certs.server_cert, self.config_dir / "server.pem")
            shutil.copy(certs.server_key, self.config_dir / "server.key")
            shutil.copy(certs.ca, self.config_dir / "ca.pem")
        self.config = build_config(self.address, self.port, tls=tls, limits=limits, service=service,
                                   organizations=organizations)
        self.config_path = self.config_dir / "mailflow.yaml"
        self.write_config()
        self.data_dir = self.config_dir / "var"
        self.log_path = self.root / "mailflow.log"
        self.proc = None
        self.starts = 0
        self._log_fh = None
        self._final_log = None
        _servers.append(self)

    # -- configuration
    def write_config(self):
        self.config_path.write_text("\n".join(to_yaml(self.config)) + "\n", encoding="utf-8")

    @property
    def shutdown_grace(self):
        return parse_duration(self.config["service"]["limits"].get("shutdown_grace", "10s"))

    # -- process control
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout=START_TIMEOUT):
        """Start `mailflow serve` and wait until the listener accepts a connection."""
        if self.running():
            raise RuntimeError("server already running")
        self.starts += 1
        self._close_log()
        self._log_fh = open(self.log_path, "ab")
        self._log_fh.write(f"=== harness: start #{self.starts} ===\n".encode())
        self._log_fh.flush()
        self.proc = subprocess.Popen([binary(), "serve", "--config", str(self.config_path)], cwd=self.cwd,
                                     stdin=subprocess.DEVNULL, stdout=self._log_fh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise AssertionError(f"mailflow exited with status {rc} before accepting connections on "
                                     f"{self.address}:{self.port}\n{self.log_dump()}")
            if self._probe():
                return self
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"mailflow did not accept connections on {self.address}:{self.port} "
                                     f"within {timeout:.0f}s\n{self.log_dump()}")
            time.sleep(0.05)

    def _probe(self):
        try:
            with socket.create_connection((self.address, self.port), timeout=2,
                                          source_address=(self.probe_address, 0)) as s:
                try:
                    s.recv(512)  # the greeting; the probe then goes away
                except OSError:
                    pass
            return True
        except OSError:
            return False

    def stop(self, check=True, timeout=None):
        """SIGTERM; wait for the exit (grace + 15 s at most). With check, assert exit status 0.
        Returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            rc = None if self.proc is None else self.proc.returncode
        else:
            self.proc.send_signal(signal.SIGTERM)
            limit = timeout if timeout is not None else self.shutdown_grace + 15
            try:
                rc = self.proc.wait(limit)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"mailflow did not exit within {limit:.0f}s of SIGTERM\n{self.log_dump()}")
        self._close_log()
        if check and rc != 0:
            raise AssertionError(f"mailflow exited with status {rc} after SIGTERM (expected 0)\n{self.log_dump()}")
        return rc

    def kill(self):
        """SIGKILL (no chance to clean up), then reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        self._close_log()

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def _close_log(self):
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None

    def cleanup(self):
        self.kill()
        self._final_log = self.log()
        self._tmp.cleanup()

    # -- log
    def log(self):
        if self._final_log is not None:
            return self._final_log
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self):
        return len(self.log())

    def log_dump(self, since=0, max_chars=60000):
        text = self.log()[since:]
        if len(text) > max_chars:
            text = "[... earlier lines cut ...]\n" + text[-max_chars:]
        return f"--- mailflow log ({self.address}:{self.port}) ---\n{text}--- end of log ---"

    def wait_for_log(self, pattern, timeout=10.0, since=0):
        """Wait until a log line (after offset `since`) matches the regex; returns the line or None."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log()[since:].splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    # -- Maildir
    def maildir(self, organization, address):
        return self.data_dir / "mailboxes" / organization / address.lower() / "new"

    def mailbox_files(self, organization, address):
        """The files in <data_dir>/mailboxes/<organization>/<address>/new/, as bytes, by name."""
        d = self.maildir(organization, address)
        if not d.is_dir():
            return []
        out = []
        for p in sorted(d.iterdir()):
            if p.name.startswith(".") or not p.is_file():
                continue
            try:
                out.append(p.read_bytes())
            except FileNotFoundError:
                continue
        return out

    def all_maildir_files(self):
        """(path, bytes) for every delivered file in every mailbox of every organization."""
        root = self.data_dir / "mailboxes"
        out = []
        if not root.is_dir():
            return out
        for p in sorted(root.glob("*/*/new/*")):
            if p.is_file() and not p.name.startswith("."):
                try:
                    out.append((p, p.read_bytes()))
                except FileNotFoundError:
                    continue
        return out

    def wait_for_messages(self, organization, address, token, count=1, timeout=15.0, settle=0.3):
        """Wait until at least `count` files of the mailbox contain `token`; after a short settle time
        (so that a duplicate has the chance to show up) return every file that contains it."""
        tok = token.encode() if isinstance(token, str) else token
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.mailbox_files(organization, address) if tok in m]
            if len(found) >= count:
                time.sleep(settle)
                return [m for m in self.mailbox_files(organization, address) if tok in m]
            if time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    # -- clients
    def client(self, source=None, timeout=10.0):
        return SmtpClient(self.address, self.port, source=source or self.client_address, timeout=timeout)

    def smtp(self, source=None, timeout=15.0):
        """A connected smtplib.SMTP (greeting read)."""
        s = smtplib.SMTP(local_hostname=CLIENT_NAME, timeout=timeout,
                         source_address=(source or self.client_address, 0))
        s.connect(self.address, self.port)
        s._host = HOSTNAME  # the name STARTTLS verifies the certificate against (smtplib uses _host)
        return s

    def swaks(self, *args, timeout=60):
        """Run swaks against this server; returns the CompletedProcess (text output)."""
        cmd = ["swaks", "--server", self.address, "--port", str(self.port), "--local-interface",
               self.client_address, "--helo", CLIENT_NAME, "--timeout", "20", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


# ----------------------------------------------------------------------------------------------------
# Raw SMTP client


class Reply:
    """One SMTP reply: code, the text lines (without "250-"), and the raw bytes."""

    def __init__(self, code, lines, raw):
        self.code = code
        self.lines = lines
        self.raw = raw

    @property
    def text(self):
        return "\n".join(self.lines)

    @property
    def enhanced(self):
        m = re.match(r"([245]\.\d{1,3}\.\d{1,3})(?: |$)", self.lines[0] if self.lines else "")
        return m.group(1) if m else None

    @property
    def first_line(self):
        return f"{self.code} {self.lines[0]}" if self.lines and self.lines[0] else str(self.code)

    def __repr__(self):
        return f"Reply({self.raw!r})"


class PeerClosed(Exception):
    pass


class SmtpClient:
    """A byte-exact SMTP client over a plain socket (TLS after starttls()). Nothing is ever sent that
    the test did not ask for; send() writes its bytes in one call (one segment for small writes)."""

    def __init__(self, address, port, source=None, timeout=10.0):
        self.timeout = timeout
        src = (source, 0) if source else None
        self.sock = socket.create_connection((address, port), timeout=timeout, source_address=src)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.closed_by_peer = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out waiting for the server")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        except ssl.SSLError:
            chunk = b""
        if not chunk:
            self.closed_by_peer = True
            raise PeerClosed(f"connection closed by the server (unread: {self.buf!r})")
        self.buf += chunk

    def read_line(self, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while b"\r\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_reply(self, timeout=None):
        """Read one complete (possibly multi-line) reply."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        lines, raw, code = [], b"", None
        while True:
            line = self.read_line(max(0.001, deadline - time.monotonic()))
            raw += line + b"\r\n"
            m = re.fullmatch(rb"([2-5]\d\d)([ -]?)(.*)", line, re.S)
            if not m:
                raise AssertionError(f"malformed reply line {line!r} (reply so far {raw!r})")
            this_code = int(m.group(1))
            if code is not None and this_code != code:
                raise AssertionError(f"reply code changed inside a multi-line reply: {raw!r}")
            code = this_code
            lines.append(m.group(3).decode("utf-8", "replace"))
            if m.group(2) != b"-":
                return Reply(code, lines, raw)

    def pending(self, wait=0.5):
        """Whatever the server sends within `wait` seconds (b"" if nothing). Does not raise on close."""
        deadline = time.monotonic() + wait
        try:
            while time.monotonic() < deadline:
                self._fill(deadline)
        except (socket.timeout, TimeoutError, PeerClosed):
            pass
        data, self.buf = self.buf, b""
        return data

    def command(self, line, timeout=None):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.read_reply(timeout)

    def greeting(self):
        return self.read_reply()

    def ehlo(self, name=CLIENT_NAME):
        return self.command(f"EHLO {name}")

    def wait_closed(self, timeout=5.0):
        """True when the server closes the connection within `timeout` (data sent before the close is
        kept in self.trailing)."""
        deadline = time.monotonic() + timeout
        self.trailing = b""
        try:
            while True:
                self._fill(deadline)
                self.trailing += self.buf
                self.buf = b""
        except PeerClosed:
            self.trailing += self.buf
            self.buf = b""
            return True
        except (socket.timeout, TimeoutError):
            return False

    def starttls(self, context, server_hostname=HOSTNAME):
        """Run the TLS handshake on the socket (after the server's 220). Bytes already buffered would
        be plaintext the server sent after its 220: that is a protocol error the caller checks."""
        self.sock.settimeout(self.timeout)
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)

    def send_mail(self, sender, recipients, content, mail_params=""):
        """MAIL, RCPT..., DATA, content (already CRLF and dot-stuffed, without the final dot) one
        command at a time; returns the list of replies (stops at the first MAIL/DATA failure)."""
        replies = []
        r = self.command(f"MAIL FROM:<{sender}>{(' ' + mail_params) if mail_params else ''}")
        replies.append(r)
        if r.code != 250:
            return replies
        for rcpt in recipients:
            replies.append(self.command(f"RCPT TO:<{rcpt}>"))
        r = self.command("DATA")
        replies.append(r)
        if r.code != 354:
            return replies
        body = content.encode("utf-8") if isinstance(content, str) else content
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.send(body + b".\r\n")
        replies.append(self.read_reply(30))
        return replies


def make_message(token, sender="sender@example.org", to="someone@contoso.test", body_lines=None,
                 subject=None):
    """A small RFC 5322 message (CRLF line ends) carrying `token` in its Subject and body."""
    lines = [
        f"From: <{sender}>",
        f"To: <{to}>",
        f"Subject: {subject or 'test ' + token}",
        f"Message-ID: <{token}@client.test.example>",
        "",
        f"token {token}",
    ]
    lines += body_lines or []
    lines.append(f"END {token}")
    return "\r\n".join(lines) + "\r\n"


_token_counter = itertools.count(1)


def new_token(prefix="tok"):
    return f"{prefix}-{os.getpid()}-{int(time.time() * 1000) % 100000000}-{next(_token_counter)}"


# ----------------------------------------------------------------------------------------------------
# Delivered files


class Delivered:
    """A Maildir file split into mailflow's trace headers and the message as sent (line ends
    normalised to LF, since a Maildir file may use either)."""

    def __init__(self, raw):
        self.raw = raw
        text = raw.replace(b"\r\n", b"\n")
        self.lines = text.split(b"\n")
        # Unfold the leading header fields we care about.
        fields, i = [], 0
        while i < len(self.lines) and self.lines[i]:
            start = i
            i += 1
            while i < len(self.lines) and self.lines[i][:1] in (b" ", b"\t"):
                i += 1
            fields.append((start, i, b"\n".join(self.lines[start:i])))
        self.fields = fields  # (first line index, end index, raw folded field)

    def field(self, n):
        return self.fields[n][2].decode("utf-8", "replace") if n < len(self.fields) else ""

    def after_fields(self, n):
        """The bytes after the first n header fields (LF line ends)."""
        end = self.fields[n - 1][1] if n else 0
        return b"\n".join(self.lines[end:])


# ----------------------------------------------------------------------------------------------------
# Test case base


class MailflowTestCase(unittest.TestCase):
    """Base class: reply assertions, and the server log of a failing test printed to stderr."""

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        marks = {id(s): s.log_size() for s in _servers}
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for s in list(_servers):
                since = marks.get(id(s), 0)
                text = s.log()[since:]
                if text.strip():
                    sys.stderr.write(f"\n[{self.id()}] server log lines written during the test:\n")
                    sys.stderr.write(s.log_dump(since=since) + "\n")
        return out

    def assertReply(self, reply, code, enhanced=None, text=None, msg=None):
        """code: int; enhanced: "5.5.1" exact or a prefix ending with "." (e.g. "5."); text: the exact
        text after the enhanced code on the first line."""
        detail = f"{msg + ': ' if msg else ''}got {reply.raw!r}"
        self.assertEqual(reply.code, code, detail)
        if enhanced is not None:
            got = reply.enhanced
            self.assertIsNotNone(got, f"no enhanced status code; {detail}")
            if enhanced.endswith("."):
                self.assertTrue(got.startswith(enhanced), f"enhanced code {got} is not {enhanced}x; {detail}")
            else:
                self.assertEqual(got, enhanced, detail)
        if text is not None:
            first = reply.lines[0]
            if reply.enhanced:
                first = first[len(reply.enhanced):].lstrip()
            self.assertEqual(first, text, detail)

    def assertClosed(self, client, timeout=5.0, msg=None):
        self.assertTrue(client.wait_closed(timeout), msg or "the server did not close the connection")

    def assertNoMoreReplies(self, client, wait=0.5):
        extra = client.pending(wait)
        self.assertEqual(extra, b"", f"unexpected extra bytes from the server: {extra!r}")

    def start_server(self, **kw):
        """A server for this test only (killed and removed at cleanup)."""
        srv = MailflowServer(**kw)
        self.addCleanup(srv.cleanup)
        return srv.start()

    @classmethod
    def start_class_server(cls, **kw):
        """A server shared by the tests of a class; stopped with SIGTERM (exit 0 asserted) at
        tearDownClass, removed at class cleanup."""
        srv = MailflowServer(**kw)
        cls.addClassCleanup(srv.cleanup)
        return srv.start()


def queued_id(reply_text):
    m = re.fullmatch(r"2\.0\.0 Ok: queued as (\S+)", reply_text.strip())
    return m.group(1) if m else None


def main():
    """Entry point of every test script: `python3 test_x.py --mailflow PATH [unittest args]`."""
    global _binary
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--mailflow", default=os.environ.get("MAILFLOW_BIN"))
    args, rest = parser.parse_known_args()
    if not args.mailflow:
        sys.stderr.write("usage: test_x.py --mailflow PATH (or set MAILFLOW_BIN) [unittest options]\n")
        sys.exit(2)
    path = os.path.abspath(args.mailflow)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        sys.stderr.write(f"mailflow binary not found or not executable: {path}\n")
        sys.exit(2)
    _binary = path
    unittest.main(module="__main__", argv=[sys.argv[0]] + rest, verbosity=2)
