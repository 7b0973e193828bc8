// admin/api.cpp — JSON forms, times and query strings of the admin API types (see api.hpp).
#include "admin/api.hpp"

#include <charconv>
#include <ctime>

namespace mf::admin {

using nlohmann::json;

namespace {

json time_or_null(std::int64_t unix_seconds) {
  return unix_seconds == 0 ? json(nullptr) : json(format_time(unix_seconds));
}

std::int64_t time_from_json(const json& j) {
  if (j.is_null()) return 0;
  if (j.is_number_integer()) return j.get<std::int64_t>();
  auto t = parse_time_us(j.get<std::string>());
  if (!t) throw std::invalid_argument("bad time: " + t.error().message);
  return *t / 1000000;
}

template <class T>
void opt(const json& j, const char* key, T& out) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) it->get_to(out);
}

bool parse_uint(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool parse_int(std::string_view s, std::int64_t& out) {
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Digits at s[pos, pos+n) as a number, or -1.
int digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

void append_param(std::string& out, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  if (!out.empty()) out += '&';
  out += key;
  out += '=';
  out += url_encode(value);
}

}  // namespace

const char* to_string(RecipientState s) {
  switch (s) {
    case RecipientState::queued: return "queued";
    case RecipientState::deferred: return "deferred";
    case RecipientState::held: return "held";
  }
  return "queued";
}

std::optional<RecipientState> recipient_state_from_string(std::string_view s) {
  if (s == "queued") return RecipientState::queued;
  if (s == "deferred") return RecipientState::deferred;
  if (s == "held") return RecipientState::held;
  return std::nullopt;
}

const char* to_string(OpStatus s) {
  switch (s) {
    case OpStatus::ok: return "ok";
    case OpStatus::not_found: return "not_found";
    case OpStatus::conflict: return "conflict";
  }
  return "ok";
}

void to_json(json& j, const QueueGroup& v) {
  j = json{{"key", v.key}, {"messages", v.messages}, {"recipients", v.recipients},
           {"oldest_age_seconds", v.oldest_age_seconds}};
}

void from_json(const json& j, QueueGroup& v) {
  j.at("key").get_to(v.key);
  j.at("messages").get_to(v.messages);
  j.at("recipients").get_to(v.recipients);
  j.at("oldest_age_seconds").get_to(v.oldest_age_seconds);
}

void to_json(json& j, const QueueSummary& v) {
  j = json{{"messages", v.messages},         {"recipients", v.recipients},
           {"oldest_age_seconds", v.oldest_age_seconds}, {"by_next_hop", v.by_next_hop},
           {"by_connector", v.by_connector}, {"by_organization", v.by_organization}};
}

void from_json(const json& j, QueueSummary& v) {
  j.at("messages").get_to(v.messages);
  j.at("recipients").get_to(v.recipients);
  j.at("oldest_age_seconds").get_to(v.oldest_age_seconds);
  opt(j, "by_next_hop", v.by_next_hop);
  opt(j, "by_connector", v.by_connector);
  opt(j, "by_organization", v.by_organization);
}

void to_json(json& j, const RecipientInfo& v) {
  j = json{{"address", v.address},
           {"state", to_string(v.state)},
           {"next_hop", v.next_hop},
           {"connector", v.connector},
           {"attempts", v.attempts},
           {"next_attempt", time_or_null(v.next_attempt)},
           {"last_error", v.last_error}};
}

void from_json(const json& j, RecipientInfo& v) {
  j.at("address").get_to(v.address);
  const auto state = recipient_state_from_string(j.at("state").get<std::string>());
  if (!state) throw std::invalid_argument("bad recipient state");
  v.state = *state;
  opt(j, "next_hop", v.next_hop);
  opt(j, "connector", v.connector);
  opt(j, "attempts", v.attempts);
  if (auto it = j.find("next_attempt"); it != j.end()) v.next_attempt = time_from_json(*it);
  opt(j, "last_error", v.last_error);
}

void to_json(json& j, const MessageInfo& v) {
  j = json{{"id", v.id},     {"sender", v.sender}, {"organization", v.organization},
           {"received_at", time_or_null(v.received_at)}, {"size", v.size},
           {"held", v.held}, {"recipients", v.recipients}};
}

void from_json(const json& j, MessageInfo& v) {
  j.at("id").get_to(v.id);
  j.at("sender").get_to(v.sender);
  opt(j, "organization", v.organization);
  v.received_at = time_from_json(j.at("received_at"));
  opt(j, "size", v.size);
  opt(j, "held", v.held);
  opt(j, "recipients", v.recipients);
}

void to_json(json& j, const MessageFilter& v) {
  j = json{{"sender", v.sender},     {"recipient", v.recipient}, {"organization", v.organization},
           {"connector", v.connector}, {"next_hop", v.next_hop},
           {"state", v.state ? json(to_string(*v.state)) : json(nullptr)}, {"limit", v.limit}};
}

void from_json(const json& j, MessageFilter& v) {
  opt(j, "sender", v.sender);
  opt(j, "recipient", v.recipient);
  opt(j, "organization", v.organization);
  opt(j, "connector", v.connector);
  opt(j, "next_hop", v.next_hop);
  v.state.reset();
  if (auto it = j.find("state"); it != j.end() && !it->is_null()) {
    v.state = recipient_state_from_string(it->get<std::string>());
    if (!v.state) throw std::invalid_argument("bad recipient state");
  }
  opt(j, "limit", v.limit);
}

void to_json(json& j, const OpResult& v) {
  j = json{{"status", to_string(v.status)}, {"message", v.message}, {"affected", v.affected}};
}

void from_json(const json& j, OpResult& v) {
  const auto s = j.at("status").get<std::string>();
  if (s == "ok") {
    v.status = OpStatus::ok;
  } else if (s == "not_found") {
    v.status = OpStatus::not_found;
  } else if (s == "conflict") {
    v.status = OpStatus::conflict;
  } else {
    throw std::invalid_argument("bad status: " + s);
  }
  opt(j, "message", v.message);
  opt(j, "affected", v.affected);
}

void to_json(json& j, const ReloadResult& v) { j = json{{"ok", v.ok}, {"errors", v.errors}}; }

void from_json(const json& j, ReloadResult& v) {
  j.at("ok").get_to(v.ok);
  opt(j, "errors", v.errors);
}

std::string format_time(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string format_time_us(std::int64_t unix_us) {
  std::int64_t secs = unix_us / 1000000;
  std::int64_t frac = unix_us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  std::string s = format_time(secs);
  char buf[16];
  std::snprintf(buf, sizeof buf, ".%06lldZ", static_cast<long long>(frac));
  s.pop_back();  // 'Z'
  return s + buf;
}

Result<std::int64_t> parse_time_us(std::string_view s) {
  const auto bad = [&] {
    return make_error("bad time \"" + std::string(s) + "\": expected ISO 8601 UTC, e.g. 2026-11-23T10:00:00Z");
  };
  std::tm tm{};
  const int year = digits(s, 0, 4), mon = digits(s, 5, 2), day = digits(s, 8, 2);
  if (year < 0 || mon < 1 || mon > 12 || day < 1 || day > 31 || s[4] != '-' || s[7] != '-') return bad();
  int hour = 0, min = 0, sec = 0;
  std::int64_t micros = 0;
  std::size_t pos = 10;
  if (pos < s.size()) {
    if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return bad();
    hour = digits(s, pos + 1, 2);
    min = digits(s, pos + 4, 2);
    sec = digits(s, pos + 7, 2);
    if (hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 || sec > 60 || s[pos + 3] != ':' ||
        s[pos + 6] != ':')
      return bad();
    pos += 9;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      int n = 0;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (n < 6) micros = micros * 10 + (s[pos] - '0');
        ++n;
        ++pos;
      }
      if (n == 0) return bad();
      for (; n < 6; ++n) micros *= 10;
    }
    const std::string_view zone = s.substr(pos);
    if (zone != "Z" && zone != "z" && zone != "+00:00" && zone != "") return bad();
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  const std::time_t t = ::timegm(&tm);
  if (tm.tm_mday != day) return bad();  // 2026-02-31 normalises to March
  return static_cast<std::int64_t>(t) * 1000000 + micros;
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '.' || c == '_' || c == '~';
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<QueryParams> parse_query(std::string_view query) {
  QueryParams out;
  const auto decode = [](std::string_view in) -> std::optional<std::string> {
    std::string d;
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '+') {
        d += ' ';
      } else if (in[i] == '%') {
        const auto hex = [](char c) -> int {
          if (c >= '0' && c <= '9') return c - '0';
          if (c >= 'a' && c <= 'f') return c - 'a' + 10;
          if (c >= 'A' && c <= 'F') return c - 'A' + 10;
          return -1;
        };
        if (i + 2 >= in.size()) return std::nullopt;
        const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        d += static_cast<char>(hi * 16 + lo);
        i += 2;
      } else {
        d += in[i];
      }
    }
    return d;
  };
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    const std::size_t eq = part.find('=');
    auto key = decode(part.substr(0, eq));
    auto value = decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
    if (!key || !value) return make_error("bad %-escape in query string");
    if (!out.emplace(std::move(*key), std::move(*value)).second)
      return make_error("query parameter given twice: " + std::string(part.substr(0, eq)));
  }
  return out;
}

