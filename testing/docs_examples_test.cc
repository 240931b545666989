// The code of docs/testing.md, compiled and run. When you change one, change
// the other: each block below is copied verbatim into the document.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "funnel/basic_writer.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/procwire/frame.h"
#include "funnel/testing/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

// [component]
// The component under test: answers requests through a funnel writer handle.
inline constexpr std::uint16_t kEchoMethod = 42;

template <class Handle>
class echo_service {
 public:
  explicit echo_service(Handle out) : out_(std::move(out)) {}

  // One response frame carrying `payload`.
  absl::Status reply(std::uint32_t request_id, std::string_view payload) {
    return send(funnel::frame_flags::kResponseToParent, request_id, payload);
  }

  // One stream chunk per element, then an empty stream-end frame.
  absl::Status stream(std::uint32_t request_id, const std::vector<std::string>& chunks) {
    for (const std::string& chunk : chunks) {
      if (absl::Status s = send(funnel::frame_flags::kStreamChunkToParent, request_id, chunk);
          !s.ok()) {
        return s;
      }
    }
    return send(funnel::frame_flags::kStreamEndToParent, request_id, "");
  }

 private:
  absl::Status send(std::uint8_t flags, std::uint32_t request_id, std::string_view payload) {
    // The handle takes make()'s StatusOr: a frame that cannot be built comes
    // back as make()'s error, unsent.
    return out_.send(funnel::outbound_frame::make(kEchoMethod, flags, request_id,
                                                  funnel::bytes::copy_from(payload)));
  }

  Handle out_;
};
// [component]

// [memory]
using ::funnel::testing::FrameIs;
using ::funnel::testing::HasFlags;
using ::funnel::testing::HasPayload;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

template <class Sink>
using writer_over = funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, Sink,
                                         funnel::sleep_backpressure, funnel::count_batcher>;

TEST(EchoService, RepliesAndStreamsAreTheRightFrames) {
  funnel::memory_sink sink;
  auto written = sink.buffer();  // keep it: the sink itself moves into the writer
  writer_over<funnel::memory_sink> w(std::move(sink));
  echo_service svc(w.handle());

  ASSERT_TRUE(svc.reply(7, "pong").ok());
  ASSERT_TRUE(svc.stream(8, {"a", "bc"}).ok());
  ASSERT_TRUE(w.close().ok());  // every accepted frame is now in `written`

  auto frames = funnel::testing::decoded_frames(*written);
  ASSERT_TRUE(frames.ok()) << frames.status();  // whole, valid frames only
  EXPECT_THAT(*frames, ElementsAre(AllOf(FrameIs(kEchoMethod, 7, "pong"),
                                         HasFlags(funnel::frame_flags::kResponseToParent)),
                                   FrameIs(kEchoMethod, 8, "a"), FrameIs(kEchoMethod, 8, "bc"),
                                   AllOf(FrameIs(kEchoMethod, 8, IsEmpty()),
                                         HasFlags(funnel::frame_flags::kStreamEndToParent))));
}
// [memory]

// [memory-flush]
TEST(EchoService, EachReplyIsWrittenBeforeTheNextRequest) {
  funnel::memory_sink sink;
  auto written = sink.buffer();
  writer_over<funnel::memory_sink> w(std::move(sink));
  echo_service svc(w.handle());

  ASSERT_TRUE(svc.reply(1, "one").ok());
  ASSERT_TRUE(w.flush().ok());  // returns once everything accepted so far is written
  auto so_far = funnel::testing::decoded_frames(*written);
  ASSERT_TRUE(so_far.ok()) << so_far.status();
  EXPECT_THAT(*so_far, ElementsAre(HasPayload("one")));
  ASSERT_TRUE(svc.reply(2, "two").ok());
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(written->contents(),
            funnel::testing::wire_bytes(funnel::testing::test_frame(
                kEchoMethod, 1, "one", funnel::frame_flags::kResponseToParent)) +
                funnel::testing::wire_bytes(funnel::testing::test_frame(
                    kEchoMethod, 2, "two", funnel::frame_flags::kResponseToParent)));
}
// [memory-flush]

// [mock]
using ::funnel::testing::AcceptAll;
using ::funnel::testing::BatchDecodesTo;
using ::funnel::testing::BatchOfFrames;
using ::funnel::testing::mock_sink_ref;
using ::funnel::testing::MockSink;
using ::funnel::testing::NotifyThenWait;
using ::testing::_;
using ::testing::DoAll;
using ::testing::HasSubstr;
using ::testing::InSequence;
using ::testing::NiceMock;
using ::testing::Return;
using ::testing::StrictMock;

