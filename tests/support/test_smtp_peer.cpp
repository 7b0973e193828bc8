// tests/support/test_smtp_peer.cpp — see test_smtp_peer.hpp.
#include "support/test_smtp_peer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

namespace mf::test {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string with_crlf(std::string reply) {
  if (reply.size() < 2 || reply.compare(reply.size() - 2, 2, "\r\n") != 0) reply += "\r\n";
  return reply;
}

bool positive(const std::string& reply) { return !reply.empty() && reply[0] == '2'; }

// The path between '<' and '>' of "MAIL FROM:<a@b> SIZE=1" / "RCPT TO:<c@d>".
std::string path_of(const std::string& line) {
  const auto open = line.find('<');
  const auto close = line.find('>', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) return {};
  return line.substr(open + 1, close - open - 1);
}

}  // namespace

struct TestSmtpPeer::State : std::enable_shared_from_this<State> {
  State(asio::any_io_executor ex, std::string addr, std::uint16_t p, Script s)
      : executor(ex), address(std::move(addr)), port(p), script(std::move(s)), acceptor(ex), hold(ex) {
    hold.expires_at(asio::steady_timer::time_point::max());  // never expires: only cancel() wakes it
  }

  asio::any_io_executor executor;
  std::string address;
  std::uint16_t port;
  Script script;
  tcp::acceptor acceptor;
  asio::steady_timer hold;  // held end-of-data replies wait on it; release() cancels it
  std::size_t held = 0;
  bool stopped = false;
  std::size_t connections = 0;
  std::set<std::shared_ptr<tcp::socket>> open;
  std::vector<PeerTransaction> transactions;
  std::vector<std::string> commands;

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> session(std::shared_ptr<tcp::socket> sock);
  void close(const std::shared_ptr<tcp::socket>& sock) {
    boost::system::error_code ec;
    sock->shutdown(tcp::socket::shutdown_both, ec);
    sock->close(ec);
    open.erase(sock);
  }
};

asio::awaitable<void> TestSmtpPeer::State::accept_loop() {
  auto self = shared_from_this();
  while (!stopped) {
    auto [ec, sock] = co_await acceptor.async_accept(use_tuple);
    if (stopped) break;
    if (ec) {
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) break;
      continue;
    }
    ++connections;
    auto s = std::make_shared<tcp::socket>(std::move(sock));
    open.insert(s);
    asio::co_spawn(executor, session(s), asio::detached);
  }
}

asio::awaitable<void> TestSmtpPeer::State::session(std::shared_ptr<tcp::socket> sock) {
  auto self = shared_from_this();
  auto reply = [&](const std::string& text) -> asio::awaitable<bool> {
    const std::string out = with_crlf(text);
    auto [ec, n] = co_await asio::async_write(*sock, asio::buffer(out), use_tuple);
    co_return !ec;
  };

  if (script.mode == Mode::silent) {  // a tarpit: accept, never say anything, wait for the close
    std::array<char, 512> sink;
    for (;;) {
      auto [ec, n] = co_await sock->async_read_some(asio::buffer(sink), use_tuple);
      if (ec) break;
    }
    close(sock);
    co_return;
  }
  const std::string greeting =
      script.greeting.empty() ? "220 " + script.hostname + " ESMTP test peer" : script.greeting;
  if (script.mode == Mode::drip) {
    const std::string out = with_crlf(greeting);
    asio::steady_timer t(sock->get_executor());
    for (char c : out) {
      auto [ec, n] = co_await asio::async_write(*sock, asio::buffer(&c, 1), use_tuple);
      if (ec || stopped) break;
      t.expires_after(std::chrono::milliseconds(200));
      co_await t.async_wait(use_tuple);
    }
    close(sock);
    co_return;
  }
  if (!co_await reply(greeting)) {
    close(sock);
    co_return;
  }

  std::string in;
  std::array<char, 8192> buf;
  bool in_data = false;
  bool in_mail = false;
  PeerTransaction tx;
  while (!stopped && sock->is_open()) {
    const auto eol = in.find("\r\n");
    if (eol == std::string::npos) {
      auto [ec, n] = co_await sock->async_read_some(asio::buffer(buf), use_tuple);
      if (ec) break;
      in.append(buf.data(), n);
      continue;
    }
    std::string line = in.substr(0, eol);
    in.erase(0, eol + 2);

    if (in_data) {
      if (line != ".") {
        if (!line.empty() && line[0] == '.') line.erase(0, 1);
        tx.data += line + "\r\n";
        continue;
      }
      in_data = false;
      in_mail = false;
      if (script.mode == Mode::drop_at_end_of_data) {
        transactions.push_back(std::move(tx));
        tx = {};
        close(sock);
        co_return;
      }
      const std::size_t at = transactions.size();
      transactions.push_back(std::move(tx));
      tx = {};
      while (script.hold_end_of_data && !stopped) {
        ++held;
        co_await hold.async_wait(use_tuple);
        --held;
      }
      if (stopped) break;
      transactions[at].accepted = positive(script.end_of_data_reply);
      if (!co_await reply(script.end_of_data_reply)) break;
      continue;
    }

    commands.push_back(line);
    const std::string verb = upper(line.substr(0, line.find(' ')));
    std::string answer;
    bool quit = false;
    if (verb == "EHLO") {
      if (!script.ehlo_reply.empty()) {
        answer = script.ehlo_reply;
      } else {
        std::vector<std::string> lines{script.hostname};
        lines.insert(lines.end(), script.ehlo_keywords.begin(), script.ehlo_keywords.end());
        for (std::size_t i = 0; i < lines.size(); ++i)
          answer += "250" + std::string(i + 1 < lines.size() ? "-" : " ") + lines[i] + "\r\n";
      }
      in_mail = false;
      tx = {};
    } else if (verb == "HELO") {
      answer = script.helo_reply;
      in_mail = false;
      tx = {};
    } else if (verb == "MAIL") {
      if (in_mail) {
        answer = "503 5.5.1 Error: nested MAIL command";
      } else {
        answer = script.mail_reply;
        if (positive(answer)) {
          in_mail = true;
          tx = {};
          tx.mail_from = path_of(line);
        }
      }
    } else if (verb == "RCPT") {
      if (!in_mail) {
        answer = "503 5.5.1 Error: need MAIL command";
      } else {
        const std::string path = path_of(line);
        auto it = script.rcpt_replies.find(lower(path));
        answer = it != script.rcpt_replies.end() ? it->second : script.rcpt_reply;
        if (positive(answer)) tx.rcpts.push_back(path);
      }
    } else if (verb == "DATA") {
      if (!in_mail) {
        answer = "503 5.5.1 Error: need MAIL command";
      } else if (tx.rcpts.empty()) {
        answer = "554 5.5.1 Error: no valid recipients";
      } else {
        answer = script.data_reply;
        if (!answer.empty() && answer[0] == '3') in_data = true;
      }
    } else if (verb == "RSET") {
      answer = script.rset_reply;
      in_mail = false;
      tx = {};
    } else if (verb == "NOOP") {
      answer = "250 2.0.0 Ok";
    } else if (verb == "QUIT") {
      answer = script.quit_reply;
      quit = true;
    } else {
      answer = "502 5.5.2 Error: command not recognized";
    }
    if (!co_await reply(answer) || quit) break;
  }
  close(sock);
}

