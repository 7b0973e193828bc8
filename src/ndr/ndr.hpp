// ndr/ndr.hpp — RFC 3464 delivery status notifications (non-delivery reports), SPEC R-NDR-1.
//
// Builds the NDR message the queue sends (envelope sender <>) to the original envelope sender when
// recipients fail permanently or expire: multipart/report; report-type=delivery-status with a
// human-readable text/plain part, a message/delivery-status part and the original header section
// (text/rfc822-headers; message/rfc822 for RET=FULL when the original is small and clean). Also
// decides who gets an NDR (wants_ndr: never for <>, RFC 3461 NOTIFY) and who it is from (sender_for).
//
// Invariants: the output is CRLF-terminated, every line is at most 998 octets (long fields are folded
// per RFC 5322, CRLF + space), no CR, LF or other control octet coming from a remote reply, an
// address or the original Subject ever reaches a header or status field (they are replaced by a
// space: a hostile "550 x\r\nBcc: y" stays inside Diagnostic-Code), the message/delivery-status part
// is 7-bit (non-ASCII addresses use the RFC 6533 utf-8 type with \x{HHHH} escapes), and the MIME
// boundary occurs nowhere in the content.
// Threads: pure functions over their arguments; safe on any thread. build() reads the random device
// once for the Message-ID.
// Errors: none — every input yields a well-formed report (an empty or malformed status becomes
// "5.0.0"); the caller decides whether to send one (wants_ndr).
// Never: no I/O, no clock reads (dates come from Report), no RFC 2047 decoding.
#pragma once

#include "config/snapshot.hpp"
#include "core/address.hpp"
#include "core/clock.hpp"
#include "core/envelope.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace mf::ndr {

struct FailedRecipient {
  Address address;            // the envelope recipient as received (Final-Recipient: rfc822;...)
  std::string orcpt;          // "rfc822;user@example" from ORCPT, or empty (Original-Recipient)
  std::string status;         // enhanced code "5.1.1", "4.4.7", "5.4.14"...
  std::string remote_mta;     // host name or IP of the remote MTA that answered, empty if none (Remote-MTA: dns;host)
  std::string diagnostic;     // the remote reply verbatim ("550 5.1.1 <x@y>: user unknown"), or our own text; empty if none (Diagnostic-Code: smtp; ...)
  std::optional<SysTime> last_attempt;  // Last-Attempt-Date
  bool expired = false;       // an expiry failure (Action: failed, Will-Retry-Until not set)
};

struct Report {
  std::string reporting_mta;        // service hostname (Reporting-MTA: dns;host)
  std::string from;                 // "postmaster@contoso.com" or "MAILER-DAEMON@mx.example"
  Address to;                       // the original envelope sender
  std::string original_envid;       // ENVID (Original-Envelope-Id), may be empty
  std::string original_message_id;  // our spool id of the original message (X-Mailflow-Queue-ID)
  SysTime arrival;                  // Arrival-Date
  SysTime now;                      // Date: of the report
  std::string original;             // the original message bytes (only its header section is used)
  bool return_full = false;         // RET=FULL: attach the whole original as message/rfc822 (≤ 256 KiB, else headers only)
  std::vector<FailedRecipient> recipients;
};

// Largest original attached whole for RET=FULL; bigger ones get their header section only.
inline constexpr std::size_t kMaxFullOriginal = 256 * 1024;

// The full RFC 5322 message (CRLF line ends): multipart/report; report-type=delivery-status with
// (1) text/plain (which recipients failed and why, diagnostic verbatim, "Message expired" for
// expiries), (2) message/delivery-status (per-message fields, then per recipient Final-Recipient,
// Original-Recipient, Action: failed, Status, Remote-MTA, Diagnostic-Code, Last-Attempt-Date),
// (3) text/rfc822-headers with the original header section, or message/rfc822 for RET=FULL.
// Header fields: From, To, Subject ("Undeliverable: <original subject>" when that subject is plain
// ASCII, "Undeliverable message" when not, "Delivery Status Notification (Failure)" when none), Date
// (UTC), Message-ID <random@reporting_mta>, MIME-Version, Auto-Submitted: auto-replied (RFC 3834),
// Content-Type with the boundary. Diagnostic-Code uses type "smtp" when the diagnostic starts with a
// reply code ("550 ..."), "X-mailflow" for our own text.
std::string build(const Report& report);

// The From address of NDRs for `organization` (index into snapshot.organizations, or nullopt):
// postmaster@<first accepted domain of the organization> (for a wildcard entry, the domain itself),
// else MAILER-DAEMON@<service.hostname> (SPEC R-NDR-1).
std::string sender_for(const config::Snapshot& snapshot, std::optional<std::size_t> organization);

// Whether a failure of `rcpt` of `env` gets an NDR: never for the null sender <> (no NDR loops);
// not when NOTIFY was given without FAILURE (NOTIFY=NEVER or only SUCCESS/DELAY); yes otherwise
// (RFC 3461 §4.1 default).
bool wants_ndr(const Envelope& env, const EnvelopeRecipient& rcpt);

}  // namespace mf::ndr
