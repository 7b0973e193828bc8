// admin/client.hpp — the admin API client used by `mailflow queue|trace|reload`: where the API is
// (resolve_target) and a small synchronous HTTP/1.1 client with deadlines.
//
// Errors are split the way the CLI's exit codes are (SPEC §5): a Result error from Client::request
// means the service could not be reached or did not answer HTTP (connection refused, no route,
// timeout, reset, garbage) — exit 2; an HTTP answer, whatever its status, is an HttpReply, and
// exit_code_for_status() maps it (2xx 0, 4xx 1, 5xx 2). resolve_target() errors are user errors
// (exit 1): no config, no service.admin, unreadable token file.
// Not thread-safe per Client; each request uses a fresh connection and its own io_context.
#pragma once

#include "core/result.hpp"

#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace mf::admin {

struct Target {
  std::string host;  // name or IP literal (no brackets)
  std::uint16_t port = 0;
  std::string token;
};

// --admin HOST:PORT and --token-file FILE override the configuration file's service.admin.address
// and service.admin.token_file; the file is read only when an override is missing. A wildcard bind
// address (0.0.0.0, ::) is reached on the loopback address.
Result<Target> resolve_target(const std::string& config_path, const std::string& admin_override,
                              const std::string& token_file_override);

// "host:port", "[v6]:port" -> Target without token.
Result<Target> parse_admin_address(std::string_view text);

struct HttpReply {
  unsigned status = 0;
  std::string content_type;
  std::string body;
  // The "error" of a JSON error body, else the body's first line, else the status text.
  std::string error_message() const;
};

// 2xx -> 0, 4xx -> 1 (bad request, token, not found, conflict), anything else -> 2.
int exit_code_for_status(unsigned status);

class Client {
 public:
  explicit Client(Target target, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // One request on a fresh connection; error = unreachable (see above). `path_and_query` starts with '/'.
  Result<HttpReply> request(boost::beast::http::verb method, std::string_view path_and_query,
                            std::string_view body = {});
  Result<HttpReply> get(std::string_view path_and_query) { return request(boost::beast::http::verb::get, path_and_query); }
  Result<HttpReply> post(std::string_view path_and_query) { return request(boost::beast::http::verb::post, path_and_query); }
  Result<HttpReply> del(std::string_view path_and_query) { return request(boost::beast::http::verb::delete_, path_and_query); }

  // "127.0.0.1:8025" for messages.
  std::string where() const;

 private:
  Target target_;
  std::chrono::milliseconds timeout_;
};

// For the CLI verbs: resolve the target (config_path / admin / token_file as in resolve_target), send
// one request, and on any failure print "mailflow <command>: <message>" on stderr. exit_code is 0
// when `reply` holds a 2xx answer, else 1 or 2 as above (reply.status is 0 when nothing was received).
struct CliReply {
  int exit_code = 0;
  HttpReply reply;
};
CliReply cli_request(std::string_view command, const std::string& config_path, const std::string& admin,
                     const std::string& token_file, boost::beast::http::verb method, std::string_view path_and_query);

}  // namespace mf::admin
