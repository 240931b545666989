// funnel/testing/framing_decoders.h: every prefix kind, any chunking, the
// limits and the malformed streams, with the offsets the errors name.
#include "funnel/testing/framing_decoders.h"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "funnel/bytes.h"
#include "funnel/framing/length_prefixed.h"
#include "funnel/framing/raw.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace funnel::testing {
namespace {

using framing::be32_prefix;
using framing::le32_prefix;
using framing::varint_prefix;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> strings(const std::vector<bytes>& v) {
  std::vector<std::string> out;
  for (const bytes& b : v) out.emplace_back(b.as_string_view());
  return out;
}

// The wire bytes of a frame type's frames for `bodies`, concatenated.
template <class F>
std::string encode(const std::vector<std::string>& bodies) {
  std::string out;
  for (const std::string& b : bodies) {
    absl::StatusOr<F> f = F::make(bytes::copy_from(b));
    EXPECT_TRUE(f.ok()) << f.status();
    for (const const_buffer& r : f->wire())
      out.append(reinterpret_cast<const char*>(r.data), r.size);
  }
  return out;
}

template <class P>
class LengthPrefixedDecoder : public ::testing::Test {};
using prefixes = ::testing::Types<be32_prefix, le32_prefix, varint_prefix>;
TYPED_TEST_SUITE(LengthPrefixedDecoder, prefixes);

TYPED_TEST(LengthPrefixedDecoder, RoundTripsAnyChunking) {
  const std::vector<std::string> bodies = {
      "", "a", std::string(300, 'b'), "", std::string(70000, 'c'), "end"};
  const std::string stream = encode<framing::length_prefixed_frame<TypeParam>>(bodies);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{4096}, stream.size()}) {
    length_prefixed_decoder<TypeParam> d;
    std::vector<std::string> got;
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
      d.push(std::string_view(stream).substr(at, chunk));
      for (;;) {
        absl::StatusOr<std::optional<bytes>> b = d.next();
        ASSERT_TRUE(b.ok()) << b.status();
        if (!b->has_value()) break;
        got.emplace_back((*b)->as_string_view());
      }
    }
    EXPECT_EQ(got, bodies) << "chunk " << chunk;
    EXPECT_TRUE(d.finish().ok());
    EXPECT_EQ(d.consumed(), stream.size());
  }
}

TYPED_TEST(LengthPrefixedDecoder, TruncatedStreamIsOutOfRangeAtTheFrameOffset) {
  const std::string stream = encode<framing::length_prefixed_frame<TypeParam>>({"abc", "defgh"});
  const std::size_t second = stream.size() - 5 - (std::is_same_v<TypeParam, varint_prefix> ? 1 : 4);
  for (std::size_t cut : {second + 1, stream.size() - 1}) {
    absl::StatusOr<std::vector<bytes>> got =
        decode_length_prefixed<TypeParam>(std::string_view(stream).substr(0, cut));
    ASSERT_EQ(got.status().code(), absl::StatusCode::kOutOfRange) << "cut " << cut;
    EXPECT_THAT(got.status().message(), HasSubstr(absl::StrCat("stream offset ", second)));
  }
}

TYPED_TEST(LengthPrefixedDecoder, LengthAboveMaxBodyIsAnErrorNamingItAndTheOffset) {
  const std::string stream = encode<framing::length_prefixed_frame<TypeParam>>({"ok", "too long"});
  absl::StatusOr<std::vector<bytes>> got = decode_length_prefixed<TypeParam>(stream, 4);
  ASSERT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  const std::size_t second = std::is_same_v<TypeParam, varint_prefix> ? 3 : 6;
  EXPECT_THAT(got.status().message(),
              AllOf(HasSubstr(TypeParam::name), HasSubstr("length 8 exceeds max_body 4"),
                    HasSubstr(absl::StrCat("stream offset ", second))));
}

TEST(VarintDecoder, ReadsProtobufBytesIncludingNonMinimalOnes) {
  // 300 -> AC 02; 0 as the non-minimal 80 00 (protobuf accepts it).
  std::string stream = "\xAC\x02" + std::string(300, 'x');
  stream += std::string("\x80\x00", 2);
  absl::StatusOr<std::vector<bytes>> got = decode_length_prefixed<varint_prefix>(stream);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(strings(*got), ElementsAre(std::string(300, 'x'), ""));
}

TEST(VarintDecoder, OverLongAndOverflowingVarintsAreErrors) {
  const std::string ok = std::string("\x01", 1) + "z";  // one frame, 2 bytes
  // 11 bytes with the continuation bit: more than 10.
  absl::StatusOr<std::vector<bytes>> over =
      decode_length_prefixed<varint_prefix>(ok + std::string(11, '\x80'));
  ASSERT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(over.status().message(),
              AllOf(HasSubstr("varint longer than 10 bytes"), HasSubstr("stream offset 2")));
  // The 10th byte may only hold bit 63.
  absl::StatusOr<std::vector<bytes>> overflow =
      decode_length_prefixed<varint_prefix>(ok + std::string(9, '\xFF') + "\x02");
  ASSERT_EQ(overflow.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(overflow.status().message(),
              AllOf(HasSubstr("overflows 64 bits"), HasSubstr("stream offset 2")));
  // Cut inside the varint: OutOfRange from finish().
  absl::StatusOr<std::vector<bytes>> cut = decode_length_prefixed<varint_prefix>(ok + "\xAC");
  ASSERT_EQ(cut.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(cut.status().message(), HasSubstr("stream offset 2"));
}

TEST(VarintDecoder, ErrorsAreSticky) {
  length_prefixed_decoder<varint_prefix> d(4);
  d.push(std::string_view("\x05hello"));
  EXPECT_EQ(d.next().status().code(), absl::StatusCode::kInvalidArgument);
  d.push(std::string_view("\x01x"));
  EXPECT_EQ(d.next().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(d.finish().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DelimitedDecoder, SplitsOnTheDelimiterAcrossChunks) {
  std::string stream;
  for (const char* p : {"{\"a\":1}", "", "line three"}) {
    absl::StatusOr<framing::raw_frame> f = framing::raw_frame::make(bytes::from_static(p), "\r\n");
    ASSERT_TRUE(f.ok());
    for (const const_buffer& r : f->wire())
      stream.append(reinterpret_cast<const char*>(r.data), r.size);
  }
  for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, stream.size()}) {
    delimited_decoder d("\r\n");
    std::vector<std::string> got;
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
      d.push(std::string_view(stream).substr(at, chunk));
      while (true) {
        absl::StatusOr<std::optional<bytes>> b = d.next();
        ASSERT_TRUE(b.ok()) << b.status();
        if (!b->has_value()) break;
        got.emplace_back((*b)->as_string_view());
      }
    }
    EXPECT_THAT(got, ElementsAre("{\"a\":1}", "", "line three")) << "chunk " << chunk;
    EXPECT_TRUE(d.finish().ok());
  }
}

TEST(DelimitedDecoder, TrailingBytesAndLongRecordsAreErrors) {
  absl::StatusOr<std::vector<bytes>> trailing = split_delimited("a\nbc", "\n");
  ASSERT_EQ(trailing.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(trailing.status().message(), HasSubstr("stream offset 2"));

  delimited_decoder d("\n", 3);
  d.push(std::string_view("abc\nabcd"));
  ASSERT_TRUE(d.next().ok());
  absl::StatusOr<std::optional<bytes>> too_long = d.next();
  ASSERT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_long.status().message(), AllOf(HasSubstr("max_record 3"), HasSubstr("offset 4")));

  delimited_decoder empty("");
  EXPECT_EQ(empty.next().status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace funnel::testing
