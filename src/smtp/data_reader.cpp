#include "smtp/data_reader.hpp"

#include <algorithm>
#include <cstring>

namespace mf::smtp {

void DataReader::start(std::string prefix, std::uint64_t max_content) {
  stored_ = std::move(prefix);
  prefix_len_ = stored_.size();
  max_ = max_content;
  size_ = 0;
  bare_ = false;
  state_ = State::line_start;
}

void DataReader::emit(std::string_view s) {
  size_ += s.size();
  const std::uint64_t kept = stored_.size() - prefix_len_;
  if (kept >= max_) return;
  const std::uint64_t room = max_ - kept;
  stored_.append(s.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(room, s.size()))));
}

std::size_t DataReader::feed(std::string_view in) {
  std::size_t i = 0;
  // The next CR at or after i (in.size() when none), found by memchr once and reused until i passes
  // it, so a chunk full of bare LFs is still scanned once (linear, not once per line).
  std::size_t next_cr = 0;
  bool have_cr = false;
  while (i < in.size() && state_ != State::done) {
    const char c = in[i];
    switch (state_) {
      case State::mid: {
        // Fast path: everything up to the next CR or LF is plain content (two vectorised memchr
        // scans: every received byte goes through here).
        if (!have_cr || next_cr < i) {
          const void* cr = std::memchr(in.data() + i, '\r', in.size() - i);
          next_cr = cr != nullptr ? static_cast<std::size_t>(static_cast<const char*>(cr) - in.data()) : in.size();
          have_cr = true;
        }
        const void* lf = std::memchr(in.data() + i, '\n', next_cr - i);
        const std::size_t j =
            lf != nullptr ? static_cast<std::size_t>(static_cast<const char*>(lf) - in.data()) : next_cr;
        if (j > i) emit(in.substr(i, j - i));
        i = j;
        if (i < in.size()) {
          if (in[i] == '\r') {
            state_ = State::cr;
          } else {
            emit('\n');  // a bare LF: content, not a line end
            bare_ = true;
          }
          ++i;
        }
        break;
      }
      case State::line_start:
        ++i;
        if (c == '.') {
          state_ = State::dot;
        } else if (c == '\r') {
          state_ = State::cr;
        } else {
          emit(c);
          if (c == '\n') bare_ = true;
          state_ = State::mid;
        }
        break;
      case State::dot:
        if (c == '\r') {
          state_ = State::dot_cr;
          ++i;
        } else {
          state_ = State::mid;  // dot-stuffed line: the leading dot is dropped, `c` is read as content
        }
        break;
      case State::dot_cr:
        if (c == '\n') {
          state_ = State::done;  // <CRLF> "." <CRLF>
          ++i;
        } else {
          emit('\r');  // ".\r" not followed by LF: a bare CR in a dot-stuffed line
          bare_ = true;
          state_ = State::mid;
        }
        break;
      case State::cr:
        if (c == '\n') {
          emit(std::string_view("\r\n", 2));
          state_ = State::line_start;
          ++i;
        } else {
          emit('\r');  // bare CR; `c` is read again as content
          bare_ = true;
          state_ = State::mid;
        }
        break;
      case State::done:
        break;
    }
  }
  return i;
}

std::string DataReader::take() {
  std::string out = std::move(stored_);
  stored_.clear();
  prefix_len_ = 0;
  size_ = 0;
  bare_ = false;
  state_ = State::done;
  return out;
}

}  // namespace mf::smtp
