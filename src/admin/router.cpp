// admin/router.cpp — authentication, routing and handlers of the admin API (see router.hpp).
#include "admin/router.hpp"

#include "admin/token.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>

#include <exception>

namespace mf::admin {

namespace http = boost::beast::http;
using nlohmann::json;

namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kPrometheus = "text/plain; version=0.0.4; charset=utf-8";

HttpResponse make_response(unsigned status, std::string body, std::string_view content_type, unsigned version) {
  HttpResponse res{static_cast<http::status>(status), version};
  res.set(http::field::server, "mailflow");
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

HttpResponse json_response(unsigned status, const json& body, unsigned version) {
  return make_response(status, body.dump() + "\n", kJson, version);
}

HttpResponse method_not_allowed(std::string_view allow, unsigned version) {
  HttpResponse res = error_response(405, "method not allowed", version);
  res.set(http::field::allow, allow);
  return res;
}

unsigned op_status_code(OpStatus s) {
  switch (s) {
    case OpStatus::ok: return 200;
    case OpStatus::not_found: return 404;
    case OpStatus::conflict: return 409;
  }
  return 500;
}

HttpResponse op_response(const OpResult& r, unsigned version) {
  json body = r;
  if (r.status != OpStatus::ok) body["error"] = r.message;
  return json_response(op_status_code(r.status), body, version);
}

// Percent-decodes one path segment; nullopt on a bad escape or an empty / slash-containing result.
std::optional<std::string> path_segment(std::string_view s) {
  auto decoded = parse_query("x=" + std::string(s));
  if (!decoded) return std::nullopt;
  std::string v = decoded->at("x");
  if (v.empty() || v.find('/') != std::string::npos) return std::nullopt;
  return v;
}

// The token from "Authorization: Bearer <token>" (scheme case-insensitive), or nullopt.
std::optional<std::string_view> bearer_token(const HttpRequest& req) {
  const auto it = req.find(http::field::authorization);
  if (it == req.end()) return std::nullopt;
  std::string_view v = it->value();
  constexpr std::string_view kScheme = "bearer ";
  if (v.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(v[i])));
    if (c != kScheme[i]) return std::nullopt;
  }
  v.remove_prefix(kScheme.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return v;
}

}  // namespace

HttpResponse error_response(unsigned status, std::string_view message, unsigned version) {
  return json_response(status, json{{"error", message}}, version);
}

Router::Router(Backend& backend, const metrics::Registry* registry, std::string token)
    : backend_(backend), registry_(registry), token_(std::move(token)) {}

HttpResponse Router::handle(const HttpRequest& req) {
  const std::string_view target = req.target();
  const std::size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  const unsigned version = req.version();

  if (path == "/healthz") {
    if (req.method() != http::verb::get) return method_not_allowed("GET", version);
    return make_response(200, "ok\n", "text/plain; charset=utf-8", version);
  }

  const auto presented = bearer_token(req);
  if (!presented || !token_equal(*presented, token_)) {
    HttpResponse res = error_response(401, presented ? "invalid bearer token" : "missing bearer token", version);
    res.set(http::field::www_authenticate,
            presented ? "Bearer realm=\"mailflow\", error=\"invalid_token\"" : "Bearer realm=\"mailflow\"");
    return res;
  }

  try {
    return route(req, path, query);
  } catch (const json::exception& e) {
    return error_response(500, std::string("internal error: ") + e.what(), version);
  } catch (const std::exception& e) {
    return error_response(500, std::string("internal error: ") + e.what(), version);
  }
}

HttpResponse Router::route(const HttpRequest& req, std::string_view path, std::string_view query) {
  const unsigned version = req.version();
  const http::verb method = req.method();
  auto params = parse_query(query);
  if (!params) return error_response(400, params.error().message, version);

  if (path == "/metrics") {
    if (method != http::verb::get) return method_not_allowed("GET", version);
    backend_.before_scrape();
    std::string text = registry_ ? registry_->expose() : std::string{};
    return make_response(200, std::move(text), kPrometheus, version);
  }
  if (!path.starts_with(kApiPrefix) || path.size() == kApiPrefix.size() || path[kApiPrefix.size()] != '/')
    return error_response(404, "no such endpoint", version);
  const std::string_view rest = path.substr(kApiPrefix.size());  // "/queue", "/messages/ID/retry", ...

  if (rest == "/queue") {
    if (method != http::verb::get) return method_not_allowed("GET", version);
    return json_response(200, backend_.queue_summary(), version);
  }
  if (rest == "/queue/retry") {
    if (method != http::verb::post) return method_not_allowed("POST", version);
    return op_response(backend_.retry(""), version);
  }
  if (rest == "/messages") {
    if (method != http::verb::get) return method_not_allowed("GET", version);
    auto filter = message_filter_from_query(*params);
    if (!filter) return error_response(400, filter.error().message, version);
    return json_response(200, json{{"messages", backend_.list_messages(*filter)}}, version);
  }
  if (rest.starts_with("/messages/")) return message_route(req, rest.substr(std::string_view("/messages/").size()));
  if (rest == "/reload") {
    if (method != http::verb::post) return method_not_allowed("POST", version);
    const ReloadResult r = backend_.reload();
    json body = r;
    if (!r.ok) body["error"] = "the configuration has errors; the old one stays in force";
    return json_response(r.ok ? 200 : 409, body, version);
  }
  if (rest == "/trace") {
    if (method != http::verb::get) return method_not_allowed("GET", version);
    auto q = trace_query_from_query(*params);
    if (!q) return error_response(400, q.error().message, version);
    auto events = backend_.trace(*q);
    if (!events) return error_response(500, "message trace: " + events.error().message, version);
    return json_response(200, json{{"events", *events}}, version);
  }
  return error_response(404, "no such endpoint", version);
}

// rest = "{id}" or "{id}/retry|hold|release".
HttpResponse Router::message_route(const HttpRequest& req, std::string_view rest) {
  const unsigned version = req.version();
  const http::verb method = req.method();
  const std::size_t slash = rest.find('/');
  const auto id = path_segment(rest.substr(0, slash));
  if (!id) return error_response(404, "no such endpoint", version);
  if (slash == std::string_view::npos) {
    if (method == http::verb::get) {
      auto m = backend_.show_message(*id);
      if (!m) return error_response(404, "no queued message with id " + *id, version);
      return json_response(200, *m, version);
    }
    if (method == http::verb::delete_) return op_response(backend_.remove(*id), version);
    return method_not_allowed("GET, DELETE", version);
  }
  const std::string_view action = rest.substr(slash + 1);
  if (action != "retry" && action != "hold" && action != "release")
    return error_response(404, "no such endpoint", version);
  if (method != http::verb::post) return method_not_allowed("POST", version);
  if (action == "retry") return op_response(backend_.retry(*id), version);
  if (action == "hold") return op_response(backend_.hold(*id), version);
  return op_response(backend_.release(*id), version);
}

}  // namespace mf::admin
