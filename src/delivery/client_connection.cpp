#include "delivery/client_connection.hpp"

#include <ifaddrs.h>
#include <netdb.h>
#include <sys/socket.h>

#include "tls/tls.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

namespace mf::delivery {

std::vector<IpAddress> interface_addresses() {
  std::vector<IpAddress> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr) continue;
    const int family = a->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    char host[NI_MAXHOST];
    const socklen_t len = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    if (::getnameinfo(a->ifa_addr, len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) continue;
    std::string text = host;
    if (auto pct = text.find('%'); pct != std::string::npos) text.resize(pct);
    if (auto ip = IpAddress::parse(text)) out.push_back(*ip);
  }
  ::freeifaddrs(list);
  return out;
}

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
}  // namespace

ClientConnection::ClientConnection(asio::any_io_executor ex, std::shared_ptr<asio::ssl::context> ctx,
                                   std::chrono::seconds reply_timeout_cap)
    : stream_(tcp::socket(ex), *ctx), timer_(ex), reply_timeout_cap_(reply_timeout_cap) {}

asio::awaitable<bool> ClientConnection::open(const Target& t, const std::optional<IpAddress>& source, std::chrono::seconds connect_timeout,
                           smtp::ClientOptions opts, const routing::TlsRequirement& req, std::string& error) {
  target_ = t;
  req_ = req;
  auto addr = asio::ip::make_address(t.ip.str());
  tcp::endpoint ep(addr, t.port);
  auto& sock = stream_.next_layer();
  boost::system::error_code ec;
  sock.open(ep.protocol(), ec);
  if (ec) {
    error = "socket: " + ec.message();
    co_return false;
  }
  if (source) {
    auto src = asio::ip::make_address(source->str(), ec);
    if (!ec && src.is_v4() == addr.is_v4()) {
      sock.bind(tcp::endpoint(src, 0), ec);
      if (ec) {
        error = "bind to source address " + source->str() + ": " + ec.message();
        co_return false;
      }
    }
  }
  timer_.expires_after(connect_timeout);
  auto r = co_await (sock.async_connect(ep, use_tuple) || timer_.async_wait(use_tuple));
  if (r.index() == 1) {
    error = "connection timed out";
    co_return false;
  }
  if (auto [e] = std::get<0>(r); e) {
    error = e == asio::error::connection_refused ? "connection refused" : e.message();
    co_return false;
  }
  connected_ = true;
  session_ = std::make_unique<smtp::ClientSession>(std::move(opts));
  co_await drive();
  if (session_->action() != smtp::ClientSession::Action::ready) {
    auto f = session_->session_failure();
    error = f ? f->one_line() : "connection closed";
    failure_ = f;
    co_return false;
  }
  co_return true;
}

asio::awaitable<void> ClientConnection::send(smtp::OutboundMessage msg) {
  session_->send(std::move(msg));
  co_await drive();
}

asio::awaitable<void> ClientConnection::quit() {
  if (usable()) {
    session_->quit();
    co_await drive();
  }
  boost::system::error_code ec;
  stream_.next_layer().shutdown(tcp::socket::shutdown_both, ec);
  stream_.next_layer().close(ec);
}

asio::awaitable<bool> ClientConnection::write(const std::string& out, std::chrono::seconds limit) {
  if (out.empty()) co_return true;
  timer_.expires_after(limit);
  if (tls_) {
    auto r = co_await (asio::async_write(stream_, asio::buffer(out), use_tuple) || timer_.async_wait(use_tuple));
    co_return r.index() == 0 && !std::get<0>(std::get<0>(r));
  }
  auto r = co_await (asio::async_write(stream_.next_layer(), asio::buffer(out), use_tuple) || timer_.async_wait(use_tuple));
  co_return r.index() == 0 && !std::get<0>(std::get<0>(r));
}

