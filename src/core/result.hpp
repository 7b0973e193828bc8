// core/result.hpp — the error-as-value vocabulary used across mailflow.
//
// Policy (STYLE habit 7): untrusted input gets an SMTP reply and the session goes on;
// environment failures (disk, peer, DNS) come back as values (Result<T>), are logged and counted;
// broken invariants abort. Exceptions never cross a module boundary.
#pragma once

#include <boost/system/result.hpp>
#include <stdexcept>
#include <string>

namespace mf {

// An error with a human-readable message (shown to administrators or turned into an SMTP reply by
// the one place that maps errors to replies).
struct Error {
  // Built only through make_error(): a constructor taking a plain string would make
  // Result<std::string> ambiguous.
  struct Tag {};
  Error() = default;
  Error(Tag, std::string m) : message(std::move(m)) {}
  std::string message;
};

[[noreturn]] inline void throw_exception_from_error(const Error& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

template <class T>
using Result = boost::system::result<T, Error>;

inline Error make_error(std::string message) { return Error{Error::Tag{}, std::move(message)}; }

}  // namespace mf
