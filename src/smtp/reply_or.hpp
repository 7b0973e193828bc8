// smtp/reply_or.hpp — the outcome of parsing one piece of an SMTP command: a value, or the exact SMTP
// reply that rejects the input (tier (a) of the error policy: untrusted input gets a reply, the
// session goes on). Used by the command, path and parameter parsers; never thrown.
#pragma once

#include "core/reply.hpp"

#include <utility>
#include <variant>

namespace mf::smtp {

template <class T>
class ReplyOr {
 public:
  ReplyOr(T value) : v_(std::in_place_index<0>, std::move(value)) {}     // NOLINT: implicit by design
  ReplyOr(Reply reply) : v_(std::in_place_index<1>, std::move(reply)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Precondition: ok().
  T& operator*() { return std::get<0>(v_); }
  const T& operator*() const { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }

  // Precondition: !ok().
  const Reply& reply() const { return std::get<1>(v_); }

 private:
  std::variant<T, Reply> v_;
};

}  // namespace mf::smtp
