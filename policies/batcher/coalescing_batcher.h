// funnel/policies/batcher/coalescing_batcher.h
// -----------------------------------------------------------------------------
// `coalescing_batcher`: up to N frames per batch (default 64), and every wire
// range shorter than `coalesce_below` bytes (default 512) is copied into one
// contiguous staging buffer the writer owns. That is `coalescing<
// count_batcher>` (funnel/policies/batcher/coalescing.h) under its own name,
// with an options struct. 64 procwire frames of 16 bytes become one 1728-byte
// range instead of 128 ranges; a 64 KiB payload is still written from the
// producer's buffer, between two runs.
//
// What is copied: every range of Frame::wire() shorter than coalesce_below,
// whatever it is. For procwire frames that is the 11-byte header whenever
// coalesce_below > 11, and every payload shorter than coalesce_below; with
// coalesce_below <= 11 nothing of a procwire frame is copied.
//
// When to use: many small frames, where the kernel's per-iovec cost and the
// IOV_MAX limit dominate; the copy of a few hundred bytes is cheaper than a
// gather entry.
// When not to use: large payloads only (nothing to coalesce; the headers
// alone still get copied, 11 bytes per frame). To cap bytes or linger as well,
// compose: coalescing<byte_batcher>, coalescing<lingering<byte_batcher>>.
//
// Cost on the hot path: a memcpy of each short range into the staging buffer
// (warm in cache), one pass to size it.
// Thread-safety: immutable after construction; called from the writer thread.
// Memory ordering: none. Blocking: never.
// Allocation: the writer's staging buffer grows to the largest batch's
// coalesced bytes (for procwire at most max_frames * (11 + coalesce_below)),
// then is reused.
#ifndef FUNNEL_POLICIES_BATCHER_COALESCING_BATCHER_H_
#define FUNNEL_POLICIES_BATCHER_COALESCING_BATCHER_H_

#include <cstddef>

#include "funnel/policies/batcher/coalescing.h"
#include "funnel/policies/batcher/count_batcher.h"

namespace funnel {

class coalescing_batcher : public coalescing<count_batcher> {
 public:
  struct options {
    std::size_t max_frames = 64;                         // 0 is taken as 1
    std::size_t coalesce_below = kDefaultCoalesceBelow;  // shorter ranges are copied (512)
  };

  coalescing_batcher() = default;
  explicit coalescing_batcher(options o)
      : coalescing<count_batcher>(count_batcher(o.max_frames), o.coalesce_below) {}
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BATCHER_COALESCING_BATCHER_H_
