// funnel/detail/observation.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// `batch_observation<O>`: what a writer loop keeps to report batches to its
// Observer (funnel/observer.h): the observer itself, the timing of the
// current batch's write calls (write_whole fills it, batch_write.h), the
// backlog seen when the batch was taken, and the producer-wait count at the
// previous report. `batch_observation<no_observer>` is empty and its timing()
// is `untimed`, so write_whole reads no clock; the loops call taken() and
// written() only under `if constexpr (kObserved<O>)`.
//
// Thread-safety: the writer thread only. Allocation: none.
#ifndef FUNNEL_DETAIL_OBSERVATION_H_
#define FUNNEL_DETAIL_OBSERVATION_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <utility>

#include "absl/time/time.h"
#include "funnel/concepts.h"
#include "funnel/observer.h"

namespace funnel::detail {

// The write calls of one batch: write_whole adds each call's duration.
struct write_timing {
  std::uint64_t calls = 0;
  absl::Duration total = absl::ZeroDuration();
  absl::Duration max = absl::ZeroDuration();

  void add(std::chrono::steady_clock::duration d) noexcept {
    const absl::Duration call = absl::FromChrono(d);
    ++calls;
    total += call;
    max = std::max(max, call);
  }
};

// write_whole's timing argument when nothing observes the writer.
struct untimed {};

template <class O>
class batch_observation {
 public:
  explicit batch_observation(O observer) : observer_(std::move(observer)) {}

  write_timing* timing() noexcept { return &timing_; }

  // A batch of `frames` frames was just taken from the queue: notes the
  // frames still pending behind it.
  template <class Shared>
  void taken(const Shared& w, std::uint64_t frames) noexcept {
    const std::uint64_t accepted = w.accepted(), processed = w.processed();
    const std::uint64_t pending = accepted > processed ? accepted - processed : 0;
    queue_depth_ = pending > frames ? pending - frames : 0;
  }

  // The batch is completely written: reports it. May throw (the observer's
  // exception fails the writer, as any policy's).
  template <class Shared>
  void written(const Shared& w, const batch_stats& st) {
    // Relaxed: a statistic the producers count (admission.h); no data hangs on it.
    const std::uint64_t waits = w.backpressure_waits.load(std::memory_order_relaxed);
    batch_report r;
    r.frames = st.frames;
    r.bytes = st.bytes;
    r.write_calls = timing_.calls;
    r.write_time = timing_.total;
    r.max_write_call = timing_.max;
    r.queue_depth = queue_depth_;
    r.producer_waits = waits - waits_seen_;
    waits_seen_ = waits;
    timing_ = write_timing{};
    observer_.on_batch(r);
  }

 private:
  O observer_;
  write_timing timing_;
  std::uint64_t queue_depth_ = 0;
  std::uint64_t waits_seen_ = 0;  // backpressure_waits at the previous report
};

template <>
class batch_observation<no_observer> {
 public:
  explicit batch_observation(no_observer) noexcept {}
  untimed timing() noexcept { return {}; }
};

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_OBSERVATION_H_
