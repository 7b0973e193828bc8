// delivery/client_connection.hpp — one outbound SMTP connection (internal to delivery/).
//
// Connects to one target (bound to the source address when given), shuttles bytes between the
// socket and an smtp::ClientSession, runs STARTTLS when the session asks and judges the handshake
// with the connector's TLS policy (routing::tls_decide), and applies the RFC 5321 reply deadlines:
// one deadline per awaited reply (or pipelined batch), counted from our last write, so a peer that
// drips its reply cannot hold the connection (catalogue G07). Errors come back as text for logs and
// NDRs. Runs on the executor it was created with; not thread-safe.
#pragma once

#include "core/ip.hpp"
#include "core/reply.hpp"
#include "routing/outbound.hpp"
#include "smtp/client_session.hpp"
#include "tls/tls.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace mf::delivery {

// A concrete address to connect to, with the name it was found under (for TLS checks and logs).
struct Target {
  std::string name;  // host name, or the IP text for literals
  IpAddress ip;
  std::uint16_t port = 25;
  std::string label() const { return name == ip.str() ? name : name + "[" + ip.str() + "]"; }
};

// What one STARTTLS handshake gave and how the connector's TLS policy judged it (for reports).
struct TlsAttempt {
  bool handshake_ok = false;
  std::string handshake_error;  // when !handshake_ok
  tls::PeerInfo peer;           // when handshake_ok
  routing::TlsOutcome outcome;  // routing::tls_decide()
};

// This host's interface addresses, for the R-LOOP-1 check of listeners on 0.0.0.0 / :: (the
// outbound engine and validate-connector's probe both refuse to connect to themselves).
std::vector<IpAddress> interface_addresses();

class ClientConnection {
 public:
  ClientConnection(boost::asio::any_io_executor ex, std::shared_ptr<boost::asio::ssl::context> ctx,
                   std::chrono::seconds reply_timeout_cap);

  // Connects and runs the session up to the first `ready` (or close). Returns false when the
  // connection could not be set up; `error` then says why.
  boost::asio::awaitable<bool> open(const Target& t, const std::optional<IpAddress>& source,
                                    std::chrono::seconds connect_timeout, smtp::ClientOptions opts,
                                    const routing::TlsRequirement& req, std::string& error);
  boost::asio::awaitable<void> send(smtp::OutboundMessage msg);
  boost::asio::awaitable<void> quit();  // QUIT when usable, then close

  smtp::ClientSession& session() { return *session_; }
  const Target& target() const { return target_; }
  std::optional<Reply> failure() const { return failure_; }
  bool tls_reconnect() const { return tls_reconnect_; }
  bool usable() const { return session_ && session_->action() == smtp::ClientSession::Action::ready; }
  // "TLSv1.3 TLS_AES_256_GCM_SHA384" once STARTTLS succeeded, else "" (for the message trace).
  const std::string& tls_description() const { return tls_description_; }
  bool connected() const { return connected_; }  // the TCP connection was established
  const std::optional<TlsAttempt>& tls_attempt() const { return tls_attempt_; }  // the last STARTTLS handshake

 private:
  boost::asio::awaitable<bool> write(const std::string& out, std::chrono::seconds limit);
  boost::asio::awaitable<void> drive();  // shuttles bytes until the session is ready or closed

  boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream_;
  boost::asio::steady_timer timer_;
  std::unique_ptr<smtp::ClientSession> session_;
  Target target_;
  routing::TlsRequirement req_;
  std::optional<Reply> failure_;
  bool tls_ = false;
  std::string tls_description_;
  bool tls_reconnect_ = false;
  bool connected_ = false;
  std::optional<TlsAttempt> tls_attempt_;
  std::chrono::seconds reply_timeout_cap_{0};
  std::optional<std::chrono::steady_clock::time_point> reply_deadline_;
};

// The session's TLS mode for a connector's TLS requirement.
smtp::ClientOptions::Tls client_tls(const routing::TlsRequirement& req);

}  // namespace mf::delivery
