#include "server/connection.hpp"
#include "server/policy.hpp"

#include "auth/sasl.hpp"
#include "core/message_id.hpp"
#include "routing/attribution.hpp"
#include "routing/firewall.hpp"
#include "tls/tls.hpp"
#include "util/log.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>

namespace mf::server {

namespace asio = boost::asio;
using asio::ip::tcp;
using mf::log::kv;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// The role of the listener the connection came in on (by name: the server binds listeners at start,
// and a reload does not rebind them). A listener missing from the snapshot is treated as mx, which
// never accepts AUTH.
config::ListenerRole listener_role(const config::Snapshot& snap, const std::string& listener) {
  for (const auto& l : snap.service.listeners) {
    if (l.name == listener) return l.role;
  }
  return config::ListenerRole::mx;
}

smtp::ServerOptions session_options(const config::Snapshot& snap, bool tls_available, const std::string& listener) {
  smtp::ServerOptions o;
  o.hostname = snap.service.hostname;
  o.max_recipients = snap.service.max_recipients;
  o.max_message_size = snap.service.max_message_size;
  o.max_errors = snap.service.limits.max_errors;
  o.max_hop_count = snap.service.max_hop_count;
  o.starttls_available = tls_available;
  o.submission = listener_role(snap, listener) == config::ListenerRole::submission;  // R-SUB-1
  return o;
}

}  // namespace

Connection::Connection(tcp::socket socket, ConnectionFacts facts, ConnectionContext& ctx)
    : plain_(std::move(socket)), ctx_(ctx), snapshot_(ctx.snapshot()), watchdog_timer_(plain_.get_executor()) {
  smtp::SessionEnv env{[] { return std::chrono::system_clock::now(); }, [] { return new_message_id(); }};
  smtp::ServerOptions options = session_options(*snapshot_, ctx.tls != nullptr, facts.listener);
  if (ctx.metrics != nullptr) {
    options.on_refusal = [m = ctx.metrics](const Reply& r) {
      m->rejects_total.with({std::string(reject_reason(r))}).inc();
    };
  }
  options.deferred_auth = static_cast<bool>(ctx.auth_executor);
  session_ = std::make_unique<smtp::ServerSession>(std::move(options), *ctx.policy, std::move(env), std::move(facts));
}

tcp::socket& Connection::lowest() { return tls_ ? tls_->next_layer() : plain_; }

void Connection::set_deadline(Clock::duration d) {
  auto t = Clock::now() + d;
  bool earlier = t < deadline_;
  deadline_ = t;
  if (earlier) watchdog_timer_.cancel();  // the watchdog re-arms on the earlier time
}

asio::awaitable<void> Connection::watchdog() {
  auto self = shared_from_this();
  while (!closed_) {
    watchdog_timer_.expires_at(deadline_);
    co_await watchdog_timer_.async_wait(use_tuple);
    if (closed_) co_return;
    if (Clock::now() < deadline_) continue;
    if (!timed_out_) {
      // First expiry: wake the reader/writer so that it can say 421 4.4.2; give that write 10 s.
      timed_out_ = true;
      deadline_ = Clock::now() + std::chrono::seconds(10);
      boost::system::error_code ignored;
      lowest().cancel(ignored);
    } else {
      force_close();
      co_return;
    }
  }
}

void Connection::request_shutdown() {
  shutdown_requested_ = true;
  if (idle_read_) {
    boost::system::error_code ignored;
    lowest().cancel(ignored);  // wake the idle read; run() then says 421 4.3.2
  }
}

void Connection::force_close() {
  if (closed_) return;
  closed_ = true;
  // close() alone ends the connection (FIN, or RST when unread input remains, as shutdown()
  // before it would too) and aborts any pending operation; one system call per session fewer.
  boost::system::error_code ignored;
  lowest().close(ignored);
  watchdog_timer_.cancel();
}

asio::awaitable<bool> Connection::flush() {
  std::string out = session_->take_output();
  if (out.empty()) co_return true;
  if (!timed_out_) set_deadline(snapshot_->service.limits.command_timeout);
  boost::system::error_code ec;
  if (tls_) {
    std::tie(ec, std::ignore) = co_await asio::async_write(*tls_, asio::buffer(out), use_tuple);
  } else {
    std::tie(ec, std::ignore) = co_await asio::async_write(plain_, asio::buffer(out), use_tuple);
  }
  co_return !ec && !closed_;
}

