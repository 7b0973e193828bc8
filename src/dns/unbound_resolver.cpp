// dns/unbound_resolver.cpp — the libunbound Transport and make_unbound_resolver() (see resolver.hpp).
//
// libunbound runs its network work in its own background thread (ub_ctx_async(ctx, 1)) — we start no
// thread and never block: results arrive on the pipe ub_fd(ctx), which a stream_descriptor watches on
// our executor; when it is readable we call ub_process(ctx), which runs on_result() for each finished
// query. on_result() and the per-query timeout timer race to complete a Pending exactly once; the loser
// finds the Pending gone (timer) or never runs (ub_cancel() guarantees the callback is not called).
// Completions are always posted, never invoked inline, so user code never runs inside ub_process().
#include "dns/caching_resolver.hpp"
#include "dns/resolver.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unbound.h>

#include <cstdint>
#include <map>
#include <string>

namespace mf::dns {
namespace {

namespace asio = boost::asio;
using Handler = asio::any_completion_handler<void(RawAnswer)>;

std::string rcode_text(int rcode) {
  switch (rcode) {
    case 1: return "FORMERR";
    case 2: return "SERVFAIL";
    case 3: return "NXDOMAIN";
    case 4: return "NOTIMP";
    case 5: return "REFUSED";
    default: return "rcode " + std::to_string(rcode);
  }
}

RawAnswer translate(int err, const ub_result* r) {
  RawAnswer out;
  if (err != 0 || r == nullptr) {
    out.error = err != 0 ? ub_strerror(err) : "no result";
    return out;  // temp_fail
  }
  out.ttl = std::chrono::seconds{r->ttl > 0 ? r->ttl : 0};
  if (r->havedata) {
    out.status = Status::ok;
    for (int i = 0; r->data[i] != nullptr; ++i) {
      out.rdata.emplace_back(r->data[i], static_cast<std::size_t>(r->len[i] > 0 ? r->len[i] : 0));
    }
    return out;
  }
  if (r->nxdomain || r->rcode == 3) {
    out.status = Status::nxdomain;
    out.error = "NXDOMAIN";
  } else if (r->rcode == 0) {
    out.status = Status::nodata;
    out.error = "no records";
  } else {
    out.status = Status::temp_fail;
    out.error = rcode_text(r->rcode);
  }
  return out;
}

class UnboundTransport final : public Transport {
 public:
  UnboundTransport(asio::any_io_executor ex, const config::DnsSettings& settings, std::chrono::milliseconds timeout)
      : executor_(ex), descriptor_(ex), timeout_(timeout) {
    setup(settings);
  }

  ~UnboundTransport() override {
    life_.reset();
    for (auto& [key, p] : pending_) {
      ub_cancel(ctx_, p->async_id);
      p->timer.cancel();
      complete(std::move(p->handler), RawAnswer{Status::temp_fail, {}, std::chrono::seconds{0}, "cancelled"});
    }
    pending_.clear();
    if (descriptor_.is_open()) descriptor_.release();  // the fd belongs to ctx_
    if (ctx_ != nullptr) ub_ctx_delete(ctx_);
  }

  asio::awaitable<RawAnswer> query(std::string name, RrType type) override {
    return asio::async_initiate<decltype(asio::use_awaitable), void(RawAnswer)>(
        [this](Handler handler, std::string name, RrType type) { start(std::move(name), type, std::move(handler)); },
        asio::use_awaitable, std::move(name), type);
  }

 private:
  struct Pending {
    std::uint64_t key;
    int async_id = 0;
    Handler handler;
    asio::steady_timer timer;
  };

  void setup(const config::DnsSettings& settings) {
    ctx_ = ub_ctx_create();
    if (ctx_ == nullptr) {
      setup_error_ = "ub_ctx_create failed";
      return;
    }
    auto fail = [&](const std::string& what, int err) {
      setup_error_ = what + ": " + ub_strerror(err);
      return false;
    };
    auto ok = [&]() -> bool {
      if (int e = ub_ctx_async(ctx_, 1); e != 0) return fail("ub_ctx_async", e);
      if (int e = ub_ctx_set_option(ctx_, "do-not-query-localhost:", "no"); e != 0) return fail("do-not-query-localhost", e);
      if (settings.servers.empty()) {
        if (int e = ub_ctx_resolvconf(ctx_, nullptr); e != 0) return fail("reading /etc/resolv.conf", e);
      }
      if (!settings.servers.empty()) {
        // Configured servers are the authority, also for the RFC 6761 testing name "test." (the
        // SPEC's test harnesses serve *.test from a DNS server on loopback): drop that default zone.
        if (int e = ub_ctx_set_option(ctx_, "local-zone:", "test. transparent"); e != 0) return fail("local-zone test.", e);
      }
      for (const config::HostPort& hp : settings.servers) {
        const std::string fwd = hp.host + "@" + std::to_string(hp.port == 0 ? 53 : hp.port);
        if (int e = ub_ctx_set_fwd(ctx_, fwd.c_str()); e != 0) return fail("DNS server " + fwd, e);
      }
      return true;
    }();
    if (!ok) return;
    const int fd = ub_fd(ctx_);
    if (fd < 0) {
      setup_error_ = "ub_fd failed";
      return;
    }
    boost::system::error_code ec;
    descriptor_.assign(fd, ec);
    if (ec) setup_error_ = "watching the libunbound pipe: " + ec.message();
  }