std::string to_query(const MessageFilter& f) {
  std::string out;
  append_param(out, "sender", f.sender);
  append_param(out, "recipient", f.recipient);
  append_param(out, "organization", f.organization);
  append_param(out, "connector", f.connector);
  append_param(out, "next_hop", f.next_hop);
  if (f.state) append_param(out, "state", to_string(*f.state));
  if (f.limit != MessageFilter{}.limit) append_param(out, "limit", std::to_string(f.limit));
  return out;
}

Result<MessageFilter> message_filter_from_query(const QueryParams& q) {
  MessageFilter f;
  for (const auto& [key, value] : q) {
    if (key == "sender") {
      f.sender = value;
    } else if (key == "recipient") {
      f.recipient = value;
    } else if (key == "organization") {
      f.organization = value;
    } else if (key == "connector") {
      f.connector = value;
    } else if (key == "next_hop") {
      f.next_hop = value;
    } else if (key == "state") {
      f.state = recipient_state_from_string(value);
      if (!f.state) return make_error("state must be queued, deferred or held");
    } else if (key == "limit") {
      std::uint64_t n = 0;
      if (!parse_uint(value, n) || n == 0) return make_error("limit must be a positive number");
      f.limit = static_cast<std::size_t>(n);
    } else {
      return make_error("unknown query parameter: " + key);
    }
  }
  return f;
}

