// funnel/testing/frames.h: decoding whole streams and gather lists, its error
// messages, the frame matchers and their descriptions.
#include "funnel/testing/frames.h"

#include <cstdint>
#include <string>
#include <vector>

#include "funnel/basic_writer.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/procwire/frame.h"
#include "gmock/gmock.h"
#include "gtest/gtest-spi.h"  // EXPECT_NONFATAL_FAILURE
#include "gtest/gtest.h"

namespace {

using ::funnel::const_buffer;
using ::funnel::decoded_frame;
using ::funnel::frame_header;
using ::funnel::kHeaderSize;
using ::funnel::testing::decode_frames;
using ::funnel::testing::decoded_frames;
using ::funnel::testing::EqualsFrame;
using ::funnel::testing::FrameIs;
using ::funnel::testing::HasFlags;
using ::funnel::testing::HasHeader;
using ::funnel::testing::HasMethodId;
using ::funnel::testing::HasPayload;
using ::funnel::testing::HasRequestId;
using ::funnel::testing::test_frame;
using ::funnel::testing::wire_bytes;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Gt;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

// The wire bytes of a header, written by hand (not through the code under
// test), so invalid headers can be built too.
std::string raw_header(std::uint16_t method, std::uint8_t flags, std::uint32_t request,
                       std::uint32_t length) {
  const auto e = funnel::encode_header({method, flags, request, length});
  return std::string(reinterpret_cast<const char*>(e.data()), e.size());
}

TEST(DecodeFrames, EmptyStreamIsNoFrames) {
  absl::StatusOr<std::vector<decoded_frame>> frames = decode_frames("");
  ASSERT_TRUE(frames.ok()) << frames.status();
  EXPECT_THAT(*frames, IsEmpty());
}

TEST(DecodeFrames, DecodesEveryFrameInOrder) {
  const std::string stream = wire_bytes(test_frame(1, 42, "hello")) +
                             wire_bytes(test_frame(7, 0, "", funnel::frame_flags::kAck)) +
                             wire_bytes(test_frame(0xFFFF, 9, std::string(300, 'x')));
  absl::StatusOr<std::vector<decoded_frame>> frames = decode_frames(stream);
  ASSERT_TRUE(frames.ok()) << frames.status();
  EXPECT_THAT(*frames,
              ElementsAre(FrameIs(1, 42, "hello"),
                          AllOf(FrameIs(7, 0, IsEmpty()), HasFlags(funnel::frame_flags::kAck)),
                          FrameIs(funnel::kAbortMethodId, 9, std::string(300, 'x'))));
}

TEST(DecodeFrames, BadHeaderNamesFieldAndOffset) {
  const std::string good = wire_bytes(test_frame(1, 1, "abcde"));  // 16 bytes
  absl::StatusOr<std::vector<decoded_frame>> frames = decode_frames(good + raw_header(0, 0, 2, 0));
  EXPECT_EQ(frames.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(frames.status().message(), HasSubstr("method_id 0"));
  EXPECT_THAT(frames.status().message(), HasSubstr("at stream offset 16"));

  frames = decode_frames(good + good + raw_header(1, 0x40, 2, 0));
  EXPECT_EQ(frames.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(frames.status().message(), HasSubstr("reserved bits"));
  EXPECT_THAT(frames.status().message(), HasSubstr("at stream offset 32"));
}

TEST(DecodeFrames, PayloadAboveTheLimitIsABadHeader) {
  absl::StatusOr<std::vector<decoded_frame>> frames =
      decode_frames(wire_bytes(test_frame(1, 1, "0123456789")), /*max_payload=*/4);
  EXPECT_EQ(frames.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(frames.status().message(), HasSubstr("payload_length 10 exceeds the maximum 4"));
  EXPECT_THAT(frames.status().message(), HasSubstr("at stream offset 0"));
}

TEST(DecodeFrames, TrailingPartialHeaderIsOutOfRange) {
  const std::string good = wire_bytes(test_frame(1, 1, "abcde"));
  absl::StatusOr<std::vector<decoded_frame>> frames =
      decode_frames(good + raw_header(1, 0, 2, 0).substr(0, 5));
  EXPECT_EQ(frames.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(frames.status().message(),
              HasSubstr("inside a frame header: 5 trailing byte(s) at stream offset 16"));
}

TEST(DecodeFrames, TrailingPartialPayloadIsOutOfRange) {
  const std::string good = wire_bytes(test_frame(1, 1, "abcde"));
  absl::StatusOr<std::vector<decoded_frame>> frames =
      decode_frames(good + good.substr(0, kHeaderSize + 2));
  EXPECT_EQ(frames.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(frames.status().message(),
              HasSubstr("frame at stream offset 16 declares payload_length 5 but only 2 "
                        "payload byte(s) follow"));
}

TEST(DecodeFrames, GatherListIsDecodedAsOneStream) {
  // A frame split anywhere across ranges, as a writer's gather list may be.
  const std::string a = wire_bytes(test_frame(3, 30, "payload"));
  const std::string b = wire_bytes(test_frame(4, 40, "p"));
  const std::string all = a + b;
  const auto* p = reinterpret_cast<const std::byte*>(all.data());
  const std::vector<const_buffer> gather = {{p, 4}, {p + 4, 10}, {p + 14, all.size() - 14}};
  absl::StatusOr<std::vector<decoded_frame>> frames = decode_frames(gather);
  ASSERT_TRUE(frames.ok()) << frames.status();
  EXPECT_THAT(*frames, ElementsAre(FrameIs(3, 30, "payload"), FrameIs(4, 40, "p")));
  EXPECT_EQ(funnel::testing::flatten(gather), all);
}

TEST(DecodedFrames, ReadsWhatAWriterWroteToAMemorySink) {
  funnel::memory_sink sink;
  auto buffer = sink.buffer();
  funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, funnel::memory_sink,
                       funnel::sleep_backpressure, funnel::count_batcher>
      w(std::move(sink));
  auto h = w.handle();
  const funnel::outbound_frame sent = test_frame(5, 77, "abc", funnel::frame_flags::kResponse);
  ASSERT_TRUE(h.send(sent).ok());
  ASSERT_TRUE(h.send(test_frame(5, 78, "")).ok());
  ASSERT_TRUE(w.close().ok());
  absl::StatusOr<std::vector<decoded_frame>> frames = decoded_frames(*buffer);
  ASSERT_TRUE(frames.ok()) << frames.status();
  EXPECT_THAT(*frames, ElementsAre(EqualsFrame(sent), FrameIs(5, 78, IsEmpty())));
}

TEST(TestFrame, InvalidArgumentsFailTheTest) {
  funnel::outbound_frame f;
  EXPECT_NONFATAL_FAILURE(f = test_frame(0, 1, "x"), "method_id 0 is reserved");
  EXPECT_FALSE(f.valid());
}

TEST(FrameMatchers, MatchTheirFieldsAndTakeMatchers) {
  const decoded_frame f{{9, funnel::frame_flags::kStreamChunk, 1234, 3},
                        funnel::bytes::copy_from("xyz")};
  EXPECT_THAT(f, HasMethodId(9));
  EXPECT_THAT(f, HasMethodId(Gt(8)));
  EXPECT_THAT(f, HasFlags(funnel::frame_flags::kStreamChunk));
  EXPECT_THAT(f, HasRequestId(1234u));
  EXPECT_THAT(f, HasPayload("xyz"));
  EXPECT_THAT(f, HasPayload(StartsWith("xy")));
  EXPECT_THAT(f, HasHeader(frame_header{9, funnel::frame_flags::kStreamChunk, 1234, 3}));
  EXPECT_THAT(f, FrameIs(9, 1234, "xyz"));
  EXPECT_THAT(f, Not(FrameIs(9, 1235, "xyz")));
  EXPECT_THAT(f, Not(HasPayload(IsEmpty())));
}

TEST(FrameMatchers, ExplainWhatDiffers) {
  const decoded_frame f{{9, 0, 1234, 3}, funnel::bytes::copy_from("xyz")};
  ::testing::StringMatchResultListener listener;
  EXPECT_FALSE(::testing::ExplainMatchResult(HasRequestId(7), f, &listener));
  EXPECT_THAT(listener.str(), HasSubstr("whose request_id is 1234"));
  EXPECT_EQ(::testing::DescribeMatcher<decoded_frame>(HasPayload("abc")),
            "whose payload is equal to \"abc\"");
  // Printed frames show the header and payload, not an object dump.
  EXPECT_EQ(::testing::PrintToString(f),
            "{header {method_id 9, flags 0x0, request_id 1234, payload_length 3}, "
            "payload \"xyz\"}");
}

}  // namespace
