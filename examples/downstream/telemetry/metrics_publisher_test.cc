// metrics_publisher's tests, written with funnel's testing kit from outside
// funnel's repository: a MockSink for what each batch holds, a
// fault_injecting_sink for short writes and a peer that goes away.
#include "telemetry/metrics_publisher.h"

#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/testing/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace telemetry {
namespace {

using ::funnel::testing::AcceptAll;
using ::funnel::testing::BatchDecodesTo;
using ::funnel::testing::decoded_frames;
using ::funnel::testing::fault;
using ::funnel::testing::fault_injecting_sink;
using ::funnel::testing::FrameIs;
using ::funnel::testing::HasMethodId;
using ::funnel::testing::mock_sink_ref_no_flush;
using ::funnel::testing::MockSink;
using ::funnel::testing::NotifyThenWait;
using ::testing::_;
using ::testing::DoAll;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::InSequence;
using ::testing::NiceMock;

// One metric per frame, method 7, request ids in publish order.
TEST(MetricsPublisher, WritesOneFramePerMetricInOrder) {
  NiceMock<MockSink> sink;  // declared before the publisher
  absl::Notification entered, release;
  {
    InSequence seq;
    EXPECT_CALL(sink, Write(BatchDecodesTo(ElementsAre(FrameIs(kMetricMethod, 0u, "cpu=1")))))
        .WillOnce(DoAll(NotifyThenWait(&entered, &release), AcceptAll()));
    // Everything published while the writer is held is the next batch.
    EXPECT_CALL(sink, Write(BatchDecodesTo(ElementsAre(FrameIs(kMetricMethod, 1u, "mem=2"),
                                                       FrameIs(kMetricMethod, 2u, "disk=-3")))))
        .WillOnce(AcceptAll());
  }
  metrics_publisher<mock_sink_ref_no_flush> p{mock_sink_ref_no_flush(sink)};
  ASSERT_TRUE(p.publish("cpu", 1).ok());
  entered.WaitForNotification();
  ASSERT_TRUE(p.publish("mem", 2).ok());
  ASSERT_TRUE(p.publish("disk", -3).ok());
  release.Notify();
  ASSERT_TRUE(p.close().ok());
  EXPECT_EQ(p.io().write_calls.load(), 2u);
  EXPECT_EQ(p.stats().frames_written, 3u);
}

// Short writes everywhere: the stream is still whole, and the team's sink
// counted every byte.
TEST(MetricsPublisher, ShortWritesLoseNothing) {
  funnel::memory_sink mem;
  auto out = mem.buffer();
  metrics_publisher<fault_injecting_sink<funnel::memory_sink>> p{
      fault_injecting_sink(std::move(mem), {fault::random_short_writes(/*seed=*/7, 5)})};
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(p.publish("n", i).ok());
  ASSERT_TRUE(p.close().ok());
  auto frames = decoded_frames(*out);
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), 200u);
  EXPECT_THAT(*frames, Each(HasMethodId(kMetricMethod)));
  EXPECT_EQ(p.io().bytes.load(), out->size());
}

// The peer goes away after 100 bytes: close() names the cause, and every
// accepted metric is written or counted as lost.
TEST(MetricsPublisher, APeerThatGoesAwayIsReported) {
  funnel::memory_sink mem;
  metrics_publisher<fault_injecting_sink<funnel::memory_sink>> p{fault_injecting_sink(
      std::move(mem), {fault::fail_after_bytes(100, absl::UnavailableError("collector gone"))})};
  int accepted = 0;
  for (int i = 0; i < 50; ++i) accepted += p.publish("n", i).ok() ? 1 : 0;
  const absl::Status s = p.close();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("collector gone"));
  const funnel::writer_stats st = p.stats();
  EXPECT_EQ(st.frames_accepted, static_cast<std::uint64_t>(accepted));
  EXPECT_EQ(st.frames_accepted, st.frames_written + st.frames_lost);
  EXPECT_EQ(p.io().bytes.load(), 100u);
}

}  // namespace
}  // namespace telemetry
