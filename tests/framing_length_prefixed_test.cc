// funnel/framing/length_prefixed.h: byte-exact prefixes against hand-written
// bytes, the limits, the empty body and the moved-from state.
#include "funnel/framing/length_prefixed.h"

#if !defined(_WIN32)
#include <sys/mman.h>  // a 4 GiB body that is never touched
#endif

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "funnel/bytes.h"
#include "funnel/frame.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace funnel::framing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// The bytes a frame puts on the wire, concatenated.
using V = std::vector<std::uint8_t>;

template <class F>
std::vector<std::uint8_t> wire_of(const F& f) {
  std::vector<std::uint8_t> out;
  for (const const_buffer& r : f.wire()) {
    for (std::size_t i = 0; i < r.size; ++i) out.push_back(static_cast<std::uint8_t>(r.data[i]));
  }
  return out;
}

template <class P>
std::vector<std::uint8_t> prefix_of(std::uint64_t n) {
  std::byte out[P::max_size];
  const std::size_t size = P::encode(n, out);
  std::vector<std::uint8_t> v;
  for (std::size_t i = 0; i < size; ++i) v.push_back(static_cast<std::uint8_t>(out[i]));
  return v;
}

TEST(VarintPrefix, MatchesProtobufEncoding) {
  EXPECT_EQ(prefix_of<varint_prefix>(0), V({0x00}));
  EXPECT_EQ(prefix_of<varint_prefix>(1), V({0x01}));
  EXPECT_EQ(prefix_of<varint_prefix>(127), V({0x7F}));
  EXPECT_EQ(prefix_of<varint_prefix>(128), V({0x80, 0x01}));
  EXPECT_EQ(prefix_of<varint_prefix>(300), V({0xAC, 0x02}));
  EXPECT_EQ(prefix_of<varint_prefix>(16383), V({0xFF, 0x7F}));
  EXPECT_EQ(prefix_of<varint_prefix>(16384), V({0x80, 0x80, 0x01}));
  EXPECT_EQ(prefix_of<varint_prefix>(0xFFFF'FFFFu), V({0xFF, 0xFF, 0xFF, 0xFF, 0x0F}));
  EXPECT_EQ(prefix_of<varint_prefix>(~std::uint64_t{0}),
            V({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}));
}

TEST(FixedPrefix, BigAndLittleEndian) {
  EXPECT_EQ(prefix_of<be32_prefix>(300), V({0x00, 0x00, 0x01, 0x2C}));
  EXPECT_EQ(prefix_of<le32_prefix>(300), V({0x2C, 0x01, 0x00, 0x00}));
  EXPECT_EQ(prefix_of<be32_prefix>(0x01020304), V({0x01, 0x02, 0x03, 0x04}));
  EXPECT_EQ(prefix_of<le32_prefix>(0x01020304), V({0x04, 0x03, 0x02, 0x01}));
  EXPECT_EQ(prefix_of<be32_prefix>(0), V({0x00, 0x00, 0x00, 0x00}));
}

TEST(LengthPrefixedFrame, WireIsPrefixThenBody) {
  const std::string body(300, 'x');
  absl::StatusOr<varint_frame> f = varint_frame::make(bytes::copy_from(body));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->valid());
  EXPECT_EQ(f->size(), 302u);
  ASSERT_EQ(f->wire().size(), 2u);
  std::vector<std::uint8_t> expected = {0xAC, 0x02};
  expected.insert(expected.end(), body.begin(), body.end());
  EXPECT_EQ(wire_of(*f), expected);

  absl::StatusOr<be32_frame> b = be32_frame::make(bytes::from_static("hi"));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(wire_of(*b), V({0x00, 0x00, 0x00, 0x02, 'h', 'i'}));
  absl::StatusOr<le32_frame> l = le32_frame::make(bytes::from_static("hi"));
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(wire_of(*l), V({0x02, 0x00, 0x00, 0x00, 'h', 'i'}));
}

TEST(LengthPrefixedFrame, EmptyBodyIsThePrefixAlone) {
  absl::StatusOr<varint_frame> v = varint_frame::make(bytes());
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->valid());
  EXPECT_EQ(v->size(), 1u);
  EXPECT_EQ(v->wire().size(), 1u);  // no zero-length range
  EXPECT_EQ(wire_of(*v), V({0x00}));
  absl::StatusOr<be32_frame> b = be32_frame::make(bytes());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size(), 4u);
  EXPECT_EQ(wire_of(*b), V({0, 0, 0, 0}));
}

