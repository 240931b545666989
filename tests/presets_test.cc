// The policy algebra: presets, replacing one policy, and the procwire preset.
#include "funnel/presets.h"

#include <type_traits>

#include "funnel/funnel.h"
#include "funnel/policies/batcher/coalescing_batcher.h"
#include "gtest/gtest.h"

namespace funnel {
namespace {

static_assert(
    std::is_same_v<procwire_writer, basic_writer<mpsc_ring<outbound_frame>, posix_writev_sink,
                                                 sleep_backpressure, count_batcher>>);

// Replacing one axis keeps the other three.
using coalescing_procwire = with_batcher<procwire_preset, coalescing_batcher>;
static_assert(
    std::is_same_v<coalescing_procwire, policy_set<mpsc_ring<outbound_frame>, posix_writev_sink,
                                                   sleep_backpressure, coalescing_batcher>>);
using in_memory = with_sink<procwire_preset, memory_sink>;
static_assert(std::is_same_v<in_memory::sink_type, memory_sink>);
static_assert(std::is_same_v<in_memory::queue_type, mpsc_ring<outbound_frame>>);

// `with` finds the axis from the concept the policy models.
static_assert(std::is_same_v<with<procwire_preset, memory_sink>, in_memory>);
static_assert(std::is_same_v<with<procwire_preset, coalescing_batcher>, coalescing_procwire>);
static_assert(std::is_same_v<with<with<procwire_preset, memory_sink>, coalescing_batcher>,
                             policy_set<mpsc_ring<outbound_frame>, memory_sink, sleep_backpressure,
                                        coalescing_batcher>>);
// Replacing with the same policy is the identity.
static_assert(std::is_same_v<with<procwire_preset, mpsc_ring<outbound_frame>>, procwire_preset>);

TEST(Presets, AReplacedPresetIsAWorkingWriter) {
  memory_sink sink;
  auto buffer = sink.buffer();
  writer_for<with<in_memory, coalescing_batcher>> w(std::move(sink));
  auto frame = outbound_frame::make(7, 0, 1, bytes::from_static("hi"));
  ASSERT_TRUE(frame.ok());
  ASSERT_TRUE(w.handle().send(*std::move(frame)).ok());
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(buffer->size(), kHeaderSize + 2);
}

}  // namespace
}  // namespace funnel
