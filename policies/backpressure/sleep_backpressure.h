// funnel/policies/backpressure/sleep_backpressure.h
// -----------------------------------------------------------------------------
// `sleep_backpressure`: a producer that finds the pending bound reached
// re-checks every `poll_interval` (default 100 µs, the Rust seed's) until
// budget is available or its deadline passes.
//
// When to use: parity with the seed writer; producers that should cost the
// writer nothing (notify() is a no-op, so the writer never signals anyone).
// When not to use: latency-sensitive producers: a waiter notices freed
// budget up to one interval late, and with many waiters each one polls.
// Prefer a condvar policy there.
//
// Cost on the hot path: nothing while budget is available (wait() is only
// called once admission has failed); notify() is empty.
// Thread-safety: wait() from any number of threads at once; notify() from any
// thread. Stateless apart from the constant interval.
// Memory ordering: none of its own; `ready()` does the synchronisation.
// Blocking: sleeps (absl::SleepFor) between polls, by name and by design (it
// and spin_backpressure are the policies that poll). Never sleeps past the deadline.
// Allocation: none.
#ifndef FUNNEL_POLICIES_BACKPRESSURE_SLEEP_BACKPRESSURE_H_
#define FUNNEL_POLICIES_BACKPRESSURE_SLEEP_BACKPRESSURE_H_

#include <algorithm>

#include "absl/functional/function_ref.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace funnel {

inline constexpr absl::Duration kDefaultPollInterval = absl::Microseconds(100);

class sleep_backpressure {
 public:
  sleep_backpressure() = default;
  explicit sleep_backpressure(absl::Duration poll_interval) : poll_interval_(poll_interval) {}

  bool wait(absl::FunctionRef<bool()> ready, absl::Time deadline) const {
    for (;;) {
      if (ready()) return true;
      const absl::Time now = absl::Now();
      if (now >= deadline) return false;
      absl::SleepFor(std::min(poll_interval_, deadline - now));
    }
  }

  void notify() const noexcept {}

  absl::Duration poll_interval() const noexcept { return poll_interval_; }

 private:
  absl::Duration poll_interval_ = kDefaultPollInterval;
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BACKPRESSURE_SLEEP_BACKPRESSURE_H_
