// delivery/tracker.hpp — the one place that finishes recipients of spooled messages.
//
// Local delivery (Maildir) and outbound delivery (SMTP) report final outcomes here. For each report:
//  1. failed recipients that want an NDR (ndr::wants_ndr) get one: an RFC 3464 report is built from
//     the spooled original and committed to the spool as a new message (sender <>) BEFORE anything
//     is marked done, then handed to `submit` like any accepted message (R-NDR-1);
//  2. the recipients whose every part is finished are marked done in the spool (synced write);
//  3. when every recipient of the message is durably done, the message is removed from the spool.
// A crash between the steps can repeat a delivery or an NDR, never lose one (SPEC §7).
// A recipient may have several parts (a group with remote members, a mail_user target): it is done
// when all of them reported. Outcomes for messages the tracker does not know are registered on the fly.
//
// Message trace: record() writes each outcome's final event — DELIVER (local mailbox), SEND (a remote
// host accepted it), FAIL, DROP (a rule deleted it) — from the outcome's trace fields, and send_ndr()
// an NDR event naming the new message; before the spool is touched, so the events are in the order
// things happened (an outcome reported again after a failed spool write is traced again: it was
// delivered again).
// Threading: record() may be called concurrently from any executor (the local delivery pool and the
// outbound thread); shared state is guarded by a mutex that is never held across a co_await.
// Errors: a failed spool write is returned as false; the caller retries the delivery later
// (repetition allowed).
#pragma once

#include "config/snapshot.hpp"
#include "core/clock.hpp"
#include "spool/spool.hpp"
#include "metrics/service_metrics.hpp"
#include "trace/sink.hpp"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mf::delivery {

using SnapshotSource = std::function<std::shared_ptr<const config::Snapshot>()>;

struct RecipientOutcome {
  std::size_t index = 0;    // envelope recipient index
  Address address;          // where it went: the mailbox, target or relayed address
  bool delivered = false;   // else failed for good
  std::string status;       // enhanced status code: "2.0.0", "5.1.1", "4.4.7"...
  std::string remote_mta;   // host that answered, if any
  std::string diagnostic;   // the remote reply verbatim, or our own reason
  bool expired = false;     // failed because message_expiration passed
  bool dropped = false;     // a rule deleted it for this recipient (delivered is true: no NDR); traced as DROP
  // For the message trace (the final event): which copy, where and how it went.
  bool local = false;       // written to a local mailbox (DELIVER) rather than sent (SEND)
  std::string copy_id;      // the copy of a bifurcated message, "" otherwise
  std::string connector;    // outbound connector, "" for MX or local
  std::string next_hop;     // next-hop key, "local" for mailboxes
  std::string remote_host;  // "name[ip]:port" that answered
  std::string tls;          // "TLSv1.3 TLS_AES_256_GCM_SHA384", "" without TLS
};

// What the tracker puts on every trace event of a message (from the dispatcher's plan).
struct MessageTraceInfo {
  std::string organization;         // the attributed organization's name, "" when none
  std::string internet_message_id;  // the Message-ID header without <>
};

class Tracker {
 public:
  // `submit` delivers a freshly committed NDR (the same path as an accepted message).
  using Submit = std::function<void(spool::SpoolEntry, std::string)>;

  Tracker(spool::Spool& spool, SnapshotSource snapshot, const Clock& clock,
          trace::Sink& trace = trace::null_sink());
  void set_submit(Submit submit);
  // Counts final outcomes in mailflow_messages_{delivered,failed}_total{organization,connector} (per
  // recipient; local delivery is connector "local"; rule drops and deletions are not counted).
  // Call before the first record(); null = no metrics.
  void set_metrics(metrics::ServiceMetrics* metrics) { metrics_ = metrics; }

  // Declares how many parts recipient i of `entry` has (parts[i] == 0: nothing to deliver, done now).
  void begin(const spool::SpoolEntry& entry, const std::vector<std::size_t>& parts, MessageTraceInfo info = {});
  // Records final outcomes. Returns false when a spool write failed (nothing is lost: the caller
  // tries again later and may repeat the delivery).
  boost::asio::awaitable<bool> record(std::string id, std::vector<RecipientOutcome> outcomes);
  // Messages being tracked (for tests and the shutdown log).
  std::size_t active() const;

 private:
  struct Message {
    spool::SpoolEntry entry;
    std::vector<std::size_t> parts_left;  // per recipient
    std::vector<bool> durable;            // marked done in the spool
    bool removing = false;
    MessageTraceInfo info;
  };
  // A trace event about message `entry` (time, ids, organization and sender filled in).
  trace::Event event(trace::EventType type, const spool::SpoolEntry& entry, const MessageTraceInfo& info) const;
  boost::asio::awaitable<bool> send_ndr(const spool::SpoolEntry& entry, const MessageTraceInfo& info,
                                        const std::vector<RecipientOutcome>& failed);
  void trace_final(const spool::SpoolEntry& entry, const MessageTraceInfo& info, const RecipientOutcome& o);

  spool::Spool& spool_;
  SnapshotSource snapshot_;
  const Clock& clock_;
  trace::Sink& trace_;
  metrics::ServiceMetrics* metrics_ = nullptr;
  Submit submit_;
  mutable std::mutex mutex_;
  std::map<std::string, Message> messages_;  // GUARDED_BY(mutex_)
};

// The organization a message belongs to: its attribution (routing::attribute, R-IN-3), else the
// organization of the sender's domain (for the NDR's postmaster address, R-NDR-1).
std::optional<std::size_t> message_organization(const config::Snapshot& snap, const ConnectionFacts& conn,
                                                const Envelope& env);

}  // namespace mf::delivery
