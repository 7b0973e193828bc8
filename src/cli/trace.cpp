// cli/trace.cpp — `mailflow trace [--sender A] [--recipient A] [--message-id ID] [--since T]`: the
// message trace of a running service (GET /api/v1/trace, SPEC §6).
//
// --since takes ISO 8601 UTC ("2026-11-23T10:00:00Z", "2026-11-23") or a duration back from now: a
// number and a unit s, m, h, d or w ("15m", "2h", "1d"). Human output: one event per line — time,
// event, message id, recipient, connector -> next hop, reply (and TLS, detail) — in time order.
// --json prints the API's JSON. Exit codes as for `mailflow queue`.
#include "cli/commands.hpp"

#include "admin/api.hpp"
#include "admin/client.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace mf::cli {

namespace {

using nlohmann::json;

// "15m" -> microseconds; nullopt when not a duration (digits, then one unit letter).
std::optional<std::int64_t> duration_us(std::string_view s) {
  if (s.size() < 2) return std::nullopt;
  std::int64_t unit = 0;
  switch (s.back()) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: return std::nullopt;
  }
  const std::string_view digits = s.substr(0, s.size() - 1);
  std::int64_t n = 0;
  const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (r.ec != std::errc() || r.ptr != digits.data() + digits.size() || n < 0) return std::nullopt;
  if (n > 100LL * 365 * 86400 / unit) return std::nullopt;  // more than a century back
  return n * unit * 1000000;
}

Result<std::int64_t> since_us(const std::string& text) {
  if (auto d = duration_us(text)) {
    const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    return now - *d;
  }
  auto t = admin::parse_time_us(text);
  if (!t) {
    return make_error("bad --since \"" + text +
                      "\": give ISO 8601 UTC (2026-11-23T10:00:00Z) or a duration back from now (15m, 2h, 1d)");
  }
  return *t;
}

std::string dash(const std::string& s) { return s.empty() ? "-" : s; }

void print_events(const std::vector<trace::Event>& events) {
  if (events.empty()) {
    std::printf("No trace events match\n");
    return;
  }
  struct Row {
    std::string time, event, message, recipient, route, reply;
  };
  std::vector<Row> rows;
  Row head{"TIME (UTC)", "EVENT", "MESSAGE", "RECIPIENT", "CONNECTOR -> NEXT HOP", "REPLY"};
  for (const auto& e : events) {
    Row r;
    r.time = admin::format_time_us(e.time_us);
    r.time = r.time.substr(0, 23) + "Z";  // milliseconds are enough to read
    r.event = trace::to_string(e.type);
    r.message = e.message_id + (e.copy_id.empty() ? "" : "/" + e.copy_id);
    r.recipient = dash(e.recipient);
    r.route = dash(e.connector);
    if (!e.next_hop.empty()) r.route += " -> " + e.next_hop;
    r.reply = dash(e.reply);
    if (!e.tls.empty()) r.reply += " [" + e.tls + "]";
    if (!e.detail.empty()) r.reply += " (" + e.detail + ")";
    rows.push_back(std::move(r));
  }
  std::size_t w[5] = {head.time.size(), head.event.size(), head.message.size(), head.recipient.size(),
                      head.route.size()};
  for (const auto& r : rows) {
    w[0] = std::max(w[0], r.time.size());
    w[1] = std::max(w[1], r.event.size());
    w[2] = std::max(w[2], r.message.size());
    w[3] = std::max(w[3], r.recipient.size());
    w[4] = std::max(w[4], r.route.size());
  }
  const auto line = [&](const Row& r) {
    std::printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", static_cast<int>(w[0]), r.time.c_str(), static_cast<int>(w[1]),
                r.event.c_str(), static_cast<int>(w[2]), r.message.c_str(), static_cast<int>(w[3]),
                r.recipient.c_str(), static_cast<int>(w[4]), r.route.c_str(), r.reply.c_str());
  };
  line(head);
  for (const auto& r : rows) line(r);
}

}  // namespace

int trace(const TraceOptions& o) {
  trace::Query q;
  q.sender = o.sender;
  q.recipient = o.recipient;
  q.message_id = o.message_id;
  if (!o.since.empty()) {
    auto since = since_us(o.since);
    if (!since) {
      std::fprintf(stderr, "mailflow trace: %s\n", since.error().message.c_str());
      return 1;
    }
    q.since_us = *since;
  }
  std::string path = std::string(admin::kApiPrefix) + "/trace";
  const std::string query = admin::to_query(q);
  if (!query.empty()) path += "?" + query;

  const admin::CliReply call = admin::cli_request("trace", o.target.config_path, o.target.admin, o.target.token_file,
                                                  boost::beast::http::verb::get, path);
  if (call.exit_code != 0) return call.exit_code;
  const auto body = json::parse(call.reply.body, nullptr, false);
  try {
    if (body.is_discarded()) throw std::invalid_argument("not JSON");
    if (o.json) {
      std::printf("%s\n", body.dump(2).c_str());
    } else {
      print_events(body.at("events").get<std::vector<trace::Event>>());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mailflow trace: the service sent an unexpected answer: %s\n", e.what());
    return 2;
  }
  return 0;
}

}  // namespace mf::cli
