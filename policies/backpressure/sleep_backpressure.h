// funnel/policies/backpressure/sleep_backpressure.h
// -----------------------------------------------------------------------------
// `sleep_backpressure`: a producer that finds the pending bound reached first
// re-checks across up to `yields` calls to std::this_thread::yield() (default
// 100), then re-checks every `poll_interval` (default 100 µs, the Rust seed's)
// until budget is available or its deadline passes. This is the Disruptor's
// SleepingWaitStrategy shape: a short wait is caught by the yields without a
// timer, a long one costs one wake-up per interval. `yields` of 0 is the
// seed's pure sleep loop.
//
// Trade-off, in one sentence: the writer pays nothing (notify() is empty) and
// a waiting producer costs one wake-up per interval, paid for with latency
// spikes: budget freed after the yields ran out is noticed up to one interval
// late.
//
// When to use: parity with the seed writer; producers that should cost the
// writer nothing (the writer never signals anyone); waits that are usually
// short (the writer frees budget once per batch), where a few yields cost less
// than a timer wake-up and its slack.
// When not to use: latency-sensitive producers under long waits: after the
// yields a waiter notices freed budget up to one interval late, and with many
// waiters each one polls. Prefer condvar_backpressure there.
//
// Cost on the hot path: nothing while budget is available (wait() is only
// called once admission has failed); notify() is empty. While waiting: one
// `ready()`, one absl::Now() and one yield (a sched_yield system call on
// Linux, returning at once when no other thread wants the core) per yield,
// so up to `yields` system calls of CPU before the first sleep; then one
// `ready()`, one absl::Now() and one timer sleep per interval.
// Thread-safety: wait() from any number of threads at once; notify() from any
// thread. Stateless apart from the constant interval and yield count.
// Memory ordering: none of its own; `ready()` does the synchronisation.
// Blocking: yields, then sleeps (absl::SleepFor) between polls, by name and
// by design (it and spin_backpressure are the policies that poll). Reads the
// clock before each yield and each sleep, returns false as soon as it sees
// the deadline has passed (so a past deadline never yields), and never sleeps
// past the deadline.
// On Windows absl::SleepFor sleeps whole milliseconds (Sleep() with the
// duration truncated), so a sleep under 1 ms returns at once: the default
// interval polls there instead of sleeping, and every wait that runs to its
// deadline polls its last fraction of a millisecond (ready(), absl::Now()
// and a Sleep(0) per look: up to ~2,000 looks under Wine). Use an interval
// of 1 ms or more on Windows for producers that must not occupy a core.
// Allocation: none.
#ifndef FUNNEL_POLICIES_BACKPRESSURE_SLEEP_BACKPRESSURE_H_
#define FUNNEL_POLICIES_BACKPRESSURE_SLEEP_BACKPRESSURE_H_

#include <algorithm>
#include <thread>  // std::this_thread::yield

#include "absl/functional/function_ref.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace funnel {

inline constexpr absl::Duration kDefaultPollInterval = absl::Microseconds(100);

// Yields before the first sleep, as many as the Disruptor's
// SleepingWaitStrategy makes (it spins 100 times, yields 100 times, then
// sleeps). A yield is a system call of ~0.1-1 µs when no other thread wants
// the core (100 took ~60 µs on a 2-core VM), so the yield phase covers roughly
// the first poll interval of a wait without a timer; when other threads do
// want the core (the writer among them), each yield hands it over.
inline constexpr int kDefaultYieldsBeforeSleep = 100;

class sleep_backpressure {
 public:
  sleep_backpressure() = default;
  // `yields` of 0 (or less) sleeps at once after the first failed
  // `ready()`: the seed's behaviour.
  explicit sleep_backpressure(absl::Duration poll_interval, int yields = kDefaultYieldsBeforeSleep)
      : poll_interval_(poll_interval), yields_(std::max(yields, 0)) {}

  bool wait(absl::FunctionRef<bool()> ready, absl::Time deadline) const {
    for (int i = 0; i < yields_; ++i) {
      if (ready()) return true;
      if (absl::Now() >= deadline) return false;
      std::this_thread::yield();
    }
    for (;;) {
      if (ready()) return true;
      const absl::Time now = absl::Now();
      if (now >= deadline) return false;
      absl::SleepFor(std::min(poll_interval_, deadline - now));
    }
  }

  void notify() const noexcept {}

  absl::Duration poll_interval() const noexcept { return poll_interval_; }
  // How many yields a wait() makes before its first sleep.
  int yields() const noexcept { return yields_; }

 private:
  absl::Duration poll_interval_ = kDefaultPollInterval;
  int yields_ = kDefaultYieldsBeforeSleep;
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BACKPRESSURE_SLEEP_BACKPRESSURE_H_
