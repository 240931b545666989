// The Backpressure conformance suite
// (funnel/testing/backpressure_conformance.h, also offered to downstream
// teams) run against every backpressure model funnel ships. A new model joins
// by adding itself to `BackpressureModels` below, and a name to
// `backpressure_model_name` (and, if it never waits, a `backpressure_waits`
// specialization like fail_fast_backpressure's).
//
// This is the only .cc of the test binary that includes the suite: the header
// defines the tests.
#include "funnel/testing/backpressure_conformance.h"

#include <string>
#include <type_traits>

#include "funnel/concepts.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/backpressure/fail_fast_backpressure.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/backpressure/spin_backpressure.h"
#include "gtest/gtest.h"

// GoogleTest pastes the suite name into identifiers, so the suite is
// instantiated inside its own namespace (where GoogleTest is `::testing`).
namespace funnel::testing {

// fail_fast_backpressure answers at once: the suite expects one look at
// ready() instead of a wait until the deadline.
template <>
inline constexpr bool backpressure_waits<fail_fast_backpressure> = false;

namespace {

static_assert(backpressure<sleep_backpressure>);
static_assert(backpressure<spin_backpressure>);
static_assert(backpressure<condvar_backpressure>);
static_assert(backpressure<fail_fast_backpressure>);

using BackpressureModels = ::testing::Types<sleep_backpressure, spin_backpressure,
                                            condvar_backpressure, fail_fast_backpressure>;

// Test names say which model failed: Models/BackpressureConformance/spin.X.
struct backpressure_model_name {
  template <class B>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<B, sleep_backpressure>) return "sleep";
    if constexpr (std::is_same_v<B, spin_backpressure>) return "spin";
    if constexpr (std::is_same_v<B, condvar_backpressure>) return "condvar";
    if constexpr (std::is_same_v<B, fail_fast_backpressure>) return "fail_fast";
    return "unnamed_model";
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Models, BackpressureConformance, BackpressureModels,
                               backpressure_model_name);

}  // namespace
}  // namespace funnel::testing
