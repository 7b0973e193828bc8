// Recipients (R-RCPT-1): inline `recipients:` and `recipients_file:` (YAML list or CSV). Both
// forms are turned into RawRecipient (located text) and validated by the same code.
#include "config/loader.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace mf::config::detail {

namespace {

struct RawList {
  bool is_list = false;  // written as a list (element paths get [i])
  std::vector<Located> items;
};

struct RawRecipient {
  Located at;  // the entry itself
  std::optional<Located> type, address, target_address, password_hash;
  std::optional<RawList> proxy_addresses, members;
};

const std::initializer_list<std::string_view> kRecipientKeys = {
    "type", "address", "proxy_addresses", "target_address", "members", "password_hash"};

// crypt(3) formats the submission listener can verify: SHA-512, SHA-256, yescrypt, bcrypt, argon2.
bool looks_like_password_hash(std::string_view h) {
  static constexpr std::string_view prefixes[] = {"$6$", "$5$", "$y$", "$2b$", "$argon2"};
  bool prefix = std::any_of(std::begin(prefixes), std::end(prefixes),
                            [&](std::string_view p) { return h.size() > p.size() && h.substr(0, p.size()) == p; });
  if (!prefix) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '$' || c == '.' ||
           c == '/' || c == '=' || c == ',' || c == '+' || c == '-';
  });
}

void index_address(const Ctx& ctx, const Located& l, const Path& p, const Address& a, State& state,
                   const RecipientRef& self) {
  auto [existing, fresh] = state.snap.recipients.emplace(a.key(), self);
  if (fresh) return;
  const bool same = existing->org == self.org && existing->recipient == self.recipient;
  ctx.error(l.line, l.column, p,
            "address '" + a.str() + "' is already used by " +
                (same ? std::string("this recipient") : state.describe(*existing)));
}

// Tenant isolation: a directory address (mailbox, mail_user, group, and every proxy address) must be
// in one of its own organization's accepted domains — otherwise organization A could list an address
// of B's domain and capture B's mail (Exchange enforces the same). Mail contacts are external
// addresses and are exempt.
void check_owned(const Ctx& ctx, const Located& l, const Path& p, const Address& a, const State& state,
                 std::size_t org_index) {
  std::size_t owner = 0;
  const AcceptedDomain* dom = state.snap.find_accepted_domain(a.domain(), &owner);
  if (dom != nullptr && owner == org_index) return;
  ctx.error(l.line, l.column, p,
            "address '" + a.str() + "' is not in an accepted domain of organization '" +
                state.snap.organizations[org_index].name + "'");
}

std::optional<Address> parse_address(const Ctx& ctx, const Located& l, const Path& p) {
  auto a = Address::parse(l.text, true);
  if (!a) {
    ctx.error(l.line, l.column, p, "invalid address '" + l.text + "': " + a.error().message);
    return std::nullopt;
  }
  return *a;
}

// Validates one recipient, appends it to the organization and indexes its addresses.
void add_recipient(const Ctx& ctx, const RawRecipient& raw, const Path& p, State& state, std::size_t org_index) {
  Organization& org = state.snap.organizations[org_index];
  const RecipientRef self{static_cast<std::uint32_t>(org_index), static_cast<std::uint32_t>(org.recipients.size())};
  Recipient r;
  if (raw.type) {
    const Path tp = p.key("type");
    static constexpr std::pair<std::string_view, RecipientType> types[] = {
        {"mailbox", RecipientType::mailbox},
        {"mail_user", RecipientType::mail_user},
        {"mail_contact", RecipientType::mail_contact},
        {"group", RecipientType::group}};
    auto it = std::find_if(std::begin(types), std::end(types), [&](const auto& t) { return t.first == raw.type->text; });
    if (it == std::end(types)) {
      ctx.error(raw.type->line, raw.type->column, tp,
                "unknown value '" + raw.type->text + "' (expected one of: mailbox, mail_user, mail_contact, group)");
    } else {
      r.type = it->second;
    }
  }
  auto list = [&](const RawList& l, std::string_view key, std::vector<Address>& out) {
    const Path kp = p.key(key);
    for (std::size_t i = 0; i < l.items.size(); ++i) {
      const Path ep = l.is_list ? kp.at(i) : kp;
      if (auto a = parse_address(ctx, l.items[i], ep)) {
        out.push_back(std::move(*a));
        if (key == "proxy_addresses") {
          index_address(ctx, l.items[i], ep, out.back(), state, self);
          if (r.type != RecipientType::mail_contact) check_owned(ctx, l.items[i], ep, out.back(), state, org_index);
        }
      }
    }
  };
  if (raw.address) {
    const Path ap = p.key("address");
    if (auto a = parse_address(ctx, *raw.address, ap)) {
      r.address = std::move(*a);
      index_address(ctx, *raw.address, ap, r.address, state, self);
      if (r.type != RecipientType::mail_contact) check_owned(ctx, *raw.address, ap, r.address, state, org_index);
    }
  } else {
    ctx.error(raw.at.line, raw.at.column, p.key("address"), "'address' is required");
  }
  if (raw.proxy_addresses) list(*raw.proxy_addresses, "proxy_addresses", r.proxy_addresses);

  const bool needs_target = r.type == RecipientType::mail_user || r.type == RecipientType::mail_contact;
  if (raw.target_address) {
    const Path tp = p.key("target_address");
    if (!needs_target) {
      ctx.error(raw.target_address->line, raw.target_address->column, tp,
                "'target_address' applies only to mail_user and mail_contact recipients");
    } else if (auto a = parse_address(ctx, *raw.target_address, tp)) {
      r.target_address = std::move(*a);
    }
  } else if (needs_target) {
    ctx.error(raw.at.line, raw.at.column, p.key("target_address"),
              "a " + std::string(r.type == RecipientType::mail_user ? "mail_user" : "mail_contact") +
                  " needs 'target_address' (where its mail is sent)");
  }

  if (raw.members && !raw.members->items.empty()) {
    if (r.type != RecipientType::group) {
      const Located& l = raw.members->items.front();
      ctx.error(l.line, l.column, p.key("members"), "'members' applies only to group recipients");
    } else {
      list(*raw.members, "members", r.members);
    }
  } else if (r.type == RecipientType::group) {
    ctx.error(raw.at.line, raw.at.column, p.key("members"), "a group needs at least one member");
  }

  if (raw.password_hash) {
    const Located& h = *raw.password_hash;
    const Path hp = p.key("password_hash");
    if (r.type != RecipientType::mailbox) {
      ctx.error(h.line, h.column, hp, "'password_hash' applies only to mailbox recipients");
    } else if (!looks_like_password_hash(h.text)) {
      ctx.error(h.line, h.column, hp,
                "not a crypt(3) password hash (expected \"$6$...\", \"$5$...\", \"$y$...\", \"$2b$...\" or "
                "\"$argon2...\")");
    } else {
      r.password_hash = h.text;
    }
  }
  state.orgs[org_index].recipient_lines.push_back(static_cast<std::uint32_t>(std::max(raw.at.line, 0)));
  org.recipients.push_back(std::move(r));
}