  void start(std::string name, RrType type, Handler handler) {
    if (!setup_error_.empty()) {
      complete(std::move(handler), RawAnswer{Status::temp_fail, {}, std::chrono::seconds{0}, setup_error_});
      return;
    }
    const std::uint64_t key = next_key_++;
    auto p = std::make_unique<Pending>(Pending{key, 0, std::move(handler), asio::steady_timer(executor_)});
    Pending* raw = p.get();
    const int err = ub_resolve_async(ctx_, name.c_str(), static_cast<int>(type), 1 /* IN */,
                                     reinterpret_cast<void*>(static_cast<std::uintptr_t>(key)), &on_result,
                                     &raw->async_id);
    if (err != 0) {
      RawAnswer a{Status::temp_fail, {}, std::chrono::seconds{0}, ub_strerror(err)};
      if (err == UB_SYNTAX) a = RawAnswer{Status::nxdomain, {}, std::chrono::seconds{0}, "invalid name"};
      complete(std::move(p->handler), std::move(a));
      return;
    }
    raw->timer.expires_after(timeout_);
    raw->timer.async_wait([life = std::weak_ptr<int>(life_), this, key](boost::system::error_code ec) {
      if (ec || life.expired()) return;
      auto it = pending_.find(key);
      if (it == pending_.end()) return;
      ub_cancel(ctx_, it->second->async_id);
      finish(it, RawAnswer{Status::temp_fail, {}, std::chrono::seconds{0}, "timed out"});
    });
    pending_.emplace(key, std::move(p));
    arm();
  }

  // Callback from ub_process(), which only process() calls: `processing_` is the transport, `arg` the
  // Pending's key (not a pointer, so a late or stale callback can never touch freed memory).
  static void on_result(void* arg, int err, ub_result* result) {
    RawAnswer answer = translate(err, result);
    if (result != nullptr) ub_resolve_free(result);
    UnboundTransport* self = processing_;
    if (self == nullptr) return;
    const auto key = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(arg));
    if (auto it = self->pending_.find(key); it != self->pending_.end()) self->finish(it, std::move(answer));
  }

  void process() {
    UnboundTransport* const outer = processing_;
    processing_ = this;
    ub_process(ctx_);
    processing_ = outer;
  }

  void finish(std::map<std::uint64_t, std::unique_ptr<Pending>>::iterator it, RawAnswer answer) {
    std::unique_ptr<Pending> p = std::move(it->second);
    pending_.erase(it);
    p->timer.cancel();
    if (pending_.empty() && waiting_) descriptor_.cancel();  // an idle resolver holds no work (see arm())
    complete(std::move(p->handler), std::move(answer));
  }

  void complete(Handler handler, RawAnswer answer) {
    // Posted to our executor, which is the awaiting coroutine's (see "Threads" in resolver.hpp).
    asio::post(executor_, [h = std::move(handler), a = std::move(answer)]() mutable { std::move(h)(std::move(a)); });
  }

  // Keep one wait on ub_fd() outstanding while queries are pending (and none otherwise, so that an
  // idle resolver does not keep io_context::run() alive).
  void arm() {
    if (waiting_ || pending_.empty()) return;
    waiting_ = true;
    descriptor_.async_wait(asio::posix::stream_descriptor::wait_read,
                           [life = std::weak_ptr<int>(life_), this](boost::system::error_code ec) {
                             if (life.expired()) return;
                             waiting_ = false;
                             if (!ec) process();
                             if (ec && ec != asio::error::operation_aborted) {
                               fail_all("libunbound pipe: " + ec.message());
                               return;
                             }
                             arm();
                           });
  }

  void fail_all(const std::string& why) {
    while (!pending_.empty()) {
      auto it = pending_.begin();
      ub_cancel(ctx_, it->second->async_id);
      finish(it, RawAnswer{Status::temp_fail, {}, std::chrono::seconds{0}, why});
    }
  }

  asio::any_io_executor executor_;
  asio::posix::stream_descriptor descriptor_;
  std::chrono::milliseconds timeout_;
  ub_ctx* ctx_ = nullptr;
  std::string setup_error_;
  std::map<std::uint64_t, std::unique_ptr<Pending>> pending_;
  std::uint64_t next_key_ = 1;
  bool waiting_ = false;
  std::shared_ptr<int> life_ = std::make_shared<int>(0);  // expired ⇒ *this is gone
  static thread_local UnboundTransport* processing_;
};

thread_local UnboundTransport* UnboundTransport::processing_ = nullptr;

}  // namespace

std::unique_ptr<Resolver> make_unbound_resolver(asio::any_io_executor executor, const config::DnsSettings& settings,
                                                const Clock& clock, std::chrono::milliseconds query_timeout) {
  return std::make_unique<CachingResolver>(std::make_unique<UnboundTransport>(executor, settings, query_timeout),
                                           clock);
}

}  // namespace mf::dns
