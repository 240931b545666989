// funnel/framing/raw.h: payload then delimiter, byte-exact; the refusals; the
// moved-from state.
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "funnel/bytes.h"
#include "funnel/frame.h"
#include "funnel/framing/raw.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace funnel::framing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string wire_of(const raw_frame& f) {
  std::string out;
  for (const const_buffer& r : f.wire()) out.append(reinterpret_cast<const char*>(r.data), r.size);
  return out;
}

TEST(RawFrame, PayloadThenDelimiter) {
  absl::StatusOr<raw_frame> f = raw_frame::make(bytes::from_static(R"({"a":1})"), "\n");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->valid());
  EXPECT_EQ(f->size(), 8u);
  EXPECT_EQ(f->wire().size(), 2u);
  EXPECT_EQ(wire_of(*f), "{\"a\":1}\n");

  absl::StatusOr<raw_frame> crlf = raw_frame::make(bytes::from_static("PING"), "\r\n");
  ASSERT_TRUE(crlf.ok());
  EXPECT_EQ(wire_of(*crlf), "PING\r\n");

  // A delimiter with a NUL byte, and the longest one.
  absl::StatusOr<raw_frame> nul =
      raw_frame::make(bytes::from_static("r"), std::string_view("\0", 1));
  ASSERT_TRUE(nul.ok());
  EXPECT_EQ(wire_of(*nul), std::string("r\0", 2));
  absl::StatusOr<raw_frame> eight = raw_frame::make(bytes::from_static("r"), "12345678");
  ASSERT_TRUE(eight.ok());
  EXPECT_EQ(wire_of(*eight), "r12345678");
}

TEST(RawFrame, WithoutDelimiterIsThePayloadAsIs) {
  absl::StatusOr<raw_frame> f = raw_frame::make(bytes::from_static("already framed"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->wire().size(), 1u);
  EXPECT_EQ(wire_of(*f), "already framed");
  EXPECT_TRUE(f->delimiter().empty());
}

TEST(RawFrame, EmptyPayloadWithDelimiterIsAnEmptyRecord) {
  absl::StatusOr<raw_frame> f = raw_frame::make(bytes(), "\n");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->valid());
  EXPECT_EQ(f->size(), 1u);
  EXPECT_EQ(f->wire().size(), 1u);  // no zero-length range
  EXPECT_EQ(wire_of(*f), "\n");
}

TEST(RawFrame, RefusesNothingOnTheWireAndALongDelimiter) {
  absl::StatusOr<raw_frame> none = raw_frame::make(bytes());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(none.status().message(), HasSubstr("no byte on the wire"));
  absl::StatusOr<raw_frame> nine = raw_frame::make(bytes::from_static("x"), "123456789");
  EXPECT_EQ(nine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(nine.status().message(),
              AllOf(HasSubstr("delimiter of 9 bytes"), HasSubstr("limit of 8 bytes")));
}

TEST(RawFrame, MovedFromIsEmptyAndCopiesShareThePayload) {
  absl::StatusOr<raw_frame> made = raw_frame::make(bytes::copy_from(std::string_view("abc")), "\n");
  ASSERT_TRUE(made.ok());
  raw_frame a = *std::move(made);
  raw_frame copy = a;
  EXPECT_EQ(copy.payload().data(), a.payload().data());
  raw_frame b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the law under test
  EXPECT_EQ(a.size(), 0u);
  EXPECT_TRUE(a.wire().empty());
  raw_frame c;
  EXPECT_FALSE(c.valid());
  c = std::move(b);
  EXPECT_FALSE(b.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(wire_of(c), "abc\n");
  EXPECT_EQ(wire_of(copy), "abc\n");
  // A delimiter-only frame, moved, is empty too.
  raw_frame d = *raw_frame::make(bytes(), "\n");
  raw_frame e = std::move(d);
  EXPECT_FALSE(d.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(e.valid());
}

TEST(RawFrame, ModelsTheFrameConcept) {
  static_assert(frame<raw_frame>);
  static_assert(std::is_nothrow_move_assignable_v<raw_frame>);
  static_assert(sizeof(raw_frame) <= sizeof(bytes) + 16);
}

}  // namespace
}  // namespace funnel::framing