// Reads one YAML recipient map into a RawRecipient (type errors are reported here).
std::optional<RawRecipient> raw_from_yaml(const Ctx& ctx, const YAML::Node& item, const Path& p) {
  MapReader m(ctx, item, p, kRecipientKeys);
  if (!m.ok()) return std::nullopt;
  RawRecipient raw;
  raw.at = located(item);
  auto scalar = [&](std::string_view key, std::optional<Located>& dest) {
    if (auto n = m.get(key)) {
      const Path kp = p.key(key);
      if (read_string(ctx, *n, kp)) dest = located(*n);
    }
  };
  auto strings = [&](std::string_view key, std::optional<RawList>& dest) {
    if (auto n = m.get(key)) {
      const Path kp = p.key(key);
      RawList l;
      l.is_list = n->IsSequence();
      for_each_string(ctx, *n, kp, [&](const Located& v, const YAML::Node&, const Path&) { l.items.push_back(v); });
      dest = std::move(l);
    }
  };
  scalar("type", raw.type);
  scalar("address", raw.address);
  scalar("target_address", raw.target_address);
  scalar("password_hash", raw.password_hash);
  strings("proxy_addresses", raw.proxy_addresses);
  strings("members", raw.members);
  return raw;
}

// --- CSV -------------------------------------------------------------------------------------

struct Cell {
  std::string text;
  int column = 1;
};

// Splits one CSV line (RFC 4180 quoting, no line breaks inside quotes). Returns false on a
// malformed quote.
bool split_csv(std::string_view line, std::vector<Cell>& out, int& bad_column) {
  out.clear();
  std::size_t i = 0;
  while (true) {
    Cell c;
    c.column = static_cast<int>(i) + 1;
    while (i < line.size() && line[i] == ' ') ++i;
    if (i < line.size() && line[i] == '"') {
      ++i;
      while (true) {
        if (i >= line.size()) {
          bad_column = c.column;
          return false;
        }
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            c.text += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        c.text += line[i++];
      }
      while (i < line.size() && line[i] == ' ') ++i;
      if (i < line.size() && line[i] != ',') {
        bad_column = static_cast<int>(i) + 1;
        return false;
      }
    } else {
      while (i < line.size() && line[i] != ',') c.text += line[i++];
      while (!c.text.empty() && (c.text.back() == ' ' || c.text.back() == '\t')) c.text.pop_back();
    }
    out.push_back(std::move(c));
    if (i >= line.size()) return true;
    ++i;  // the comma
  }
}

RawList split_list(const Cell& c, int line) {
  RawList l;
  l.is_list = true;
  std::size_t start = 0;
  while (start <= c.text.size()) {
    std::size_t semi = c.text.find(';', start);
    if (semi == std::string::npos) semi = c.text.size();
    std::string item = c.text.substr(start, semi - start);
    std::size_t lead = item.find_first_not_of(" \t");
    if (lead != std::string::npos) {
      item = item.substr(lead, item.find_last_not_of(" \t") - lead + 1);
      l.items.push_back(Located{item, line, c.column + static_cast<int>(start + lead)});
    }
    start = semi + 1;
  }
  return l;
}