asio::awaitable<bool> Connection::start_tls() {
  if (!co_await flush()) co_return false;  // "220 2.0.0 Ready to start TLS"
  tls_.emplace(std::move(plain_), *ctx_.tls);
  set_deadline(snapshot_->service.limits.command_timeout);
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, use_tuple);
  if (ec || timed_out_) {
    spdlog::info("event=tls_failed {} {}", kv("client", session_->facts().client_ip),
                 kv("reason", timed_out_ ? std::string("timeout") : ec.message()));
    session_->tls_failed();
    co_return false;
  }
  tls::PeerInfo peer = tls::peer_info(tls_->native_handle());
  smtp::TlsInfo info{peer.version, peer.cipher, peer.cert_verified, peer.names};
  spdlog::info("event=tls {} {} {} cert={} verified={}", kv("client", session_->facts().client_ip),
               kv("version", peer.version), kv("cipher", peer.cipher), peer.cert_presented ? "yes" : "no",
               peer.cert_verified ? "yes" : "no");
  session_->tls_started(info);  // discards every byte buffered before the handshake (CVE-2011-0411)
  co_return true;
}

void Connection::trace_receive(const smtp::AcceptedMessage& msg, std::size_t size, const config::Snapshot& snap,
                               const routing::Attribution& att) {
  // After the synced commit, so a RECEIVE always names a message the service owns. `att` is the
  // attribution the header firewall stamped (the one delivery will compute again).
  trace::Event e;
  e.time_us = trace::unix_us(std::chrono::system_clock::now());
  e.type = trace::EventType::RECEIVE;
  e.message_id = msg.id;
  e.internet_message_id = trace::internet_message_id(msg.data);
  if (att.organization && *att.organization < snap.organizations.size()) {
    e.organization = snap.organizations[*att.organization].name;
  }
  if (msg.envelope.sender) e.sender = msg.envelope.sender->str();
  e.connector = att.connector;
  e.remote_host = msg.connection.client_ip;
  e.reply = "250 2.0.0 Ok: queued as " + msg.id;  // what smtp::ServerSession::commit_done() sends
  if (msg.connection.tls) e.tls = msg.connection.tls_version + " " + msg.connection.tls_cipher;
  e.detail = "listener " + msg.connection.listener + ", helo " + msg.connection.helo + ", size " +
             std::to_string(size) + ", recipients " + std::to_string(msg.envelope.recipients.size());
  if (!msg.connection.authenticated_user.empty()) e.detail += ", authenticated " + msg.connection.authenticated_user;
  if (ctx_.metrics != nullptr) ctx_.metrics->messages_received_total.with({e.organization}).inc();
  ctx_.trace->record(std::move(e));
}

asio::awaitable<void> Connection::commit() {
  smtp::AcceptedMessage msg = session_->take_message();
  // R-IN-8: forged internal markers go (unless an on_premises connector matched), ours are stamped.
  // One attribution per message on this io thread: the firewall's stamps and the RECEIVE event share it.
  const auto snap = ctx_.snapshot();
  const routing::Attribution att = routing::attribute(*snap, msg.connection, msg.envelope, /*explain=*/false);
  msg.data = routing::apply_header_firewall(msg.data, att.on_premises, routing::organization_stamps(*snap, att));
  spool::StoredMessage stored;
  stored.id = msg.id;
  stored.envelope = msg.envelope;
  stored.connection = msg.connection;
  stored.received_at = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
  stored.data = msg.data;
  const std::size_t size = stored.data.size();
  auto result = co_await ctx_.spool->commit(std::move(stored));
  if (!result) {
    spdlog::error("event=spool_error {} op=commit {}", kv("id", msg.id), kv("reason", result.error().message));
  }
  session_->commit_done(result);  // 250 only after the synced write (spool.hpp THE INVARIANT)
  if (!result) co_return;
  std::string rcpts;
  for (const auto& r : msg.envelope.recipients) rcpts += (rcpts.empty() ? "" : ",") + r.address.str();
  spdlog::info("event=receive {} {} {} {} {} tls={}", kv("id", msg.id),
               kv("from", msg.envelope.sender ? msg.envelope.sender->str() : ""), kv("to", rcpts),
               kv("size", static_cast<long long>(size)), kv("client", msg.connection.client_ip),
               msg.connection.tls ? "yes" : "no");
  trace_receive(msg, size, *snap, att);
  spool::SpoolEntry entry;
  entry.id = msg.id;
  entry.envelope = std::move(msg.envelope);
  entry.connection = std::move(msg.connection);
  entry.received_at = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  entry.size = size;
  entry.done.assign(entry.envelope.recipients.size(), false);
  ctx_.accepted(std::move(entry), std::move(msg.data));
}

