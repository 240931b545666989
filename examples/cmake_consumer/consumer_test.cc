// The consumer's test, with funnel's testing kit from CMake (funnel::testing).
#include "funnel/funnel.h"
#include "funnel/testing/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::funnel::testing::decoded_frames;
using ::funnel::testing::fault;
using ::funnel::testing::fault_injecting_sink;
using ::funnel::testing::HasRequestId;
using ::funnel::testing::test_frame;

using faulty_writer = funnel::writer_for<
    funnel::with<funnel::procwire_preset, fault_injecting_sink<funnel::memory_sink>>>;

TEST(Consumer, SurvivesShortWrites) {
  funnel::memory_sink mem;
  auto out = mem.buffer();
  fault_injecting_sink sink(std::move(mem), {fault::short_writes(3)});
  faulty_writer w(std::move(sink));
  auto h = w.handle();
  for (std::uint32_t i = 0; i < 10; ++i) ASSERT_TRUE(h.send(test_frame(1, i, "payload")).ok());
  ASSERT_TRUE(w.close().ok());
  auto frames = decoded_frames(*out);
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), 10u);
  EXPECT_THAT((*frames)[9], HasRequestId(9u));
}

}  // namespace
