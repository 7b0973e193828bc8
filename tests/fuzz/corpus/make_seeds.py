#!/usr/bin/env python3
"""Regenerates the seed corpora in this folder (run from anywhere; python3 only).

fuzz_session/: every golden transcript script (tests/golden/smtp/*.in) in fuzz_session's input
format (option header, one read per segment, driver directives), plus chunk-mode variants.
fuzz_command/: single command lines and parameter values from the security catalogue, §7 A and D.
"""
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent
GOLDEN = HERE.parent.parent / "golden" / "smtp"


def unescape(text):
    out = bytearray()
    crlf = True
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in "rn0t\\":
            out += {"r": b"\r", "n": b"\n", "0": b"\0", "t": b"\t", "\\": b"\\"}[nxt]
            i += 2
        elif nxt == "c":
            crlf = False
            i += 2
        elif nxt == "x":
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        elif nxt == "{":
            m = re.match(r"\{(\d+):(.)\}", text[i + 1:])
            out += m.group(2).encode() * min(int(m.group(1)), 3000)  # seeds stay small
            i += 1 + m.end()
        else:
            raise ValueError(text)
    return bytes(out) + (b"\r\n" if crlf else b"")


def header(options, mode=0):
    """The 8-octet option header of fuzz_session (see tests/fuzz/fuzz_session.cpp)."""
    cmd_line = int(options.get("max_command_line", 1024))
    size = min(int(options.get("max_message_size", 8192)), 8192)
    return bytes([
        max(0, min(255, (cmd_line - 64) // 8)),
        max(0, min(8, int(options.get("max_recipients", 8))) - 1),
        size >> 8, size & 0xFF,
        int(options.get("max_errors", 20)) % 31,
        min(5, int(options.get("max_hop_count", 5))),
        0 if options.get("starttls") == "off" else 1,
        mode,
    ])


DIRECTIVES = {"!timeout": b"T", "!shutdown": b"S", "!commit-fail": b"C", "!tls-fail": b"F"}


def pieces(segment):
    """Splits after each LF, as fuzz_session's line mode does."""
    out, start = [], 0
    while start < len(segment):
        lf = segment.find(b"\n", start)
        end = len(segment) if lf < 0 else lf + 1
        out.append(segment[start:end])
        start = end
    return out


def session_seeds():
    """fuzz_session seeds in line mode: one read per golden segment, directives kept."""
    for script in sorted(GOLDEN.glob("*.in")):
        options, body, segment = {}, bytearray(), None

        def flush():
            if segment is None:
                return
            lines = pieces(bytes(segment))
            for i in range(0, len(lines), 9):
                group = lines[i:i + 9]
                if len(group) > 1:
                    body.extend(b"\xffP" + str(len(group)).encode() + b"\n")
                body.extend(b"".join(group))

        for line in script.read_text().splitlines():
            if line.startswith("@"):
                key, _, value = line[1:].partition(" ")
                options[key] = value
            elif line.startswith("C:") or line.startswith("+:"):
                text = line[2:]
                text = text[1:] if text.startswith(" ") else text
                if line.startswith("C:") or segment is None:
                    flush()
                    segment = bytearray()
                segment += unescape(text)
            elif line in DIRECTIVES:
                flush()
                segment = None
                body += b"\xff" + DIRECTIVES[line] + b"\n"
        flush()
        (HERE / "fuzz_session" / script.stem).write_bytes(header(options) + bytes(body))
        if script.stem == "happy_path":  # the same client bytes in chunk mode, split anywhere
            raw = b"".join(unescape(l[2:].lstrip(" ") if l[2:].startswith(" ") else l[2:])
                           for l in script.read_text().splitlines() if l[:2] in ("C:", "+:"))
            for k in (1, 7, 64):
                (HERE / "fuzz_session" / f"chunks{k}").write_bytes(header(options, 127 + k) + raw)


COMMANDS = [
    b"EHLO client.example", b"HELO [192.0.2.1]", b"EHLO", b"QUIT", b"RSET", b"NOOP", b"DATA", b"STARTTLS",
    b"MAIL FROM:<a@s.example> SIZE=1000 BODY=8BITMIME RET=HDRS ENVID=QQ+2B314 AUTH=<>",
    b"MAIL FROM:<>", b"MAIL FROM: <@r1.example,@[IPv6:2001:db8::1]:a@s.example>",
    b"MAIL FROM:<\"john doe\"@s.example> SMTPUTF8", b"MAIL FROM:<\xc3\xbc@b\xc3\xbccher.example> SMTPUTF8",
    b"MAIL FROM:<a@s.example> SIZE=99999999999999999999", b"MAIL FROM:<;sleep 66;>",
    b"MAIL FROM:<a@s.example> ENVID=+0D+0A", b"MAIL FROM:<a@s.example> AUTH=x+0AMAIL",
    b"MAIL FROM:<<a@b>>", b"MAIL FROM:<\"a\\\"b\"@t.example>",
    b"RCPT TO:<b@t.example> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;b+40t.example",
    b"RCPT TO:<Postmaster>", b"RCPT TO:<${run{/bin/true}}@t.example>", b"RCPT TO:<x%victim.example@t.example>",
    b"RCPT TO:<user@[127.0.0.1]>", b"RCPT TO:<user@1.2.3.4>", b"RCPT TO:<a@b.example@c.example>",
    b"RCPT TO:<b@t.example> NOTIFY=NEVER", b"GET / HTTP/1.1", b"Subject: hello",
    b"MAIL FROM:<a@s.example>\rRCPT TO:<b@t.example>\r\n", b"EHLO x\n", b"NO\x00OP\r\n",
    b"a@xn--bcher-kva.example.", b"QQ+2B314", b"18446744073709551615",
]


def command_seeds():
    for i, cmd in enumerate(COMMANDS):
        (HERE / "fuzz_command" / f"seed{i:02d}").write_bytes(cmd)


if __name__ == "__main__":
    (HERE / "fuzz_session").mkdir(exist_ok=True)
    (HERE / "fuzz_command").mkdir(exist_ok=True)
    session_seeds()
    command_seeds()
