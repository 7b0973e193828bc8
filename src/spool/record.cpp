#include "spool/record.hpp"

#include <nlohmann/json.hpp>

#include <limits>

namespace mf::spool {

using nlohmann::json;

namespace {

// Re-parsing stored addresses: they were validated when the message was accepted (possibly under a
// configuration with larger limits), so only the syntax is checked again here.
constexpr AddressLimits kStoredLimits{1024, 1024, 2048};

const char* body_name(BodyType b) {
  switch (b) {
    case BodyType::seven_bit: return "7BIT";
    case BodyType::eight_bit_mime: return "8BITMIME";
    case BodyType::binary_mime: return "BINARYMIME";
  }
  return "7BIT";
}

Result<BodyType> body_from_name(const std::string& s) {
  if (s == "7BIT") return BodyType::seven_bit;
  if (s == "8BITMIME") return BodyType::eight_bit_mime;
  if (s == "BINARYMIME") return BodyType::binary_mime;
  return make_error("unknown body type \"" + s + "\"");
}

// Field readers: a missing field or a wrong type is an error, never a silent default or a
// narrowing conversion.
const json* field(const json& obj, const char* name, std::string& error) {
  auto it = obj.find(name);
  if (it == obj.end()) {
    error = std::string("missing field \"") + name + "\"";
    return nullptr;
  }
  return &*it;
}

bool read_string(const json& obj, const char* name, std::string& out, std::string& error) {
  const json* f = field(obj, name, error);
  if (!f) return false;
  if (!f->is_string()) {
    error = std::string("field \"") + name + "\" is not a string";
    return false;
  }
  out = f->get<std::string>();
  return true;
}

bool read_bool(const json& obj, const char* name, bool& out, std::string& error) {
  const json* f = field(obj, name, error);
  if (!f) return false;
  if (!f->is_boolean()) {
    error = std::string("field \"") + name + "\" is not a boolean";
    return false;
  }
  out = f->get<bool>();
  return true;
}

bool read_uint(const json& obj, const char* name, std::uint64_t max, std::uint64_t& out, std::string& error) {
  const json* f = field(obj, name, error);
  if (!f) return false;
  if (!f->is_number_unsigned() || f->get<std::uint64_t>() > max) {
    error = std::string("field \"") + name + "\" is not an unsigned integer in range";
    return false;
  }
  out = f->get<std::uint64_t>();
  return true;
}

bool read_int(const json& obj, const char* name, std::int64_t& out, std::string& error) {
  const json* f = field(obj, name, error);
  if (!f) return false;
  if (f->is_number_unsigned()) {
    if (f->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      error = std::string("field \"") + name + "\" is out of range";
      return false;
    }
  } else if (!f->is_number_integer()) {
    error = std::string("field \"") + name + "\" is not an integer";
    return false;
  }
  out = f->get<std::int64_t>();
  return true;
}

bool read_object(const json& obj, const char* name, const json*& out, std::string& error) {
  out = field(obj, name, error);
  if (!out) return false;
  if (!out->is_object()) {
    error = std::string("field \"") + name + "\" is not an object";
    return false;
  }
  return true;
}

Result<Address> read_address(const std::string& text, const char* what) {
  auto a = Address::parse(text, /*allow_utf8=*/true, kStoredLimits);
  if (!a) return make_error(std::string("invalid ") + what + " address: " + a.error().message);
  return a;
}

// Built field by field: nlohmann's initializer-list constructor copies every element and costs
// about twice as much (the record is encoded on the io thread for every received message).
json encode_connection(const ConnectionFacts& c) {
  json j = json::object();
  j["listener"] = c.listener;
  j["client_ip"] = c.client_ip;
  j["client_port"] = c.client_port;
  j["helo"] = c.helo;
  j["tls"] = c.tls;
  j["tls_version"] = c.tls_version;
  j["tls_cipher"] = c.tls_cipher;
  j["client_cert_verified"] = c.client_cert_verified;
  j["client_cert_names"] = c.client_cert_names;
  j["authenticated_user"] = c.authenticated_user;
  j["organization"] = c.organization;
  return j;
}

bool decode_connection(const json& j, ConnectionFacts& c, std::string& e) {
  std::uint64_t port = 0;
  if (!read_string(j, "listener", c.listener, e) || !read_string(j, "client_ip", c.client_ip, e) ||
      !read_uint(j, "client_port", 65535, port, e) || !read_string(j, "helo", c.helo, e) ||
      !read_bool(j, "tls", c.tls, e) || !read_string(j, "tls_version", c.tls_version, e) ||
      !read_string(j, "tls_cipher", c.tls_cipher, e) ||
      !read_bool(j, "client_cert_verified", c.client_cert_verified, e) ||
      !read_string(j, "authenticated_user", c.authenticated_user, e)) {
    return false;
  }
  c.client_port = static_cast<std::uint16_t>(port);
  // Optional (records written before it existed have none).
  if (auto it = j.find("organization"); it != j.end()) {
    if (!it->is_string()) {
      e = "field \"organization\" is not a string";
      return false;
    }
    c.organization = it->get<std::string>();
  }
  const json* names = field(j, "client_cert_names", e);
  if (!names) return false;
  if (!names->is_array()) {
    e = "field \"client_cert_names\" is not an array";
    return false;
  }
  c.client_cert_names.clear();
  for (const auto& n : *names) {
    if (!n.is_string()) {
      e = "field \"client_cert_names\" holds a non-string";
      return false;
    }
    c.client_cert_names.push_back(n.get<std::string>());
  }
  return true;
}

Result<EnvelopeRecord> decode_object(const json& j, std::string_view expected_id) {
  std::string e;
  if (!j.is_object()) return make_error("record is not a JSON object");
  std::uint64_t version = 0;
  if (!read_uint(j, "v", std::numeric_limits<std::uint64_t>::max(), version, e)) return make_error(e);
  if (version != static_cast<std::uint64_t>(kRecordVersion)) {
    return make_error("unknown record version " + std::to_string(version));
  }
  EnvelopeRecord rec;
  SpoolEntry& entry = rec.entry;
  Envelope& env = entry.envelope;
  if (!read_string(j, "id", entry.id, e)) return make_error(e);
  if (entry.id != expected_id) return make_error("record id does not match its key");
  if (!read_int(j, "received_at", entry.received_at, e)) return make_error(e);

  const json* sender = field(j, "sender", e);
  if (!sender) return make_error(e);
  if (sender->is_string()) {
    auto a = read_address(sender->get<std::string>(), "sender");
    if (!a) return a.error();
    env.sender = std::move(*a);
  } else if (!sender->is_null()) {
    return make_error("field \"sender\" is neither a string nor null");
  }

  const json* rcpts = field(j, "recipients", e);
  if (!rcpts) return make_error(e);
  if (!rcpts->is_array() || rcpts->empty()) return make_error("field \"recipients\" is not a non-empty array");
  for (const auto& r : *rcpts) {
    if (!r.is_object()) return make_error("a recipient is not an object");
    std::string addr;
    std::uint64_t notify = 0;
    EnvelopeRecipient rcpt;
    if (!read_string(r, "address", addr, e) || !read_uint(r, "notify", 15, notify, e) ||
        !read_string(r, "orcpt", rcpt.orcpt, e)) {
      return make_error(e);
    }
    auto a = read_address(addr, "recipient");
    if (!a) return a.error();
    rcpt.address = std::move(*a);
    rcpt.notify = static_cast<unsigned>(notify);
    env.recipients.push_back(std::move(rcpt));
  }

  const json* dsn = nullptr;
  if (!read_object(j, "dsn", dsn, e) || !read_string(*dsn, "ret", env.ret, e) ||
      !read_string(*dsn, "envid", env.envid, e)) {
    return make_error(e);
  }
  std::string body;
  if (!read_string(j, "body", body, e) || !read_bool(j, "smtputf8", env.smtputf8, e)) return make_error(e);
  auto bt = body_from_name(body);
  if (!bt) return bt.error();
  env.body = *bt;
  const json* declared = field(j, "declared_size", e);
  if (!declared) return make_error(e);
  if (declared->is_number_unsigned()) {
    env.declared_size = declared->get<std::uint64_t>();
  } else if (!declared->is_null()) {
    return make_error("field \"declared_size\" is neither an unsigned integer nor null");
  }

  const json* conn = nullptr;
  if (!read_object(j, "connection", conn, e) || !decode_connection(*conn, entry.connection, e)) {
    return make_error(e);
  }
  std::uint64_t crc = 0;
  if (!read_uint(j, "size", std::numeric_limits<std::uint64_t>::max(), entry.size, e) ||
      !read_uint(j, "crc32c", 0xFFFFFFFFu, crc, e)) {
    return make_error(e);
  }
  rec.crc32c = static_cast<std::uint32_t>(crc);
  return rec;
}

}  // namespace

bool is_valid_spool_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string envelope_key(std::string_view id) { return "m/" + std::string(id); }
std::string data_key(std::string_view id) { return "d/" + std::string(id); }
std::string done_prefix(std::string_view id) { return "r/" + std::string(id) + "/"; }
std::string done_key(std::string_view id, std::size_t index) { return done_prefix(id) + std::to_string(index); }
std::string quarantine_key(std::string_view id) { return "q/" + std::string(id); }

std::string encode_envelope(const StoredMessage& msg, std::uint64_t size, std::uint32_t crc) {
  const Envelope& env = msg.envelope;
  json rcpts = json::array();
  for (const auto& r : env.recipients) {
    json one = json::object();
    one["address"] = r.address.str();
    one["notify"] = r.notify;
    one["orcpt"] = r.orcpt;
    rcpts.push_back(std::move(one));
  }
  json dsn = json::object();
  dsn["ret"] = env.ret;
  dsn["envid"] = env.envid;
  json j = json::object();
  j["v"] = kRecordVersion;
  j["id"] = msg.id;
  j["received_at"] = msg.received_at;
  j["sender"] = env.sender ? json(env.sender->str()) : json(nullptr);
  j["recipients"] = std::move(rcpts);
  j["dsn"] = std::move(dsn);
  j["body"] = body_name(env.body);
  j["smtputf8"] = env.smtputf8;
  j["declared_size"] = env.declared_size ? json(*env.declared_size) : json(nullptr);
  j["connection"] = encode_connection(msg.connection);
  j["size"] = size;
  j["crc32c"] = crc;
  // `replace`: a byte sequence that is not UTF-8 becomes U+FFFD instead of throwing.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<EnvelopeRecord> decode_envelope(std::string_view text, std::string_view expected_id) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error("envelope record is not valid JSON");
  try {
    return decode_object(j, expected_id);
  } catch (const json::exception& ex) {  // defensive: the readers above check types before get<>
    return make_error(std::string("envelope record: ") + ex.what());
  }
}

std::string encode_quarantine(std::string_view reason, std::string_view raw_record) {
  json j{{"reason", reason}};
  if (is_valid_utf8(raw_record)) {
    j["record"] = raw_record;
  } else {  // keep garbage byte for byte, for the operator's post-mortem
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(raw_record.size() * 2);
    for (unsigned char c : raw_record) {
      hex.push_back(kHex[c >> 4]);
      hex.push_back(kHex[c & 15]);
    }
    j["record_hex"] = std::move(hex);
  }
  return j.dump();
}

std::string log_quote(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : value) {
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace mf::spool
