// funnel/testing/mock_sink.h against a real basic_writer: call order per
// batch, deterministic batch contents, failure propagation, short answers,
// the optional hooks, and the gather-list matchers on their own.
#include "funnel/testing/mock_sink.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "funnel/basic_writer.h"
#include "funnel/concepts.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/procwire/frame.h"
#include "funnel/testing/frames.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::funnel::const_buffer;
using ::funnel::testing::AcceptAll;
using ::funnel::testing::AcceptAtMost;
using ::funnel::testing::basic_mock_sink_ref;
using ::funnel::testing::BatchBytes;
using ::funnel::testing::BatchDecodesTo;
using ::funnel::testing::BatchOfFrames;
using ::funnel::testing::FrameIs;
using ::funnel::testing::HasMethodId;
using ::funnel::testing::HasRequestId;
using ::funnel::testing::mock_sink_ref;
using ::funnel::testing::mock_sink_ref_no_flush;
using ::funnel::testing::MockSink;
using ::funnel::testing::NotifyThenWait;
using ::funnel::testing::test_frame;
using ::funnel::testing::wire_bytes;
using ::testing::_;
using ::testing::AllOf;
using ::testing::DoAll;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::InSequence;
using ::testing::NiceMock;
using ::testing::Not;
using ::testing::Return;
using ::testing::StrictMock;

template <class Sink>
using writer_over = funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, Sink,
                                         funnel::sleep_backpressure, funnel::count_batcher>;
using mock_writer = writer_over<mock_sink_ref>;

using all_hooks_ref = basic_mock_sink_ref<funnel::testing::sink_hook::flush,
                                          funnel::testing::sink_hook::on_writer_thread_start>;

static_assert(std::is_nothrow_move_constructible_v<mock_sink_ref> &&
                  std::is_copy_constructible_v<mock_sink_ref>,
              "a ref is a pointer: it moves into the writer, the mock stays put");
static_assert(funnel::flushable_sink<mock_sink_ref>);
static_assert(funnel::sink<mock_sink_ref_no_flush> &&
              !funnel::flushable_sink<mock_sink_ref_no_flush>);
static_assert(funnel::sink_with_thread_start<all_hooks_ref> &&
              !funnel::sink_with_thread_start<mock_sink_ref>);

// The brief's scenario: the writer is held inside the first batch's Write
// while ten more frames are queued, so the second batch is exactly those ten;
// each batch is its Write call(s), then one Flush.
TEST(MockSink, EachBatchIsItsWritesThenOneFlush) {
  StrictMock<MockSink> sink;
  absl::Notification entered, release;
  {
    InSequence seq;
    EXPECT_CALL(sink, Write(BatchOfFrames(1)))
        .WillOnce(DoAll(NotifyThenWait(&entered, &release), AcceptAll()));
    EXPECT_CALL(sink, Flush());
    EXPECT_CALL(sink, Write(AllOf(BatchOfFrames(10), BatchDecodesTo(Each(HasMethodId(2))))));
    EXPECT_CALL(sink, Flush());
  }
  mock_writer w{mock_sink_ref(sink)};
  auto h = w.handle();
  ASSERT_TRUE(h.send(test_frame(1, 0, "first")).ok());
  entered.WaitForNotification();  // the writer is inside Write: batch 1 is closed
  for (std::uint32_t i = 0; i < 10; ++i) {
    EXPECT_TRUE(h.send(test_frame(2, i, "payload")).ok());  // EXPECT: release must follow
  }
  release.Notify();
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().batches, 2u);
  EXPECT_EQ(w.stats().frames_written, 11u);
}

// Frames reach the sink in send order, whole, with their payloads.
TEST(MockSink, BatchDecodesToTheFramesInSendOrder) {
  StrictMock<MockSink> sink;
  absl::Notification entered, release;
  {
    InSequence seq;
    EXPECT_CALL(sink, Write(BatchDecodesTo(ElementsAre(FrameIs(1, 100, "hold")))))
        .WillOnce(DoAll(NotifyThenWait(&entered, &release), AcceptAll()));
    EXPECT_CALL(sink, Flush());
    EXPECT_CALL(sink, Write(BatchDecodesTo(ElementsAre(FrameIs(1, 1, "a"), FrameIs(1, 2, ""),
                                                       FrameIs(1, 3, "ccc")))));
    EXPECT_CALL(sink, Flush());
  }
  mock_writer w{mock_sink_ref(sink)};
  auto h = w.handle();
  ASSERT_TRUE(h.send(test_frame(1, 100, "hold")).ok());
  entered.WaitForNotification();
  EXPECT_TRUE(h.send(test_frame(1, 1, "a")).ok());
  EXPECT_TRUE(h.send(test_frame(1, 2, "")).ok());
  EXPECT_TRUE(h.send(test_frame(1, 3, "ccc")).ok());
  release.Notify();
  EXPECT_TRUE(w.close().ok());
}

