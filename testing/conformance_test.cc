// The conformance suites run the way a downstream team runs them: against
// policies of its own, outside namespace funnel, instantiated as
// docs/testing.md shows ("Running funnel's conformance suites against your
// own policy"; the `// [name]` blocks are quoted there verbatim). funnel's own
// models run the same suites in tests/conformance/.
#include <algorithm>
#include <cstddef>
#include <deque>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/concepts.h"
#include "funnel/procwire/frame.h"
#include "gtest/gtest.h"

// [conformance-include]
// Included by this .cc only, the one that instantiates the suites: the suite
// headers define tests, not just declarations.
#include "funnel/testing/backpressure_conformance.h"
#include "funnel/testing/queue_conformance.h"
// [conformance-include]

namespace my_team {

// A Queue: a bounded deque under one absl::Mutex. pop_wait sleeps in
// AwaitWithDeadline, which re-checks its condition whenever a pusher or
// close() releases the mutex, so no wake-up is lost and nothing spins.
// Thread-safety: every member from any thread.
class deque_queue {
 public:
  using value_type = funnel::outbound_frame;  // the frame type it carries
  explicit deque_queue(std::size_t capacity) : capacity_(capacity) {}

  bool try_push(funnel::outbound_frame& f) {
    absl::MutexLock lock(&mu_);
    if (frames_.size() >= capacity_) return false;
    frames_.push_back(std::move(f));
    return true;
  }

  bool try_pop(funnel::outbound_frame& f) {
    absl::MutexLock lock(&mu_);
    return pop_locked(f);
  }

  bool pop_wait(funnel::outbound_frame& f, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(this, &deque_queue::closed_or_nonempty), deadline);
    return pop_locked(f);
  }

  void close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

  std::size_t capacity() const { return capacity_; }

 private:
  bool closed_or_nonempty() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || !frames_.empty();
  }

  bool pop_locked(funnel::outbound_frame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (frames_.empty()) return false;
    f = std::move(frames_.front());
    frames_.pop_front();
    return true;
  }

  const std::size_t capacity_;
  absl::Mutex mu_;
  std::deque<funnel::outbound_frame> frames_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// A Backpressure policy: polls with exponential backoff, sleeping 1 us, 2 us,
// ... up to 1 ms between looks, never past the deadline. Trade-off: no
// wake-up cost for the writer, at the price of up to 1 ms of latency after a
// long wait. Thread-safety: stateless; wait() from many threads at once.
class backoff_backpressure {
 public:
  bool wait(absl::FunctionRef<bool()> ready, absl::Time deadline) const {
    absl::Duration pause = absl::Microseconds(1);
    for (;;) {
      if (ready()) return true;
      const absl::Time now = absl::Now();
      if (now >= deadline) return false;
      absl::SleepFor(std::min(pause, deadline - now));
      pause = std::min(2 * pause, absl::Milliseconds(1));
    }
  }

  void notify() const noexcept {}
};

static_assert(funnel::queue<deque_queue>);
static_assert(funnel::backpressure<backoff_backpressure>);

}  // namespace my_team

// [conformance-instantiate]
// GoogleTest pastes the suite name into identifiers, so it cannot be written
// qualified: instantiate inside the suites' namespace, and spell GoogleTest's
// own namespace ::testing there.
namespace funnel::testing {

INSTANTIATE_TYPED_TEST_SUITE_P(MyTeam, QueueConformance, ::testing::Types<my_team::deque_queue>);
INSTANTIATE_TYPED_TEST_SUITE_P(MyTeam, BackpressureConformance,
                               ::testing::Types<my_team::backoff_backpressure>);

}  // namespace funnel::testing
// [conformance-instantiate]
