// funnel/detail/express_lane.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// `express_lane<F>`: the writer's second, small queue for urgent frames
// (handle.send_express(), or send() of a frame whose urgent() is true when
// writer_options::route_urgent is set). The writer thread empties it at every
// batch boundary, before any bulk frame, so an urgent frame waits for at most
// the batch being written, never for the whole bulk queue.
//
// Bound: exact, in frames (writer_options::express_capacity), separate from
// the bulk pending budget. A producer takes a slot with a CAS that only
// succeeds below the bound (as pending_budget.h), then pushes; the writer
// gives the slots back once the frames are written or counted lost.
//
// Waking an idle writer: the writer sleeps in the bulk Queue's pop_wait. After
// its push a producer calls request_wake(); if that returns true it pushes one
// "wake token" (an empty, default-constructed frame, never a valid one) into
// the bulk queue. At most one token is queued at a time (wake_queued_), so
// the bulk queue needs one spare slot (writer_shared.h, make_queue). The
// writer skips tokens wherever it pops, calling wake_consumed().
//
// When to use / cost: control frames (ABORT, acknowledgements) are rare, so
// the lane is a mutex-guarded circular array, simple and obviously correct.
// Unused, it costs the writer one relaxed-enough load per batch (pending()).
// A send_express costs a CAS, a mutex, an exchange and (writer idle) a push.
//
// Memory ordering: slot acquisition and release are seq_cst RMWs and
// pending() a seq_cst load: they take part in the writer's shutdown handshake
// like the pending budget (writer_shared.h): a producer takes a slot and then
// reads the state; the closing side stores the state and the writer then
// reads pending(). The frames themselves are published by the mutex.
// wake_queued_ is exchanged acq_rel on both sides: the writer's exchange
// after popping a token reads the last producer's exchange (a release
// sequence of RMWs), so every frame pushed before a request_wake() that
// found a token already queued is visible to the writer's next take_all().
//
// Thread-safety: push/try_acquire/request_wake from any producer; take_all,
// release and wake_consumed from the writer thread. Allocation: the slots,
// once, in the constructor; none per frame.
#ifndef FUNNEL_DETAIL_EXPRESS_LANE_H_
#define FUNNEL_DETAIL_EXPRESS_LANE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "funnel/detail/pending_budget.h"  // kCacheLine

namespace funnel::detail {

template <class F>
class express_lane {
 public:
  explicit express_lane(std::size_t capacity) : capacity_(capacity), slots_(capacity) {}
  express_lane(const express_lane&) = delete;
  express_lane& operator=(const express_lane&) = delete;

  // The exact bound in frames; 0: the lane is disabled.
  std::size_t capacity() const noexcept { return capacity_; }

  // Takes one slot, or returns false when `capacity()` frames are pending.
  bool try_acquire() noexcept {
    std::uint64_t cur = pending_.load(std::memory_order_relaxed);  // a guess; the CAS checks
    do {
      if (cur >= capacity_) return false;
    } while (!pending_.compare_exchange_weak(cur, cur + 1, std::memory_order_seq_cst,
                                             std::memory_order_relaxed));
    return true;
  }

  // Gives back `n` slots (the writer after writing them, or a producer
  // backing out before its push).
  void release(std::size_t n) noexcept { pending_.fetch_sub(n, std::memory_order_seq_cst); }

  // Slots taken: frames in the lane, being pushed, or being written.
  // seq_cst: the shutdown handshake (see above).
  std::size_t pending() const noexcept { return pending_.load(std::memory_order_seq_cst); }

  // Moves `f` in. The caller holds a slot (try_acquire), so there is room.
  void push(F& f) noexcept {
    absl::MutexLock lock(&mu_);
    slots_[(head_ + count_) % capacity_] = std::move(f);
    ++count_;
  }

  // Moves every frame in the lane, oldest first, to the end of `out`; returns
  // how many. `out` should have capacity() reserved (no allocation then).
  std::size_t take_all(std::vector<F>& out) {
    absl::MutexLock lock(&mu_);
    const std::size_t n = count_;
    for (; count_ != 0; --count_) {
      out.push_back(std::move(slots_[head_]));
      slots_[head_] = F();  // drop the payload reference now, not on reuse
      head_ = (head_ + 1) % capacity_;
    }
    return n;
  }

  // Producer, after push(): true when the caller must push a wake token into
  // the bulk queue (none is queued).
  bool request_wake() noexcept { return !wake_queued_.exchange(true, std::memory_order_acq_rel); }
  // Writer, after popping a token; or a producer whose token push failed.
  void wake_consumed() noexcept { wake_queued_.exchange(false, std::memory_order_acq_rel); }

 private:
  const std::size_t capacity_;
  absl::Mutex mu_;
  std::vector<F> slots_ ABSL_GUARDED_BY(mu_);
  std::size_t head_ ABSL_GUARDED_BY(mu_) = 0;
  std::size_t count_ ABSL_GUARDED_BY(mu_) = 0;
  // Producers CAS it on every send_express: its own line, away from mu_.
  alignas(kCacheLine) std::atomic<std::uint64_t> pending_{0};
  std::atomic<bool> wake_queued_{false};
};

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_EXPRESS_LANE_H_
