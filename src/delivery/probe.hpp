// delivery/probe.hpp — connector validation (R-OUT-10): what delivery through a next hop would meet,
// host by host, without queueing anything.
//
// resolve_hosts() finds the hosts as the outbound engine does (R-OUT-7/8): smart hosts in config
// order (delivery starts its rotation round robin, R-OUT-4, but every host is validated), a name
// through its MX records, else its A/AAAA; or the recipient domain's MX for a use_mx_record hop; and
// records what DNS said. probe_host() then drives the engine's own pieces — ClientConnection (source
// address, client certificate, reply deadlines), smtp::ClientSession and the connector's TLS policy
// (routing::tls_decide, R-OUT-9) — through one transaction that stops after RCPT
// (OutboundMessage::stop_after_rcpt), or sends one short test message when asked, and records every
// step: connect, banner, EHLO, STARTTLS, the peer certificate and the policy verdict, MAIL, RCPT,
// DATA, QUIT. A host passes when it accepted the RCPT (and, when a message was sent, the message).
// describe_tls(), judge_host(), test_message() and render_text() are pure (unit-tested).
//
// Advisory only: nothing here touches configuration, queue or spool; a failed validation disables
// nothing. Threads: the coroutines run on the executor of the resolver and of the connections (one
// io_context). Errors: every failure is a step of the report, never an exception. Deadlines: connect
// (ProbeSettings::connect_timeout), every reply (reply_timeout), the TLS handshake (60 s): a probe
// always ends.
#pragma once

#include "config/snapshot.hpp"
#include "core/address.hpp"
#include "core/clock.hpp"
#include "core/reply.hpp"
#include "delivery/client_connection.hpp"
#include "dns/resolver.hpp"
#include "routing/outbound.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace mf::delivery {

enum class StepStatus { ok, failed, info };
const char* to_string(StepStatus s);  // "ok", "failed", "info"

// One line of the report: "connect", "banner", "EHLO", "HELO", "STARTTLS", "TLS", "certificate",
// "TLS policy", "MAIL FROM", "RCPT TO", "DATA", "end of data", "QUIT", "reconnect", "loop check",
// "connection" (a failure that is none of these), or "MX" / "A/AAAA" / "IP" for name resolution.
struct ProbeStep {
  std::string name;
  StepStatus status = StepStatus::info;
  std::string detail;
};

// One reply of the transcript, with the command it answered (smtp::ClientOptions::on_reply names).
struct ProbeReply {
  std::string command;
  Reply reply;                     // as the session parsed it (enhanced code split off or synthesized)
  std::vector<std::string> lines;  // the text of each line as received, after "ddd-" / "ddd "
};

struct ProbeHost {
  Target target;
  std::vector<ProbeStep> steps;
  std::vector<ProbeReply> replies;      // every reply of every connection to this host, in order
  bool connected = false;
  bool starttls_offered = false;        // in the EHLO reply before TLS
  bool tls = false;                     // the transaction ran under TLS
  std::optional<TlsAttempt> tls_attempt;  // the STARTTLS handshake, when one was made
  std::string tls_policy;               // describe_tls() (empty when TLS never came up)
  std::vector<std::string> extensions;  // EHLO keywords of the last EHLO reply
  bool rcpt_accepted = false;
  bool data_sent = false;
  bool message_accepted = false;
  bool passed = false;
  std::string reason;  // why it did not pass (empty when it passed)

  std::string label() const;  // "name[ip]:port" or "ip:port"
};

struct ProbeSettings {
  std::string helo_name;                   // service.hostname
  std::optional<IpAddress> source_address;  // service.source_address
  config::TlsSettings tls = config::TlsSettings::opportunistic;
  std::string tls_domain;
  std::optional<Address> sender;  // nullopt = <>
  Address recipient;
  bool send = false;              // run DATA with `message`
  std::string message;            // test_message(), CRLF line ends
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds reply_timeout{60};  // cap on every reply wait (RFC values are minutes)
};

struct ProbeResolution {
  std::vector<ProbeStep> steps;  // what DNS said, in order
  std::vector<Target> targets;   // in the order they are tried
};

// Everything one validation found, with a header the caller fills in (what was validated).
struct ProbeReport {
  std::string connector;
  std::string organization;
  bool enabled = true;
  std::string destination;  // e.g. "smart hosts 127.0.0.5, mail.contoso.com:2525" or "MX of fabrikam.com"
  config::TlsSettings tls = config::TlsSettings::opportunistic;
  std::string tls_domain;
  std::string sender;  // "" = <>
  std::string recipient;
  bool send = false;
  std::vector<std::string> notes;
  ProbeResolution resolution;
  std::vector<ProbeHost> hosts;

  bool can_deliver() const;  // some host passed
};

const char* tls_settings_name(config::TlsSettings s);  // the config spelling

boost::asio::awaitable<ProbeResolution> resolve_hosts(dns::Resolver& resolver, const routing::NextHop& hop,
                                                      std::uint16_t default_port, std::mt19937& rng);

// The arguments of these coroutines are references: await them directly (the caller's objects must
// outlive the awaitable).
boost::asio::awaitable<ProbeHost> probe_host(const boost::asio::any_io_executor& executor,
                                             const std::shared_ptr<boost::asio::ssl::context>& tls_client,
                                             const Target& target, const ProbeSettings& settings);

// The whole validation of `hop`: resolve_hosts(), then probe_host() for each target in turn (a
// failure never stops the others), except targets that are this service's own listeners (R-LOOP-1:
// reported, not contacted). Fills report.resolution and report.hosts.
boost::asio::awaitable<void> probe_next_hop(const boost::asio::any_io_executor& executor, dns::Resolver& resolver,
                                            const std::shared_ptr<boost::asio::ssl::context>& tls_client,
                                            const config::Snapshot& snapshot, const routing::NextHop& hop,
                                            const ProbeSettings& settings, ProbeReport& report);

// The TLS policy verdict in words, ending in ": ok" or ": failed (<reason>)" — e.g.
// "domain_validation: certificate chain trusted; certificate name mail.contoso.com matches tls_domain
// *.contoso.com: ok". `attempt` is the handshake (nullopt when STARTTLS was not offered).
std::string describe_tls(config::TlsSettings settings, const std::string& tls_domain,
                         const routing::TlsRequirement& req, bool starttls_offered,
                         const std::optional<TlsAttempt>& attempt);

// Sets host.passed (RCPT accepted, and the message too when `sent_message`) and host.reason (the
// last failed step, or what is missing).
void judge_host(ProbeHost& host, bool sent_message);

// The --send test message: From/To/Subject "mailflow connector validation"/Date/Message-ID headers
// and a short text body, CRLF line ends.
std::string test_message(const std::optional<Address>& sender, const Address& recipient, const std::string& hostname,
                         const std::string& connector, SysTime now, const std::string& message_id);

// The human report: a header, the resolution, one block per host, a summary line.
std::string render_text(const ProbeReport& report);

}  // namespace mf::delivery
