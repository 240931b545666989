// funnel/policies/batcher/count_batcher.h
// -----------------------------------------------------------------------------
// `count_batcher`: a batch takes up to N frames (default 64, the Rust seed's
// MAX_BATCH_SIZE), whatever their sizes.
//
// When to use: frames of similar, moderate size; parity with the seed.
// When not to use: when frame sizes vary widely (one batch of 64 x 1 MiB is a
// 64 MiB write): bound batches by bytes instead.
//
// Cost on the hot path: one comparison per frame.
// Thread-safety: immutable after construction; called from the writer thread.
// Memory ordering: none. Blocking: never. Allocation: none.
#ifndef FUNNEL_POLICIES_BATCHER_COUNT_BATCHER_H_
#define FUNNEL_POLICIES_BATCHER_COUNT_BATCHER_H_

#include <cstddef>

#include "funnel/concepts.h"  // batch_stats

namespace funnel {

inline constexpr std::size_t kDefaultMaxBatchFrames = 64;

class count_batcher {
 public:
  count_batcher() = default;
  // `max_frames` of 0 is taken as 1: a batch always holds its first frame.
  explicit count_batcher(std::size_t max_frames) : max_frames_(max_frames == 0 ? 1 : max_frames) {}

  bool admits(const batch_stats& batch, std::size_t /*frame_bytes*/) const noexcept {
    return batch.frames < max_frames_;
  }
  std::size_t max_frames_hint() const noexcept { return max_frames_; }
  std::size_t max_frames() const noexcept { return max_frames_; }

 private:
  std::size_t max_frames_ = kDefaultMaxBatchFrames;
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BATCHER_COUNT_BATCHER_H_
