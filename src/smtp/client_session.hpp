// smtp/client_session.hpp — the SMTP client protocol (RFC 5321 with PIPELINING 2920, STARTTLS 3207,
// SIZE 1870, 8BITMIME 6152, SMTPUTF8 6531, DSN 3461, ENHANCEDSTATUSCODES 2034) as a sans-I/O state
// machine. It never sees a socket, a clock or a disk: the driver in delivery/ connects, then loops:
// write take_output(); act on action() (read + feed(), TLS handshake, send()/quit(), close).
//
// Contract:
//  - Replies: "ddd-text" continuation lines and a final "ddd text" / "ddd" line, ended by CRLF (a bare
//    LF is tolerated). Not three digits [2-5][0-5][0-9], a code change inside a multi-line reply, a
//    line over max_reply_line octets, more than max_reply_lines lines, or a reply nobody waits for
//    (other than 421) is a protocol error: session_failure() = 421 4.5.0 "protocol error: ...",
//    every pending recipient transient, close (no QUIT: the stream is desynchronised).
//  - Reply::enhanced is the RFC 2034 code found at the start of the text (removed from every line
//    that carries it), else synthesized from the class: 2.0.0 / 4.0.0 / 5.0.0 (3xx: 2.0.0).
//  - Greeting not 220: session_failure() = that reply, close (QUIT written unless it was 421). A
//    5xx greeting is permanent by its class; the driver (delivery/outbound.cpp) then fails those
//    recipients without trying another host, per R-OUT-6 (that policy is the driver's).
//  - EHLO answered 5xx: HELO (no extensions). EHLO answered 4xx, or HELO refused: session_failure()
//    = that reply, QUIT, close. 421 to anything: session_failure() = the 421, every pending
//    recipient transient, close without QUIT.
//  - STARTTLS is sent when offered, tls != never and TLS is not active. 220 → Action::start_tls; the
//    rest of the input buffer and anything fed before tls_started() is discarded (RFC 3207 §6,
//    CVE-2011-0411); tls_started() forgets the extensions and sends EHLO again. tls == required and
//    STARTTLS not offered or refused: session_failure() = 421 4.4.317, QUIT, close. Opportunistic
//    and refused (not 421): the session goes on in plaintext. tls_failed(): 421 4.7.5, close (a
//    plaintext retry needs a new connection: the driver's choice).
//  - send(msg), only when action() == ready. Checked before anything is written (nothing sent, the
//    session stays ready): SMTPUTF8 needed (flag or a non-ASCII address) but not offered → every
//    recipient permanent 553 5.6.7; SIZE offered with a limit below data.size() → 552 5.3.4.
//    MAIL parameters: SIZE=<data.size()> if SIZE offered; BODY=8BITMIME if the body is 8-bit (or
//    binary: there is no BDAT here) and 8BITMIME offered (if not offered the 8-bit data is sent
//    anyway, as Postfix does by default); SMTPUTF8 if needed; RET= / ENVID= (xtext) and per
//    recipient NOTIFY= / ORCPT=type;xtext only if DSN offered.
//  - PIPELINING offered: MAIL, every RCPT and DATA go out in one batch and the replies are matched
//    in order; otherwise one command per reply, RCPTs stop after a failed MAIL and DATA is not sent
//    without an accepted recipient. RCPT 2xx accepted, 4xx transient, 5xx permanent (any other code:
//    transient). MAIL refused: every recipient gets that reply. DATA refused: accepted recipients
//    get it. 354 with no accepted recipient (pipelining): a lone ".\r\n" is sent and its reply
//    ignored (RFC 2920 §3.1). Otherwise the data is sent dot-stuffed, bare CR / LF normalised to
//    CRLF (no smuggling vector downstream), ending in CRLF, then ".\r\n"; the end-of-data reply
//    decides for the accepted recipients (2xx delivered).
//  - After a transaction action() is ready again (connection reuse). The next send() first sends a
//    lone RSET (not pipelined) if the server may still hold an open transaction: MAIL was accepted
//    but no end-of-data reply came. RSET refused: every recipient transient, session_failure()
//    421 4.5.0, QUIT, close.
//  - OutboundMessage::stop_after_rcpt (connector validation, R-OUT-10): the transaction ends after
//    the RCPT replies; DATA is never sent, not even pipelined. A recipient accepted by RCPT ends
//    `delivered` with its RCPT reply and phase "RCPT TO" (nothing was delivered: the caller knows it
//    asked for a probe). The server may hold the open transaction, so the next send() starts with RSET.
//  - ClientOptions::on_reply, when set, sees every complete reply with the command it answers
//    ("greeting", "EHLO", "HELO", "STARTTLS", "RSET", "MAIL FROM", "RCPT TO", "DATA", "end of data",
//    "QUIT"), before the session acts on it, and the reply's lines as received (the text after
//    "ddd-" / "ddd ", enhanced codes not removed nor synthesized); a reply nobody waits for is not
//    shown. It must not call back into the session.
//  - quit(): QUIT, then close on whatever reply comes (or connection_lost). Any still pending
//    recipient becomes transient.
//  - connection_lost(reason) (EOF, reset, or the driver's timeout()): session_failure() = 421 4.4.2,
//    every pending recipient transient, close. Ignored after quit() or once closed.
//  - Once a transaction is over (ready or close) no recipient is pending. send() when action() is
//    not ready writes nothing and fills results() from session_failure() (its class decides
//    transient / permanent; phase "connect"), or 421 4.3.0 "SMTP session not ready" if there is none.
//  - Memory is bounded: the reply buffer by max_reply_line × max_reply_lines; the output holds one
//    stuffed copy of the message until take_output().
// Thread: one session belongs to one connection's coroutine; not thread-safe.
#pragma once

