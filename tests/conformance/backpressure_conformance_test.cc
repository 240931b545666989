// The Backpressure conformance suite
// (funnel/testing/backpressure_conformance.h, also offered to downstream
// teams) run against every backpressure model funnel ships, sleep_backpressure
// in both of its shapes (yield then sleep, the default; pure sleep, yields =
// 0). A new model joins by adding itself to `BackpressureModels` below, and a
// name to `backpressure_model_name` (and, if it never waits, a
// `backpressure_waits` specialization like fail_fast_backpressure's).
//
// Then the checks of one model that the suite cannot state for every model:
// sleep_backpressure's yield phase (how many ready() calls before the first
// sleep, bounded, skipped when the deadline has passed).
//
// This is the only .cc of the test binary that includes the suite: the header
// defines the tests.
#include "funnel/testing/backpressure_conformance.h"

#include <climits>
#include <string>
#include <type_traits>

#include "absl/functional/function_ref.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/concepts.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/backpressure/fail_fast_backpressure.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/backpressure/spin_backpressure.h"
#include "funnel/policies/queue/byte_ring.h"
#include "gtest/gtest.h"

// GoogleTest pastes the suite name into identifiers, so the suite is
// instantiated inside its own namespace (where GoogleTest is `::testing`).
namespace funnel::testing {

// fail_fast_backpressure answers at once: the suite expects one look at
// ready() instead of a wait until the deadline.
template <>
inline constexpr bool backpressure_waits<fail_fast_backpressure> = false;

// The waiting policies again over the byte ring, whose producers wait for
// ring space (the reservation) instead of pending budget.
struct condvar_on_ring : condvar_backpressure {};
// condvar_backpressure with a low-water mark (the writer's per-batch wake-ups
// wait for half the bound), over both kinds of queue.
struct condvar_low_water : condvar_backpressure {
  condvar_low_water() : condvar_backpressure({.low_water = 0.5}) {}
};
struct condvar_low_water_on_ring : condvar_low_water {};
template <>
struct backpressure_conformance_queue<condvar_low_water_on_ring> {
  using type = byte_ring<outbound_frame>;
};
struct sleep_on_ring : sleep_backpressure {};
struct fail_fast_on_ring : fail_fast_backpressure {};
template <>
struct backpressure_conformance_queue<condvar_on_ring> {
  using type = byte_ring<outbound_frame>;
};
template <>
struct backpressure_conformance_queue<sleep_on_ring> {
  using type = byte_ring<outbound_frame>;
};
template <>
struct backpressure_conformance_queue<fail_fast_on_ring> {
  using type = byte_ring<outbound_frame>;
};
template <>
inline constexpr bool backpressure_waits<fail_fast_on_ring> = false;

namespace {

// sleep_backpressure with its yield phase off (yields = 0): the seed's pure
// sleep loop. The suite default-constructs its models, so this configuration
// of the one class needs a type of its own.
class sleep_backpressure_without_yields {
 public:
  bool wait(absl::FunctionRef<bool()> ready, absl::Time deadline) const {
    return b_.wait(ready, deadline);
  }
  void notify() const noexcept { b_.notify(); }

