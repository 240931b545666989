// Gather lists and partial-write resumption (the seed's
// build_remaining_slices tests, and every split point).
#include "funnel/buffer.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing_internal::make_frame;

// The gather list the writer builds for one frame: header, then payload.
std::vector<const_buffer> gather(const outbound_frame& f) {
  std::vector<const_buffer> g{{f.encoded().data(), kHeaderSize}};
  if (!f.payload().empty()) g.push_back({f.payload().data(), f.payload().size()});
  return g;
}

std::string concat(std::span<const const_buffer> bufs) {
  std::string s;
  for (const const_buffer& b : bufs) s.append(reinterpret_cast<const char*>(b.data), b.size);
  return s;
}

// Seed: test_build_remaining_slices_no_skip.
TEST(ConsumeFront, NothingWritten) {
  outbound_frame f = make_frame(42, "hello");
  std::vector<const_buffer> g = gather(f);
  std::span<const_buffer> rest = consume_front(g, 0);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].size, kHeaderSize);
  EXPECT_EQ(rest[1].size, 5u);
}

// Seed: test_build_remaining_slices_partial_header.
TEST(ConsumeFront, InsideTheHeader) {
  outbound_frame f = make_frame(42, "hello");
  std::vector<const_buffer> g = gather(f);
  std::span<const_buffer> rest = consume_front(g, 5);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].size, kHeaderSize - 5);
  EXPECT_EQ(rest[0].data, f.encoded().data() + 5);
  EXPECT_EQ(rest[1].size, 5u);
}

// Seed: test_build_remaining_slices_skip_header.
TEST(ConsumeFront, AtTheHeaderPayloadBoundary) {
  outbound_frame f = make_frame(42, "hello");
  std::vector<const_buffer> g = gather(f);
  std::span<const_buffer> rest = consume_front(g, kHeaderSize);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].size, 5u);
  EXPECT_EQ(rest[0].data, f.payload().data());
}

TEST(ConsumeFront, InsideThePayload) {
  outbound_frame f = make_frame(42, "hello");
  std::vector<const_buffer> g = gather(f);
  std::span<const_buffer> rest = consume_front(g, kHeaderSize + 2);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(concat(rest), "llo");
}

TEST(ConsumeFront, EverySplitPointOfABatchResumesAtTheExactByte) {
  std::vector<outbound_frame> batch;
  for (int i = 0; i < 4; ++i) batch.push_back(make_frame(i, std::string(i * 3, 'a' + i)));
  std::vector<const_buffer> all;
  for (const outbound_frame& f : batch) {
    std::vector<const_buffer> g = gather(f);
    all.insert(all.end(), g.begin(), g.end());
  }
  const std::string whole = concat(all);
  ASSERT_EQ(total_size(all), whole.size());
  for (std::size_t n = 0; n <= whole.size(); ++n) {
    std::vector<const_buffer> copy = all;
    std::span<const_buffer> rest = consume_front(copy, n);
    EXPECT_EQ(concat(rest), whole.substr(n)) << "after " << n << " bytes";
    if (!rest.empty()) {
      EXPECT_GT(rest[0].size, 0u);
    }
  }
}

TEST(ConsumeFront, SkipsEmptyRanges) {
  const std::byte x[2] = {std::byte{1}, std::byte{2}};
  std::vector<const_buffer> g{{x, 0}, {x, 2}, {x, 0}};
  std::span<const_buffer> rest = consume_front(g, 2);
  EXPECT_TRUE(rest.empty());
  std::vector<const_buffer> h{{x, 0}, {x, 2}};
  EXPECT_EQ(consume_front(h, 0).size(), 1u);
}

}  // namespace
}  // namespace funnel
