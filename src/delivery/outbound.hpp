// delivery/outbound.hpp — the outbound delivery engine: queue scheduler + SMTP client driver.
//
// What it does: remote recipients of spooled messages (grouped per next hop by the dispatcher) wait
// in a time-ordered store (queue::WaitQueue); due jobs move into bounded per-next-hop ready queues
// (queue::ReadyQueues) whose connection limit (default 20 per hop) caps parallel connections. A
// connector's smart-host set is one queue; MX destinations are keyed by their MX host set, so
// domains that share MX hosts share a queue (and one transaction carries a message's recipients
// of all of them). A
// connection for a hop resolves its hosts (smart hosts in round-robin rotation, each FQDN through
// its MX then A/AAAA; or the recipient domain's MX — R-OUT-4, 7, 8), connects (bound to
// service.source_address when set), runs smtp::ClientSession with the connector's TLS policy
// (R-OUT-9), and reuses the connection for the hop's next jobs. When the hop's queue runs empty the
// connection waits up to Options::idle_time (2 s) for the next job before QUIT (a connection cache;
// not for a connector with several smart hosts, whose round robin starts each connection at the next
// host); an idle connection is woken by new work for its hop and holds its connection slot.
// Per job: a 5xx to MAIL, RCPT or DATA fails those recipients at once (no other host, R-OUT-6); no
// answer, a refused greeting or EHLO (even 5xx, catalogue G02), a 4xx or a TLS failure moves the
// remaining recipients to the next host at once (R-OUT-5); a reused connection found dead is
// replaced by a fresh one to the same host once (G17); when every host failed
// temporarily the job waits for queue::next_attempt(); at message_expiration it fails with 4.4.7 and
// the last error. A next hop that is this service's own listening address fails with 5.3.5 before
// connecting (R-LOOP-1). Every final outcome goes through Tracker::record() (durable, NDRs) before the
// job is dropped, so a crash can only repeat deliveries in flight.
// Message trace: every temporary failure of a recipient that leaves it waiting is recorded here as a
// DEFER (with the last host and its reply); final outcomes carry their trace fields (host, reply, TLS,
// connector, next hop, copy id) to the Tracker, which records SEND / FAIL.
//
// Threading: everything runs on the one executor given (single-threaded io_context: an implicit
// strand); enqueue() and stop() may be called from any thread. Blocking spool reads happen on it
// (RocksDB point reads). The resolver must belong to the same executor.
#pragma once

#include "config/snapshot.hpp"
#include "core/clock.hpp"
#include "delivery/tracker.hpp"
#include "dns/resolver.hpp"
#include "routing/outbound.hpp"
#include "routing/rules.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace mf::metrics {
struct ServiceMetrics;
}