#include "core/envelope.hpp"
#include "core/reply.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mf::smtp {

struct ClientOptions {
  std::string helo_name = "localhost";  // our hostname for EHLO/HELO
  enum class Tls { never, opportunistic, required } tls = Tls::opportunistic;
  std::size_t max_reply_line = 4096;    // octets of one reply line including CRLF; longer = protocol error
  std::size_t max_reply_lines = 100;    // lines of one multi-line reply; more = protocol error
  // Observer of every reply (see the contract above); for connector validation and tracing.
  std::function<void(std::string_view command, const Reply& reply, const std::vector<std::string>& lines)> on_reply;
};

struct OutboundMessage {
  Envelope envelope;  // sender (nullopt = <>), recipients (notify/orcpt), body, smtputf8, ret, envid
  std::string data;   // unstuffed message, CRLF line ends
  // When set, the message bytes are read from here instead of `data` (no copy of a shared body).
  std::shared_ptr<const std::string> shared_data;
  std::string_view bytes() const { return shared_data ? std::string_view(*shared_data) : std::string_view(data); }
  bool stop_after_rcpt = false;  // a probe: MAIL and RCPT only, no DATA (see the contract above)
};

enum class RcptStatus { pending, delivered, transient, permanent };

struct RecipientResult {
  RcptStatus status = RcptStatus::pending;
  Reply reply;        // the server's reply (or a synthesized one) that decided the status
  std::string phase;  // "connect", "RSET", "MAIL FROM", "RCPT TO", "DATA", "end of data"
};

class ClientSession {
 public:
  enum class Action {
    read,       // write pending output, read more bytes, feed() them (the driver applies timeout())
    start_tls,  // write pending output, run the TLS handshake, then tls_started() or tls_failed()
    ready,      // ready for a transaction: send(msg) or quit()
    close,      // write pending output, then close; the session is over
  };

  explicit ClientSession(ClientOptions options);
  ~ClientSession();
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  void feed(std::string_view bytes);  // bytes from the server
  std::string take_output();          // commands (wire format) produced so far; clears the buffer
  Action action() const;
  // RFC 5321 §4.5.3.2 for the reply awaited now: greeting, EHLO/HELO, STARTTLS, RSET, MAIL, RCPT,
  // QUIT 5 min; DATA 2 min; end of data 10 min. The data block's 3 min is the driver's write timeout.
  std::chrono::seconds timeout() const;

  void tls_started();                        // discards buffered plaintext, sends EHLO again
  void tls_failed(std::string reason);       // session_failure 421 4.7.5, close
  void send(OutboundMessage msg);            // only when action() == ready
  void quit();                               // QUIT, close after its reply
  void connection_lost(std::string reason);  // pending recipients transient, close

  // Outcome of the last send(), one entry per envelope recipient, in order.
  const std::vector<RecipientResult>& results() const;
  // Why the connection as a whole failed (greeting, EHLO/HELO, TLS, 421, protocol error, lost).
  std::optional<Reply> session_failure() const;
  bool tls_active() const;
  const std::vector<std::string>& ehlo_keywords() const;  // upper-cased lines after the first of the last EHLO reply

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// RFC 3461 §4 xtext: "!".."~" except '+' and '=' as is, every other octet as "+HH" (upper-case hex).
std::string encode_xtext(std::string_view text);

// The DATA block for `data`: bare CR / LF turned into CRLF, a '.' starting a line doubled, CRLF
// appended if missing (not to empty data), then the ".\r\n" terminator.
std::string stuff_message(std::string_view data);
// The same, appended to `out` (no temporary copy).
void append_stuffed(std::string& out, std::string_view data);

}  // namespace mf::smtp