TestSmtpPeer::TestSmtpPeer(asio::any_io_executor executor, std::string address, std::uint16_t port, Script script)
    : state_(std::make_shared<State>(std::move(executor), std::move(address), port, std::move(script))) {}

TestSmtpPeer::~TestSmtpPeer() { stop(); }

boost::system::error_code TestSmtpPeer::start() {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(state_->address, ec);
  if (ec) return ec;
  const tcp::endpoint ep(addr, state_->port);
  auto& acc = state_->acceptor;
  acc.open(ep.protocol(), ec);
  if (ec) return ec;
  acc.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) return ec;
  acc.bind(ep, ec);
  if (ec) return ec;
  state_->port = acc.local_endpoint(ec).port();
  if (ec) return ec;
  if (state_->script.mode == Mode::refuse) return {};  // bound, never listening: connects are refused
  acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return ec;
  asio::co_spawn(state_->executor, state_->accept_loop(), asio::detached);
  return {};
}

void TestSmtpPeer::stop() {
  state_->stopped = true;
  boost::system::error_code ec;
  state_->acceptor.close(ec);
  state_->hold.cancel();
  auto open = state_->open;  // close() erases
  for (const auto& s : open) state_->close(s);
}

void TestSmtpPeer::drop_connections() {
  auto open = state_->open;  // close() erases
  for (const auto& s : open) state_->close(s);
}

const std::string& TestSmtpPeer::address() const { return state_->address; }
std::uint16_t TestSmtpPeer::port() const { return state_->port; }
TestSmtpPeer::Script& TestSmtpPeer::script() { return state_->script; }
void TestSmtpPeer::release() {
  state_->script.hold_end_of_data = false;
  state_->hold.cancel();
}
std::size_t TestSmtpPeer::held() const { return state_->held; }
std::size_t TestSmtpPeer::connections() const { return state_->connections; }
std::size_t TestSmtpPeer::open_connections() const { return state_->open.size(); }
std::vector<PeerTransaction> TestSmtpPeer::transactions() const { return state_->transactions; }
std::vector<std::string> TestSmtpPeer::commands() const { return state_->commands; }

std::size_t TestSmtpPeer::count_commands(const std::string& verb) const {
  const std::string v = upper(verb);
  return static_cast<std::size_t>(std::count_if(state_->commands.begin(), state_->commands.end(), [&](const std::string& c) {
    return upper(c.substr(0, v.size())) == v;
  }));
}

std::string loopback_prefix(const std::string& seed) {
  // FNV-1a of the seed and the pid: parallel test processes (ctest -j) get different /24s.
  std::uint64_t h = 1469598103934665603ull;
  const std::string key = seed + "#" + std::to_string(::getpid());
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  const unsigned a = 1 + static_cast<unsigned>(h % 254);
  const unsigned b = 1 + static_cast<unsigned>((h / 254) % 254);
  return "127." + std::to_string(a) + "." + std::to_string(b) + ".";
}

PeerGroup::PeerGroup(asio::any_io_executor executor, const std::string& seed, std::vector<TestSmtpPeer::Script> scripts)
    : prefix_(loopback_prefix(seed)) {
  for (int attempt = 0; attempt < 20 && !ok_; ++attempt) {
    peers_.clear();
    port_ = 0;
    ok_ = true;
    for (std::size_t i = 0; i < scripts.size(); ++i) {
      auto p = std::make_unique<TestSmtpPeer>(executor, prefix_ + std::to_string(i + 1), port_, scripts[i]);
      if (auto ec = p->start()) {
        error_ = p->address() + ":" + std::to_string(port_) + ": " + ec.message();
        ok_ = false;
        break;
      }
      port_ = p->port();
      peers_.push_back(std::move(p));
    }
  }
  if (ok_) error_.clear();
}

std::string PeerGroup::spare_address(std::size_t n) const { return prefix_ + std::to_string(peers_.size() + 1 + n); }

std::size_t PeerGroup::open_connections() const {
  std::size_t n = 0;
  for (const auto& p : peers_) n += p->open_connections();
  return n;
}

void PeerGroup::stop() {
  for (auto& p : peers_) p->stop();
}

}  // namespace mf::test
