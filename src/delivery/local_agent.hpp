// delivery/local_agent.hpp — delivers spooled messages to local mailboxes (Maildir, SPEC §3).
//
// For each message handed to submit() (freshly accepted, or recovered from the spool at start), every
// recipient not yet done is resolved against the current configuration snapshot (routing::resolve):
//  - local mailboxes (a mailbox, a proxy address, a group's mailbox members): one Maildir file each,
//    at most one per mailbox per message; the recipient is marked done in the spool (synced) only
//    after every file was fsync'd and renamed into new/ — so a crash can repeat a delivery, never
//    lose one (SPEC §7);
//  - not found any more (authoritative domain, e.g. after a reload): marked done as failed 5.1.10 and
//    logged (the NDR itself comes with the delivery engine);
//  - remote (mail_user targets, contacts, relay domains, remote group members): grouped per next hop
//    and handed to the OutboundEngine once per submit (without one they stay in the spool).
// Outcomes go through the Tracker, which writes NDRs, marks recipients done and removes the message
// when every recipient is done. A Maildir failure (disk full,
// I/O error) is retried on service.queue.retry_intervals.
// Message trace: the dispatcher records what the routing plan did — RESOLVE, EXPAND, REDIRECT,
// TRANSPORT_RULE (from Plan::notes) and, when the message is split into more than one copy, one
// BIFURCATE per copy with its copy id ("1", "2"... in plan order), which the copy's later events
// carry (OutboundRecipient::copy_id, RecipientOutcome::copy_id); a failed Maildir write is a DEFER.
// Final events (DELIVER, DROP, FAIL) are written by the Tracker. A message planned again (a
// restart) is traced again with the recipients still pending.
// Threading: all work runs on the given executor (a thread pool: Maildir writes block). submit() is
// thread-safe. stop() cancels retry timers; in-flight writes finish.
#pragma once

#include "config/snapshot.hpp"
#include "delivery/tracker.hpp"
#include "spool/spool.hpp"
#include "trace/sink.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace mf::delivery {

struct AgentStats {
  std::atomic<std::uint64_t> delivered{0};  // Maildir files written
  std::atomic<std::uint64_t> failed{0};     // recipients failed for good
  std::atomic<std::uint64_t> deferred{0};   // delivery attempts that will be retried
  std::atomic<std::uint64_t> finished{0};   // messages removed from the spool
};

class OutboundEngine;

class LocalDeliveryAgent {
 public:
  // Local delivery only (remote recipients stay in the spool); outcomes go through an own Tracker.
  LocalDeliveryAgent(boost::asio::any_io_executor executor, spool::Spool& spool, SnapshotSource snapshot,
                     trace::Sink& trace = trace::null_sink());
  // The dispatcher of the server: remote recipients are grouped per next hop (routing::next_hop_for)
  // and handed to `outbound`; every outcome goes through `tracker`.
  LocalDeliveryAgent(boost::asio::any_io_executor executor, spool::Spool& spool, SnapshotSource snapshot,
                     Tracker& tracker, OutboundEngine* outbound, trace::Sink& trace = trace::null_sink());
  ~LocalDeliveryAgent();

  // Deliver `entry`; `data` is the message bytes when the caller still has them (else they are read
  // from the spool).
  void submit(spool::SpoolEntry entry, std::optional<std::string> data = std::nullopt);
  void stop();
  const AgentStats& stats() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace mf::delivery
