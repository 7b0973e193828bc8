// smtp/data_reader.hpp — the DATA content reader: finds the end of data, undoes dot-stuffing, and
// bounds what it stores.
//
// Invariants:
//  - Only <CRLF> "." <CRLF> ends the data (the first line may be "." right away: an empty message).
//    A line starts only after CRLF; bare CR and bare LF are content, never line ends, so
//    "\n.\n", "\r\n.\n", "\r.\r\n", "\r\n\x00.\r\n" and friends never end the data (security
//    catalogue B01-B05). Every bare CR / bare LF seen is recorded (bare_cr_lf()) for strict mode.
//  - Dot-unstuffing: a line starting with "." loses that first dot (RFC 5321 §4.5.2).
//  - NUL octets and long lines are content and are kept.
//  - Storage is bounded: at most `max_content` octets of unstuffed content are stored after the
//    prefix; the rest is counted (content_size()) and discarded.
// No I/O; not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mf::smtp {

class DataReader {
 public:
  // Begins a new message whose stored form starts with `prefix` (the Received: header).
  void start(std::string prefix, std::uint64_t max_content);

  // Consumes content up to and including the end-of-data line; returns how many octets of `bytes`
  // were consumed (all of them unless the end of data was found inside).
  std::size_t feed(std::string_view bytes);

  bool done() const { return state_ == State::done; }
  bool bare_cr_lf() const { return bare_; }
  std::uint64_t content_size() const { return size_; }  // unstuffed octets, stored or not
  bool too_big() const { return size_ > max_; }
  std::string_view content() const { return std::string_view(stored_).substr(prefix_len_); }
  // The stored message (prefix + content); leaves the reader empty.
  std::string take();

 private:
  enum class State {
    line_start,  // after CRLF (or at the very beginning)
    dot,         // "." at the start of a line
    dot_cr,      // "." CR at the start of a line
    mid,         // inside a line
    cr,          // a CR inside a line, LF not seen yet
    done,
  };
  void emit(std::string_view s);
  void emit(char c) { emit(std::string_view(&c, 1)); }

  State state_ = State::done;
  std::string stored_;
  std::size_t prefix_len_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t size_ = 0;
  bool bare_ = false;
};

}  // namespace mf::smtp
