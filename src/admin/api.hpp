// admin/api.hpp — the admin API's request and response types (API version v1), shared by the admin
// server (admin/server.hpp) and the `mailflow queue|trace|reload` verbs, with their JSON forms.
//
// JSON conventions: snake_case keys; times are ISO 8601 UTC strings ("2026-11-23T10:00:00Z", trace
// events with microseconds) and the C++ side keeps unix seconds (or microseconds for trace events);
// a time of 0 is JSON null. from_json() accepts what to_json() writes and throws nlohmann's
// exceptions on a wrong shape (the server turns them into 400, the client into "bad response").
// Query strings: MessageFilter and trace::Query travel as URL query parameters; to_query() and
// *_from_query() are the one encoder and decoder. Pure functions; no I/O.
#pragma once

#include "core/result.hpp"
#include "trace/event.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mf::admin {

inline constexpr std::string_view kApiVersion = "v1";
inline constexpr std::string_view kApiPrefix = "/api/v1";

// One line of the queue summary: messages grouped by next hop, connector or organization.
struct QueueGroup {
  std::string key;  // the next hop, connector or organization ("" = none)
  std::uint64_t messages = 0;
  std::uint64_t recipients = 0;
  std::int64_t oldest_age_seconds = 0;
};

// GET /api/v1/queue
struct QueueSummary {
  std::uint64_t messages = 0;
  std::uint64_t recipients = 0;
  std::int64_t oldest_age_seconds = 0;
  std::vector<QueueGroup> by_next_hop;
  std::vector<QueueGroup> by_connector;
  std::vector<QueueGroup> by_organization;
};

enum class RecipientState { queued, deferred, held };
const char* to_string(RecipientState s);
std::optional<RecipientState> recipient_state_from_string(std::string_view s);

struct RecipientInfo {
  std::string address;
  RecipientState state = RecipientState::queued;
  std::string next_hop;
  std::string connector;
  std::uint32_t attempts = 0;
  std::int64_t next_attempt = 0;  // unix seconds; 0 = none scheduled (held, or being delivered now)
  std::string last_error;         // the last temporary failure ("451 4.4.1 ..."), "" when none
};

// GET /api/v1/messages (a list) and GET /api/v1/messages/{id}.
struct MessageInfo {
  std::string id;
  std::string sender;  // "" = null sender
  std::string organization;
  std::int64_t received_at = 0;  // unix seconds
  std::uint64_t size = 0;        // bytes
  bool held = false;
  std::vector<RecipientInfo> recipients;  // the recipients still queued
};

// Query of GET /api/v1/messages. Empty fields do not filter; addresses compare case-insensitively.
struct MessageFilter {
  std::string sender;
  std::string recipient;
  std::string organization;
  std::string connector;
  std::string next_hop;
  std::optional<RecipientState> state;  // messages with at least one recipient in this state
  std::size_t limit = 1000;
};

// Result of retry / delete / hold / release. HTTP: ok 200, not_found 404, conflict 409 (e.g. release
// of a message that is not held).
enum class OpStatus { ok, not_found, conflict };
const char* to_string(OpStatus s);

struct OpResult {
  OpStatus status = OpStatus::ok;
  std::string message;        // what happened, for people ("2 messages scheduled for retry")
  std::uint64_t affected = 0;  // messages changed
};

// POST /api/v1/reload: ok, or the configuration errors ("file:line:col: key: message") and the old
// configuration stays in force (HTTP 409).
struct ReloadResult {
  bool ok = true;
  std::vector<std::string> errors;
};

// JSON (nlohmann ADL hooks).
void to_json(nlohmann::json& j, const QueueGroup& v);
void from_json(const nlohmann::json& j, QueueGroup& v);
void to_json(nlohmann::json& j, const QueueSummary& v);
void from_json(const nlohmann::json& j, QueueSummary& v);
void to_json(nlohmann::json& j, const RecipientInfo& v);
void from_json(const nlohmann::json& j, RecipientInfo& v);
void to_json(nlohmann::json& j, const MessageInfo& v);
void from_json(const nlohmann::json& j, MessageInfo& v);
void to_json(nlohmann::json& j, const MessageFilter& v);
void from_json(const nlohmann::json& j, MessageFilter& v);
void to_json(nlohmann::json& j, const OpResult& v);
void from_json(const nlohmann::json& j, OpResult& v);
void to_json(nlohmann::json& j, const ReloadResult& v);
void from_json(const nlohmann::json& j, ReloadResult& v);

// Times: unix seconds <-> "2026-11-23T10:00:00Z"; unix microseconds <-> "2026-11-23T10:00:00.123456Z".
std::string format_time(std::int64_t unix_seconds);
std::string format_time_us(std::int64_t unix_us);
// Accepts "YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+00:00)" (also "YYYY-MM-DD HH:MM:SS", "YYYY-MM-DD"); UTC only.
Result<std::int64_t> parse_time_us(std::string_view text);

// Query strings ("a=1&b=x%40y"): percent-encoding and decoding ('+' decodes to a space).
std::string url_encode(std::string_view s);
using QueryParams = std::map<std::string, std::string>;
Result<QueryParams> parse_query(std::string_view query);  // error: bad %-escape, duplicate key

std::string to_query(const MessageFilter& f);  // without the leading '?'; "" when nothing is set
Result<MessageFilter> message_filter_from_query(const QueryParams& q);  // error: unknown key, bad value
std::string to_query(const trace::Query& q);
Result<trace::Query> trace_query_from_query(const QueryParams& q);  // since: ISO 8601 UTC or unix seconds

}  // namespace mf::admin

// trace::Event / trace::Query JSON, found by ADL in namespace mf::trace. An event's JSON has "time"
// (ISO 8601 with microseconds) and "time_us"; from_json reads time_us.
namespace mf::trace {
void to_json(nlohmann::json& j, const Event& e);
void from_json(const nlohmann::json& j, Event& e);
void to_json(nlohmann::json& j, const Query& q);
void from_json(const nlohmann::json& j, Query& q);
}  // namespace mf::trace