std::string to_query(const trace::Query& q) {
  std::string out;
  append_param(out, "sender", q.sender);
  append_param(out, "recipient", q.recipient);
  append_param(out, "message_id", q.message_id);
  if (q.since_us != 0) append_param(out, "since", format_time_us(q.since_us));
  if (q.limit != trace::Query{}.limit) append_param(out, "limit", std::to_string(q.limit));
  return out;
}

Result<trace::Query> trace_query_from_query(const QueryParams& params) {
  trace::Query q;
  for (const auto& [key, value] : params) {
    if (key == "sender") {
      q.sender = value;
    } else if (key == "recipient") {
      q.recipient = value;
    } else if (key == "message_id") {
      q.message_id = value;
    } else if (key == "since") {
      std::int64_t secs = 0;
      if (parse_int(value, secs)) {
        q.since_us = secs * 1000000;
      } else {
        auto t = parse_time_us(value);
        if (!t) return make_error("since: " + t.error().message);
        q.since_us = *t;
      }
    } else if (key == "limit") {
      std::uint64_t n = 0;
      if (!parse_uint(value, n) || n == 0) return make_error("limit must be a positive number");
      q.limit = static_cast<std::size_t>(n);
    } else {
      return make_error("unknown query parameter: " + key);
    }
  }
  return q;
}

}  // namespace mf::admin

namespace mf::trace {

void to_json(nlohmann::json& j, const Event& e) {
  j = nlohmann::json{{"time", admin::format_time_us(e.time_us)},
                     {"time_us", e.time_us},
                     {"message_id", e.message_id},
                     {"copy_id", e.copy_id},
                     {"internet_message_id", e.internet_message_id},
                     {"event", to_string(e.type)},
                     {"organization", e.organization},
                     {"sender", e.sender},
                     {"recipient", e.recipient},
                     {"connector", e.connector},
                     {"next_hop", e.next_hop},
                     {"remote_host", e.remote_host},
                     {"reply", e.reply},
                     {"tls", e.tls},
                     {"detail", e.detail}};
}

void from_json(const nlohmann::json& j, Event& e) {
  if (auto it = j.find("time_us"); it != j.end()) {
    it->get_to(e.time_us);
  } else {
    auto t = admin::parse_time_us(j.at("time").get<std::string>());
    if (!t) throw std::invalid_argument(t.error().message);
    e.time_us = *t;
  }
  j.at("message_id").get_to(e.message_id);
  const auto type = event_type_from_string(j.at("event").get<std::string>());
  if (!type) throw std::invalid_argument("unknown trace event type");
  e.type = *type;
  admin::opt(j, "copy_id", e.copy_id);
  admin::opt(j, "internet_message_id", e.internet_message_id);
  admin::opt(j, "organization", e.organization);
  admin::opt(j, "sender", e.sender);
  admin::opt(j, "recipient", e.recipient);
  admin::opt(j, "connector", e.connector);
  admin::opt(j, "next_hop", e.next_hop);
  admin::opt(j, "remote_host", e.remote_host);
  admin::opt(j, "reply", e.reply);
  admin::opt(j, "tls", e.tls);
  admin::opt(j, "detail", e.detail);
}

void to_json(nlohmann::json& j, const Query& q) {
  j = nlohmann::json{{"sender", q.sender},
                     {"recipient", q.recipient},
                     {"message_id", q.message_id},
                     {"since", q.since_us == 0 ? nlohmann::json(nullptr) : nlohmann::json(admin::format_time_us(q.since_us))},
                     {"limit", q.limit}};
}

void from_json(const nlohmann::json& j, Query& q) {
  admin::opt(j, "sender", q.sender);
  admin::opt(j, "recipient", q.recipient);
  admin::opt(j, "message_id", q.message_id);
  q.since_us = 0;
  if (auto it = j.find("since"); it != j.end() && !it->is_null()) {
    auto t = admin::parse_time_us(it->get<std::string>());
    if (!t) throw std::invalid_argument(t.error().message);
    q.since_us = *t;
  }
  admin::opt(j, "limit", q.limit);
}

}  // namespace mf::trace