 private:
  sleep_backpressure b_{kDefaultPollInterval, 0};
};

static_assert(backpressure<sleep_backpressure>);
static_assert(backpressure<sleep_backpressure_without_yields>);
static_assert(backpressure<spin_backpressure>);
static_assert(backpressure<condvar_backpressure>);
static_assert(backpressure<condvar_low_water>);
static_assert(backpressure<fail_fast_backpressure>);

using BackpressureModels =
    ::testing::Types<sleep_backpressure, sleep_backpressure_without_yields, spin_backpressure,
                     condvar_backpressure, fail_fast_backpressure, condvar_on_ring, sleep_on_ring,
                     fail_fast_on_ring, condvar_low_water, condvar_low_water_on_ring>;

// Test names say which model failed: Models/BackpressureConformance/spin.X.
struct backpressure_model_name {
  template <class B>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<B, sleep_backpressure>) return "sleep";
    if constexpr (std::is_same_v<B, sleep_backpressure_without_yields>) return "sleep_no_yields";
    if constexpr (std::is_same_v<B, spin_backpressure>) return "spin";
    if constexpr (std::is_same_v<B, condvar_backpressure>) return "condvar";
    if constexpr (std::is_same_v<B, fail_fast_backpressure>) return "fail_fast";
    if constexpr (std::is_same_v<B, condvar_on_ring>) return "ring_condvar";
    if constexpr (std::is_same_v<B, sleep_on_ring>) return "ring_sleep";
    if constexpr (std::is_same_v<B, fail_fast_on_ring>) return "ring_fail_fast";
    if constexpr (std::is_same_v<B, condvar_low_water>) return "condvar_low_water";
    if constexpr (std::is_same_v<B, condvar_low_water_on_ring>) return "ring_condvar_low_water";
    return "unnamed_model";
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Models, BackpressureConformance, BackpressureModels,
                               backpressure_model_name);

// --- sleep_backpressure's yield phase -----------------------------------------
//
// Observed through the count of ready() calls, never the clock: a wait() with
// `yields` Y calls ready() Y times with a yield after each false answer, then
// once more before each sleep. The tests make a sleep long (an interval of an
// hour, which wait() cuts to the deadline), so a wait that slept where it
// should have yielded reaches its deadline and gives up with fewer calls than
// expected, and one that yielded where it should have slept calls ready() more
// often than expected. Deadlines are lower bounds only, as in the suite.
//
// Windows: absl::SleepFor sleeps whole milliseconds (Sleep() with the
// duration truncated), so the sleep to the deadline wakes up to 1 ms early
// and the rest, under 1 ms, is polled with Sleep(0), which returns at once:
// ~2,000 calls under Wine. There the count has a lower bound only, and the
// tests that sleep to their deadline are never ready (kReadyOnCall).

// Answers false until its `n`th call, true from then on.
auto ready_on_call(int& calls, int n) {
  return [&calls, n] { return ++calls >= n; };
}

// The call on which the tests that sleep to their deadline answer ready: a
// policy that yielded instead of sleeping reaches the 1000th call well before
// its 50 ms deadline and returns true. Never on Windows, where the last
// millisecond is polled (above): a correct policy could reach it too.
#if defined(_WIN32)
constexpr int kReadyOnCall = 1 << 30;
#else
constexpr int kReadyOnCall = 1000;
#endif

TEST(SleepBackpressure, DefaultsAreTheSeedsIntervalAndTheDisruptorsYields) {
  EXPECT_EQ(sleep_backpressure().poll_interval(), absl::Microseconds(100));
  EXPECT_EQ(sleep_backpressure().yields(), 100);
  // The one-argument constructor of every existing call site keeps the yields.
  const sleep_backpressure interval_only(absl::Milliseconds(1));
  EXPECT_EQ(interval_only.poll_interval(), absl::Milliseconds(1));
  EXPECT_EQ(interval_only.yields(), kDefaultYieldsBeforeSleep);
  const sleep_backpressure both(absl::Milliseconds(2), 7);
  EXPECT_EQ(both.poll_interval(), absl::Milliseconds(2));
  EXPECT_EQ(both.yields(), 7);
  EXPECT_EQ(sleep_backpressure(kDefaultPollInterval, 0).yields(), 0);
  EXPECT_EQ(sleep_backpressure(kDefaultPollInterval, -3).yields(), 0) << "negative is taken as 0";
}

// Ready on the third call: the yields catch it without a sleep. A policy that
// slept after the first false answer would sleep until the deadline and give
// up on the second call (false after 2 calls, kPatience later).
TEST(SleepBackpressure, ReadyAfterAFewCallsReturnsWithoutSleeping) {
  const sleep_backpressure b(absl::Hours(1));  // default yields
  int calls = 0;
  EXPECT_TRUE(b.wait(ready_on_call(calls, 3), absl::Now() + conformance::kPatience));
  EXPECT_EQ(calls, 3) << "ready() is called again after each yield, and not after it is true";
}

// With 3 yields, the 4th call is the last one before the first sleep: still
// caught without sleeping.
TEST(SleepBackpressure, TheLastCallBeforeTheFirstSleepComesAfterTheLastYield) {
  const sleep_backpressure b(absl::Hours(1), 3);
  int calls = 0;
  EXPECT_TRUE(b.wait(ready_on_call(calls, 4), absl::Now() + conformance::kPatience));
  EXPECT_EQ(calls, 4);
}

// The yield phase is bounded: with 3 yields, 4 calls, then sleeps (here to
// the deadline), each followed by one call, then false. A sleep may end a
// little early, which adds a call or two, so the count is bounded from both
// sides rather than exact: a yield phase that never ended would make tens of
// thousands of calls in 50 ms. On Windows the count has a lower bound only
// (see the top of this section).
TEST(SleepBackpressure, AfterItsYieldsItSleeps) {
  const sleep_backpressure b(absl::Hours(1), 3);
  int calls = 0;
  const absl::Time deadline = absl::Now() + absl::Milliseconds(50);
  const bool ready = b.wait(ready_on_call(calls, kReadyOnCall), deadline);
  EXPECT_FALSE(ready) << "ready on call " << calls << ": it kept yielding instead of sleeping";
  EXPECT_GE(calls, 5) << "4 calls around 3 yields, then at least one after a sleep";
#if !defined(_WIN32)  // the last millisecond is polled on Windows
  EXPECT_LT(calls, 100) << "it kept yielding (or polling) instead of sleeping";
#endif
  // Only a false answer gives up; a true one (a failure above) may be early.
  if (!ready) {
    EXPECT_GE(absl::Now(), deadline) << "gave up before the deadline";
  }
}

// yields = 0 is the seed's loop: one call, a sleep, one call, and so on; a
// policy that yielded here would make thousands of calls in 50 ms. On Windows
// the count has a lower bound only (see the top of this section).
TEST(SleepBackpressure, ZeroYieldsSleepsAfterTheFirstCallAsBefore) {
  const sleep_backpressure b(absl::Hours(1), 0);
  int calls = 0;
  const absl::Time deadline = absl::Now() + absl::Milliseconds(50);
  const bool ready = b.wait(ready_on_call(calls, kReadyOnCall), deadline);
  EXPECT_FALSE(ready) << "ready on call " << calls << ": it yielded instead of sleeping";
  EXPECT_GE(calls, 2) << "one call, a sleep to the deadline, one call after it";
#if !defined(_WIN32)  // the last millisecond is polled on Windows
  EXPECT_LT(calls, 100) << "it yielded instead of sleeping";
#endif
  // Only a false answer gives up; a true one (a failure above) may be early.
  if (!ready) {
    EXPECT_GE(absl::Now(), deadline) << "gave up before the deadline";
  }
}

// A deadline that has passed is seen before the first yield: one call, no
// yield phase.
TEST(SleepBackpressure, APassedDeadlineSkipsTheYields) {
  const sleep_backpressure b;
  int calls = 0;
  EXPECT_FALSE(b.wait(ready_on_call(calls, 2), absl::InfinitePast()));
  EXPECT_EQ(calls, 1);
}

// The deadline is honoured with yields, also while yielding: a never-ready
// wait with (in effect) endless yields still returns false once the deadline
// has passed, and not before. (A yield phase that ignored the clock would run
// for INT_MAX yields, and this test would time out.)
TEST(SleepBackpressure, TheDeadlineIsHonouredWhileYielding) {
  for (const int yields : {kDefaultYieldsBeforeSleep, INT_MAX}) {
    const sleep_backpressure b(kDefaultPollInterval, yields);
    int calls = 0;
    const absl::Time deadline = absl::Now() + absl::Milliseconds(30);
    EXPECT_FALSE(b.wait(ready_on_call(calls, INT_MAX), deadline)) << "yields " << yields;
    EXPECT_GE(absl::Now(), deadline) << "yields " << yields << ": gave up before the deadline";
    EXPECT_GE(calls, 1);
  }
}

}  // namespace
}  // namespace funnel::testing
