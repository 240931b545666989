// The overflow conformance suite (funnel/testing/overflow_conformance.h, also
// offered to downstream teams) run against funnel's drop policies: each over
// its default Queue with a recording callback, drop_newest over byte_ring
// too, drop_oldest over boost_lockfree_queue too, and drop_newest with its
// default callback (ignore_drops: only the counts are checked).
//
// This is the only .cc of the test binary that includes the suite: the header
// defines the tests.
#include "funnel/testing/overflow_conformance.h"

#include <string>
#include <type_traits>

#include "funnel/overflow.h"
#include "funnel/policies/backpressure/drop_newest_backpressure.h"
#include "funnel/policies/backpressure/drop_oldest_backpressure.h"
#include "funnel/policies/queue/boost_lockfree_queue.h"
#include "funnel/policies/queue/byte_ring.h"
#include "gtest/gtest.h"

// GoogleTest pastes the suite name into identifiers, so the suite is
// instantiated inside its own namespace (where GoogleTest is `::testing`).
namespace funnel::testing {

using newest_recorded = drop_newest_backpressure<conformance::drop_recorder>;
using oldest_recorded = drop_oldest_backpressure<conformance::drop_recorder>;

// The same policies over the other Queues that can carry them.
struct newest_on_ring : newest_recorded {
  using newest_recorded::newest_recorded;
};
template <>
struct overflow_conformance_queue<newest_on_ring> {
  using type = byte_ring<outbound_frame>;
};
struct oldest_on_boost : oldest_recorded {
  using oldest_recorded::oldest_recorded;
};
template <>
struct overflow_conformance_queue<oldest_on_boost> {
  using type = boost_lockfree_queue<outbound_frame>;
};

namespace {

static_assert(conformance::records_drops<newest_recorded>);
static_assert(conformance::records_drops<oldest_on_boost>);
static_assert(!conformance::records_drops<drop_newest_backpressure<>>);
static_assert(overflow_of<oldest_on_boost> == overflow_action::drop_oldest);

using OverflowModels = ::testing::Types<newest_recorded, oldest_recorded, newest_on_ring,
                                        oldest_on_boost, drop_newest_backpressure<>>;

// Test names say which model failed: Models/OverflowConformance/oldest_boost.X.
struct overflow_model_name {
  template <class B>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<B, newest_recorded>) return "newest";
    if constexpr (std::is_same_v<B, oldest_recorded>) return "oldest";
    if constexpr (std::is_same_v<B, newest_on_ring>) return "newest_ring";
    if constexpr (std::is_same_v<B, oldest_on_boost>) return "oldest_boost";
    if constexpr (std::is_same_v<B, drop_newest_backpressure<>>) return "newest_no_callback";
    return "unnamed_model";
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Models, OverflowConformance, OverflowModels, overflow_model_name);

}  // namespace
}  // namespace funnel::testing
