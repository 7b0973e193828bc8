// queue/queue.hpp — the outbound scheduler's data structures and retry arithmetic (R-NDR-2).
//
// A spooled message's remote recipients are grouped by next hop (routing::NextHop::key()) into Jobs.
// A Job waits in the WaitQueue until it is due (first attempt: at once; after a temporary failure:
// next_attempt()), then moves to the ReadyQueues of its hop, where a bounded number of connections
// per hop (default 20, Postfix's destination concurrency limit) take jobs one after another
// (connection reuse). This is the KumoMTA scheduled-queue / ready-queue split (mta-anchors §3.2)
// with Postfix's per-destination concurrency cap (§3.1), minus everything that needs I/O.
//
// Invariants: WaitQueue pops in (due, message id, insertion) order; a hop never has more than
// connections_per_hop connections reserved nor more than max_per_hop ready jobs; schedule times never
// exceed expires_at(), so a message gets a final attempt exactly at its expiry.
// Threads: none started. Schedule functions are pure and thread-safe. WaitQueue and ReadyQueues are
// NOT thread-safe: their owner (the delivery agent) serialises all access on one strand.
// Errors: none; a full ready queue is reported by ReadyQueues::push() returning false.
// Never: no I/O, no sockets, no Asio, no clock reads — time comes in as SysTime arguments
// (from an injected mf::Clock).
#pragma once

#include "queue/job.hpp"
#include "queue/ready_queues.hpp"
#include "queue/schedule.hpp"
#include "queue/wait_queue.hpp"
