// funnel/policies/batcher/byte_batcher.h
// -----------------------------------------------------------------------------
// `byte_batcher`: a batch takes frames until the next one would push it past
// B wire bytes (headers + payloads), and at most N frames. A frame larger
// than B on its own is written as a batch of one.
//
// When to use: frame sizes that vary widely; bounding the time one write
// call holds the writer (and the memory one batch pins).
// When not to use: uniform small frames, where count_batcher is as good and
// cheaper to reason about.
//
// Cost on the hot path: one addition and two comparisons per frame.
// Thread-safety: immutable after construction; called from the writer thread.
// Memory ordering: none. Blocking: never. Allocation: none.
#ifndef FUNNEL_POLICIES_BATCHER_BYTE_BATCHER_H_
#define FUNNEL_POLICIES_BATCHER_BYTE_BATCHER_H_

#include <cstddef>

#include "funnel/concepts.h"  // batch_stats

namespace funnel {

inline constexpr std::size_t kDefaultMaxBatchBytes = 256 * 1024;

class byte_batcher {
 public:
  byte_batcher() = default;
  // `max_frames` of 0 is taken as 1.
  explicit byte_batcher(std::size_t max_bytes, std::size_t max_frames = 1024)
      : max_bytes_(max_bytes), max_frames_(max_frames == 0 ? 1 : max_frames) {}

  bool admits(const batch_stats& batch, std::size_t frame_bytes) const noexcept {
    return batch.frames < max_frames_ && batch.bytes + frame_bytes <= max_bytes_;
  }
  // Reserve for a typical batch, not the worst case (the writer's buffers
  // grow once if a batch of many tiny frames needs more).
  std::size_t max_frames_hint() const noexcept { return max_frames_ < 256 ? max_frames_ : 256; }
  std::size_t max_bytes() const noexcept { return max_bytes_; }

 private:
  std::size_t max_bytes_ = kDefaultMaxBatchBytes;
  std::size_t max_frames_ = 1024;
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BATCHER_BYTE_BATCHER_H_
