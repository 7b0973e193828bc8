// routing/edits.hpp — applies the header edits of mail flow rules (R-RULE-3) to a message.
//
// What it does: rewrites the header section of one RFC 5322 message (CRLF line ends) as a rule's
// HeaderEdits say, in this order: every field named in remove_headers goes (with its folded
// continuation lines); each set_headers entry replaces every field of that name by one
// `Name: value` field at the first one's position, or is appended at the end of the header section;
// a non-empty prepend_subject prefixes the value of every Subject field (`Subject: <prefix><old
// value>`, its folding kept), or appends `Subject: <prefix>` when there is none. Names compare ASCII
// case-insensitively.
// Invariants: the body (from the empty line that ends the header section) is copied byte for byte;
// fields that no edit names are copied byte for byte, in order; empty edits return `data` unchanged;
// a message with no empty line is all header section. Never introduces a bare CR or LF: CR and LF
// in edit names, values and prefixes are dropped, and a last header line without CRLF gets one
// before anything is appended after it. Long values are not folded.
// Threads: pure; reads only its arguments. Never: I/O, exceptions (other than std::bad_alloc).
#pragma once

#include "routing/rules.hpp"

#include <string>
#include <string_view>

namespace mf::routing {

std::string apply_header_edits(std::string_view data, const HeaderEdits& edits);

}  // namespace mf::routing
