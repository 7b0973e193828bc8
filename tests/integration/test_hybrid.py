#!/usr/bin/env python3
"""The hybrid lab end to end (SPEC §8, R-HYB-1..4, R-SUB-1..2; seed 003; reference §8, the CMT table).

Every flow test runs the lab of examples/hybrid/ for real: two `mailflow serve` processes (the cloud
"Exchange Online" side from cloud.yaml or cloud-cmt.yaml, the on-premises side from onprem.yaml),
dnsmasq serving the records of examples/hybrid/dnsmasq.conf, and a Python SMTP sink standing for the
internet (mx.fabrikam.com). The example files are used as they are, except for what must change so
that several runs can share the machine: every "127.0.<n>0.1:<port>" of the lab becomes a fresh
loopback address (harness.new_loopback_address) with a port free on all of them, the DNS server
address becomes the test's dnsmasq, and the certificates come from examples/hybrid/make-certs.sh run
into a temporary folder at test time.

Mail enters as the seed's flows say (an internet client without a certificate on an mx listener, or a
mailbox user submitting with STARTTLS + AUTH on a submission listener); the test then waits until
both instances have finished every message they received and compares where every copy landed —
Maildir files under each instance's mailbox store, messages at the sink — and the path each took:
the hosts named by the Received: headers of the delivered copy, newest first.
"""
import email
import email.policy
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import threading
import time
import types
from pathlib import Path

import harness
import peers

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "hybrid"

# The fixed addresses of the lab (examples/hybrid/*.yaml, dnsmasq.conf); a test replaces them.
LAB = {"cloud": "127.0.10.1", "onprem": "127.0.20.1", "internet": "127.0.30.1"}
LAB_DNS = "127.0.40.1:5353"
LAB_MX_PORT, LAB_SUBMISSION_PORT, LAB_ADMIN_PORT = 2525, 2587, 8025

CLOUD, ONPREM = "cloud.contoso.com", "mail.contoso.com"  # service.hostname of each side
PASSWORDS = {"david@contoso.com": "david-lab-password", "julie@contoso.com": "julie-lab-password"}
INTERNET_SENDER = "alice@fabrikam.com"
FLOW_TIMEOUT = 12.0  # a flow takes well under a second; this bounds a broken one


# ----------------------------------------------------------------------------------------------------
# Certificates: examples/hybrid/make-certs.sh, once per process


_certs_lock = threading.Lock()
_certs_tmp = None


