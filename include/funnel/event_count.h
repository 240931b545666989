// funnel/event_count.h
// -----------------------------------------------------------------------------
// `event_count`: lets one or more threads sleep until "something changed"
// without the notifying side paying for a lock or a system call when nobody
// sleeps (the eventcount of Dekker/Vyukov fame).
//
// The whole waiting side in one call: `ec.await(cond, deadline)` returns true
// once cond() is true, false if `deadline` passed first. Every blocking wait
// in funnel is this call: the queues' pop_wait, condvar_backpressure, the
// writer's flush() and close(). Write your own Queue's pop_wait with it:
//
//     bool pop_wait(F& out, absl::Time deadline) {
//       bool got = false;
//       ready_.await([&] { return (got = try_pop(out)) || closed(); }, deadline);
//       return got;
//     }
//     // and in try_push() and close(), after the state change: ready_.notify_all();
//
// The three-step protocol below is what await runs, for callers that must do
// work between the steps.
//
// Thread-safety: any number of waiters and notifiers at once.
//
// Protocol, for a waiter whose condition is `cond()`:
//     if (cond()) return;
//     auto key = ec.prepare_wait();     // announces the sleeper
//     if (cond()) { ec.cancel_wait(); return; }
//     ec.commit_wait(key, deadline);    // sleeps unless notified since prepare
// and for a notifier:
//     make cond() true (any store the waiter's cond() reads)
//     ec.notify_all();
//
// Memory ordering: prepare_wait does a seq_cst RMW on `waiters_` followed by a
// seq_cst fence before the waiter re-reads its condition; notify_all issues a
// seq_cst fence after the notifier's store and before it reads `waiters_`. By
// the store-buffering rule for seq_cst fences, at least one side sees the
// other: either the waiter's re-check sees the new state, or the notifier sees
// waiters_ > 0 and takes the slow path (bumps the epoch under the mutex and
// signals). commit_wait compares the epoch under the same mutex, so a notify
// between prepare_wait and commit_wait is never lost. The fences order only
// the wake-up decision; the data itself is published by the caller's own
// release/acquire pairs.
//
// Cost: notify_all with no sleeper is one fence and one relaxed load.
// Blocking: commit_wait blocks on an absl::CondVar; it never spins. A
// timeout counts only once absl::Now() has reached the deadline, else it
// sleeps again: Abseil does not promise that a timed wait never ends early
// (its own tests allow 200 µs; Windows times waits in timer ticks), and
// callers such as condvar_backpressure promise never to give up early.
// Allocation: none.
#ifndef FUNNEL_EVENT_COUNT_H_
#define FUNNEL_EVENT_COUNT_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"  // absl::Now, for early timeouts
#include "absl/time/time.h"

namespace funnel {

class event_count {
 public:
  using key = std::uint64_t;

  key prepare_wait() noexcept {
    // seq_cst RMW + fence: pairs with the fence in notify_all (see above).
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Acquire pairs with the release bump in notify_all: if we read a bumped
    // epoch, the notifier's state change is visible to our re-check of
    // cond(), so sleeping on that key cannot miss it.
    return epoch_.load(std::memory_order_acquire);
  }

  void cancel_wait() noexcept {
    // Relaxed: only the count matters, no data is published through it.
    waiters_.fetch_sub(1, std::memory_order_relaxed);
  }

  // Sleeps until notify_all() is called after prepare_wait() returned `k`, or
  // until `deadline`. Returns false on timeout, and only once absl::Now() has
  // reached `deadline` (see "Blocking").
  bool commit_wait(key k, absl::Time deadline) {
    bool notified = true;
    {
      absl::MutexLock lock(&mu_);
      // Relaxed loads: epoch_ is only written under mu_, which we hold.
      while (epoch_.load(std::memory_order_relaxed) == k) {
        if (cv_.WaitWithDeadline(&mu_, deadline) && epoch_.load(std::memory_order_relaxed) == k &&
            absl::Now() >= deadline) {  // an early timeout waits again
          notified = false;
          break;
        }
      }
    }
    waiters_.fetch_sub(1, std::memory_order_relaxed);  // see cancel_wait
    return notified;
  }

  // Blocks until `cond()` is true (returns true) or `deadline` passes with it
  // still false (returns false). `cond` must be cheap and must not block; it
  // is called at least once, and again after every notify_all().
  template <class Cond>
  bool await(Cond&& cond, absl::Time deadline) {
    while (!cond()) {
      const key k = prepare_wait();
      if (cond()) {
        cancel_wait();
        return true;
      }
      if (!commit_wait(k, deadline)) return cond();
    }
    return true;
  }

  // Threads between prepare_wait() and the end of their wait, right now.
  // Relaxed: a diagnostic (tests use it to know a thread is about to sleep).
  std::uint32_t waiters() const noexcept { return waiters_.load(std::memory_order_relaxed); }

  void notify_all() noexcept {
    // Pairs with the fence in prepare_wait: orders the caller's state change
    // before the read of waiters_.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (waiters_.load(std::memory_order_relaxed) == 0) return;
    absl::MutexLock lock(&mu_);
    // Release: publishes the caller's state change to prepare_wait's acquire
    // load (see there); readers in commit_wait hold mu_ anyway.
    epoch_.store(epoch_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    cv_.SignalAll();
  }

 private:
  std::atomic<std::uint32_t> waiters_{0};
  // Written only under mu_; atomic so prepare_wait may read it without mu_.
  std::atomic<key> epoch_{0};
  absl::Mutex mu_;
  absl::CondVar cv_;
};

}  // namespace funnel

#endif  // FUNNEL_EVENT_COUNT_H_
