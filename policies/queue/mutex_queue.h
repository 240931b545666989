// funnel/policies/queue/mutex_queue.h
// -----------------------------------------------------------------------------
// `mutex_queue<F>`: a bounded multi-producer single-consumer queue of
// frames built from one absl::Mutex and two vectors. Producers append to a
// shared vector under the lock; the writer keeps a private vector it reads
// without the lock and, once that is drained, swaps it with the shared one,
// so ONE lock acquisition hands the writer every frame pending at that
// moment (the "double buffer" of Quill's and many loggers' backends).
//
// Trade-off, in one sentence: every push takes a lock, but the writer takes
// it once per batch, not once per frame.
//
// When to use: many more producer threads than cores, where a lock-free
// ring's producers would burn CAS retries on one index, and a short critical
// section (a 48-byte move) is cheaper than the retries; or as the obviously
// correct reference to compare a lock-free queue against.
// When not to use: few producers that push at a high rate: each push pays a
// lock (uncontended: two atomic RMWs; contended: a handoff), where mpsc_ring
// pays one CAS.
//
// Cost on the hot path: a push is a lock, a capacity check (one relaxed load
// of the writer's pop count), an append (a move, never a reallocation), a
// test of a bool, and an unlock; it signals the condition variable only
// when the writer actually sleeps. A pop from the private vector is a move
// and one relaxed store (the pop count); a pop that finds it drained takes
// the lock once and swaps the vectors (three pointers).
//
// Thread-safety: try_push and try_evict from any number of threads; try_pop
// and pop_wait from one thread at a time (the writer); close and capacity
// from anywhere.
//
// Memory ordering: frames are published by `mu_`: a producer appends under
// it and the writer swaps under it, so the append happens-before the swap
// and hence before the pop that returns the frame. The writer's private
// vector and read index are touched only by the writer. `popped_` is a
// count, not a publication: the writer stores it (relaxed) after each pop
// and producers read it (relaxed) under `mu_` only to enforce the bound; a
// stale read can only make the queue look fuller than it is, never let an
// append overflow the reserved storage. (Inside basic_writer, a producer
// admitted by budget the writer released after popping reads that budget
// with a seq_cst RMW, which orders the writer's pop-count store before the
// producer's read, so such a producer always finds room.)
//
// Blocking: pop_wait blocks on an absl::CondVar, never spins. Producers
// block only on the mutex.
// Allocation: both vectors are reserved to the capacity in the constructor;
// none per push or pop (the bound keeps either vector within its reserve).
#ifndef FUNNEL_POLICIES_QUEUE_MUTEX_QUEUE_H_
#define FUNNEL_POLICIES_QUEUE_MUTEX_QUEUE_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"  // ABSL_GUARDED_BY
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "funnel/detail/pending_budget.h"  // kCacheLine
#include "funnel/frame.h"

namespace funnel {

template <class F>
class mutex_queue {
  static_assert(check_frame<F>());

 public:
  using value_type = F;

  // Holds exactly max(capacity, 1) frames: shared and private together.
  explicit mutex_queue(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {
    shared_.reserve(capacity_);
    private_.reserve(capacity_);
  }

  mutex_queue(const mutex_queue&) = delete;
  mutex_queue& operator=(const mutex_queue&) = delete;

  // Frames still queued are destroyed with the vectors (payloads released).
  ~mutex_queue() = default;

  std::size_t capacity() const noexcept { return capacity_; }

  bool try_push(F& frame) {
    absl::MutexLock lock(&mu_);
    // Relaxed: a count only (see "Memory ordering"); stale means fuller.
    if (pushed_ - evicted_ - popped_.load(std::memory_order_relaxed) >= capacity_) return false;
    shared_.push_back(std::move(frame));  // within the reserve: no allocation
    ++pushed_;
    // Only a sleeping writer is signalled; it set the flag under mu_ before
    // waiting, so it cannot miss this append.
    if (consumer_waiting_) cv_.Signal();
    return true;
  }

  // Any thread, concurrently with the writer's pops (drop_oldest_backpressure):
  // moves the oldest frame of the shared vector into `out`. Frames the writer
  // already swapped to its private vector are past eviction. Cost: a lock
  // and an erase at the front, O(frames in the shared vector) moves, paid
  // only by a producer that meets a full bound.
  bool try_evict(F& out) {
    absl::MutexLock lock(&mu_);
    if (shared_.empty()) return false;
    out = std::move(shared_.front());
    shared_.erase(shared_.begin());  // moves within the reserve: no allocation
    ++evicted_;
    return true;
  }

  bool try_pop(F& out) {
    if (read_ == private_.size() && !refill()) return false;
    take(out);
    return true;
  }

  bool pop_wait(F& out, absl::Time deadline) {
    if (read_ < private_.size()) {
      take(out);
      return true;
    }
    recycle_private();
    {
      absl::MutexLock lock(&mu_);
      while (shared_.empty() && !closed_) {
        consumer_waiting_ = true;
        const bool timed_out = cv_.WaitWithDeadline(&mu_, deadline);
        consumer_waiting_ = false;
        if (timed_out) break;
      }
      if (shared_.empty()) return false;  // closed, or the deadline passed
      swap_locked();
    }
    take(out);
    return true;
  }

  void close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    if (consumer_waiting_) cv_.Signal();
  }

 private:
  // Writer only: the private vector is drained; swaps in the shared one.
  // Returns false (and leaves both alone) when nothing is pending.
  bool refill() {
    recycle_private();
    absl::MutexLock lock(&mu_);
    if (shared_.empty()) return false;
    swap_locked();
    return true;
  }

  // Writer only: drops the moved-from husks of a drained private vector
  // (keeping its capacity) outside the lock.
  void recycle_private() noexcept {
    private_.clear();
    read_ = 0;
  }

  // Writer only; private_ is empty. The shared vector's frames become the
  // writer's; the empty, reserved private vector becomes the shared one.
  void swap_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { shared_.swap(private_); }

  // Writer only; read_ < private_.size().
  void take(F& out) noexcept {
    out = std::move(private_[read_]);  // leaves an empty husk: the payload goes with `out`
    ++read_;
    // Relaxed: a count read under mu_ by producers (see "Memory ordering");
    // single writer, so a load + store, no RMW.
    popped_.store(popped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  const std::size_t capacity_;

  absl::Mutex mu_;
  absl::CondVar cv_;
  std::vector<F> shared_ ABSL_GUARDED_BY(mu_);
  std::uint64_t pushed_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t evicted_ ABSL_GUARDED_BY(mu_) = 0;  // taken out by try_evict
  bool consumer_waiting_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;

  // Writer only (no lock): the frames of the last swap and the next to pop.
  // A cache line away from the mutex and the shared vector, which producers
  // write on every push.
  alignas(detail::kCacheLine) std::vector<F> private_;
  std::size_t read_ = 0;
  // Written by the writer, read by producers under mu_.
  alignas(detail::kCacheLine) std::atomic<std::uint64_t> popped_{0};
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_QUEUE_MUTEX_QUEUE_H_
