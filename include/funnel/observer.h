// funnel/observer.h
// -----------------------------------------------------------------------------
// The Observer concept: an optional fifth policy of
// `basic_writer<Queue, Sink, Backpressure, Batcher, Observer = no_observer>`
// that sees every batch the writer thread completes, with the time its
// Sink::write calls took. For metrics, periodic summaries, latency alarms.
//
// Required expressions, for `O o`, `const batch_report r`:
//   O is move-constructible (it lives inside the writer, moved in by the
//                           constructor's last argument).
//   o.on_batch(r)           writer thread only. Called once per batch, after
//                           the batch is completely written (and the sink
//                           flushed, if it can be), before the batch's budget
//                           returns and before producers and flush() callers
//                           are woken. Hence: when flush() or close() returns,
//                           the observer has seen every batch they waited for
//                           (on_batch happens-before the counter store flush()
//                           reads). A batch whose write fails is not reported.
//                           May be stateful; may not block for long (the
//                           producers wait for that budget). An exception
//                           fails the writer with Internal, like any policy's.
//
// Sums: over the reports of a writer closed cleanly, frames, bytes,
// write_calls and the report count equal stats().frames_written,
// bytes_written, write_calls and batches (stats() stays exact, observed or
// not); producer_waits adds up to stats().backpressure_waits except for
// waits that began after the last report (a send that waited, then gave up
// or found the writer closed).
//
// Cost: `no_observer` (the default) costs nothing: the writer tests for it at
// compile time, reads no clock and builds no report. With an observer: two
// steady-clock reads per Sink::write call, two relaxed atomic loads per batch
// (queue depth, producer waits), and the call.
//
// Models: no_observer (here); summary_observer
// (funnel/policies/observer/summary_observer.h), which keeps per-interval
// counts and a write-latency histogram another thread reads.
#ifndef FUNNEL_OBSERVER_H_
#define FUNNEL_OBSERVER_H_

#include <concepts>
#include <cstdint>
#include <type_traits>

#include "absl/time/time.h"

namespace funnel {

// What one completely written batch was. Plain data; on the writer thread's
// stack, valid for the duration of the on_batch call.
struct batch_report {
  std::uint64_t frames = 0;  // frames in the batch
  std::uint64_t bytes = 0;   // their wire bytes
  // Sink::write calls for the batch (more than one after partial writes).
  std::uint64_t write_calls = 0;
  // The sum of those calls' durations (steady clock), and the longest one.
  // The flush of a flushable sink is not included.
  absl::Duration write_time = absl::ZeroDuration();
  absl::Duration max_write_call = absl::ZeroDuration();
  // Frames accepted and still pending right after this batch was taken from
  // the queue (not counting the batch itself): the backlog the writer faced.
  std::uint64_t queue_depth = 0;
  // Sends that had to wait for budget (stats().backpressure_waits) since the
  // previous report: producers held back by this writer.
  std::uint64_t producer_waits = 0;
};

// A type usable as basic_writer's Observer. (Named after the role, as the
// other policy concepts in funnel/concepts.h.)
template <class O>
concept observer_has_on_batch = requires(O& o, const batch_report& r) {
  o.on_batch(r);
};
template <class O>
concept observer = std::move_constructible<O> && observer_has_on_batch<O>;

// The default Observer: none. The writer recognises it at compile time and
// does no observation work at all (no clock reads, no report).
struct no_observer {
  void on_batch(const batch_report&) noexcept {}
};

namespace detail {
// True when the writer must time its writes and build reports.
template <class O>
inline constexpr bool kObserved = !std::is_same_v<O, no_observer>;
}  // namespace detail

}  // namespace funnel

#endif  // FUNNEL_OBSERVER_H_