TEST(LengthPrefixedFrame, RefusesABodyAboveTheLimitNamingBoth) {
  const std::string body(101, 'x');
  absl::StatusOr<varint_frame> f = varint_frame::make(bytes::copy_from(body), 100);
  ASSERT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(f.status().message(), AllOf(HasSubstr("varint"), HasSubstr("body of 101 bytes"),
                                          HasSubstr("limit of 100 bytes")));
  EXPECT_TRUE(varint_frame::make(bytes::copy_from(std::string(100, 'x')), 100).ok());
  // The default limit: 64 MiB.
  EXPECT_EQ(kDefaultMaxBody, std::size_t{64} << 20);
}

TEST(LengthPrefixedFrame, ThirtyTwoBitPrefixCapsTheLimit) {
  static_assert(be32_prefix::max_length == 0xFFFF'FFFFu);
  static_assert(le32_prefix::max_length == 0xFFFF'FFFFu);
#if !defined(_WIN32)
  // A 4 GiB body without 4 GiB of memory: an untouched, unreserved mapping.
  if constexpr (sizeof(std::size_t) > 4) {
    const std::size_t n = std::size_t{1} << 32;
    void* p = ::mmap(nullptr, n, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    {
      const bytes huge = bytes::from_static({static_cast<const std::byte*>(p), n});
      // A max_body above what 32 bits express is capped to it.
      absl::StatusOr<be32_frame> f = be32_frame::make(huge, ~std::size_t{0});
      ASSERT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(f.status().message(),
                  AllOf(HasSubstr("body of 4294967296 bytes"), HasSubstr("limit of 4294967295")));
      // varint expresses it.
      absl::StatusOr<varint_frame> v = varint_frame::make(huge, ~std::size_t{0});
      ASSERT_TRUE(v.ok()) << v.status();
      EXPECT_EQ(v->size(), n + 5);
    }
    ::munmap(p, n);
  }
#endif
}

TEST(LengthPrefixedFrame, MovedFromIsEmptyAndCopiesShareTheBody) {
  absl::StatusOr<le32_frame> made = le32_frame::make(bytes::copy_from(std::string_view("abc")));
  ASSERT_TRUE(made.ok());
  le32_frame a = *std::move(made);
  le32_frame copy = a;
  EXPECT_EQ(copy.body().data(), a.body().data());  // shared, not copied
  le32_frame b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the law under test
  EXPECT_EQ(a.size(), 0u);
  EXPECT_TRUE(a.wire().empty());
  EXPECT_TRUE(b.valid());
  le32_frame c;
  EXPECT_FALSE(c.valid());
  c = std::move(b);
  EXPECT_FALSE(b.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(wire_of(c), V({3, 0, 0, 0, 'a', 'b', 'c'}));
  EXPECT_EQ(wire_of(copy), wire_of(c));
}

TEST(LengthPrefixedFrame, ModelsTheFrameConceptWithTheNoexceptMembers) {
  static_assert(frame<varint_frame> && frame<be32_frame> && frame<le32_frame>);
  static_assert(std::is_nothrow_move_constructible_v<varint_frame>);
  static_assert(noexcept(std::declval<const varint_frame&>().wire()));
  // The prefix is stored inline: the frame is the body's handle plus a few bytes.
  static_assert(sizeof(varint_frame) <= sizeof(bytes) + 16);
}

}  // namespace
}  // namespace funnel::framing
