// admin/client.cpp — the CLI's admin API client (see client.hpp).
#include "admin/client.hpp"

#include "admin/token.hpp"
#include "config/config.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdio>

namespace mf::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint64_t kMaxResponseBytes = 256ull * 1024 * 1024;

struct Exchange {
  Target target;
  std::chrono::milliseconds timeout;
  http::request<http::string_body> request;
  // Results, written by run().
  bool done = false;
  std::string failure;  // set when unreachable
  HttpReply reply;
};

asio::awaitable<void> run(Exchange& x) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  const std::string port = std::to_string(x.target.port);
  auto [rec, endpoints] = co_await resolver.async_resolve(x.target.host, port, use_tuple);
  if (rec) {
    x.failure = "cannot resolve " + x.target.host + ": " + rec.message();
    co_return;
  }
  beast::tcp_stream stream(executor);
  stream.expires_after(x.timeout);
  auto [cec, ep] = co_await stream.async_connect(endpoints, use_tuple);
  if (cec) {
    x.failure = "cannot connect: " + cec.message();
    co_return;
  }
  stream.expires_after(x.timeout);
  auto [wec, wn] = co_await http::async_write(stream, x.request, use_tuple);
  if (wec) {
    x.failure = "cannot send the request: " + wec.message();
    co_return;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  stream.expires_after(x.timeout);
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
  if (ec) {
    x.failure = "no answer: " + ec.message();
    co_return;
  }
  auto res = parser.release();
  x.reply.status = res.result_int();
  x.reply.content_type = std::string(res[http::field::content_type]);
  x.reply.body = std::move(res.body());
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  x.done = true;
}

bool parse_port(std::string_view s, std::uint16_t& out) {
  unsigned v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || v == 0 || v > 65535) return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}

// A wildcard listen address is reached on loopback.
std::string connect_host(const std::string& host) {
  if (host == "0.0.0.0") return "127.0.0.1";
  if (host == "::") return "::1";
  return host;
}

}  // namespace

Result<Target> parse_admin_address(std::string_view text) {
  const auto bad = [&] {
    return make_error("bad admin address \"" + std::string(text) + "\": expected HOST:PORT, e.g. 127.0.0.1:8025");
  };
  Target t;
  std::string_view port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return bad();
    t.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return bad();
    t.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (t.host.empty() || !parse_port(port, t.port)) return bad();
  t.host = connect_host(t.host);
  return t;
}

Result<Target> resolve_target(const std::string& config_path, const std::string& admin_override,
                              const std::string& token_file_override) {
  Target target;
  std::string token_file = token_file_override;
  if (!admin_override.empty()) {
    auto parsed = parse_admin_address(admin_override);
    if (!parsed) return parsed.error();
    target = *parsed;
  }
  if (admin_override.empty() || token_file.empty()) {
    if (config_path.empty()) {
      return make_error("where is the service? pass --config FILE (its service.admin section), or both --admin "
                        "HOST:PORT and --token-file FILE");
    }
    const config::LoadResult loaded = config::load_file(config_path);
    if (!loaded.ok()) {
      std::string message = config_path + ": the configuration has errors (see `mailflow check --config " +
                            config_path + "`)";
      if (!loaded.errors.empty()) message += "; first: " + loaded.errors.front().str();
      return make_error(std::move(message));
    }
    const config::AdminSettings& admin = loaded.snapshot->service.admin;
    if (!admin.address) {
      return make_error(config_path + ": service.admin.address is not set, so the service has no admin API; add "
                        "service.admin (address, token_file) or pass --admin and --token-file");
    }
    if (admin_override.empty()) {
      if (admin.address->port == 0) return make_error(config_path + ": service.admin.address has no port");
      target.host = connect_host(admin.address->host);
      target.port = admin.address->port;
    }
    if (token_file.empty()) token_file = admin.token_file;
  }
  auto token = read_token(token_file);
  if (!token) return token.error();
  target.token = std::move(*token);
  return target;
}

std::string HttpReply::error_message() const {
  if (!body.empty()) {
    const auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
    const std::string first = body.substr(0, body.find('\n'));
    if (!first.empty()) return first;
  }
  return "HTTP " + std::to_string(status) + " " + std::string(http::obsolete_reason(static_cast<http::status>(status)));
}

int exit_code_for_status(unsigned status) {
  if (status >= 200 && status < 300) return 0;
  if (status >= 400 && status < 500) return 1;
  return 2;
}

Client::Client(Target target, std::chrono::milliseconds timeout) : target_(std::move(target)), timeout_(timeout) {}

std::string Client::where() const {
  const bool v6 = target_.host.find(':') != std::string::npos;
  return (v6 ? "[" + target_.host + "]" : target_.host) + ":" + std::to_string(target_.port);
}

Result<HttpReply> Client::request(http::verb method, std::string_view path_and_query, std::string_view body) {
  Exchange x{target_, timeout_, {}, false, {}, {}};
  x.request.method(method);
  x.request.target(path_and_query);
  x.request.version(11);
  x.request.set(http::field::host, where());
  x.request.set(http::field::user_agent, "mailflow-cli");
  x.request.set(http::field::accept, "application/json");
  x.request.set(http::field::authorization, "Bearer " + target_.token);
  x.request.keep_alive(false);
  x.request.body() = std::string(body);
  x.request.prepare_payload();

  asio::io_context io{1};
  asio::co_spawn(io, run(x), asio::detached);
  io.run();
  if (!x.done) {
    if (x.failure.empty()) x.failure = "no answer";
    return make_error("service unreachable at " + where() + ": " + x.failure);
  }
  return std::move(x.reply);
}

CliReply cli_request(std::string_view command, const std::string& config_path, const std::string& admin,
                     const std::string& token_file, http::verb method, std::string_view path_and_query) {
  const auto fail = [&](int code, const std::string& message) {
    std::fprintf(stderr, "mailflow %.*s: %s\n", static_cast<int>(command.size()), command.data(), message.c_str());
    return code;
  };
  CliReply out;
  auto target = resolve_target(config_path, admin, token_file);
  if (!target) {
    out.exit_code = fail(1, target.error().message);
    return out;
  }
  Client client(std::move(*target));
  auto reply = client.request(method, path_and_query);
  if (!reply) {
    out.exit_code = fail(2, reply.error().message);
    return out;
  }
  out.reply = std::move(*reply);
  out.exit_code = exit_code_for_status(out.reply.status);
  if (out.exit_code != 0) {
    std::string message = out.reply.error_message();
    if (out.reply.status == 401) message += " (the token in --token-file / service.admin.token_file is not the service's)";
    if (out.reply.status >= 500) message = "the service failed: " + message;
    fail(out.exit_code, message);
  }
  return out;
}

}  // namespace mf::admin