// A Write error stops the writer: close() and later sends carry its message,
// and every accepted frame not written is counted as lost.
TEST(MockSink, WriteErrorReachesSendAndCloseAndCountsLostFrames) {
  StrictMock<MockSink> sink;
  absl::Notification entered, release;
  EXPECT_CALL(sink, Write(BatchOfFrames(1)))
      .WillOnce(DoAll(NotifyThenWait(&entered, &release),
                      Return(absl::UnavailableError("peer went away"))));
  // No Flush: a failed batch is not flushed.
  mock_writer w{mock_sink_ref(sink)};
  auto h = w.handle();
  ASSERT_TRUE(h.send(test_frame(1, 1, "one")).ok());
  entered.WaitForNotification();
  for (std::uint32_t i = 2; i <= 4; ++i) EXPECT_TRUE(h.send(test_frame(1, i, "queued")).ok());
  release.Notify();

  const absl::Status closed = w.close();
  EXPECT_EQ(closed.code(), absl::StatusCode::kUnavailable) << closed;
  EXPECT_THAT(closed.message(), HasSubstr("peer went away"));
  EXPECT_THAT(closed.message(), HasSubstr("4 accepted frame(s) were not written"));

  const absl::Status sent = h.send(test_frame(1, 5, "late"));
  EXPECT_EQ(sent.code(), absl::StatusCode::kUnavailable) << sent;
  EXPECT_THAT(sent.message(), HasSubstr("peer went away"));

  const funnel::writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, 4u);
  EXPECT_EQ(st.frames_written, 0u);
  EXPECT_EQ(st.frames_lost, 4u);
}

// A short answer: the writer offers the rest, from the exact byte, which no
// longer starts on a frame boundary.
TEST(MockSink, ShortAnswerMakesTheWriterOfferTheRest) {
  StrictMock<MockSink> sink;
  const std::string frame = wire_bytes(test_frame(1, 7, "hello"));  // 16 bytes
  {
    InSequence seq;
    EXPECT_CALL(sink, Write(AllOf(BatchOfFrames(1), BatchBytes(16)))).WillOnce(AcceptAtMost(5));
    EXPECT_CALL(sink, Write(AllOf(BatchBytes(11), Not(BatchDecodesTo(_)))))
        .WillOnce([&](std::span<const const_buffer> rest) -> absl::StatusOr<std::size_t> {
          EXPECT_EQ(funnel::testing::flatten(rest), frame.substr(5));
          return funnel::total_size(rest);
        });
    EXPECT_CALL(sink, Flush());
  }
  mock_writer w{mock_sink_ref(sink)};
  ASSERT_TRUE(w.handle().send(test_frame(1, 7, "hello")).ok());
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().write_calls, 2u);
  EXPECT_EQ(w.stats().partial_writes, 1u);
  EXPECT_EQ(w.stats().bytes_written, 16u);
}

// A sink must answer at least 1 byte and at most what it was offered.
TEST(MockSink, AnsweringZeroBytesIsAnInternalError) {
  NiceMock<MockSink> sink;
  EXPECT_CALL(sink, Write(_)).WillOnce(Return(std::size_t{0}));
  mock_writer w{mock_sink_ref(sink)};
  ASSERT_TRUE(w.handle().send(test_frame(1, 1, "x")).ok());
  const absl::Status closed = w.close();
  EXPECT_FALSE(closed.ok());
  EXPECT_THAT(closed.message(), HasSubstr("sink write returned 0 for 12 bytes offered"));
}

TEST(MockSink, FlushErrorStopsTheWriterButTheFramesCountAsWritten) {
  StrictMock<MockSink> sink;
  EXPECT_CALL(sink, Write(BatchOfFrames(1)));
  EXPECT_CALL(sink, Flush()).WillOnce(Return(absl::DataLossError("fsync failed")));
  mock_writer w{mock_sink_ref(sink)};
  ASSERT_TRUE(w.handle().send(test_frame(1, 1, "x")).ok());
  const absl::Status closed = w.close();
  EXPECT_FALSE(closed.ok());
  EXPECT_THAT(closed.message(), HasSubstr("fsync failed"));
  EXPECT_EQ(w.stats().frames_written, 1u);
  EXPECT_EQ(w.stats().frames_lost, 0u);
}

