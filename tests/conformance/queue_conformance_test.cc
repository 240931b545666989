// The Queue conformance suite (funnel/testing/queue_conformance.h, also
// offered to downstream teams) run against every queue model funnel ships.
// A new model joins by adding itself to `QueueModels` below, and a name to
// `queue_model_name`.
//
// This is the only .cc of the test binary that includes the suite: the header
// defines the tests.
#include "funnel/testing/queue_conformance.h"

#include <string>
#include <type_traits>

#include "funnel/concepts.h"
#include "funnel/policies/queue/boost_lockfree_queue.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/queue/mutex_queue.h"
#include "gtest/gtest.h"

// GoogleTest pastes the suite name into identifiers, so the suite is
// instantiated inside its own namespace (where GoogleTest is `::testing`).
namespace funnel::testing {
namespace {

static_assert(queue<mpsc_ring<outbound_frame>>);
static_assert(queue<mutex_queue<outbound_frame>>);
static_assert(queue<boost_lockfree_queue<outbound_frame>>);

using QueueModels = ::testing::Types<mpsc_ring<outbound_frame>, mutex_queue<outbound_frame>,
                                     boost_lockfree_queue<outbound_frame>>;

// Test names say which model failed: Models/QueueConformance/mutex_queue.X.
struct queue_model_name {
  template <class Q>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<Q, mpsc_ring<outbound_frame>>) return "mpsc_ring";
    if constexpr (std::is_same_v<Q, mutex_queue<outbound_frame>>) return "mutex_queue";
    if constexpr (std::is_same_v<Q, boost_lockfree_queue<outbound_frame>>)
      return "boost_lockfree_queue";
    return "unnamed_model";
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Models, QueueConformance, QueueModels, queue_model_name);

}  // namespace
}  // namespace funnel::testing
