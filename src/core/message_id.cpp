#include "core/message_id.hpp"

#include <atomic>
#include <chrono>
#include <random>

namespace mf {

namespace {
constexpr char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";  // base 32, sorts like the number

void append_base32(std::string& out, std::uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; --i) out.push_back(kAlphabet[(v >> (5 * i)) & 31]);
}

std::atomic<std::uint64_t>& counter() {
  static std::atomic<std::uint64_t> c{std::random_device{}()};
  return c;
}
}  // namespace

std::string new_message_id() {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch()).count();
  std::string id;
  id.reserve(20);
  append_base32(id, static_cast<std::uint64_t>(us), 12);  // 60 bits of microseconds
  append_base32(id, counter().fetch_add(1), 8);           // 40 bits of counter
  return id;
}

bool is_valid_message_id(std::string_view id) {
  if (id.size() != 20) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'V'))) return false;
  }
  return true;
}

}  // namespace mf
