// trace/sink.hpp — where the running service puts message trace events (SPEC §6).
//
// The receive path, the routing dispatcher, local delivery, the outbound engine and the tracker each
// hold a Sink& and call record() at the moment something happens to a message. record() is on the
// critical path (a RECEIVE is recorded right after the spool commit, before the 250 is written), so
// an implementation must never block on I/O, never fail and never throw: an event it cannot keep is
// counted and dropped (the trace is an observation, the spool is the durability guarantee).
// Thread-safe: record() is called concurrently from the io thread, the delivery pool and the outbound
// thread.
#pragma once

#include "trace/event.hpp"

namespace mf::trace {

class Sink {
 public:
  virtual ~Sink() = default;
  // Takes the event (moved in; implementations keep or drop it, never block).
  virtual void record(Event e) = 0;
};

// Keeps nothing: the default of every component that takes a Sink (tests, tools).
class NullSink final : public Sink {
 public:
  void record(Event) override {}
};

// A process-wide NullSink.
Sink& null_sink();

}  // namespace mf::trace
