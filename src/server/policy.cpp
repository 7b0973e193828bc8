#include "server/policy.hpp"

#include "routing/routing.hpp"

namespace mf::server {

ServicePolicy::ServicePolicy(SnapshotSource snapshot, const spool::Spool& spool)
    : snapshot_(std::move(snapshot)), spool_(spool) {}

std::optional<Reply> ServicePolicy::check_mail(const ConnectionFacts&, const Envelope& env) {
  auto snap = snapshot_();
  const auto& svc = snap->service;
  std::uint64_t need = svc.limits.min_free_disk != 0 ? svc.limits.min_free_disk
                                                     : svc.max_message_size + svc.max_message_size / 2;
  if (env.declared_size) need += *env.declared_size;
  if (spool_.free_bytes() < need) return make_reply(452, "4.3.1", "Insufficient system storage");
  return std::nullopt;
}

std::optional<Reply> ServicePolicy::check_rcpt(const ConnectionFacts& conn, const Envelope&,
                                               const EnvelopeRecipient& rcpt) {
  return routing::check_recipient(*snapshot_(), conn, rcpt.address);
}

}  // namespace mf::server
