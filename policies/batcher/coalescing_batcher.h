// funnel/policies/batcher/coalescing_batcher.h
// -----------------------------------------------------------------------------
// `coalescing_batcher`: up to N frames per batch (default 64), and payloads
// shorter than `coalesce_below` bytes (default 512) are copied, together with
// every header, into one contiguous staging buffer the writer owns. 64 frames
// of 16 bytes become one 1728-byte range instead of 128 ranges; a 64 KiB
// payload is still written from the producer's buffer, between two runs.
//
// When to use: many small frames, where the kernel's per-iovec cost and the
// IOV_MAX limit dominate; the copy of a few hundred bytes is cheaper than a
// gather entry.
// When not to use: large payloads only (nothing to coalesce; the headers
// alone still get copied, 11 bytes per frame).
//
// Cost on the hot path: a memcpy of each header and small payload into the
// staging buffer (warm in cache), one pass to size it.
// Thread-safety: immutable after construction; called from the writer thread.
// Memory ordering: none. Blocking: never.
// Allocation: the writer's staging buffer grows to the largest batch's
// coalesced bytes (at most max_frames * (11 + coalesce_below)), then is
// reused.
#ifndef FUNNEL_POLICIES_BATCHER_COALESCING_BATCHER_H_
#define FUNNEL_POLICIES_BATCHER_COALESCING_BATCHER_H_

#include <cstddef>

#include "funnel/concepts.h"  // batch_stats

namespace funnel {

class coalescing_batcher {
 public:
  struct options {
    std::size_t max_frames = 64;       // 0 is taken as 1
    std::size_t coalesce_below = 512;  // payloads shorter than this are copied
  };

  coalescing_batcher() = default;
  explicit coalescing_batcher(options o)
      : max_frames_(o.max_frames == 0 ? 1 : o.max_frames), coalesce_below_(o.coalesce_below) {}

  bool admits(const batch_stats& batch, std::size_t /*frame_bytes*/) const noexcept {
    return batch.frames < max_frames_;
  }
  std::size_t max_frames_hint() const noexcept { return max_frames_; }
  std::size_t coalesce_below() const noexcept { return coalesce_below_; }

 private:
  std::size_t max_frames_ = 64;
  std::size_t coalesce_below_ = 512;
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BATCHER_COALESCING_BATCHER_H_
