// Tests for the example's custom policies with funnel's testing kit
// (//testing): the code shown in docs/custom-policies.md, "Testing a custom
// policy". Keep the two in step. yield_backpressure also runs funnel's
// Backpressure conformance suite (at the bottom).
//
//   bazel test //examples/custom_sink:custom_sink_test
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/custom_sink/checksum_sink.h"
#include "examples/custom_sink/yield_backpressure.h"
#include "funnel/concepts.h"
#include "funnel/options.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/presets.h"
#include "funnel/procwire/frame.h"
#include "funnel/testing/backpressure_conformance.h"  // this .cc only: it defines tests
#include "funnel/testing/fault_sink.h"
#include "funnel/testing/frames.h"
#include "funnel/testing/mock_sink.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::funnel::testing::AcceptAll;
using ::funnel::testing::BatchOfFrames;
using ::funnel::testing::decoded_frames;
using ::funnel::testing::fault;
using ::funnel::testing::fault_injecting_sink;
using ::funnel::testing::mock_sink_ref;
using ::funnel::testing::mock_sink_ref_no_flush;
using ::funnel::testing::MockSink;
using ::funnel::testing::NotifyThenWait;
using ::funnel::testing::test_frame;
using funnel_example::checksum_sink;
using funnel_example::discard_sink;
using funnel_example::frame_checksum;
using funnel_example::yield_backpressure;
using ::testing::_;
using ::testing::DoAll;
using ::testing::HasSubstr;
using ::testing::InSequence;
using ::testing::NiceMock;
using ::testing::StrictMock;

// [writer-over]
// The procwire preset with the sink under test.
template <class Sink>
using writer_over = funnel::writer_for<funnel::with<funnel::procwire_preset, Sink>>;
// [writer-over]

// --- the Sink ---------------------------------------------------------------

// The concept, and the hooks forwarded exactly when the inner sink has them.
static_assert(funnel::sink<checksum_sink<discard_sink>>);
static_assert(!funnel::flushable_sink<checksum_sink<funnel::memory_sink>>);
static_assert(funnel::flushable_sink<checksum_sink<mock_sink_ref>>);
static_assert(!funnel::flushable_sink<checksum_sink<mock_sink_ref_no_flush>>);
static_assert(funnel::sink_with_thread_start<checksum_sink<funnel::posix_writev_sink>>);

// Frame `seq` of producer `p`, and its payload of seq % 50 bytes.
funnel::outbound_frame frame_of(int p, std::uint32_t seq) {
  return test_frame(static_cast<std::uint16_t>(p + 1), seq,
                    std::string(seq % 50, static_cast<char>('a' + p)));
}

// Short writes of 1..5 bytes split headers and payloads anywhere: the
// checksum still covers exactly the frames sent, and the bytes behind the
// sink decode to them.
// [sink-setup]
TEST(ChecksumSink, MatchesTheFramesSentUnderRandomShortWrites) {
  funnel::memory_sink mem;
  auto out = mem.buffer();
  fault_injecting_sink faulty(std::move(mem), {fault::random_short_writes(/*seed=*/7, 5)});
  auto faults = faulty.state();
  checksum_sink sink(std::move(faulty));
  auto seen = sink.state();
  writer_over<decltype(sink)> w(std::move(sink));
  // [sink-setup]

  constexpr int kProducers = 2;
  constexpr std::uint32_t kFrames = 300;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([h = w.handle(), p]() mutable {
      for (std::uint32_t seq = 0; seq < kFrames; ++seq) EXPECT_TRUE(h.send(frame_of(p, seq)).ok());
    });
  }
  for (std::thread& t : producers) t.join();
  ASSERT_TRUE(w.close().ok());

  std::uint64_t want = 0, want_bytes = 0;
  for (int p = 0; p < kProducers; ++p) {
    for (std::uint32_t seq = 0; seq < kFrames; ++seq) {
      want += frame_checksum(frame_of(p, seq));
      want_bytes += frame_of(p, seq).size();
    }
  }
  // [sink-checks]
  EXPECT_EQ(seen->checksum(), want);
  EXPECT_EQ(seen->frames(), kProducers * kFrames);
  EXPECT_EQ(seen->bytes(), want_bytes);
  EXPECT_GT(faults->short_writes(), 0u);
  EXPECT_GT(w.stats().partial_writes, 0u);
  auto frames = decoded_frames(*out);
  ASSERT_TRUE(frames.ok()) << frames.status();
  EXPECT_EQ(frames->size(), kProducers * kFrames);
}
// [sink-checks]