// While the writer is busy, a whole stream queues up and goes out as one
// batch: one gather write, then one flush.
TEST(EchoService, AStreamQueuedBehindABusyWriterIsOneBatch) {
  StrictMock<MockSink> sink;  // declared before the writer, so it outlives it
  absl::Notification entered, release;
  {
    InSequence seq;
    EXPECT_CALL(sink, Write(BatchOfFrames(1)))  // the reply; hold the writer here
        .WillOnce(DoAll(NotifyThenWait(&entered, &release), AcceptAll()));
    EXPECT_CALL(sink, Flush());
    EXPECT_CALL(
        sink,
        Write(BatchDecodesTo(ElementsAre(HasPayload("a"), HasPayload("bc"), HasPayload("")))));
    EXPECT_CALL(sink, Flush());
  }
  writer_over<mock_sink_ref> w{mock_sink_ref(sink)};  // expectations first, then the writer
  echo_service svc(w.handle());

  ASSERT_TRUE(svc.reply(1, "busy").ok());
  entered.WaitForNotification();  // the writer is inside the first Write
  EXPECT_TRUE(svc.stream(2, {"a", "bc"}).ok());
  release.Notify();  // no ASSERT_ between the wait and here: always release
  EXPECT_TRUE(w.close().ok());
}

// A sink error reaches the component's callers, with the sink's message.
TEST(EchoService, ASinkFailureReachesTheCaller) {
  NiceMock<MockSink> sink;
  EXPECT_CALL(sink, Write(_)).WillRepeatedly(Return(absl::UnavailableError("peer went away")));
  writer_over<mock_sink_ref> w{mock_sink_ref(sink)};
  echo_service svc(w.handle());

  ASSERT_TRUE(svc.reply(1, "x").ok());  // accepted; its write fails later
  const absl::Status closed = w.close();
  EXPECT_THAT(closed.message(), HasSubstr("peer went away"));
  EXPECT_THAT(svc.reply(2, "y").message(), HasSubstr("peer went away"));
  EXPECT_EQ(w.stats().frames_lost, 1u);
}
// [mock]

// [fault]
using ::funnel::testing::fault;
using ::funnel::testing::fault_injecting_sink;

using faulty_writer = writer_over<fault_injecting_sink<funnel::memory_sink>>;

// Short writes of any size: the peer still reads exactly the same frames.
TEST(EchoService, ShortWritesNeverCorruptTheStream) {
  for (std::size_t k = 1; k <= 24; ++k) {
    SCOPED_TRACE(::testing::Message() << "short_writes(" << k << ")");
    funnel::memory_sink mem;
    auto written = mem.buffer();
    faulty_writer w(fault_injecting_sink(std::move(mem), {fault::short_writes(k)}));
    echo_service svc(w.handle());
    ASSERT_TRUE(svc.stream(5, {"chunk-1", "chunk-2"}).ok());
    ASSERT_TRUE(w.close().ok());
    auto frames = funnel::testing::decoded_frames(*written);
    ASSERT_TRUE(frames.ok()) << frames.status();
    EXPECT_THAT(*frames,
                ElementsAre(HasPayload("chunk-1"), HasPayload("chunk-2"), HasPayload(IsEmpty())));
  }
}

// The peer goes away 30 bytes into the stream: the component sees the error,
// the peer got a clean prefix, and no accepted frame goes uncounted.
TEST(EchoService, PeerGoneMidStream) {
  funnel::memory_sink mem;
  auto written = mem.buffer();
  fault_injecting_sink sink(std::move(mem),
                            {fault::fail_after_bytes(30, absl::UnavailableError("EPIPE"))});
  auto faults = sink.state();
  faulty_writer w(std::move(sink));
  echo_service svc(w.handle());

  // Depending on timing the stream call itself may already see the error.
  const absl::Status streamed = svc.stream(9, {"0123456789", "0123456789", "0123456789"});
  const absl::Status closed = w.close();
  EXPECT_THAT(closed.message(), HasSubstr("EPIPE"));
  if (!streamed.ok()) {
    EXPECT_THAT(streamed.message(), HasSubstr("EPIPE"));
  }
  const funnel::writer_stats st = w.stats();
  EXPECT_EQ(st.frames_written + st.frames_lost, st.frames_accepted);
  EXPECT_EQ(st.frames_written, 1u);  // 21 bytes: the first chunk; the second was cut
  EXPECT_EQ(written->size(), 30u);
  EXPECT_EQ(faults->bytes_written(), 30u);
}
// [fault]

}  // namespace