// Without sink_hook::flush the ref has no flush(): the writer cannot call it.
TEST(MockSink, RefWithoutFlushHookIsNeverFlushed) {
  StrictMock<MockSink> sink;  // an unexpected Flush would fail the test
  EXPECT_CALL(sink, Write(BatchOfFrames(1)));
  writer_over<mock_sink_ref_no_flush> w{mock_sink_ref_no_flush(sink)};
  ASSERT_TRUE(w.handle().send(test_frame(1, 1, "a")).ok());
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().batches, 1u);
}

TEST(MockSink, ThreadStartHookRunsOnceBeforeTheFirstWrite) {
  StrictMock<MockSink> sink;
  {
    InSequence seq;
    EXPECT_CALL(sink, OnWriterThreadStart());
    EXPECT_CALL(sink, Write(BatchOfFrames(1)));
    EXPECT_CALL(sink, Flush());
  }
  writer_over<all_hooks_ref> w{all_hooks_ref(sink)};
  ASSERT_TRUE(w.handle().send(test_frame(1, 1, "a")).ok());
  EXPECT_TRUE(w.close().ok());
}

// --- The gather-list matchers on their own -----------------------------------

class GatherList : public ::testing::Test {
 protected:
  // Two frames, 16 + 11 bytes, split into ranges the way the writer does.
  GatherList() : bytes_(wire_bytes(test_frame(1, 1, "hello")) + wire_bytes(test_frame(2, 2, ""))) {
    const auto* p = reinterpret_cast<const std::byte*>(bytes_.data());
    ranges_ = {{p, 11}, {p + 11, 5}, {p + 16, 11}};
  }
  std::span<const const_buffer> all() const { return ranges_; }

  std::string bytes_;
  std::vector<const_buffer> ranges_;
};

TEST_F(GatherList, MatchersAcceptWholeFrames) {
  EXPECT_THAT(all(), BatchOfFrames(2));
  EXPECT_THAT(all(), BatchOfFrames(::testing::Ge(1u)));
  EXPECT_THAT(all(), BatchDecodesTo(ElementsAre(HasRequestId(1), HasRequestId(2))));
  EXPECT_THAT(all(), BatchBytes(27));
  EXPECT_THAT(all().first(2), BatchOfFrames(1));
  EXPECT_THAT(all().first(1), Not(BatchOfFrames(1)));
}

TEST_F(GatherList, PartialFramesAreNotABatchOfFrames) {
  ::testing::StringMatchResultListener listener;
  const ::testing::Matcher<std::span<const const_buffer>> m = BatchOfFrames(1);
  EXPECT_FALSE(m.MatchAndExplain(all().first(1), &listener));  // a header alone
  EXPECT_THAT(listener.str(), HasSubstr("not a sequence of whole frames"));
  EXPECT_THAT(listener.str(), HasSubstr("declares payload_length 5 but only 0"));
}

TEST_F(GatherList, DescriptionsSayWhatIsExpected) {
  EXPECT_EQ(::testing::DescribeMatcher<std::span<const const_buffer>>(BatchOfFrames(3)),
            "is a gather list of whole frames whose count is equal to 3");
  EXPECT_EQ(::testing::DescribeMatcher<std::span<const const_buffer>>(BatchBytes(27)),
            "whose total size is equal to 27");
  ::testing::StringMatchResultListener listener;
  EXPECT_FALSE(BatchOfFrames(3).MatchAndExplain(all(), &listener));
  EXPECT_THAT(listener.str(), HasSubstr("which decodes to 2 frame(s) {"));
  EXPECT_THAT(listener.str(), HasSubstr("request_id 2"));
}

TEST(AcceptActions, AnswerTheTotalOrTheCap) {
  const std::string data(10, 'x');
  const auto* p = reinterpret_cast<const std::byte*>(data.data());
  const std::vector<const_buffer> b = {{p, 4}, {p + 4, 6}};
  EXPECT_EQ(*AcceptAll()(b), 10u);
  EXPECT_EQ(*AcceptAtMost(3)(b), 3u);
  EXPECT_EQ(*AcceptAtMost(30)(b), 10u);
  EXPECT_EQ(*AcceptAtMost(0)(b), 1u) << "a sink never answers 0";
}

// With no expectations, a NiceMock accepts everything and flushes OK.
TEST(MockSink, DefaultActionsAcceptEverything) {
  NiceMock<MockSink> sink;
  mock_writer w{mock_sink_ref(sink)};
  auto h = w.handle();
  for (std::uint32_t i = 0; i < 100; ++i) ASSERT_TRUE(h.send(test_frame(1, i, "x")).ok());
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_written, 100u);
}

}  // namespace