void load_csv(const Ctx& fctx, const std::string& text, const Path& fp, State& state, std::size_t org) {
  std::vector<std::string_view> header;
  std::vector<Cell> cells;
  std::size_t row = 0;
  std::size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line_no == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // UTF-8 BOM
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos || line.front() == '#') continue;
    fctx.visit();
    int bad = 0;
    if (!split_csv(line, cells, bad)) {
      fctx.error(line_no, bad, header.empty() ? fp : fp.at(row), "malformed quoted field");
      if (header.empty()) return;
      ++row;
      continue;
    }
    if (header.empty()) {
      bool ok = true;
      for (const auto& c : cells) {
        auto known = std::find(kRecipientKeys.begin(), kRecipientKeys.end(), std::string_view(c.text));
        if (known == kRecipientKeys.end()) {
          std::string msg = "unknown column '" + c.text + "'";
          if (auto s = suggest(c.text, kRecipientKeys); !s.empty()) msg += " (did you mean '" + s + "'?)";
          fctx.error(line_no, c.column, fp, msg);
          ok = false;
        } else if (std::find(header.begin(), header.end(), *known) != header.end()) {
          fctx.error(line_no, c.column, fp, "duplicate column '" + c.text + "'");
          ok = false;
        }
        header.push_back(known == kRecipientKeys.end() ? std::string_view() : *known);
      }
      if (std::find(header.begin(), header.end(), std::string_view("address")) == header.end()) {
        fctx.error(line_no, 1, fp, "the header line needs an 'address' column");
        ok = false;
      }
      if (!ok) return;
      continue;
    }
    const Path rp = fp.at(row++);
    if (cells.size() != header.size()) {
      fctx.error(line_no, 1, rp,
                 "expected " + std::to_string(header.size()) + " fields, got " + std::to_string(cells.size()));
      continue;
    }
    RawRecipient raw;
    raw.at = Located{"", line_no, 1};
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const Cell& c = cells[i];
      if (c.text.empty()) continue;
      Located l{c.text, line_no, c.column};
      const std::string_view col = header[i];
      if (col == "type") raw.type = l;
      else if (col == "address") raw.address = l;
      else if (col == "target_address") raw.target_address = l;
      else if (col == "password_hash") raw.password_hash = l;
      else if (col == "proxy_addresses") raw.proxy_addresses = split_list(c, line_no);
      else if (col == "members") raw.members = split_list(c, line_no);
    }
    add_recipient(fctx, raw, rp, state, org);
  }
  if (header.empty()) fctx.error(1, 1, fp, "empty CSV file (expected a header line)");
}

bool read_whole_file(const std::string& path, std::string& out, std::string& why) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    why = std::filesystem::exists(path, ec) ? "not a regular file" : "no such file";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "cannot be opened for reading";
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  out = std::move(ss).str();
  return true;
}

}  // namespace

void parse_recipients(const Ctx& ctx, const MapReader& org_map, State& state, std::size_t org) {
  auto node = org_map.get("recipients");
  if (node) {
    const Path lp = org_map.path().key("recipients");
    for_each_item(ctx, *node, lp, [&](const YAML::Node& item, const Path& p) {
      if (auto raw = raw_from_yaml(ctx, item, p)) add_recipient(ctx, *raw, p, state, org);
    });
  }
  state.orgs[org].inline_recipients = state.snap.organizations[org].recipients.size();
}

void parse_recipients_file(const Ctx& ctx, const MapReader& org_map, State& state, std::size_t org) {
  auto node = org_map.get("recipients_file");
  if (!node) return;
  const Path fp = org_map.path().key("recipients_file");
  auto name = read_string(ctx, *node, fp);
  if (!name) return;
  if (name->empty()) {
    ctx.error(*node, fp, "must not be empty");
    return;
  }
  const std::string path = resolve_path(ctx.base, *name);
  state.orgs[org].recipients_file = path;
  std::string text, why;
  if (!read_whole_file(path, text, why)) {
    ctx.error(*node, fp, "cannot read recipients file '" + path + "': " + why);
    return;
  }
  Ctx fctx = ctx;
  fctx.file = path;
  if (fctx.budget != nullptr) fctx.budget->limit += 16 * text.size();
  std::string ext = ascii_lower(std::filesystem::path(path).extension().string());
  if (ext == ".csv") {
    load_csv(fctx, text, fp, state, org);
    return;
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fctx.error(e.mark.line >= 0 ? e.mark.line + 1 : 0, e.mark.line >= 0 ? e.mark.column + 1 : 0, fp,
               yaml_message(e));
    return;
  }
  if (root.IsNull()) return;
  if (!root.IsSequence()) {
    fctx.error(root, fp, "expected a list of recipients, got " + type_name(root));
    return;
  }
  for_each_item(fctx, root, fp, [&](const YAML::Node& item, const Path& p) {
    if (auto raw = raw_from_yaml(fctx, item, p)) add_recipient(fctx, *raw, p, state, org);
  });
}

}  // namespace mf::config::detail