// The inner sink's error passes through: the writer stops, close() carries
// the cause, and the checksum covers only what the inner sink took.
TEST(ChecksumSink, InnerErrorStopsTheWriter) {
  fault_injecting_sink faulty(funnel::memory_sink{},
                              {fault::fail_after_bytes(100, absl::UnavailableError("peer gone"))});
  checksum_sink sink(std::move(faulty));
  auto seen = sink.state();
  writer_over<decltype(sink)> w(std::move(sink));
  auto h = w.handle();
  // 10 frames of 11 + 20 bytes; sends after the failure return it.
  std::uint64_t ok = 0;  // counted here, independently of the writer
  for (std::uint32_t seq = 0; seq < 10; ++seq) {
    if (h.send(test_frame(1, seq, std::string(20, 'x'))).ok()) ++ok;
  }

  const absl::Status closed = w.close();
  EXPECT_EQ(closed.code(), absl::StatusCode::kUnavailable) << closed;
  EXPECT_THAT(closed.message(), HasSubstr("peer gone"));
  EXPECT_EQ(seen->bytes(), 100u);
  EXPECT_EQ(seen->frames(), 3u);  // 3 * 31 = 93 bytes; the 4th frame is cut
  const funnel::writer_stats st = w.stats();
  EXPECT_EQ(st.frames_written, 3u);
  EXPECT_EQ(st.frames_accepted, ok);
  EXPECT_EQ(st.frames_accepted, st.frames_written + st.frames_lost);
}

// The writer calls the forwarded flush() once per batch, after its writes.
TEST(ChecksumSink, ForwardsFlush) {
  StrictMock<MockSink> mock;  // declared before the writer, which it outlives
  {
    InSequence seq;
    EXPECT_CALL(mock, Write(BatchOfFrames(1u)));
    EXPECT_CALL(mock, Flush());
  }
  writer_over<checksum_sink<mock_sink_ref>> w{checksum_sink(mock_sink_ref(mock))};
  ASSERT_TRUE(w.handle().send(test_frame(1, 1, "hello")).ok());
  EXPECT_TRUE(w.close().ok());
}

// --- the Backpressure policy ---------------------------------------------------

static_assert(funnel::backpressure<yield_backpressure>);

TEST(YieldBackpressure, ReadyAtOnceReturnsTrue) {
  yield_backpressure b;
  int calls = 0;
  EXPECT_TRUE(b.wait([&] { return ++calls > 0; }, absl::InfinitePast()));
  EXPECT_EQ(calls, 1);
}

TEST(YieldBackpressure, NeverReadyReturnsFalseOnlyAfterTheDeadline) {
  yield_backpressure b;
  const absl::Time deadline = absl::Now() + absl::Milliseconds(20);
  EXPECT_FALSE(b.wait([] { return false; }, deadline));
  EXPECT_GE(absl::Now(), deadline);
}

// [waiter-test]
// The procwire preset with the backpressure policy under test, over a mock.
using yield_writer = funnel::writer_for<
    funnel::with<funnel::with<funnel::procwire_preset, mock_sink_ref>, yield_backpressure>>;

// A producer that meets the bound waits in the policy and gets through once
// the writer frees budget. Deterministic: the writer is held inside Write.
TEST(YieldBackpressure, WaiterGetsThroughWhenTheWriterFreesBudget) {
  NiceMock<MockSink> mock;
  absl::Notification entered, release;
  EXPECT_CALL(mock, Write(_))
      .WillOnce(DoAll(NotifyThenWait(&entered, &release), AcceptAll()))
      .WillRepeatedly(AcceptAll());
  funnel::writer_options o;
  o.max_pending_frames = 1;
  yield_writer w(mock_sink_ref(mock), o);
  auto h = w.handle();

  ASSERT_TRUE(h.send(test_frame(1, 1, "first")).ok());
  entered.WaitForNotification();  // the writer holds frame 1: the budget is used up
  EXPECT_TRUE(h.is_backpressure_active());
  absl::Status second;
  std::thread producer([&] { second = h.send(test_frame(1, 2, "second")); });
  // Counted just before the producer calls wait(): no sleep, no guess.
  while (w.stats().backpressure_waits == 0) std::this_thread::yield();
  release.Notify();
  producer.join();

  EXPECT_TRUE(second.ok()) << second;
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_written, 2u);
  EXPECT_EQ(w.stats().backpressure_timeouts, 0u);
}
// [waiter-test]

// With no budget coming back, send() gives up after backpressure_timeout
// and leaves the frame to the caller.
TEST(YieldBackpressure, TimeoutIsDeadlineExceeded) {
  NiceMock<MockSink> mock;
  absl::Notification entered, release;
  EXPECT_CALL(mock, Write(_))
      .WillOnce(DoAll(NotifyThenWait(&entered, &release), AcceptAll()))
      .WillRepeatedly(AcceptAll());
  funnel::writer_options o;
  o.max_pending_frames = 1;
  o.backpressure_timeout = absl::Milliseconds(50);
  yield_writer w(mock_sink_ref(mock), o);
  auto h = w.handle();

  ASSERT_TRUE(h.send(test_frame(1, 1, "first")).ok());
  entered.WaitForNotification();
  funnel::outbound_frame second = test_frame(1, 2, "second");
  const absl::Time start = absl::Now();
  const absl::Status s = h.send(std::move(second));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_TRUE(second.valid()) << "a rejected frame is left to the caller";
  release.Notify();  // on every path: close() waits for the writer

  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().backpressure_timeouts, 1u);
}

}  // namespace

// [conformance]
// funnel's Backpressure conformance suite, run against the example's policy:
// Example/BackpressureConformance/0.*. GoogleTest pastes the suite name into
// identifiers, so instantiate inside the suite's namespace.
namespace funnel::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(Example, BackpressureConformance,
                               ::testing::Types<funnel_example::yield_backpressure>);
}  // namespace funnel::testing
// [conformance]
