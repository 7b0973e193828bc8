// cli/queue.cpp — `mailflow queue list|summary|show ID|retry [ID]|delete ID|hold ID|release ID`: the
// queue of a running service through its admin API (admin/client.hpp; routes in admin/router.hpp).
//
// Human output: `list` is a mailq-style table (a message line, then one line per recipient with its
// state, next hop and connector, and the last error under a deferred one; '!' after the id marks a
// held message); `summary` shows totals and the groups by next hop, connector and organization;
// `show` is a detailed view; the steering verbs print what the service did. --json prints the API's
// JSON instead. Exit codes: 0 ok, 1 user error (no service.admin, bad token, unknown message, wrong
// state), 2 service unreachable or failing (HTTP 5xx).
#include "cli/commands.hpp"

#include "admin/api.hpp"
#include "admin/client.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace mf::cli {

namespace {

namespace http = boost::beast::http;
using nlohmann::json;

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }
std::string sender_text(const std::string& s) { return s.empty() ? "<>" : s; }
std::string time_text(std::int64_t t) { return t == 0 ? "-" : admin::format_time(t); }

std::string age_text(std::int64_t seconds) {
  if (seconds < 60) return std::to_string(seconds) + "s";
  if (seconds < 3600) return std::to_string(seconds / 60) + "m";
  if (seconds < 86400) return std::to_string(seconds / 3600) + "h" + std::to_string(seconds % 3600 / 60) + "m";
  return std::to_string(seconds / 86400) + "d" + std::to_string(seconds % 86400 / 3600) + "h";
}

std::string size_text(std::uint64_t bytes) {
  if (bytes < 10 * 1024) return std::to_string(bytes) + " bytes";
  if (bytes < 10 * 1024 * 1024) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes / (1024 * 1024)) + " MiB";
}

// Parses the reply body; on a malformed body prints an error and returns nullopt.
std::optional<json> body_json(const admin::HttpReply& reply) {
  auto j = json::parse(reply.body, nullptr, false);
  if (j.is_discarded()) {
    std::fprintf(stderr, "mailflow queue: the service sent a malformed answer\n");
    return std::nullopt;
  }
  return j;
}

constexpr int kSenderColumn = 14 + 1 + 10 + 2 + 20 + 2;  // where the SENDER / RECIPIENTS column starts

void print_list(const std::vector<admin::MessageInfo>& messages) {
  if (messages.empty()) {
    std::printf("Mail queue is empty\n");
    return;
  }
  std::printf("%-14s %10s  %-20s  %s\n", "ID", "SIZE", "ARRIVED (UTC)", "SENDER / RECIPIENTS");
  std::uint64_t bytes = 0;
  std::size_t recipients = 0;
  for (const auto& m : messages) {
    const std::string id = m.id + (m.held ? "!" : "");
    std::printf("%-14s %10llu  %-20s  %s\n", id.c_str(), static_cast<unsigned long long>(m.size),
                time_text(m.received_at).c_str(), sender_text(m.sender).c_str());
    // Recipients under the sender: address, then state, next hop (connector) and attempts so far.
    for (const auto& r : m.recipients) {
      std::string how = std::string(admin::to_string(r.state)) + ", via " + or_dash(r.next_hop);
      if (!r.connector.empty()) how += " (" + r.connector + ")";
      if (r.attempts > 0) how += ", " + std::to_string(r.attempts) + (r.attempts == 1 ? " attempt" : " attempts");
      std::printf("%*s%s  %s\n", kSenderColumn, "", r.address.c_str(), how.c_str());
      if (!r.last_error.empty()) std::printf("%*s  (%s)\n", kSenderColumn, "", r.last_error.c_str());
    }
    bytes += m.size;
    recipients += m.recipients.size();
  }
  std::printf("-- %zu message%s, %zu recipient%s, %s\n", messages.size(), messages.size() == 1 ? "" : "s", recipients,
              recipients == 1 ? "" : "s", size_text(bytes).c_str());
}

void print_groups(const char* title, const std::vector<admin::QueueGroup>& groups) {
  std::printf("\n%-32s %9s %11s %8s\n", title, "MESSAGES", "RECIPIENTS", "OLDEST");
  for (const auto& g : groups) {
    std::printf("%-32s %9llu %11llu %8s\n", or_dash(g.key).c_str(), static_cast<unsigned long long>(g.messages),
                static_cast<unsigned long long>(g.recipients), age_text(g.oldest_age_seconds).c_str());
  }
}

