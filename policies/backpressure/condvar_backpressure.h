// funnel/policies/backpressure/condvar_backpressure.h
// -----------------------------------------------------------------------------
// `condvar_backpressure`: a producer that finds the pending bound reached
// blocks on a condition variable until the writer reports freed budget
// (notify()) or its deadline passes. No polling at all.
//
// Trade-off, in one sentence: waiting producers cost no CPU and wake as soon
// as budget returns, paid for with a fence per batch on the writer and a
// futex wake-up (plus a thundering herd of re-checks) whenever someone
// actually sleeps.
//
// When to use: the general-purpose blocking policy: more threads than cores,
// latency-sensitive producers that must not poll late (sleep_backpressure)
// nor burn a core (spin_backpressure).
// When not to use: producers pinned to cores that want the lowest possible
// hand-off latency (spin); or a writer whose per-batch cost must be exactly
// zero (sleep's notify() is empty; this one's is a fence and a load).
//
// Cost on the hot path: nothing for producers while budget is available
// (wait() is only called once admission has failed). notify(), which the
// writer calls once per batch, is one seq_cst fence and one relaxed load
// while nobody sleeps; with sleepers it takes a mutex and wakes them all.
// Every woken waiter re-runs `ready()`; those that lose the budget race go
// back to sleep (a herd of N waiters costs N re-checks per notify).
//
// Thread-safety: wait() from any number of threads at once; notify() from any
// thread.
//
// Memory ordering: wait() follows event_count's protocol: after
// `ready()` returns false it announces itself (prepare_wait: a seq_cst RMW
// and a seq_cst fence), calls `ready()` again, and only then sleeps
// (commit_wait). notify() is the event count's notify_all: a seq_cst fence,
// then a relaxed load of the sleeper count. So if a thread makes `ready()`
// true (basic_writer: releases budget, or stores the closing state) and then
// calls notify(), every waiter either sees that change in its re-check, or
// is seen by notify() and woken, after which it calls `ready()` again; a
// wake-up is never lost. The policy publishes no data: `ready()`'s own
// loads and the caller's stores (budget RMWs, state stores) carry it.
//
// Water marks (Netty's high/low water marks): the high mark is the writer's
// bound itself (max_pending_frames / max_pending_bytes: producers wait there).
// By default waiters are woken after every batch. With
// `condvar_backpressure({.low_water = f})` the writer's per-batch wake-up
// (the notify(level) hook, concepts.h) leaves them asleep until pending has
// fallen to at most f of the frame bound, and of the byte bound when there is
// one: one wake-up (and one herd of re-checks) per drained fraction of the
// bound instead of one per batch, at the price of producers resuming later.
// f = 1 is the default (every batch); f = 0 wakes only once nothing is
// pending. Producers that never sleep are not held back: any producer that
// finds budget takes it. Close, failure and a producer backing out always
// wake everyone; and since a non-empty writer always writes another batch,
// the mark is reached unless producers that never sleep keep the writer
// full, in which case a sleeper waits at most until its deadline.
//
// Moving: basic_writer takes its policy by value and moves it into place,
// but an absl::Mutex cannot move. The policy's configuration is its water
// mark; its other state (who is asleep) is empty whenever it may be moved (nobody
// waits on a policy before the writer owns it), so the move constructor
// copies the water mark and gives the new object fresh, empty waiting state.
// Not assignable.
//
// Blocking: wait() blocks on an absl::CondVar (via the event count), never
// spins; it re-reads the clock only when woken, and never returns false
// before absl::Now() has reached the deadline (a timed wait that ends early,
// as Windows' may, sleeps again: event_count::commit_wait). notify() may
// briefly take a mutex when someone sleeps.
// Allocation: none.
#ifndef FUNNEL_POLICIES_BACKPRESSURE_CONDVAR_BACKPRESSURE_H_
#define FUNNEL_POLICIES_BACKPRESSURE_CONDVAR_BACKPRESSURE_H_

#include <atomic>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/concepts.h"  // pending_level
#include "funnel/event_count.h"

namespace funnel {

class condvar_backpressure {
 public:
  struct config {
    // Wake waiters once pending is at most this fraction of the bound (see
    // "Water marks"); clamped to [0, 1], NaN reads as 1.
    double low_water = 1.0;
  };

  condvar_backpressure() = default;
  explicit condvar_backpressure(config c) noexcept
      : low_water_(c.low_water >= 0.0 ? (c.low_water < 1.0 ? c.low_water : 1.0)
                                      : (c.low_water < 0.0 ? 0.0 : 1.0)) {}
  // Copies the water mark, fresh waiting state (see "Moving"); `other` stays usable.
  condvar_backpressure(condvar_backpressure&& other) noexcept : low_water_(other.low_water_) {}
  condvar_backpressure(const condvar_backpressure&) = delete;
  condvar_backpressure& operator=(const condvar_backpressure&) = delete;
  condvar_backpressure& operator=(condvar_backpressure&&) = delete;

  bool wait(absl::FunctionRef<bool()> ready, absl::Time deadline) {
    // The event count's waiting protocol (event_count::await, spelled out
    // to count wake-ups); see "Memory ordering".
    while (!ready()) {
      const event_count::key k = sleepers_.prepare_wait();
      if (ready()) {
        sleepers_.cancel_wait();
        return true;
      }
      const bool notified = sleepers_.commit_wait(k, deadline);
      // Relaxed: a statistic.
      wakeups_.fetch_add(1, std::memory_order_relaxed);
      if (!notified) return ready();
    }
    return true;
  }

  // Wakes every waiter (close, failure, a producer backing out).
  void notify() noexcept { sleepers_.notify_all(); }

  // The writer's per-batch call: wakes waiters only at the low-water mark.
  void notify(const pending_level& l) noexcept {
    if (low_water_ >= 1.0 || at_low_water(l)) sleepers_.notify_all();
  }

  double low_water() const noexcept { return low_water_; }
  // Times a waiting producer woke from a sleep (notified or timed out), since
  // construction. Relaxed: a statistic, for measuring water marks.
  std::uint64_t wakeups() const noexcept { return wakeups_.load(std::memory_order_relaxed); }
  // Producers asleep (or committed to sleeping) right now; for tests.
  std::uint32_t sleepers() const noexcept { return sleepers_.waiters(); }

 private:
  bool at_low_water(const pending_level& l) const noexcept {
    if (l.frames == 0) return true;
    if (static_cast<double>(l.frames) > low_water_ * static_cast<double>(l.max_frames)) {
      return false;
    }
    return l.max_bytes == 0 ||
           static_cast<double>(l.bytes) <= low_water_ * static_cast<double>(l.max_bytes);
  }

  double low_water_ = 1.0;
  event_count sleepers_;
  std::atomic<std::uint64_t> wakeups_{0};
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BACKPRESSURE_CONDVAR_BACKPRESSURE_H_
