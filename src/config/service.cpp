// The `service:` section (SPEC §4): host name, listeners, TLS files, paths, limits and queues.
#include "config/loader.hpp"

#include <algorithm>

namespace mf::config::detail {

namespace {

bool is_unspecified(const std::string& ip) { return ip == "0.0.0.0" || ip == "::"; }

std::string show(const HostPort& hp) {
  const bool v6 = hp.host.find(':') != std::string::npos;
  return (v6 ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(hp.port);
}

void parse_listeners(const MapReader& m, Service& out) {
  const Ctx& ctx = m.ctx();
  auto node = m.get("listeners");
  if (!node || (node->IsSequence() && node->size() == 0)) {
    m.missing("listeners");
    return;
  }
  const Path lp = m.path().key("listeners");
  struct Seen {
    std::string name;
    HostPort address;
    int line;
  };
  std::vector<Seen> seen;
  for_each_item(ctx, *node, lp, [&](const YAML::Node& item, const Path& p) {
    MapReader lm(ctx, item, p, {"name", "address", "role"});
    if (!lm.ok()) return;
    Listener l;
    opt_string(lm, "name", l.name);
    if (l.name.empty()) lm.missing("name");
    opt_enum(lm, "role", l.role, {{"mx", ListenerRole::mx}, {"submission", ListenerRole::submission}});
    bool have_address = false;
    if (auto a = lm.get("address")) {
      const Path ap = p.key("address");
      if (auto s = read_string(ctx, *a, ap)) {
        if (auto hp = parse_host_port(*s, true, true)) {
          l.address = *hp;
          have_address = true;
        } else {
          ctx.error(*a, ap, hp.error().message);
        }
      }
    } else {
      lm.missing("address");
    }
    const int line = located(item).line;
    for (const auto& s : seen) {
      if (!l.name.empty() && iequals(s.name, l.name)) {
        const Path np = p.key("name");
        ctx.error(*lm.get("name"), np, "duplicate listener name '" + l.name + "' (first at line " +
                                           std::to_string(s.line) + ")");
      }
      if (have_address && s.address.port == l.address.port && s.address.port != 0) {
        bool same = s.address.host == l.address.host;
        bool v6a = s.address.host.find(':') != std::string::npos;
        bool v6b = l.address.host.find(':') != std::string::npos;
        bool overlap = v6a == v6b && (is_unspecified(s.address.host) || is_unspecified(l.address.host));
        if (same || overlap) {
          const Path ap = p.key("address");
          ctx.error(*lm.get("address"), ap,
                    std::string(same ? "duplicate" : "conflicting") + " listener address " + show(l.address) +
                        " (the listener at line " + std::to_string(s.line) + " binds " + show(s.address) + ")");
        }
      }
    }
    seen.push_back(Seen{l.name, have_address ? l.address : HostPort{}, line});
    out.listeners.push_back(std::move(l));
  });
}

void parse_tls(const MapReader& sm, Service& out) {
  auto node = sm.get("tls");
  if (!node) return;
  const Ctx& ctx = sm.ctx();
  const Path p = sm.path().key("tls");
  MapReader m(ctx, *node, p, {"certificate", "key", "ca_bundle"});
  if (!m.ok()) return;
  TlsFiles tls;
  auto file = [&](std::string_view key, std::string& dest, bool required) {
    auto n = m.get(key);
    if (!n) {
      if (required) m.missing(key);
      return;
    }
    const Path kp = p.key(key);
    auto s = read_string(ctx, *n, kp);
    if (!s) return;
    if (s->empty()) {
      ctx.error(*n, kp, "must not be empty");
      return;
    }
    dest = resolve_path(ctx.base, *s);
    check_readable_file(ctx, *n, kp, dest);
  };
  file("certificate", tls.certificate, true);
  file("key", tls.key, true);
  file("ca_bundle", tls.ca_bundle, false);
  out.tls = std::move(tls);
}

void parse_dns(const MapReader& sm, Service& out) {
  auto node = sm.get("dns");
  if (!node) return;
  const Ctx& ctx = sm.ctx();
  const Path p = sm.path().key("dns");
  MapReader m(ctx, *node, p, {"servers"});
  if (!m.ok()) return;
  auto servers = m.get("servers");
  if (!servers) return;
  const Path sp = p.key("servers");
  for_each_string(ctx, *servers, sp, [&](const Located& l, const YAML::Node& n, const Path& ep) {
    if (auto hp = parse_host_port(l.text, false, true)) {
      out.dns.servers.push_back(*hp);
    } else {
      ctx.error(n, ep, hp.error().message);
    }
  });
}

void parse_queue(const MapReader& sm, Service& out) {
  auto node = sm.get("queue");
  if (!node) return;
  const Ctx& ctx = sm.ctx();
  const Path p = sm.path().key("queue");
  MapReader m(ctx, *node, p, {"retry_intervals", "message_expiration"});
  if (!m.ok()) return;
  if (auto ri = m.get("retry_intervals")) {
    const Path rp = p.key("retry_intervals");
    std::vector<Seconds> intervals;
    bool ok = true;
    for_each_string(ctx, *ri, rp, [&](const Located&, const YAML::Node& n, const Path& ep) {
      if (auto d = read_duration(ctx, n, ep, false)) {
        intervals.push_back(*d);
      } else {
        ok = false;
      }
    });
    if (ok && intervals.empty()) ctx.error(*ri, rp, "must list at least one interval");
    if (ok && !intervals.empty()) out.queue.retry_intervals = std::move(intervals);
  }
  opt_duration(m, "message_expiration", out.queue.message_expiration);
}

void parse_throttling(const MapReader& sm, Service& out) {
  auto node = sm.get("throttling");
  if (!node) return;
  const Path p = sm.path().key("throttling");
  MapReader m(sm.ctx(), *node, p, {"window", "max_messages_per_ip"});
  if (!m.ok()) return;
  opt_duration(m, "window", out.throttling.window);
  opt_uint(m, "max_messages_per_ip", out.throttling.max_messages_per_ip);  // 0 = no IP throttling
}

void parse_trace(const MapReader& sm, Service& out) {
  auto node = sm.get("trace");
  if (!node) return;
  const Path p = sm.path().key("trace");
  MapReader m(sm.ctx(), *node, p, {"retention", "buffer_events"});
  if (!m.ok()) return;
  opt_duration(m, "retention", out.trace.retention);
  opt_uint(m, "buffer_events", out.trace.buffer_events, 1);
}

void parse_admin(const MapReader& sm, Service& out) {
  auto node = sm.get("admin");
  if (!node) return;
  const Ctx& ctx = sm.ctx();
  const Path p = sm.path().key("admin");
  MapReader m(ctx, *node, p, {"address", "token_file"});
  if (!m.ok()) return;
  if (auto a = m.get("address")) {
    const Path ap = p.key("address");
    if (auto s = read_string(ctx, *a, ap)) {
      if (auto hp = parse_host_port(*s, true, true)) {
        out.admin.address = *hp;
      } else {
        ctx.error(*a, ap, hp.error().message);
      }
    }
  }
  if (auto t = m.get("token_file")) {
    const Path tp = p.key("token_file");
    if (auto s = read_string(ctx, *t, tp)) {
      if (s->empty()) {
        ctx.error(*t, tp, "must not be empty");
      } else {
        out.admin.token_file = resolve_path(ctx.base, *s);
      }
    }
  } else if (m.get("address")) {
    // The admin API can reload, delete and read mail: never serve it without a token.
    m.missing("token_file");
  }
}

void parse_limits(const MapReader& sm, Service& out) {
  auto node = sm.get("limits");
  if (!node) return;
  const Path p = sm.path().key("limits");
  MapReader m(sm.ctx(), *node, p,
              {"max_connections", "max_connections_per_ip", "max_errors", "command_timeout", "data_timeout",
               "shutdown_grace", "min_free_disk"});
  if (!m.ok()) return;
  Limits& l = out.limits;
  opt_uint(m, "max_connections", l.max_connections, 1);
  opt_uint(m, "max_connections_per_ip", l.max_connections_per_ip, 1);
  opt_uint(m, "max_errors", l.max_errors, 1);
  opt_duration(m, "command_timeout", l.command_timeout);
  opt_duration(m, "data_timeout", l.data_timeout);
  opt_duration(m, "shutdown_grace", l.shutdown_grace, true);
  opt_size(m, "min_free_disk", l.min_free_disk, true);
}

void parse_path(const MapReader& m, std::string_view key, std::string& out) {
  auto n = m.get(key);
  if (!n) return;
  const Path p = m.path().key(key);
  auto s = read_string(m.ctx(), *n, p);
  if (!s) return;
  if (s->empty()) {
    m.ctx().error(*n, p, "must not be empty");
    return;
  }
  out = resolve_path(m.ctx().base, *s);
}

}  // namespace

void parse_service(const Ctx& ctx, const YAML::Node& node, const Path& path, Service& out) {
  MapReader m(ctx, node, path,
              {"hostname", "listeners", "tls", "data_dir", "mailbox_store", "dns", "remote_smtp_port",
               "source_address", "max_message_size", "max_recipients", "max_hop_count", "queue", "throttling", "trace",
               "admin", "limits"});
  out.data_dir = resolve_path(ctx.base, "var");
  if (!m.ok()) return;

  if (auto h = m.get("hostname")) {
    const Path hp = path.key("hostname");
    if (auto s = read_string(ctx, *h, hp)) {
      if (auto d = parse_plain_domain(*s)) {
        out.hostname = d->str();
      } else {
        ctx.error(*h, hp, d.error().message);
      }
    }
  } else {
    m.missing("hostname");
  }
  parse_listeners(m, out);
  parse_tls(m, out);

  parse_path(m, "data_dir", out.data_dir);
  out.mailbox_store = resolve_path(out.data_dir, "mailboxes");
  parse_path(m, "mailbox_store", out.mailbox_store);

  parse_dns(m, out);
  if (auto n = m.get("remote_smtp_port")) {
    const Path p = path.key("remote_smtp_port");
    if (auto v = read_uint(ctx, *n, p, 1, 65535)) out.remote_smtp_port = static_cast<std::uint16_t>(*v);
  }
  if (auto n = m.get("source_address")) {
    const Path p = path.key("source_address");
    if (auto s = read_string(ctx, *n, p)) {
      if (auto ip = IpAddress::parse(*s)) {
        out.source_address = *ip;
      } else {
        ctx.error(*n, p, ip.error().message);
      }
    }
  }
  opt_size(m, "max_message_size", out.max_message_size);
  opt_uint(m, "max_recipients", out.max_recipients, 1);
  opt_uint(m, "max_hop_count", out.max_hop_count, 1);
  parse_queue(m, out);
  parse_throttling(m, out);
  parse_trace(m, out);
  parse_admin(m, out);
  parse_limits(m, out);
}

}  // namespace mf::config::detail
