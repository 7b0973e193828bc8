#!/usr/bin/env python3
"""internet-sink.py — "the internet" of the hybrid lab: the MX of fabrikam.com (mx.fabrikam.com,
127.0.30.1:2525). It accepts every message (Python 3 standard library only, no TLS), saves it as
var/internet/<time>-<n>.eml next to this script (or under --store) and prints one line per message with its
envelope and the hosts named in its Received: headers, newest first — the path the message took.

    python3 internet-sink.py [--listen 127.0.30.1:2525] [--store DIR]
"""
import argparse
import email
import email.policy
import itertools
import re
import socketserver
import sys
import threading
import time
from pathlib import Path

_counter = itertools.count(1)
_lock = threading.Lock()


def received_path(data):
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    hops = []
    for value in msg.get_all("Received") or []:
        m = re.search(r"\bby\s+([^\s;]+)", " ".join(str(value).split()))
        hops.append(m.group(1) if m else "?")
    return hops


class Session(socketserver.StreamRequestHandler):
    timeout = 300

    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        peer = self.client_address[0]
        self.reply(f"220 {self.server.hostname} ESMTP internet-sink")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply(f"250-{self.server.hostname}\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                           "250-SMTPUTF8\r\n250-SIZE 52428800\r\n250 ENHANCEDSTATUSCODES")
            elif verb == "HELO":
                self.reply(f"250 {self.server.hostname}")
            elif verb == "MAIL":
                m = re.match(r"(?i)MAIL FROM:\s*<([^>]*)>", cmd)
                sender, rcpts = (m.group(1) if m else cmd[10:]), []
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                m = re.match(r"(?i)RCPT TO:\s*<([^>]*)>", cmd)
                rcpts.append(m.group(1) if m else cmd[8:])
                self.reply("250 2.1.5 Ok")
            elif verb == "DATA":
                if sender is None or not rcpts:
                    self.reply("503 5.5.1 MAIL and RCPT first")
                    continue
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                chunks = []
                while True:
                    dl = self.rfile.readline(1 << 20)
                    if not dl:
                        return
                    if dl in (b".\r\n", b".\n"):
                        break
                    chunks.append(dl[1:] if dl.startswith(b".") else dl)
                data = b"".join(chunks)
                with _lock:
                    n = next(_counter)
                    path = self.server.store / f"{int(time.time())}-{n}.eml"
                    path.write_bytes(data)
                hops = " <- ".join(received_path(data)) or "(no Received:)"
                print(f"message {n} from {peer}: MAIL FROM:<{sender}> RCPT TO:{', '.join(rcpts)} | "
                      f"path (newest first): {hops} | saved {path}", flush=True)
                self.reply(f"250 2.0.0 Ok: queued as sink-{n}")
                sender, rcpts = None, []
            elif verb == "RSET":
                sender, rcpts = None, []
                self.reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Command not implemented")


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.30.1:2525")
    ap.add_argument("--store", default=str(Path(__file__).resolve().parent / "var" / "internet"))
    ap.add_argument("--hostname", default="mx.fabrikam.com")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    store = Path(args.store)
    store.mkdir(parents=True, exist_ok=True)
    with Server((host, int(port)), Session) as srv:
        srv.hostname = args.hostname
        srv.store = store
        print(f"listening on {host}:{port} as {args.hostname}, saving to {store}", flush=True)
        try:
            srv.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
