// mailflow — SMTP mail transport server. See SPEC §5 for the command line.
#include "cli/commands.hpp"

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"mailflow — SMTP mail transport server with Exchange-style routing"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "mailflow 0.1.0");

  std::string config_path;
  std::string log_level = "info";

  auto* serve = app.add_subcommand("serve", "Run the service in the foreground (logs to stderr)");
  serve->add_option("--config", config_path, "Configuration file (YAML or JSON)")->required();
  serve->add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  auto* check = app.add_subcommand("check", "Validate a configuration file and print its errors");
  check->add_option("--config", config_path, "Configuration file (YAML or JSON)")->required();

  mf::cli::RouteOptions route_opts;
  auto* route = app.add_subcommand("route", "Dry run: show how a message would be attributed, resolved and routed");
  route->add_option("--config", route_opts.config_path, "Configuration file (YAML or JSON)")->required();
  route->add_option("--from", route_opts.from, "Envelope sender (MAIL FROM); \"<>\" or \"\" for the null sender")
      ->required();
  route->add_option("--to", route_opts.to, "Envelope recipients (RCPT TO), comma-separated, in order")->required();
  route->add_option("--client-ip", route_opts.client_ip, "IP address of the simulated client (default 192.0.2.1)");
  route->add_option("--tls-cert-name", route_opts.tls_cert_name,
                    "The client presented a verified certificate carrying this name (implies TLS)");
  route->add_flag("--tls", route_opts.tls, "The client used STARTTLS (without a client certificate)");
  route->add_option("--subject", route_opts.subject, "Subject of the synthetic message (for mail flow rules)");
  route->add_option("--auth", route_opts.auth, "Authenticated mailbox (a submission session; implies TLS)");
  route->add_flag("--json", route_opts.json, "Machine-readable output (one JSON object)");

  auto add_target = [](CLI::App* cmd, mf::cli::AdminTarget& t) {
    cmd->add_option("--config", t.config_path, "Configuration file of the running service (for service.admin)");
    cmd->add_option("--admin", t.admin, "Admin API address host:port (overrides service.admin.address)");
    cmd->add_option("--token-file", t.token_file, "Admin token file (overrides service.admin.token_file)");
    cmd->footer("Exit codes: 0 ok; 1 user error (bad arguments, no service.admin in the config, unreadable or "
                "wrong token, unknown message, wrong state, configuration errors on reload); 2 service "
                "unreachable (nothing listening, timeout) or failing (HTTP 5xx).");
  };

  mf::cli::QueueOptions queue_opts;
  auto* queue = app.add_subcommand("queue", "Inspect and steer the queue of a running service");
  queue->require_subcommand(1);
  add_target(queue, queue_opts.target);
  queue->add_flag("--json", queue_opts.json, "Machine-readable output");
  auto* q_list = queue->add_subcommand("list", "List queued messages (like mailq; '!' marks a held message)");
  auto* q_summary = queue->add_subcommand("summary", "Queue totals by next hop, connector and organization");
  auto* q_show = queue->add_subcommand("show", "Show one queued message");
  q_show->add_option("id", queue_opts.id, "Message id")->required();
  auto* q_retry = queue->add_subcommand("retry", "Retry a message now (all deferred messages without ID)");
  q_retry->add_option("id", queue_opts.id, "Message id");
  auto* q_delete = queue->add_subcommand("delete", "Delete a message from the queue (no NDR)");
  q_delete->add_option("id", queue_opts.id, "Message id")->required();
  auto* q_hold = queue->add_subcommand("hold", "Hold a message: no delivery attempts until released");
  q_hold->add_option("id", queue_opts.id, "Message id")->required();
  auto* q_release = queue->add_subcommand("release", "Release a held message");
  q_release->add_option("id", queue_opts.id, "Message id")->required();
  for (auto* sub : {q_list, q_summary, q_show, q_retry, q_delete, q_hold, q_release}) {
    add_target(sub, queue_opts.target);
    sub->add_flag("--json", queue_opts.json, "Machine-readable output");
  }

  mf::cli::TraceOptions trace_opts;
  auto* trace = app.add_subcommand("trace", "Message trace: what happened to messages");
  add_target(trace, trace_opts.target);
  trace->add_option("--sender", trace_opts.sender, "Envelope sender");
  trace->add_option("--recipient", trace_opts.recipient, "Envelope recipient");
  trace->add_option("--message-id", trace_opts.message_id, "Message id (the service's, or the Message-ID header)");
  trace->add_option("--since", trace_opts.since, "Start time: ISO 8601 UTC, or a duration back from now (15m, 2h, 1d)");
  trace->add_flag("--json", trace_opts.json, "Machine-readable output");

  mf::cli::AdminTarget reload_target;
  auto* reload = app.add_subcommand("reload", "Make the running service re-read its configuration (like SIGHUP)");
  add_target(reload, reload_target);

  mf::cli::ValidateConnectorOptions vc_opts;
  auto* vc = app.add_subcommand("validate-connector",
                                "Connect to an outbound connector's hosts and report, host by host (R-OUT-10)");
  vc->footer(
      "Resolves the connector's smart hosts (or the recipient domain's MX) as delivery does, then per host\n"
      "reports: connect, banner, EHLO, STARTTLS with the certificate and the TLS policy verdict, MAIL FROM,\n"
      "RCPT TO (DATA only with --send: one short test message per host), QUIT. Advisory: changes nothing.\n"
      "Exit codes: 0 at least one host accepted the recipient (the connector can deliver);\n"
      "            1 no host did, or a user/configuration error (unknown connector, bad address or config).");
  vc->add_option("--config", vc_opts.config_path, "Configuration file (YAML or JSON)")->required();
  vc->add_option("name", vc_opts.connector, "Outbound connector name")->required();
  vc->add_option("--to", vc_opts.to, "Recipient address to test with")->required();
  vc->add_option("--from", vc_opts.from, "MAIL FROM (default postmaster@<service.hostname>; \"<>\" for the null sender)");
  vc->add_flag("--send", vc_opts.send, "Also send a short test message (DATA)");
  vc->add_flag("--json", vc_opts.json, "Machine-readable output (one JSON object)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 1;
  }
  if (*serve) return mf::cli::serve(config_path, log_level);
  if (*check) return mf::cli::check(config_path);
  if (*route) return mf::cli::route(route_opts);
  if (*queue) {
    for (auto* sub : queue->get_subcommands()) queue_opts.verb = sub->get_name();
    return mf::cli::queue(queue_opts);
  }
  if (*trace) return mf::cli::trace(trace_opts);
  if (*reload) return mf::cli::reload(reload_target);
  if (*vc) return mf::cli::validate_connector(vc_opts);
  return 1;
}