namespace mf::delivery {

// One recipient address to send to a next hop.
struct OutboundRecipient {
  std::size_t index = 0;  // envelope recipient index in the spooled message
  Address address;        // the address to use in RCPT TO (a target address, or the original)
  std::string copy_id = {};  // the copy of a bifurcated message it belongs to ("" = not split; trace only)
};

struct OutboundWork {
  std::string message_id;
  Envelope envelope;  // the spooled envelope: sender, DSN parameters, body type (recipients unused)
  routing::NextHop hop;
  std::vector<OutboundRecipient> recipients;
  std::int64_t received_at = 0;  // unix seconds (expiry is counted from it)
  std::uint64_t size = 0;        // message size in bytes (queue listings)
  // The message bytes when the caller has them (freshly received): used for the first attempt and
  // then dropped, so waiting messages do not pin memory; null = read from the spool.
  std::shared_ptr<const std::string> data;
  // Mail flow rule edits of this copy's header section (null: none). `data`, when given, already has
  // them; a body read back from the spool gets them applied again (the plan is deterministic).
  std::shared_ptr<const routing::HeaderEdits> edits;
  // Tells copies of one message to the same next hop apart when their edits differ ("" otherwise).
  std::string variant;
  // Envelope recipients that share a delivery with another (routing::CopyRecipient::also): the
  // outcome for (index, address) is recorded for `also` too.
  struct Alias {
    std::size_t index = 0;
    Address address;
    std::size_t also = 0;
  };
  std::vector<Alias> aliases;
  MessageTraceInfo trace_info;  // organization and Message-ID for DEFER events
};

struct OutboundStats {
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> deferred{0};
};

// One job of the queue as the admin API shows it: some recipients of one message for one next hop.
struct QueueEntry {
  std::string message_id;
  std::string sender;                // "" = the null sender
  std::int64_t received_at = 0;      // unix seconds
  std::string organization;          // the message's organization name ("" when none)
  std::uint64_t size = 0;            // bytes
  routing::NextHop hop;              // connector and organization index, for grouping
  std::string hop_key;               // the queue it waits in (MX destinations: the MX host set)
  std::vector<Address> recipients;   // the addresses still to send to (RCPT TO)
  std::size_t attempts = 0;          // attempts done (0 = not tried yet)
  std::optional<SysTime> due;        // next attempt; nullopt while held or being delivered
  bool held = false;
  bool active = false;               // in a ready queue or a connection right now
  std::string last_error;            // the last temporary failure, "" when none
};

// What a queue operation touched: jobs changed, and jobs of the message being delivered right now
// (left alone).
struct QueueChange {
  std::size_t jobs = 0;
  std::size_t active = 0;
  bool failed = false;  // remove(): the spool write failed; nothing was removed
};

class OutboundEngine {
 public:
  struct Options {
    std::size_t connections_per_hop = 20;
    std::chrono::seconds connect_timeout{30};
    // Upper bound on every reply wait (RFC 5321 §4.5.3.2: 5 min for most replies, 10 min after the
    // data); 0 = the RFC values. Lets tests exercise timeouts without waiting minutes.
    std::chrono::seconds reply_timeout_cap{0};
    // Connection cache: how long a connection whose hop has no job left stays open for the hop's
    // next job (Postfix keeps an idle connection 2 s: smtp_connection_cache_time_limit). 0 = close
    // at once. Not used for a connector with several smart hosts (R-OUT-4 round robin per connection).
    std::chrono::milliseconds idle_time{2000};
  };
  OutboundEngine(boost::asio::any_io_executor executor, spool::Spool& spool, Tracker& tracker,
                 SnapshotSource snapshot, dns::Resolver& resolver, const Clock& clock,
                 std::shared_ptr<boost::asio::ssl::context> tls_client, Options options,
                 trace::Sink& trace = trace::null_sink());
  ~OutboundEngine();

  void enqueue(OutboundWork work);  // thread-safe

  // Queue control (the admin API, `mailflow queue`; issue 7). Each call runs on the engine's
  // executor and blocks the caller until it has run: call from another thread, never the engine's.
  // Every job of the queue, earliest due first, then the held and the active ones.
  std::vector<QueueEntry> queue_entries();
  // Makes the message's waiting jobs (every waiting job for "") due now; held jobs stay held.
  QueueChange retry(const std::string& message_id);
  // No attempts for the message until release(): its waiting jobs are set aside, jobs being delivered
  // are set aside when they come back deferred, and work handed over later (e.g. recovered after a
  // restart) goes straight to the side. Holding a message the engine has no job for is allowed
  // (holds are re-applied at start-up before recovered messages arrive).
  QueueChange hold(const std::string& message_id);
  // Ends the hold; the set-aside jobs are due at once.
  QueueChange release(const std::string& message_id);
  // Deletes the message's waiting and held jobs: their recipients are finished without an NDR
  // (Tracker, traced as DROP "deleted by administrator"). When a job of it is being delivered right
  // now nothing is removed and the change reports it as active (the caller says "try again"); when
  // the spool write fails nothing is removed either (QueueChange::failed). Blocking calls throw when
  // the engine does not answer within 30 s (stopped).
  boost::asio::awaitable<QueueChange> remove_async(std::string message_id);
  QueueChange remove(const std::string& message_id);

  void stop();                      // thread-safe: no new connections; waiting jobs stay in the spool
  const OutboundStats& stats() const;
  // mailflow_messages_deferred_total{organization,connector} per deferred job; call before use.
  void set_metrics(metrics::ServiceMetrics* metrics);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mf::delivery
