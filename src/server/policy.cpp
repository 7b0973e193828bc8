#include "server/policy.hpp"

#include "auth/password.hpp"
#include "routing/attribution.hpp"
#include "util/log.hpp"

namespace mf::server {

namespace {

using mf::log::kv;

// Failed-login limit per client IP (R-SUB-1): after this many failures within the window, AUTH from
// that IP gets 454 4.7.0 until the oldest of them has left the window. Five guesses per five minutes
// makes online guessing useless while a user who mistypes a few times is not locked out for long.
constexpr std::size_t kMaxAuthFailuresPerIp = 5;
constexpr auto kAuthFailureWindow = std::chrono::seconds(300);

// Verified instead when the user is unknown or has no password, so that the reply takes about as long
// as for a real mailbox with a SHA-512 hash (no user enumeration by timing). The password behind it
// was random and is not kept; a match is ignored anyway.
constexpr const char* kDummyHash =
    "$6$mailflowdummysa$8tcRPP0cNy9eiFIHVTkfkF5y0jCqr5JRhe4yxFtG72a08J9R/b8GCnMRsOe77WJ3T4nrnp/BanjEiYkpUv/UM1";

// The mailbox an address (primary or proxy) belongs to, or null.
const config::Recipient* mailbox_of(const config::Snapshot& snap, std::string_view address) {
  auto a = Address::parse(address, /*allow_utf8=*/true);
  if (!a) return nullptr;
  const config::Recipient* r = snap.find_recipient(*a);
  return r != nullptr && r->type == config::RecipientType::mailbox ? r : nullptr;
}

}  // namespace

ServicePolicy::ServicePolicy(SnapshotSource snapshot, const spool::Spool& spool)
    : ServicePolicy(std::move(snapshot), spool, [] { return Clock::now(); }) {}

ServicePolicy::ServicePolicy(SnapshotSource snapshot, const spool::Spool& spool, std::function<Clock::time_point()> now)
    : snapshot_(std::move(snapshot)), spool_(spool), now_(std::move(now)),
      auth_failures_(kMaxAuthFailuresPerIp, kAuthFailureWindow) {}

std::string_view reject_reason(const Reply& reply) {
  const std::string& e = reply.enhanced;
  if (e == "5.3.4" || e == "5.2.3") return "message_too_large";
  if (e == "4.5.3") return "too_many_recipients";
  if (e.starts_with("5.5.") || e.starts_with("5.6.") || e == "5.1.3") return "protocol_error";
  if (e == "4.3.2" || e == "4.4.2") return "shutdown";
  if (e == "5.7.0") return "protocol_error";  // STARTTLS / AUTH required first
  if (e == "5.7.54" || e == "5.7.64") return "relay_denied";
  if (e == "5.4.1" || e == "5.1.1") return "unknown_recipient";
  if (e == "5.7.1" || e == "5.7.51") return "sender_rejected";
  if (e == "5.7.3") return "tls_required";
  if (e == "4.7.500" || e == "4.7.0") return "rate_limited";
  if (e == "5.7.8") return "auth_failed";
  return reply.code >= 500 ? "rule" : "temporary_failure";
}

std::optional<Reply> ServicePolicy::check_mail(const ConnectionFacts& conn, const Envelope& env) {
  auto snap = snapshot_();
  if (!conn.authenticated_user.empty()) {
    // Same directory entry as the authenticated mailbox; a mailbox removed by a reload owns nothing.
    const config::Recipient* user = mailbox_of(*snap, conn.authenticated_user);
    const config::Recipient* sender = env.sender ? snap->find_recipient(*env.sender) : nullptr;
    if (user == nullptr || sender != user) {
      return make_reply(553, "5.7.1", "Sender address rejected: not owned by user");
    }
  }
  const auto& svc = snap->service;
  if (conn.authenticated_user.empty() && svc.throttling.max_messages_per_ip != 0 &&
      !routing::matches_any_inbound_connector(*snap, conn) &&
      !throttle_.admit(conn.client_ip, svc.throttling.max_messages_per_ip, svc.throttling.window, now_())) {
    spdlog::warn("event=throttle {} {} window={}s", kv("client", conn.client_ip),
                 kv("limit", static_cast<long long>(svc.throttling.max_messages_per_ip)),
                 svc.throttling.window.count());
    return make_reply(451, "4.7.500", "Server busy, please try again later from [" + conn.client_ip + "]");
  }
  if (auto refused = routing::check_sender(*snap, conn, env)) return refused;
  std::uint64_t need = svc.limits.min_free_disk != 0 ? svc.limits.min_free_disk
                                                     : svc.max_message_size + svc.max_message_size / 2;
  if (env.declared_size) need += *env.declared_size;
  if (spool_.free_bytes() < need) return make_reply(452, "4.3.1", "Insufficient system storage");
  return std::nullopt;
}

std::optional<Reply> ServicePolicy::check_rcpt(const ConnectionFacts& conn, const Envelope& env,
                                               const EnvelopeRecipient& rcpt) {
  // An authenticated session is attributed to its mailbox's organization as originating mail and may
  // relay to any domain (R-SUB-2); that decision is routing's (attribution.hpp).
  return routing::check_recipient(*snapshot_(), conn, env, rcpt.address);
}

smtp::AuthResult ServicePolicy::authenticate(const ConnectionFacts& conn, std::string_view user,
                                             std::string_view password) {
  using Status = smtp::AuthResult::Status;
  const auto now = now_();
  if (auth_failures_.blocked(conn.client_ip, now)) {
    spdlog::warn("event=auth {} {} result=rate_limited", kv("client", conn.client_ip), kv("user", user));
    return {Status::rate_limited, {}};
  }
  auto snap = snapshot_();
  const config::Recipient* mailbox = mailbox_of(*snap, user);
  if (mailbox != nullptr && mailbox->password_hash.empty()) mailbox = nullptr;
  // The hash costs ~ms (SHA-512 crypt) to tens of ms (yescrypt, bcrypt, argon2): the server calls this
  // on its AUTH worker pool (ConnectionContext::auth_executor), never on a connection's io thread.
  // Thread-safe: the snapshot source and the failure limiter are.
  const bool verified = auth::verify_password(
      password, mailbox != nullptr ? std::string_view(mailbox->password_hash) : std::string_view(kDummyHash));
  if (mailbox == nullptr || !verified) {
    auth_failures_.record_failure(conn.client_ip, now);
    spdlog::info("event=auth {} {} result=failed", kv("client", conn.client_ip), kv("user", user));
    return {Status::failed, {}};
  }
  spdlog::info("event=auth {} {} result=ok", kv("client", conn.client_ip), kv("user", mailbox->address.str()));
  return {Status::ok, mailbox->address.str()};
}

}  // namespace mf::server
