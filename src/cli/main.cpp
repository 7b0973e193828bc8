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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 1;
  }
  if (*serve) return mf::cli::serve(config_path, log_level);
  if (*check) return mf::cli::check(config_path);
  if (*route) return mf::cli::route(route_opts);
  return 1;
}
