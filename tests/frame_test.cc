// Frame encoding, validation, outbound frames and the stream decoder.
#include "funnel/procwire/frame.h"

#include <cstddef>
#include <string>
#include <vector>

#include "funnel/bytes.h"
#include "funnel/procwire/frame_decoder.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing_internal::make_frame;
using testing_internal::wire_bytes;

std::vector<unsigned> as_uints(const encoded_header& h) {
  std::vector<unsigned> out;
  for (std::byte b : h) out.push_back(std::to_integer<unsigned>(b));
  return out;
}

TEST(FrameHeader, EncodesBigEndianAtTheDocumentedOffsets) {
  const frame_header h{0x0102, 0x23, 0x03040506, 0x0708090A};
  EXPECT_EQ(as_uints(encode_header(h)), (std::vector<unsigned>{0x01, 0x02, 0x23, 0x03, 0x04, 0x05,
                                                               0x06, 0x07, 0x08, 0x09, 0x0A}));
}

TEST(FrameHeader, DecodeInvertsEncode) {
  for (const frame_header& h :
       {frame_header{1, 0, 0, 0}, frame_header{0xFFFF, 0x3F, 0xFFFFFFFF, kDefaultMaxPayload},
        frame_header{513, 0x1B, 77, 12345}}) {
    absl::StatusOr<frame_header> d = decode_header(encode_header(h));
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(*d, h);
  }
}

TEST(FrameHeader, ValidationNamesTheBadField) {
  absl::Status s = validate_header({0, 0, 1, 0});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("method_id 0"), std::string::npos) << s;

  s = validate_header({1, 0x40, 1, 0});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("reserved"), std::string::npos) << s;

  s = validate_header({1, 0, 1, kDefaultMaxPayload + 1});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("1073741825"), std::string::npos) << s;

  // A configured maximum above the absolute one is capped at 2^31-1.
  EXPECT_TRUE(validate_header({1, 0, 1, kAbsoluteMaxPayload}, 0xFFFFFFFF).ok());
  EXPECT_FALSE(validate_header({1, 0, 1, kAbsoluteMaxPayload + 1}, 0xFFFFFFFF).ok());
  // A smaller configured maximum is honoured.
  EXPECT_FALSE(validate_header({1, 0, 1, 101}, 100).ok());
}

TEST(FrameHeader, DecodeRejectsShortInput) {
  std::vector<std::byte> ten(10);
  absl::StatusOr<frame_header> d = decode_header(ten);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("got 10"), std::string::npos) << d.status();
}

// Seed: test_outbound_frame_creation.
TEST(OutboundFrame, Creation) {
  absl::StatusOr<outbound_frame> f =
      outbound_frame::make(frame_header{1, 0x03, 42, 5}, bytes::from_static("hello"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->encoded().size(), kHeaderSize);
  EXPECT_EQ(f->payload().size(), 5u);
  EXPECT_EQ(f->size(), kHeaderSize + 5);
  EXPECT_EQ(f->header(), (frame_header{1, 0x03, 42, 5}));
  EXPECT_EQ(f->payload().as_string_view(), "hello");
}

// Seed: test_outbound_frame_empty.
TEST(OutboundFrame, Empty) {
  absl::StatusOr<outbound_frame> f = outbound_frame::empty(frame_header{1, 0x23, 42, 0});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->payload().empty());
  EXPECT_EQ(f->size(), kHeaderSize);
}

TEST(OutboundFrame, LengthMismatchIsRejectedSoTheStreamCannotDesynchronise) {
  absl::StatusOr<outbound_frame> f =
      outbound_frame::make(frame_header{1, 0x03, 42, 4}, bytes::from_static("hello"));
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(f.status().message().find("payload_length 4"), std::string::npos) << f.status();
  EXPECT_FALSE(outbound_frame::empty(frame_header{1, 0x23, 42, 1}).ok());
  EXPECT_FALSE(outbound_frame::make(0, 0, 1, bytes()).ok());
}

TEST(OutboundFrame, MakeComputesLengthAndMovesLeaveAnInvalidShell) {
  outbound_frame f = make_frame(7, "abc");
  EXPECT_TRUE(f.valid());
  EXPECT_EQ(f.header().payload_length, 3u);
  outbound_frame g = std::move(f);
  EXPECT_TRUE(g.valid());
  EXPECT_FALSE(f.valid());  // NOLINT(bugprone-use-after-move): documented state
  EXPECT_EQ(f.size(), kHeaderSize);
  EXPECT_EQ(f.header(), frame_header{}) << "no stale payload_length on an empty frame";
  EXPECT_FALSE(outbound_frame().valid());
  EXPECT_EQ(outbound_frame().header(), frame_header{});
}

TEST(Bytes, OwnershipAndViews) {
  std::string text = "hello world";
  bytes copied = bytes::copy_from(text);
  text[0] = 'j';
  EXPECT_EQ(copied.as_string_view(), "hello world");  // a copy, not a view

  std::vector<std::byte> v(3, std::byte{7});
  const std::byte* where = v.data();
  bytes adopted = bytes::adopt(std::move(v));
  EXPECT_EQ(adopted.data(), where);  // no copy of the elements
  EXPECT_EQ(adopted.size(), 3u);

  bytes s = copied.slice(6, 5);
  EXPECT_EQ(s.as_string_view(), "world");
  copied = bytes();
  EXPECT_EQ(s.as_string_view(), "world");  // the slice keeps the owner alive
  EXPECT_EQ(s.slice(3, 100).as_string_view(), "ld");
  EXPECT_TRUE(s.slice(9, 1).empty());
  EXPECT_EQ(bytes::from_static("x"), bytes::copy_from("x"));
}

TEST(FrameDecoder, ReassemblesAnySplitOfTheStream) {
  std::string stream = wire_bytes(1, "first") + wire_bytes(2, "") + wire_bytes(3, "third!");
  for (std::size_t step = 1; step <= stream.size(); ++step) {
    frame_decoder d;
    std::vector<decoded_frame> got;
    for (std::size_t i = 0; i < stream.size(); i += step) {
      d.push(std::as_bytes(std::span(stream).subspan(i, std::min(step, stream.size() - i))));
      for (;;) {
        auto f = d.next();
        ASSERT_TRUE(f.ok()) << f.status();
        if (!f->has_value()) break;
        got.push_back(**f);
      }
    }
    ASSERT_EQ(got.size(), 3u) << "step " << step;
    EXPECT_EQ(got[0].header.request_id, 1u);
    EXPECT_EQ(got[0].payload.as_string_view(), "first");
    EXPECT_TRUE(got[1].payload.empty());
    EXPECT_EQ(got[2].payload.as_string_view(), "third!");
    EXPECT_EQ(d.consumed(), stream.size());
  }
}

TEST(FrameDecoder, BadHeaderIsAStickyErrorWithItsOffset) {
  std::string stream = wire_bytes(1, "ok");
  stream += std::string(kHeaderSize, '\0');  // method_id 0
  frame_decoder d;
  d.push(std::as_bytes(std::span(stream)));
  auto first = d.next();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->has_value());
  auto bad = d.next();
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("offset 13"), std::string::npos) << bad.status();
  EXPECT_FALSE(d.next().ok());
}

}  // namespace
}  // namespace funnel
