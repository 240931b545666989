// funnel/detail/pending_budget.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// `pending_budget`: the exact admission bound of a writer, in frames and
// optionally in bytes. Producers take budget with a compare-and-swap that
// only succeeds below the limit, so, unlike the seed's check-then-increment,
// no interleaving of any number of producers can push the count past the
// limit. The writer gives budget back once a batch has been written.
//
// Memory ordering: acquisitions and releases are seq_cst RMWs. They take part
// in the writer's shutdown handshake (basic_writer.h, "close"): a producer
// acquires budget and then reads the writer's state; the closing side stores
// the state and then reads the budget. With both sides seq_cst, at least one
// of them sees the other, so no frame can slip in after the writer's last
// look at the queue. Frame data is not published through the budget (the
// queue does that).
//
// Cost: one CAS on a cache line shared by producers per admission (two when
// a byte bound is set); release is one fetch_sub per batch.
// Allocation: none.
#ifndef FUNNEL_DETAIL_PENDING_BUDGET_H_
#define FUNNEL_DETAIL_PENDING_BUDGET_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>

namespace funnel::detail {

// 64 bytes: std::hardware_destructive_interference_size is not stable across
// compiler flags (GCC warns when it is used in headers).
inline constexpr std::size_t kCacheLine = 64;

class pending_budget {
 public:
  pending_budget(std::size_t max_frames, std::size_t max_bytes) noexcept
      : max_frames_(max_frames), max_bytes_(max_bytes) {}

  // Takes one frame of `bytes` wire bytes, or returns false when either bound
  // would be exceeded. Never blocks.
  bool try_acquire(std::size_t bytes) noexcept {
    std::uint64_t cur = frames_.load(std::memory_order_relaxed);  // a guess; the CAS checks
    do {
      if (cur >= max_frames_) return false;
    } while (!frames_.compare_exchange_weak(cur, cur + 1, std::memory_order_seq_cst,
                                            std::memory_order_relaxed));
    if (max_bytes_ == 0) return true;
    std::uint64_t cur_bytes = bytes_.load(std::memory_order_relaxed);  // a guess; the CAS checks
    do {
      if (cur_bytes + bytes > max_bytes_) {
        // Give the frame slot back: the bound holds at every instant; the cost
        // is that a concurrent try_acquire may see the slot as taken briefly.
        frames_.fetch_sub(1, std::memory_order_seq_cst);
        return false;
      }
    } while (!bytes_.compare_exchange_weak(cur_bytes, cur_bytes + bytes, std::memory_order_seq_cst,
                                           std::memory_order_relaxed));
    return true;
  }

  // Gives back `frames` frames totalling `bytes` bytes (writer, or a producer
  // backing out of a send).
  void release(std::size_t frames, std::size_t bytes) noexcept {
    if (max_bytes_ != 0) bytes_.fetch_sub(bytes, std::memory_order_seq_cst);
    frames_.fetch_sub(frames, std::memory_order_seq_cst);
  }

  // Counts a successful send; on the same cache line as frames_, which the
  // producer owns already after its CAS. Relaxed: a statistic.
  void count_accepted() noexcept { accepted_.fetch_add(1, std::memory_order_relaxed); }
  // Takes back a count_accepted() whose frame never reached the queue.
  void uncount_accepted() noexcept { accepted_.fetch_sub(1, std::memory_order_relaxed); }
  std::uint64_t accepted() const noexcept { return accepted_.load(std::memory_order_relaxed); }

  // seq_cst: part of the shutdown handshake (see above).
  std::size_t frames() const noexcept { return frames_.load(std::memory_order_seq_cst); }
  // Relaxed: informational (the writer's water-mark reading).
  std::size_t frames_relaxed() const noexcept { return frames_.load(std::memory_order_relaxed); }
  // Relaxed: informational.
  std::size_t bytes() const noexcept { return bytes_.load(std::memory_order_relaxed); }
  std::size_t max_frames() const noexcept { return max_frames_; }
  std::size_t max_bytes() const noexcept { return max_bytes_; }

  // True when the next admission would fail on either bound (a zero-byte frame
  // for the byte bound). Relaxed: informational.
  bool exhausted() const noexcept {
    return frames_.load(std::memory_order_relaxed) >= max_frames_ ||
           (max_bytes_ != 0 && bytes_.load(std::memory_order_relaxed) >= max_bytes_);
  }

 private:
  const std::size_t max_frames_;
  const std::size_t max_bytes_;  // 0: no byte bound
  alignas(kCacheLine) std::atomic<std::uint64_t> frames_{0};
  std::atomic<std::uint64_t> accepted_{0};
  alignas(kCacheLine) std::atomic<std::uint64_t> bytes_{0};
};

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_PENDING_BUDGET_H_
