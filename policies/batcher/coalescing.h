// funnel/policies/batcher/coalescing.h
// -----------------------------------------------------------------------------
// `coalescing<Inner>`: any Batcher, plus the `coalesce_below()` hook. The
// batches are Inner's (admits and max_frames_hint are forwarded, and so is
// Inner's `linger` hook if it has one); what changes is how a batch reaches
// the sink: every wire range (Frame::wire()) shorter than `coalesce_below`
// bytes is copied into one contiguous staging buffer the writer owns, so a
// run of small frames becomes one range instead of one or two per frame.
// Longer ranges (large payloads) are still written from the producer's
// buffer, between runs. For procwire frames that means the 11-byte header is
// copied too whenever coalesce_below > 11.
//
//   coalescing<byte_batcher>              byte cap, then coalesce
//   coalescing<lingering<count_batcher>>  linger, cap frames, coalesce
//
// When to use: many small frames, where the kernel's per-iovec cost and the
// IOV_MAX limit dominate; copying a few hundred bytes is cheaper than a
// gather entry.
// When not to use: large payloads only (nothing to coalesce; short ranges such
// as headers are still copied).
//
// Cost on the hot path: Inner's, plus a memcpy of each short range into the
// staging buffer (warm in cache) and one pass over the batch to size it.
// Thread-safety: immutable after construction; called from the writer thread.
// Memory ordering: none. Blocking: never (Inner's linger aside).
// Allocation: none here; the writer's staging buffer grows to the largest
// batch's coalesced bytes (at most frames per batch * max_ranges *
// coalesce_below), then is reused.
#ifndef FUNNEL_POLICIES_BATCHER_COALESCING_H_
#define FUNNEL_POLICIES_BATCHER_COALESCING_H_

#include <cstddef>
#include <utility>

#include "absl/time/time.h"   // the forwarded linger hook's type
#include "funnel/concepts.h"  // batch_stats, the batcher concepts

namespace funnel {

inline constexpr std::size_t kDefaultCoalesceBelow = 512;

template <class Inner>
class coalescing {
  static_assert(batcher<Inner>,
                "funnel::coalescing<Inner>: Inner must model funnel::batcher (admits, "
                "max_frames_hint, copyable; see funnel/concepts.h, \"Batcher\")");

 public:
  coalescing() = default;
  explicit coalescing(Inner inner, std::size_t coalesce_below = kDefaultCoalesceBelow)
      : inner_(std::move(inner)), coalesce_below_(coalesce_below) {}

  bool admits(const batch_stats& batch, std::size_t frame_bytes) const {
    return inner_.admits(batch, frame_bytes);
  }
  std::size_t max_frames_hint() const { return inner_.max_frames_hint(); }
  // Wire ranges shorter than this are copied into the writer's staging buffer.
  std::size_t coalesce_below() const noexcept { return coalesce_below_; }
  // Inner's linger, when it has one.
  absl::Duration linger(const batch_stats& batch) const requires batcher_with_linger<Inner> {
    return inner_.linger(batch);
  }

  const Inner& inner() const noexcept { return inner_; }

 private:
  Inner inner_{};
  std::size_t coalesce_below_ = kDefaultCoalesceBelow;
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BATCHER_COALESCING_H_