asio::awaitable<void> ClientConnection::drive() {
  using Action = smtp::ClientSession::Action;
  std::array<char, 16384> buf;
  while (true) {
    const std::string out = session_->take_output();
    const Action a = session_->action();
    // DATA blocks get the 3-minute data-block write timeout of RFC 5321 §4.5.3.2 per 16 KiB at least.
    if (!co_await write(out, std::chrono::seconds(180))) {
      session_->connection_lost("write to " + target_.label() + " failed or timed out");
      continue;
    }
    if (a == Action::ready) co_return;
    if (a == Action::close) {
      boost::system::error_code ec;
      stream_.next_layer().close(ec);
      co_return;
    }
    if (a == Action::start_tls) {
      SSL_set_tlsext_host_name(stream_.native_handle(), target_.name.c_str());
      timer_.expires_after(std::chrono::seconds(60));
      auto r = co_await (stream_.async_handshake(asio::ssl::stream_base::client, use_tuple) ||
                         timer_.async_wait(use_tuple));
      std::string herr;
      bool ok = r.index() == 0 && !std::get<0>(std::get<0>(r));
      if (!ok) herr = r.index() == 1 ? "timed out" : std::get<0>(std::get<0>(r)).message();
      tls::PeerInfo info;
      if (ok) info = tls::peer_info(stream_.native_handle());
      auto verdict = routing::tls_decide(req_, true, ok, herr, info.cert_verified, info.reference_names);
      tls_attempt_ = TlsAttempt{ok, herr, info, verdict};
      if (verdict.verdict == routing::TlsVerdict::proceed_tls) {
        tls_ = true;
        tls_description_ = info.version + " " + info.cipher;
        session_->tls_started();
        spdlog::debug("event=tls host={} version={} cipher={}", target_.label(), info.version, info.cipher);
      } else {
        tls_reconnect_ = verdict.reconnect;
        std::string reason = verdict.reason;
        if (ok && !info.cert_verified && reason.find("trusted") != std::string::npos && !info.verify_error.empty())
          reason += " (" + info.verify_error + ")";
        session_->tls_failed(reason.empty() ? "TLS handshake failed: " + herr : reason);
      }
      continue;
    }
    // Action::read. The deadline covers the whole reply (or pipelined batch of replies) awaited
    // since our last write, not each read: a peer dripping one byte at a time cannot hold the
    // connection past it (catalogue G07).
    if (!out.empty() || !reply_deadline_) {
      auto wait = session_->timeout();
      if (reply_timeout_cap_.count() > 0) wait = std::min(wait, reply_timeout_cap_);
      reply_deadline_ = std::chrono::steady_clock::now() + wait;
    }
    timer_.expires_at(*reply_deadline_);
    std::size_t n = 0;
    boost::system::error_code ec;
    if (tls_) {
      auto r = co_await (stream_.async_read_some(asio::buffer(buf), use_tuple) || timer_.async_wait(use_tuple));
      if (r.index() == 1) {
        session_->connection_lost("timeout waiting for " + target_.label());
        continue;
      }
      std::tie(ec, n) = std::get<0>(r);
    } else {
      auto r = co_await (stream_.next_layer().async_read_some(asio::buffer(buf), use_tuple) ||
                         timer_.async_wait(use_tuple));
      if (r.index() == 1) {
        session_->connection_lost("timeout waiting for " + target_.label());
        continue;
      }
      std::tie(ec, n) = std::get<0>(r);
    }
    if (ec) {
      session_->connection_lost(ec == asio::error::eof ? "connection closed by " + target_.label()
                                                       : "connection to " + target_.label() + " lost: " + ec.message());
      continue;
    }
    session_->feed(std::string_view(buf.data(), n));
  }
}

smtp::ClientOptions::Tls client_tls(const routing::TlsRequirement& req) {
  return req.starttls_required ? smtp::ClientOptions::Tls::required : smtp::ClientOptions::Tls::opportunistic;
}

}  // namespace mf::delivery