// The password check runs on ctx_.auth_executor: a deliberately slow hash must not stall every
// other session of this io thread. The session buffers input meanwhile (Action::authenticate).
asio::awaitable<void> Connection::authenticate() {
  auto check = [policy = ctx_.policy, facts = session_->facts(),
                credentials = session_->take_credentials()]() mutable -> asio::awaitable<smtp::AuthResult> {
    smtp::AuthResult r = policy->authenticate(facts, credentials.user, credentials.password);
    auth::wipe(credentials.password);
    co_return r;
  };
  smtp::AuthResult result = co_await asio::co_spawn(ctx_.auth_executor, std::move(check), asio::use_awaitable);
  session_->auth_done(result);
}

asio::awaitable<void> Connection::run() {
  auto self = shared_from_this();
  asio::co_spawn(plain_.get_executor(), watchdog(), asio::detached);
  const auto& limits = snapshot_->service.limits;
  // Plain-text reads wait for readability first and then read into one buffer per thread, so an
  // idle session holds no read buffer (10,000 idle sessions, SPEC §7) and a busy one reads 64 KiB
  // per system call. A TLS session gets its own buffer when the handshake is done.
  thread_local std::array<char, 65536> shared_buf;
  std::unique_ptr<std::array<char, 16384>> tls_buf;
  bool read_first = false;  // the last read, after a wait, brought part of a DATA body
  {
    boost::system::error_code nb_ec;
    plain_.non_blocking(true, nb_ec);
  }

  session_->start();
  if (shutdown_requested_) session_->shutdown();
  if (!co_await flush()) {
    force_close();
    co_return;
  }
  while (!closed_) {
    switch (session_->action()) {
      case smtp::ServerSession::Action::read: {
        if (shutdown_requested_ && !session_->in_transaction()) {
          session_->shutdown();
          break;
        }
        if (timed_out_) {
          session_->timeout();
          break;
        }
        set_deadline(session_->in_data() ? limits.data_timeout : limits.command_timeout);
        idle_read_ = !session_->in_transaction();
        boost::system::error_code ec;
        std::size_t n = 0;
        const char* data = nullptr;
        bool waited = true;  // this read came after a readiness wait
        if (tls_) {
          if (!tls_buf) tls_buf = std::make_unique<std::array<char, 16384>>();
          std::tie(ec, n) = co_await tls_->async_read_some(asio::buffer(*tls_buf), use_tuple);
          data = tls_buf->data();
        } else {
          // Read first when more of a DATA body may already be waiting: that saves the readiness
          // wait and its epoll_ctl. Otherwise (and always after such a read, so that a fast sender
          // cannot keep the io thread from the other sessions) wait, then read.
          bool got = false;  // read_some answered: data, end of stream or an error
          auto try_read = [&] {
            n = plain_.read_some(asio::buffer(shared_buf), ec);  // non-blocking: never waits here
            if (ec == asio::error::would_block || ec == asio::error::try_again) {
              ec.clear();  // nothing there yet (or a spurious wake-up)
              n = 0;
            } else {
              got = true;
            }
          };
          if (read_first) {
            try_read();
            waited = !got;
          }
          if (!got) {
            std::tie(ec) = co_await plain_.async_wait(tcp::socket::wait_read, use_tuple);
            if (!ec) try_read();
          }
          if (got && !ec && n == 0) ec = asio::error::eof;
          data = shared_buf.data();
        }
        idle_read_ = false;
        if (n > 0) session_->feed(std::string_view(data, n));
        read_first = n > 0 && waited && session_->in_data();  // mid-body: more may be waiting
        if (ec) {
          if (timed_out_ && !closed_) {
            session_->timeout();
          } else if (ec == asio::error::operation_aborted && shutdown_requested_ && !closed_) {
            // woken for shutdown; the next iteration says 421
          } else {
            force_close();  // peer closed or reset: nothing more to say
            co_return;
          }
        }
        break;
      }
      case smtp::ServerSession::Action::commit:
        co_await commit();
        break;
      case smtp::ServerSession::Action::authenticate:
        co_await authenticate();
        break;
      case smtp::ServerSession::Action::start_tls:
        if (!co_await start_tls()) {
          force_close();
          co_return;
        }
        break;
      case smtp::ServerSession::Action::close:
        co_await flush();
        force_close();
        co_return;
    }
    if (!co_await flush()) {
      force_close();
      co_return;
    }
  }
}

}  // namespace mf::server
