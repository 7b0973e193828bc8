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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 1;
  }
  if (*serve) return mf::cli::serve(config_path, log_level);
  if (*check) return mf::cli::check(config_path);
  return 1;
}
