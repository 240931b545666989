// examples/custom_sink/yield_backpressure.h
// -----------------------------------------------------------------------------
// A custom Backpressure policy (funnel/concepts.h, "Backpressure"):
// `yield_backpressure` re-checks `ready()` after each std::this_thread::yield
// until budget is back or the deadline has passed.
//
// Trade-off, in one sentence: wakes within a scheduler round instead of a
// sleep interval and gives the core away between checks, but a waiting
// producer is still always runnable, so it costs CPU that
// condvar_backpressure would not.
//
// What the contract asks, and how this meets it:
//   * default-constructible;
//   * wait(ready, deadline) calls ready() at least once, returns true as soon
//     as it is true, and returns false only once the deadline has passed;
//   * the bound itself is the writer's (ready() retries its compare-and-swap
//     admission); the policy only decides how to wait;
//   * notify() runs once per batch on the writer thread: a policy that polls
//     needs nothing from it, so it is empty (free when nobody waits).
//
// Cost on the hot path: nothing while budget is available; notify() is empty.
// Thread-safety: stateless; wait() from any number of threads at once.
// Memory ordering: none of its own; ready() does the synchronisation.
// Blocking: never blocks; yields between checks. Allocation: none.
#ifndef FUNNEL_EXAMPLES_CUSTOM_SINK_YIELD_BACKPRESSURE_H_
#define FUNNEL_EXAMPLES_CUSTOM_SINK_YIELD_BACKPRESSURE_H_

#include <thread>

#include "absl/functional/function_ref.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace funnel_example {

// [yield-backpressure]
class yield_backpressure {
 public:
  bool wait(absl::FunctionRef<bool()> ready, absl::Time deadline) const {
    for (;;) {
      if (ready()) return true;
      if (absl::Now() >= deadline) return false;
      std::this_thread::yield();
    }
  }

  void notify() const noexcept {}
};
// [yield-backpressure]

}  // namespace funnel_example

#endif  // FUNNEL_EXAMPLES_CUSTOM_SINK_YIELD_BACKPRESSURE_H_
