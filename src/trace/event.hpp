// trace/event.hpp — one message trace event (SPEC §6), the unit the trace store keeps and
// `mailflow trace` / GET /api/v1/trace return.
//
// Event names follow Exchange's message trace: RECEIVE (accepted with 250 and durable), RESOLVE (a
// recipient resolved to another address: mail_user/mail_contact target, proxy → primary), EXPAND (a
// group expanded; detail lists the members), REDIRECT (a rule redirected a recipient), TRANSPORT_RULE
// (a mail flow rule fired; detail names it and its actions, audit mode included), BIFURCATE (the
// message split into copies; one event per copy), SEND (a remote host accepted the copy), DELIVER
// (written to a local mailbox), DEFER (a temporary failure; will be retried), FAIL (permanent
// failure of a recipient), DROP (a rule deleted the message for a recipient, or a duplicate was
// dropped), NDR (a non-delivery report was generated for this message).
//
// Copies of a bifurcated message share message_id and have their own copy_id ("" = the message as
// received, before any split). All strings are plain UTF-8 and never contain CR or LF.
#pragma once

#include "core/clock.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mf::trace {

enum class EventType { RECEIVE, RESOLVE, EXPAND, REDIRECT, TRANSPORT_RULE, BIFURCATE, SEND, DELIVER, DEFER, FAIL, DROP, NDR };

const char* to_string(EventType t);
std::optional<EventType> event_type_from_string(std::string_view s);

struct Event {
  std::int64_t time_us = 0;          // unix time, microseconds
  std::string message_id;            // the service's message id (the spool id)
  std::string copy_id;               // a copy of a bifurcated message, "" for the message itself
  std::string internet_message_id;   // the Message-ID header without <>, when known
  EventType type = EventType::RECEIVE;
  std::string organization;          // organization name, "" when not attributed
  std::string sender;                // envelope sender ("" = null sender <>)
  std::string recipient;             // envelope recipient the event is about, "" when message-wide
  std::string connector;             // inbound (RECEIVE) or outbound connector name, "" when none
  std::string next_hop;              // next-hop key (smart-host set, MX domain, "local")
  std::string remote_host;           // "host [ip]:port" talked to (SEND, DEFER, FAIL) or the client (RECEIVE)
  std::string reply;                 // the SMTP reply given or received, e.g. "250 2.0.0 Ok"
  std::string tls;                   // "TLSv1.3 TLS_AES_256_GCM_SHA384", "" without TLS
  std::string detail;                // free text: rule name and actions, group members, reason
};

// A trace search (`mailflow trace`, GET /api/v1/trace). Empty fields do not filter; addresses compare
// case-insensitively (ASCII); message_id matches the service's message id or the Message-ID header
// (with or without <>). A recipient matches the events about that recipient and the message-wide
// events (recipient "": RECEIVE, BIFURCATE, NDR) of the messages that have one; a Message-ID header
// matches every event of the messages that carried it. Results are in time order (then insertion
// order), at most `limit` events.
struct Query {
  std::string sender;
  std::string recipient;
  std::string message_id;
  std::int64_t since_us = 0;  // unix microseconds; 0 = no lower bound
  std::size_t limit = 1000;
};

// Unix microseconds of a clock reading (Event::time_us).
inline std::int64_t unix_us(SysTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// The Message-ID header of a message (its header section only is read), without <> and with CR,
// LF and surrounding blanks removed; "" when there is none. Cheap: no allocation but the result.
std::string internet_message_id(std::string_view message);

}  // namespace mf::trace
