// server/policy.hpp — the smtp::Policy of a running service: answers MAIL and RCPT from the current
// configuration snapshot (routing::check_recipient) and the spool's free disk space.
#pragma once

#include "config/snapshot.hpp"
#include "smtp/server_session.hpp"
#include "spool/spool.hpp"

#include <functional>
#include <memory>

namespace mf::server {

class ServicePolicy final : public smtp::Policy {
 public:
  using SnapshotSource = std::function<std::shared_ptr<const config::Snapshot>()>;
  ServicePolicy(SnapshotSource snapshot, const spool::Spool& spool);

  // 452 4.3.1 Insufficient system storage when the spool's file system has less free space than
  // service.limits.min_free_disk (default 1.5 × max_message_size, Postfix's rule) plus SIZE=.
  std::optional<Reply> check_mail(const ConnectionFacts& conn, const Envelope& env) override;
  std::optional<Reply> check_rcpt(const ConnectionFacts& conn, const Envelope& env,
                                  const EnvelopeRecipient& rcpt) override;

 private:
  SnapshotSource snapshot_;
  const spool::Spool& spool_;
};

}  // namespace mf::server
