// funnel/policies/batcher/lingering.h
// -----------------------------------------------------------------------------
// `lingering<Inner>`: any Batcher, plus the `linger(st)` hook. The batches are
// Inner's (admits and max_frames_hint are forwarded, and so is Inner's
// `coalesce_below` hook if it has one); what changes is when a small batch is
// written: when the queue runs dry while the batch holds fewer than `small`
// frames and Inner would still take another frame, the writer waits up to
// `linger` for more (Kafka's linger.ms, Nagle's idea with a hard bound). The
// wait is measured from the first time the queue ran dry for this batch; the
// next frame ends it at once, and close() ends it too. A `linger` of zero
// never waits: the batcher is then Inner.
//
//   lingering<count_batcher>               linger_batcher
//   lingering<byte_batcher>                linger, cap frames and bytes
//   coalescing<lingering<byte_batcher>>    ... and coalesce small ranges
//
// When to use: producers that trickle frames one at a time, where a system
// call per frame costs more than `linger` of added latency.
// When not to use: latency-sensitive traffic (every lone frame waits);
// bursty producers (batches fill up by themselves).
//
// Cost on the hot path: none while frames are ready. When the queue runs dry
// with a small batch: Inner::admits once, a clock read and a timed wait in
// Queue::pop_wait.
// Thread-safety: immutable after construction; called from the writer thread.
// Memory ordering: none. Blocking: makes the writer wait up to `linger` in
// Queue::pop_wait (woken at once by the next frame). Allocation: none.
#ifndef FUNNEL_POLICIES_BATCHER_LINGERING_H_
#define FUNNEL_POLICIES_BATCHER_LINGERING_H_

#include <cstddef>
#include <utility>

#include "absl/time/time.h"
#include "funnel/concepts.h"  // batch_stats, the batcher concepts

namespace funnel {

inline constexpr std::size_t kDefaultLingerSmall = 64;

template <class Inner>
class lingering {
  static_assert(batcher<Inner>,
                "funnel::lingering<Inner>: Inner must model funnel::batcher (admits, "
                "max_frames_hint, copyable; see funnel/concepts.h, \"Batcher\")");

 public:
  lingering() = default;
  // Lingers up to `linger` while the batch holds fewer than `small` frames.
  // A negative `linger` is taken as zero.
  explicit lingering(Inner inner, absl::Duration linger = absl::ZeroDuration(),
                     std::size_t small = kDefaultLingerSmall)
      : inner_(std::move(inner)),
        small_(small),
        linger_(linger < absl::ZeroDuration() ? absl::ZeroDuration() : linger) {}

  bool admits(const batch_stats& batch, std::size_t frame_bytes) const {
    return inner_.admits(batch, frame_bytes);
  }
  std::size_t max_frames_hint() const { return inner_.max_frames_hint(); }
  // Asked with batch.frames >= 1 (the writer has a batch when the queue runs
  // dry). A batch Inner would not grow even by a 1-byte frame is full: no
  // point waiting for company.
  absl::Duration linger(const batch_stats& batch) const {
    return batch.frames < small_ && inner_.admits(batch, 1) ? linger_ : absl::ZeroDuration();
  }
  // Inner's coalescing, when it has one.
  std::size_t coalesce_below() const requires batcher_with_coalescing<Inner> {
    return inner_.coalesce_below();
  }

  const Inner& inner() const noexcept { return inner_; }

 private:
  Inner inner_{};
  std::size_t small_ = kDefaultLingerSmall;
  absl::Duration linger_ = absl::ZeroDuration();
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BATCHER_LINGERING_H_
