// funnel/procwire/preset.h
// -----------------------------------------------------------------------------
// `procwire_preset` and `procwire_writer`: the Rust seed writer as one
// instantiation: lock-free MPSC queue of 1024 procwire frames, sleep
// backpressure (100 µs polls, 5 s timeout, 1024 frames; up to 100 yields
// before the first poll, which the seed did not make), batches of 64,
// writev on an fd (on Windows: win32_handle_sink, WriteFile on a HANDLE).
// Its defects are not part of it: the bound is exact, the writer thread
// sleeps when idle, buffers are reused, lost frames are counted.
//
//   funnel::procwire_writer w(funnel::posix_writev_sink(fd));
//   w.handle().send(funnel::outbound_frame::make(method, flags, id, payload));
//
// Swap one policy with funnel::with<procwire_preset, P> (funnel/policy_set.h).
#ifndef FUNNEL_PROCWIRE_PRESET_H_
#define FUNNEL_PROCWIRE_PRESET_H_

#include "funnel/basic_writer.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policy_set.h"
#include "funnel/procwire/frame.h"
#if defined(_WIN32)
#include "funnel/policies/sink/win32_handle_sink.h"
#else
#include "funnel/policies/sink/posix_writev_sink.h"
#endif

namespace funnel::inline procwire {

#if defined(_WIN32)
// On Windows the seed's "writev on an fd" is WriteFile on a HANDLE (a pipe).
using procwire_preset =
    policy_set<mpsc_ring<outbound_frame>, win32_handle_sink, sleep_backpressure, count_batcher>;
#else
using procwire_preset =
    policy_set<mpsc_ring<outbound_frame>, posix_writev_sink, sleep_backpressure, count_batcher>;
#endif
using procwire_writer = writer_for<procwire_preset>;

}  // namespace funnel::inline procwire

#endif  // FUNNEL_PROCWIRE_PRESET_H_
