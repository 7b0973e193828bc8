// util/log.hpp — structured logging: one line per event, `key=value` pairs after the event name.
//
// Every value that may come from the network is escaped by kv(): control characters, quotes and
// backslashes are written as \xNN / \" / \\ and values with spaces are quoted, so a hostile address or
// HELO can never forge a log line or a field (log injection). Logs go to stderr (SPEC §5).
// Thread-safe (spdlog's mt sinks).
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace mf::log {

// Configures the default logger: stderr, UTC ISO-8601 timestamps, level from `level` ("info").
void setup(std::string_view level = "info");

// `name=value` with value escaped/quoted as needed.
std::string kv(std::string_view name, std::string_view value);
std::string kv(std::string_view name, long long value);
std::string escape(std::string_view value);

}  // namespace mf::log
