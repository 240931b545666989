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
// Moving: basic_writer takes its policy by value and moves it into place,
// but an absl::Mutex cannot move. The policy has no configuration, and its
// only state (who is asleep) is empty whenever it may be moved (nobody
// waits on a policy before the writer owns it), so the move constructor
// gives the new object fresh, empty waiting state. Not assignable.
//
// Blocking: wait() blocks on an absl::CondVar (via the event count), never
// spins; it re-reads the clock only when woken, and never returns false
// before absl::Now() has reached the deadline. notify() may briefly take a
// mutex when someone sleeps.
// Allocation: none.
#ifndef FUNNEL_POLICIES_BACKPRESSURE_CONDVAR_BACKPRESSURE_H_
#define FUNNEL_POLICIES_BACKPRESSURE_CONDVAR_BACKPRESSURE_H_

#include "absl/functional/function_ref.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/event_count.h"

namespace funnel {

class condvar_backpressure {
 public:
  condvar_backpressure() = default;
  // Fresh waiting state (see "Moving"); `other` stays usable.
  condvar_backpressure(condvar_backpressure&& /*other*/) noexcept {}
  condvar_backpressure(const condvar_backpressure&) = delete;
  condvar_backpressure& operator=(const condvar_backpressure&) = delete;
  condvar_backpressure& operator=(condvar_backpressure&&) = delete;

  bool wait(absl::FunctionRef<bool()> ready, absl::Time deadline) {
    // The event count's whole waiting protocol; see "Memory ordering".
    return sleepers_.await(ready, deadline);
  }

  void notify() noexcept { sleepers_.notify_all(); }

 private:
  event_count sleepers_;
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BACKPRESSURE_CONDVAR_BACKPRESSURE_H_
