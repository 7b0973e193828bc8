// server/policy.hpp — the smtp::Policy of a running service: answers MAIL and RCPT from the current
// configuration snapshot (routing::check_recipient, attribution.hpp), the IP throttle (R-IN-7) and the
// spool's free disk space, and checks SMTP
// AUTH credentials of submission listeners (R-SUB-1, R-SUB-2) against the directory.
// Thread-safe: the snapshot is immutable and the failed-login limiter has its own lock.
#pragma once

#include "auth/limiter.hpp"
#include "server/throttle.hpp"
#include "config/snapshot.hpp"
#include "smtp/server_session.hpp"
#include "spool/spool.hpp"

#include <functional>
#include <memory>

namespace mf::server {

class ServicePolicy final : public smtp::Policy {
 public:
  using SnapshotSource = std::function<std::shared_ptr<const config::Snapshot>()>;
  using Clock = auth::FailureLimiter::Clock;
  ServicePolicy(SnapshotSource snapshot, const spool::Spool& spool);
  // `now` is injectable for tests of the failed-login window.
  ServicePolicy(SnapshotSource snapshot, const spool::Spool& spool, std::function<Clock::time_point()> now);

  // R-SUB-2: an authenticated session (conn.authenticated_user set) may only use one of its mailbox's
  // own addresses (primary or proxy, case-insensitive): else 553 5.7.1 Sender address rejected: not
  // owned by user (also for <>).
  // R-IN-7: a client that matches no inbound connector (routing::matches_any_inbound_connector) and is
  // not authenticated gets 451 4.7.500 Server busy, please try again later from [IP] once it has
  // sent service.throttling.max_messages_per_ip messages (MAIL FROMs admitted) within
  // service.throttling.window (IpThrottle; 0 = off).
  // R-IN-6 on a one-organization service: routing::check_sender (451 5.7.3, 550 5.7.51).
  // 452 4.3.1 Insufficient system storage when the spool's file system has less free space than
  // service.limits.min_free_disk (default 1.5 × max_message_size, Postfix's rule) plus SIZE=.
  std::optional<Reply> check_mail(const ConnectionFacts& conn, const Envelope& env) override;
  std::optional<Reply> check_rcpt(const ConnectionFacts& conn, const Envelope& env,
                                  const EnvelopeRecipient& rcpt) override;
  // `user` is a mailbox address or one of its proxy addresses (case-insensitive); the password is
  // checked against that mailbox's password_hash (auth::verify_password). Mailboxes without one, other
  // recipient types and unknown users fail. Failures are counted per client IP: after
  // kMaxAuthFailuresPerIp of them within kAuthFailureWindow, attempts from that IP are rate_limited
  // without a password check. Logged as event=auth with client, user and result (never the password).
  smtp::AuthResult authenticate(const ConnectionFacts& conn, std::string_view user, std::string_view password) override;


 private:
  SnapshotSource snapshot_;
  const spool::Spool& spool_;
  std::function<Clock::time_point()> now_;
  auth::FailureLimiter auth_failures_;
  IpThrottle throttle_;
};

// The mailflow_rejects_total reason word (metrics::kRejectReasons) for a 4xx/5xx reply the SMTP
// session gives, by its enhanced status code. The connection counts every refusal with it.
std::string_view reject_reason(const Reply& reply);

}  // namespace mf::server
