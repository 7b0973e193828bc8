// tests/dns/dns_test_util.hpp — helpers shared by the dns tests: run an awaitable to completion,
// build RDATA for scripted answers.
#pragma once

#include "dns/caching_resolver.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <cstdint>
#include <future>
#include <string>
#include <vector>

namespace mf::dns::test {

// Runs `aw` on a fresh io_context until it (and all other work) completes.
template <class T>
T run_awaitable(boost::asio::io_context& io, boost::asio::awaitable<T> aw) {
  auto future = boost::asio::co_spawn(io, std::move(aw), boost::asio::use_future);
  io.restart();
  io.run();
  if (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    ADD_FAILURE() << "io_context::run() returned before the operation completed";
  }
  return future.get();
}

inline std::string mx_rdata(std::uint16_t pref, const std::string& host) {
  std::string b{static_cast<char>(pref >> 8), static_cast<char>(pref & 0xFF)};
  std::size_t start = 0;
  while (start < host.size()) {
    std::size_t dot = host.find('.', start);
    if (dot == std::string::npos) dot = host.size();
    b.push_back(static_cast<char>(dot - start));
    b.append(host, start, dot - start);
    start = dot + 1;
  }
  b.push_back('\0');
  return b;
}

inline std::string a_rdata(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  return std::string{static_cast<char>(a), static_cast<char>(b), static_cast<char>(c), static_cast<char>(d)};
}

inline std::string aaaa_rdata(std::uint16_t last) {
  std::string s(16, '\0');
  s[0] = 0x20; s[1] = 0x01; s[2] = 0x0d; s[3] = static_cast<char>(0xb8);
  s[14] = static_cast<char>(last >> 8);
  s[15] = static_cast<char>(last & 0xFF);
  return s;
}

}  // namespace mf::dns::test