void print_summary(const admin::QueueSummary& s) {
  std::printf("%llu message%s, %llu recipient%s in the queue; oldest %s\n",
              static_cast<unsigned long long>(s.messages), s.messages == 1 ? "" : "s",
              static_cast<unsigned long long>(s.recipients), s.recipients == 1 ? "" : "s",
              s.messages == 0 ? "-" : age_text(s.oldest_age_seconds).c_str());
  if (s.messages == 0) return;
  print_groups("NEXT HOP", s.by_next_hop);
  print_groups("CONNECTOR", s.by_connector);
  print_groups("ORGANIZATION", s.by_organization);
}

void print_message(const admin::MessageInfo& m) {
  std::printf("Message %s\n", m.id.c_str());
  std::printf("  Sender:        %s\n", sender_text(m.sender).c_str());
  std::printf("  Organization:  %s\n", or_dash(m.organization).c_str());
  std::printf("  Received:      %s\n", time_text(m.received_at).c_str());
  std::printf("  Size:          %llu bytes\n", static_cast<unsigned long long>(m.size));
  std::printf("  Held:          %s\n", m.held ? "yes (no delivery attempts until released)" : "no");
  std::printf("  Recipients:    %zu\n", m.recipients.size());
  for (const auto& r : m.recipients) {
    std::printf("    %s\n", r.address.c_str());
    std::printf("      State:         %s\n", admin::to_string(r.state));
    std::printf("      Next hop:      %s\n", or_dash(r.next_hop).c_str());
    std::printf("      Connector:     %s\n", or_dash(r.connector).c_str());
    std::printf("      Attempts:      %u\n", r.attempts);
    std::printf("      Next attempt:  %s\n", time_text(r.next_attempt).c_str());
    if (!r.last_error.empty()) std::printf("      Last error:    %s\n", r.last_error.c_str());
  }
}

}  // namespace

int queue(const QueueOptions& o) {
  const std::string base(admin::kApiPrefix);
  const std::string id_path = base + "/messages/" + admin::url_encode(o.id);
  http::verb method = http::verb::get;
  std::string path;
  if (o.verb == "list") {
    path = base + "/messages";
  } else if (o.verb == "summary") {
    path = base + "/queue";
  } else if (o.verb == "show") {
    path = id_path;
  } else if (o.verb == "retry") {
    method = http::verb::post;
    path = o.id.empty() ? base + "/queue/retry" : id_path + "/retry";
  } else if (o.verb == "delete") {
    method = http::verb::delete_;
    path = id_path;
  } else if (o.verb == "hold" || o.verb == "release") {
    method = http::verb::post;
    path = id_path + "/" + o.verb;
  } else {
    std::fprintf(stderr, "mailflow queue: unknown verb \"%s\"\n", o.verb.c_str());
    return 1;
  }
  if (o.verb != "list" && o.verb != "summary" && !(o.verb == "retry" && o.id.empty()) && o.id.empty()) {
    std::fprintf(stderr, "mailflow queue %s: a message id is required\n", o.verb.c_str());
    return 1;
  }

  const std::string command = "queue " + o.verb;
  const admin::CliReply call =
      admin::cli_request(command, o.target.config_path, o.target.admin, o.target.token_file, method, path);
  if (call.exit_code != 0) return call.exit_code;
  const auto body = body_json(call.reply);
  if (!body) return 2;
  if (o.json) {
    std::printf("%s\n", body->dump(2).c_str());
    return 0;
  }
  try {
    if (o.verb == "list") {
      print_list(body->at("messages").get<std::vector<admin::MessageInfo>>());
    } else if (o.verb == "summary") {
      print_summary(body->get<admin::QueueSummary>());
    } else if (o.verb == "show") {
      print_message(body->get<admin::MessageInfo>());
    } else {
      std::printf("%s\n", body->get<admin::OpResult>().message.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mailflow %s: the service sent an unexpected answer: %s\n", command.c_str(), e.what());
    return 2;
  }
  return 0;
}

}  // namespace mf::cli