def lab_certs():
    """The folder holding ca.pem, cloud.pem/.key and onprem.pem/.key made by make-certs.sh."""
    global _certs_tmp
    with _certs_lock:
        if _certs_tmp is None:
            tmp = tempfile.TemporaryDirectory(prefix="mailflow-hybrid-certs-")
            out = Path(tmp.name) / "certs"
            proc = subprocess.run([str(EXAMPLES / "make-certs.sh"), str(out)], capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=60)
            if proc.returncode != 0:
                tmp.cleanup()
                raise RuntimeError(f"make-certs.sh failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
            _certs_tmp = tmp
        return Path(_certs_tmp.name) / "certs"


def copy_example(names, dest):
    """Copy example files (unchanged) and the lab certificates into dest/ (dest/certs/)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copy(EXAMPLES / n, dest / n)
    shutil.copytree(lab_certs(), dest / "certs", dirs_exist_ok=True)
    (dest / "var").mkdir(exist_ok=True)  # the service creates its admin token file (mode 0600) here
    return dest


def run_check(config):
    return subprocess.run([harness.binary(), "check", "--config", str(config)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=30)


# ----------------------------------------------------------------------------------------------------
# The lab's DNS records, read from examples/hybrid/dnsmasq.conf


def lab_dns_records(address_map):
    """{'mx': {...}, 'a': {...}} from the mx-host= and host-record= lines of dnsmasq.conf, with every
    lab address replaced through address_map."""
    mx, a = {}, {}
    for line in (EXAMPLES / "dnsmasq.conf").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("mx-host="):
            name, target, pref = (line[len("mx-host="):].split(",") + ["", "0"])[:3]
            mx.setdefault(name, []).append((int(pref or 0), target))
        elif line.startswith("host-record="):
            name, addr = line[len("host-record="):].split(",")[:2]
            a.setdefault(name, []).append(address_map.get(addr, addr))
    return {"mx": mx, "a": a}


# ----------------------------------------------------------------------------------------------------
# One mailflow instance of the lab


class LabInstance(harness.MailflowServer):
    """`mailflow serve --config <copy of examples/hybrid/NAME>`: the harness's server process control,
    Maildir readers and log dumps, on a config file that is the example with the lab's addresses
    replaced (each replacement must happen: a changed example fails here, loudly)."""

    def __init__(self, side, example, address, port, dns_server):
        self._tmp = tempfile.TemporaryDirectory(prefix=f"mailflow-hybrid-{side}-")
        self.root = Path(self._tmp.name)
        self.side = side
        self.config_dir = copy_example([example], self.root / "etc")
        self.cwd = self.root / "cwd"
        self.cwd.mkdir()
        self.address = address
        self.client_address = harness.new_loopback_address()
        self.probe_address = harness.new_loopback_address()
        self.port = port
        self.submission_port = self._other_port(address, {port})
        self.admin_port = self._other_port(address, {port, self.submission_port})
        lab_ip = LAB[side]
        text = (EXAMPLES / example).read_text()
        for old, new in ((f'"{lab_ip}:{LAB_MX_PORT}"', f'"{address}:{port}"'),
                         (f'"{lab_ip}:{LAB_SUBMISSION_PORT}"', f'"{address}:{self.submission_port}"'),
                         (f'"{lab_ip}:{LAB_ADMIN_PORT}"', f'"{address}:{self.admin_port}"'),
                         (f'"{LAB_DNS}"', f'"{dns_server}"'),
                         (f"remote_smtp_port: {LAB_MX_PORT}", f"remote_smtp_port: {port}")):
            if old not in text:
                raise AssertionError(f"examples/hybrid/{example} no longer contains {old} (update test_hybrid.py)")
            text = text.replace(old, new)
        self.config_path = self.config_dir / example
        self.config_path.write_text(text)
        m = re.search(r"^\s*data_dir:\s*(\S+)", text, re.M)
        self.data_dir = self.config_dir / (m.group(1) if m else "var")
        self.config = {"service": {"limits": {}}}
        self.tls = True
        self.log_path = self.root / "mailflow.log"
        self.proc = None
        self.starts = 0
        self._log_fh = None
        self._final_log = None
        harness._servers.append(self)

    @staticmethod
    def _other_port(address, taken):
        """A port free on address now, other than the ones already chosen (not bound yet)."""
        while True:
            p = harness.free_port(address)
            if p not in taken:
                return p

    def write_config(self):  # the config is the example's text, written once in __init__
        pass

    def log_dump(self, since=0, max_chars=60000):
        return super().log_dump(since, max_chars).replace("--- mailflow log", f"--- {self.side} ({self.hostname}) log", 1)

    @property
    def hostname(self):
        return CLOUD if self.side == "cloud" else ONPREM

    # -- what the instance has done, from its log
    def pending_ids(self):
        """(ids received or generated (NDR) but not finished, whether any delivery was deferred,
        whether the log showed any message at all)."""
        log = self.log()
        started = set(re.findall(r"event=(?:receive|ndr) id=(\S+)", log))
        finished = set(re.findall(r"event=finished id=(\S+)", log))
        return started - finished, "event=defer" in log, bool(started)

    def delivered(self):
        """[(address, raw bytes)] for every file in every Maildir of every organization."""
        return [(p.parent.parent.name, raw) for p, raw in self.all_maildir_files()]

    # -- clients
    def internet_send(self, rcpts, token, sender=INTERNET_SENDER, port=None):
        """An internet server (no certificate, plain SMTP) hands a message to the mx listener."""
        with smtplib.SMTP(local_hostname="mail.fabrikam.com", timeout=15,
                          source_address=(self.client_address, 0)) as s:
            s.connect(self.address, port or self.port)
            refused = s.sendmail(sender, rcpts, message(token, sender, rcpts))
        return refused

    def submit(self, user, rcpts, token):
        """A mailbox user submits: STARTTLS (verifying the lab certificate), AUTH, MAIL FROM itself."""
        ctx = ssl.create_default_context(cafile=str(lab_certs() / "ca.pem"))
        with smtplib.SMTP(local_hostname="workstation.contoso.com", timeout=15,
                          source_address=(self.client_address, 0)) as s:
            s.connect(self.address, self.submission_port)
            s._host = self.hostname  # the name smtplib's STARTTLS verifies the certificate against
            s.ehlo()
            s.starttls(context=ctx)
            s.ehlo()
            if not s.has_extn("auth"):
                raise AssertionError(f"{self.side} submission listener: no AUTH offered after STARTTLS (R-SUB-1); "
                                     f"EHLO reply: {s.ehlo_resp!r}")
            s.login(user, PASSWORDS[user])
            return s.sendmail(user, rcpts, message(token, user, rcpts))


def message(token, sender, rcpts):
    return (f"From: <{sender}>\r\nTo: {', '.join(f'<{r}>' for r in rcpts)}\r\nSubject: hybrid {token}\r\n"
            f"Message-ID: <{token}@hybrid.test>\r\n\r\nbody of {token}\r\n").encode()


def received_hops(raw):
    """[(by-host, with-protocol)] of the Received: headers, newest first."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    hops = []
    for value in msg.get_all("Received") or []:
        text = " ".join(str(value).split())
        by = re.search(r"\bby\s+([^\s;]+)", text)
        proto = re.search(r"\bwith\s+([^\s;]+)", text)
        hops.append((by.group(1).lower() if by else "?", proto.group(1) if proto else "?"))
    return hops


# ----------------------------------------------------------------------------------------------------
# Tests


class HybridFlowTest(harness.MailflowTestCase):
    """One test per seed 003 flow (R-HYB-4). Each starts its own lab."""

    def lab(self, cmt):
        addrs = {side: harness.new_loopback_address() for side in LAB}
        port = peers.shared_port(addrs.values())
        records = lab_dns_records({LAB[s]: addrs[s] for s in LAB})
        dns = peers.DnsServer(mx=records["mx"], a=records["a"])
        self.addCleanup(dns.cleanup)
        dns.start()
        sink = peers.SmtpSink(addrs["internet"], port, hostname="mx.fabrikam.com")
        self.addCleanup(sink.stop)
        onprem = LabInstance("onprem", "onprem.yaml", addrs["onprem"], port, dns.server)
        self.addCleanup(onprem.cleanup)
        cloud = LabInstance("cloud", "cloud-cmt.yaml" if cmt else "cloud.yaml", addrs["cloud"], port, dns.server)
        self.addCleanup(cloud.cleanup)
        onprem.start()
        cloud.start()
        return types.SimpleNamespace(cloud=cloud, onprem=onprem, sink=sink, dns=dns, cmt=cmt)

    # -- where every copy landed
    def copies(self, lab, token):
        """{(where, address): [raw bytes of each copy]} for every copy carrying token: Maildir files
        of each side ("cloud"/"onprem", by mailbox) and messages at the sink ("internet", by
        envelope recipient). paths() turns them into Received: by-hosts, newest first."""
        tok = token.encode()
        out = {}
        for inst in (lab.cloud, lab.onprem):
            for address, raw in inst.delivered():
                if tok in raw:
                    out.setdefault((inst.side, address), []).append(raw)
        for m in lab.sink.messages:
            if m["data"] and tok in m["data"]:
                for r in m["rcpts"]:
                    out.setdefault(("internet", r.lower()), []).append(m["data"])
        return out

    @staticmethod
    def paths(copies):
        return {k: sorted([h for h, _ in received_hops(raw)] for raw in v) for k, v in copies.items()}

    def wait_flow(self, lab, token, expected):
        """Wait until both instances have finished every message (or FLOW_TIMEOUT; a deferred delivery
        gets 3 s for a retry), then assert that the copies carrying token are exactly `expected`:
        {(where, address): [[by-host, ...] per copy]}. Returns the raw copies."""
        expected = {k: sorted(v) for k, v in expected.items()}
        deadline = time.monotonic() + FLOW_TIMEOUT
        first_defer = quiet_since = None
        while True:
            pending, deferred, known = set(), False, False
            for inst in (lab.cloud, lab.onprem):
                p, d, k = inst.pending_ids()
                pending |= p
                deferred |= d
                known |= k
            now = time.monotonic()
            if deferred and first_defer is None:
                first_defer = now
            as_expected = self.paths(self.copies(lab, token)) == expected
            if pending or (not known and not as_expected):  # (no log lines to go by: wait for the copies)
                quiet_since = None
            else:
                # Quiet: every message received was finished. A receiver logs a message only after
                # its 250 (and the sender's 250 may have just been read), so the quiet state must
                # last a moment: 0.3 s when the copies are as expected, 1 s when they are not.
                quiet_since = quiet_since or now
                if now - quiet_since >= (0.3 if as_expected else 1.0):
                    break
            if now > deadline or (first_defer is not None and now - first_defer > 3.0):
                break
            time.sleep(0.05)
        copies = self.copies(lab, token)
        got = self.paths(copies)
        detail = (f"\ncopies carrying {token} (where, address) -> Received by-hosts, newest first:\n"
                  f"  expected {expected}\n  got      {got}\n  still in progress: {sorted(pending)}"
                  f"{' (a delivery was deferred: see the logs)' if deferred else ''}")
        self.assertEqual(got, expected, detail)
        # Between the premises TLS is required (domain_validation both ways): every hop after the
        # first was received over TLS.
        for key, raws in copies.items():
            for raw in raws:
                for by, proto in received_hops(raw)[:-1]:
                    self.assertRegex(proto, r"^(ESMTPS|ESMTPSA|UTF8SMTPS|UTF8SMTPSA)$",
                                     f"{key}: the hop into {by} was not over TLS: {received_hops(raw)}")
                self.assertIn(f"Subject: hybrid {token}".encode(), raw, f"{key}: headers changed")
        return copies

    def only_recipient_of_hop(self, raw, host, address):
        """The copy that reached `host` carried `address` alone (bifurcation: each copy's envelope
        holds only its own recipients; Received says `for <x>` for a single-recipient envelope)."""
        for value in email.message_from_bytes(raw, policy=email.policy.compat32).get_all("Received") or []:
            text = " ".join(str(value).split())
            if re.search(rf"\bby\s+{re.escape(host)}\b", text):
                m = re.search(r"\bfor\s+<([^>]*)>", text)
                self.assertIsNotNone(m, f"the copy that reached {host} had several envelope recipients: {text}")
                self.assertEqual(m.group(1).lower(), address)
                return
        self.fail(f"no Received: by {host} in the copy")

    # -- MX to the cloud (the recommended set-up) --------------------------------------------------------

    def test_r_hyb_4_mx_to_cloud_cmt_off_bifurcates(self):
        """Internet -> cloud for david (cloud mailbox) and julie (on-premises mailbox) in ONE message:
        the cloud splits it; david's copy is delivered in the cloud, julie's goes to on-premises."""
        lab = self.lab(cmt=False)
        token = harness.new_token("mx-cloud")
        self.assertEqual(lab.cloud.internet_send(["david@contoso.com", "julie@contoso.com"], token), {})
        copies = self.wait_flow(lab, token, {
            ("cloud", "david@contoso.com"): [[CLOUD]],
            ("onprem", "julie@contoso.com"): [[ONPREM, CLOUD]],
        })
        self.only_recipient_of_hop(copies[("onprem", "julie@contoso.com")][0], ONPREM, "julie@contoso.com")

    def test_r_hyb_4_mx_to_cloud_cmt_on_goes_through_onprem(self):
        """CMT on: internet -> cloud -> on-premises for both; on-premises delivers julie and sends
        david's copy back to the cloud (his routing address), where it is delivered."""
        lab = self.lab(cmt=True)
        token = harness.new_token("mx-cloud-cmt")
        self.assertEqual(lab.cloud.internet_send(["david@contoso.com", "julie@contoso.com"], token), {})
        copies = self.wait_flow(lab, token, {
            ("cloud", "david@contoso.com"): [[CLOUD, ONPREM, CLOUD]],
            ("onprem", "julie@contoso.com"): [[ONPREM, CLOUD]],
        })
        # The way back to the cloud went to david's routing address, and only for him.
        self.only_recipient_of_hop(copies[("cloud", "david@contoso.com")][0], CLOUD,
                                   "david@contoso.mail.onmicrosoft.com")

    # -- MX to on-premises (the internet sender connects to the on-premises mx listener) -----------------

    def _mx_to_onprem(self, cmt):
        lab = self.lab(cmt=cmt)
        token = harness.new_token("mx-onprem")
        self.assertEqual(lab.onprem.internet_send(["david@contoso.com", "julie@contoso.com"], token), {})
        copies = self.wait_flow(lab, token, {
            ("onprem", "julie@contoso.com"): [[ONPREM]],
            ("cloud", "david@contoso.com"): [[CLOUD, ONPREM]],
        })
        self.only_recipient_of_hop(copies[("cloud", "david@contoso.com")][0], CLOUD,
                                   "david@contoso.mail.onmicrosoft.com")

    def test_r_hyb_4_mx_to_onprem_cmt_off(self):
        """Internet -> on-premises for both: julie delivered there, david's copy to the cloud."""
        self._mx_to_onprem(cmt=False)

    def test_r_hyb_4_mx_to_onprem_cmt_on(self):
        """The same with CMT on (the CMT table: "same")."""
        self._mx_to_onprem(cmt=True)

    # -- outbound from a cloud mailbox ---------------------------------------------------------------------

    def test_r_hyb_4_outbound_from_cloud_mailbox_cmt_off(self):
        """david submits (STARTTLS + AUTH on the cloud's submission listener) to bob@fabrikam.com and
        julie: bob's copy goes straight from the cloud to the internet, julie's to on-premises."""
        lab = self.lab(cmt=False)
        token = harness.new_token("out-cloud")
        self.assertEqual(lab.cloud.submit("david@contoso.com", ["bob@fabrikam.com", "julie@contoso.com"], token), {})
        copies = self.wait_flow(lab, token, {
            ("internet", "bob@fabrikam.com"): [[CLOUD]],
            ("onprem", "julie@contoso.com"): [[ONPREM, CLOUD]],
        })
        self.only_recipient_of_hop(copies[("onprem", "julie@contoso.com")][0], ONPREM, "julie@contoso.com")
        self.assertEqual([m["rcpts"] for m in lab.sink.messages if token.encode() in m["data"]],
                         [["bob@fabrikam.com"]])

    def test_r_hyb_4_outbound_from_cloud_mailbox_cmt_on(self):
        """CMT on: bob's copy goes cloud -> on-premises -> internet; julie's to on-premises."""
        lab = self.lab(cmt=True)
        token = harness.new_token("out-cloud-cmt")
        self.assertEqual(lab.cloud.submit("david@contoso.com", ["bob@fabrikam.com", "julie@contoso.com"], token), {})
        self.wait_flow(lab, token, {
            ("internet", "bob@fabrikam.com"): [[ONPREM, CLOUD]],
            ("onprem", "julie@contoso.com"): [[ONPREM, CLOUD]],
        })

    def test_r_hyb_3_cloud_to_cloud_stays_in_cloud_with_cmt(self):
        """CMT on, the one exception: mail between cloud mailboxes of the organization stays in the
        cloud (david writes to himself)."""
        lab = self.lab(cmt=True)
        token = harness.new_token("cloud-cloud-cmt")
        self.assertEqual(lab.cloud.submit("david@contoso.com", ["david@contoso.com"], token), {})
        self.wait_flow(lab, token, {("cloud", "david@contoso.com"): [[CLOUD]]})

    # -- outbound from an on-premises mailbox ---------------------------------------------------------------

    def _outbound_from_onprem(self, cmt):
        lab = self.lab(cmt=cmt)
        token = harness.new_token("out-onprem")
        self.assertEqual(lab.onprem.submit("julie@contoso.com", ["bob@fabrikam.com", "david@contoso.com"], token), {})
        self.wait_flow(lab, token, {
            ("internet", "bob@fabrikam.com"): [[ONPREM]],
            ("cloud", "david@contoso.com"): [[CLOUD, ONPREM]],
        })

    def test_r_hyb_4_outbound_from_onprem_mailbox_cmt_off(self):
        """julie submits on premises to bob@fabrikam.com and david: bob's copy goes straight from
        on-premises to the internet, david's to the cloud."""
        self._outbound_from_onprem(cmt=False)

    def test_r_hyb_4_outbound_from_onprem_mailbox_cmt_on(self):
        """The same with CMT on: on-premises mail to the internet goes out directly, whatever CMT."""
        self._outbound_from_onprem(cmt=True)

    # -- mail from on-premises is never sent back there -----------------------------------------------------

    def test_r_hyb_3_mail_from_onprem_expanded_in_cloud_is_not_sent_back(self):
        """CMT on: julie (on premises) writes to the cloud group all@contoso.mail.onmicrosoft.com
        (david and bob@fabrikam.com). The message reaches the cloud through the certificate
        connector; the cloud expands the group and sends bob's copy straight to the internet, not
        back to on-premises (the CMT table, last row: "by design")."""
        lab = self.lab(cmt=True)
        token = harness.new_token("from-onprem-cmt")
        self.assertEqual(lab.onprem.submit("julie@contoso.com", ["all@contoso.mail.onmicrosoft.com"], token), {})
        self.wait_flow(lab, token, {
            ("cloud", "david@contoso.com"): [[CLOUD, ONPREM]],
            ("internet", "bob@fabrikam.com"): [[CLOUD, ONPREM]],
        })


    # -- the trust between the sides is not for everyone --------------------------------------------------

    def test_r_in_5_neither_side_is_an_open_relay(self):
        """An internet server (no certificate) cannot relay through either side, not even through
        the cloud's CMT connector that covers "*"."""
        lab = self.lab(cmt=True)
        token = harness.new_token("relay")
        for inst in (lab.cloud, lab.onprem):
            with self.assertRaises(smtplib.SMTPRecipientsRefused, msg=f"{inst.side} relayed for the internet") as cm:
                inst.internet_send(["bob@fabrikam.com"], token)
            code, text = cm.exception.recipients["bob@fabrikam.com"]
            self.assertEqual((code, text.decode()[:6]), (550, "5.7.54"), f"{inst.side}: {code} {text!r}")

    def test_r_in_8_internet_cannot_forge_internal_markers(self):
        """X-MailFlow-Organization-* headers from the internet are removed where the message enters
        (the cloud), so the copy that crosses to on-premises (where they are trusted) carries none of
        the forged ones (seed 003: the "internal" status must not be forgeable)."""
        lab = self.lab(cmt=False)
        token = harness.new_token("forged")
        forged = f"X-MailFlow-Organization-Forged-Marker: {token}"
        msg = message(token, INTERNET_SENDER, ["julie@contoso.com"]).replace(
            b"Subject:", f"{forged}\r\nX-MailFlow-Organization-AuthAs: Internal-{token}\r\nSubject:".encode(), 1)
        with smtplib.SMTP(local_hostname="mail.fabrikam.com", timeout=15,
                          source_address=(lab.cloud.client_address, 0)) as s:
            s.connect(lab.cloud.address, lab.cloud.port)
            self.assertEqual(s.sendmail(INTERNET_SENDER, ["julie@contoso.com", "david@contoso.com"], msg), {})
        copies = self.wait_flow(lab, token, {
            ("cloud", "david@contoso.com"): [[CLOUD]],
            ("onprem", "julie@contoso.com"): [[ONPREM, CLOUD]],
        })
        for key, raws in copies.items():
            for raw in raws:
                self.assertNotIn(b"X-MailFlow-Organization-Forged-Marker", raw, f"{key}: forged marker kept")
                self.assertNotIn(f"Internal-{token}".encode(), raw, f"{key}: forged AuthAs kept")


class HybridExamplesTest(harness.MailflowTestCase):
    """The example files themselves."""

    def test_example_configs_pass_mailflow_check(self):
        tmp = tempfile.TemporaryDirectory(prefix="mailflow-hybrid-check-")
        self.addCleanup(tmp.cleanup)
        names = ["cloud.yaml", "cloud-cmt.yaml", "onprem.yaml"]
        d = copy_example(names, tmp.name)
        for n in names:
            proc = run_check(d / n)
            self.assertEqual(proc.returncode, 0, f"mailflow check {n}:\n{proc.stdout}{proc.stderr}")
            self.assertIn("configuration OK", proc.stdout + proc.stderr)

    def test_check_needs_the_certificates(self):
        """check reads the TLS files: without make-certs.sh's output it names each missing file."""
        tmp = tempfile.TemporaryDirectory(prefix="mailflow-hybrid-check-")
        self.addCleanup(tmp.cleanup)
        shutil.copy(EXAMPLES / "cloud.yaml", Path(tmp.name) / "cloud.yaml")
        proc = run_check(Path(tmp.name) / "cloud.yaml")
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("service.tls.certificate", proc.stdout + proc.stderr)

    def test_r_hyb_3_cmt_connector_scoped_to_accepted_domains_is_a_config_error(self):
        """cloud-cmt.yaml with the CMT connector scoped to contoso.com (an accepted domain) loops:
        check refuses it, naming the key."""
        tmp = tempfile.TemporaryDirectory(prefix="mailflow-hybrid-check-")
        self.addCleanup(tmp.cleanup)
        d = copy_example(["cloud-cmt.yaml"], tmp.name)
        text = (d / "cloud-cmt.yaml").read_text()
        self.assertIn('recipient_domains: ["*"]', text)
        (d / "bad.yaml").write_text(text.replace('recipient_domains: ["*"]', "recipient_domains: [contoso.com]"))
        proc = run_check(d / "bad.yaml")
        out = proc.stdout + proc.stderr
        self.assertEqual(proc.returncode, 1, out)
        self.assertRegex(out, r"bad\.yaml:\d+:\d+: organizations\[0\]\.outbound_connectors\[0\]\.recipient_domains")
        self.assertIn("R-HYB-3", out)

    def test_make_certs_output(self):
        """Both certificates chain to the lab CA, name their host (CN and SAN) and serve as server and
        client certificates."""
        d = lab_certs()
        for name, host in (("cloud", CLOUD), ("onprem", ONPREM)):
            for purpose in ("sslserver", "sslclient"):
                proc = subprocess.run(["openssl", "verify", "-purpose", purpose, "-CAfile", str(d / "ca.pem"),
                                       str(d / f"{name}.pem")], capture_output=True, text=True)
                self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            text = subprocess.run(["openssl", "x509", "-in", str(d / f"{name}.pem"), "-noout", "-subject", "-ext",
                                   "subjectAltName"], capture_output=True, text=True).stdout
            self.assertRegex(text, rf"CN\s*=\s*{re.escape(host)}")
            self.assertIn(f"DNS:{host}", text)

    def test_lab_scripts(self):
        """start.sh parses; the DNS records cover every name the configs route by."""
        proc = subprocess.run(["bash", "-n", str(EXAMPLES / "start.sh")], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(os.access(EXAMPLES / "start.sh", os.X_OK))
        self.assertTrue(os.access(EXAMPLES / "make-certs.sh", os.X_OK))
        records = lab_dns_records({})
        self.assertEqual(records["mx"]["contoso.com"], [(10, CLOUD)])
        self.assertEqual(records["mx"]["contoso.mail.onmicrosoft.com"], [(10, CLOUD)])
        self.assertEqual(records["a"][CLOUD], [LAB["cloud"]])
        self.assertEqual(records["a"][ONPREM], [LAB["onprem"]])
        self.assertEqual(records["a"][records["mx"]["fabrikam.com"][0][1]], [LAB["internet"]])
        ignored = (EXAMPLES / ".gitignore").read_text().split()
        self.assertIn("certs/", ignored)


if __name__ == "__main__":
    harness.main()
