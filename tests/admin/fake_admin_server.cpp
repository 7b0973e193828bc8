// tests/admin/fake_admin_server.cpp — a real AdminServer over the scripted FakeBackend, for the CLI
// tests (tests/cli/admin_cli_test.py) until the service itself is wired.
//
//   fake_admin_server --token-file FILE [--reload-fails] [--trace-fails] [--summary-throws]
//
// Creates the token file when absent (load_or_create_token), listens on 127.0.0.1 port 0, prints the
// port on a line of its own on stdout, and serves until its stdin is closed.
#include "admin/fake_backend.hpp"
#include "admin/server.hpp"
#include "admin/token.hpp"
#include "metrics/service_metrics.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  std::string token_file;
  bool reload_fails = false, trace_fails = false, summary_throws = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--token-file") == 0 && i + 1 < argc) {
      token_file = argv[++i];
    } else if (std::strcmp(argv[i], "--reload-fails") == 0) {
      reload_fails = true;
    } else if (std::strcmp(argv[i], "--trace-fails") == 0) {
      trace_fails = true;
    } else if (std::strcmp(argv[i], "--summary-throws") == 0) {
      summary_throws = true;
    } else {
      std::fprintf(stderr, "usage: fake_admin_server --token-file FILE [--reload-fails] [--trace-fails] "
                           "[--summary-throws]\n");
      return 1;
    }
  }
  auto token = mf::admin::load_or_create_token(token_file);
  if (!token) {
    std::fprintf(stderr, "fake_admin_server: %s\n", token.error().message.c_str());
    return 1;
  }
  spdlog::set_level(spdlog::level::warn);

  mf::metrics::Registry registry;
  mf::metrics::ServiceMetrics metrics(registry);
  metrics.messages_delivered_total.with({"contoso", "internet"}).inc(5);
  mf::admin::testing::FakeBackend backend(&metrics.queue_messages);
  if (reload_fails) backend.next_reload = {false, {"mailflow.yaml:3:13: service.hostname: must be a domain name"}};
  backend.trace_fails = trace_fails;
  backend.summary_throws = summary_throws;

  mf::admin::AdminServerOptions options;
  options.token = *token;
  mf::admin::AdminServer server(options, backend, &registry);
  if (auto started = server.start(); !started) {
    std::fprintf(stderr, "fake_admin_server: %s\n", started.error().message.c_str());
    return 1;
  }
  std::printf("%u\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  std::string ignored;
  while (std::getline(std::cin, ignored)) {
  }
  server.stop();
  return 0;
}
