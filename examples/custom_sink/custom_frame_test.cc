// A custom frame type: the code of docs/custom-policies.md, "Your own
// framing" (the `// [custom-frame...]` blocks are quoted there verbatim).
// tlv_frame is a made-up TLV protocol's frame; the tests write it through a
// writer and check the bytes.
//
//   bazel test //examples/custom_sink:custom_frame_test
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "funnel/basic_writer.h"
#include "funnel/bytes.h"
#include "funnel/frame.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/memory_sink.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

// [custom-frame]
// A made-up TLV protocol: a 2-byte type tag, a 2-byte body length (both
// big-endian), then the body. The header lives inline: no allocation.
class tlv_frame {
 public:
  static constexpr std::size_t max_ranges = 2;  // header, body

  tlv_frame() noexcept = default;  // the empty state: valid() == false
  tlv_frame(tlv_frame&& o) noexcept
      : header_(o.header_), body_(std::move(o.body_)), valid_(std::exchange(o.valid_, false)) {}
  tlv_frame& operator=(tlv_frame&& o) noexcept {
    header_ = o.header_;
    body_ = std::move(o.body_);
    valid_ = std::exchange(o.valid_, false);
    return *this;
  }

  static absl::StatusOr<tlv_frame> make(std::uint16_t type, funnel::bytes body) {
    if (body.size() > 0xFFFF) {
      return absl::InvalidArgumentError(
          absl::StrCat("tlv body of ", body.size(), " bytes exceeds 65535"));
    }
    const auto n = static_cast<std::uint16_t>(body.size());
    tlv_frame f;
    f.header_ = {std::byte(type >> 8), std::byte(type & 0xFF), std::byte(n >> 8),
                 std::byte(n & 0xFF)};
    f.body_ = std::move(body);
    f.valid_ = true;
    return f;
  }

  bool valid() const noexcept { return valid_; }
  std::size_t size() const noexcept { return valid_ ? header_.size() + body_.size() : 0; }
  funnel::frame_ranges<max_ranges> wire() const noexcept {
    funnel::frame_ranges<max_ranges> r;
    if (valid_) {
      r.add(header_.data(), header_.size());
      r.add(body_.data(), body_.size());  // skipped when empty
    }
    return r;
  }

 private:
  std::array<std::byte, 4> header_{};
  funnel::bytes body_;
  bool valid_ = false;
};
static_assert(funnel::check_frame<tlv_frame>());
// [custom-frame]

// [custom-frame-writer]
// The writer takes its frame type from the queue's.
using tlv_writer = funnel::basic_writer<funnel::mpsc_ring<tlv_frame>, funnel::memory_sink,
                                        funnel::sleep_backpressure, funnel::count_batcher>;

TEST(CustomFrame, WritesTagLengthBody) {
  funnel::memory_sink sink;
  auto out = sink.buffer();
  tlv_writer writer(std::move(sink));
  auto h = writer.handle();
  ASSERT_TRUE(h.send(tlv_frame::make(0x0102, funnel::bytes::from_static("hi"))).ok());
  ASSERT_TRUE(h.send(tlv_frame::make(0x0A0B, funnel::bytes())).ok());  // empty body
  ASSERT_TRUE(writer.close().ok());
  EXPECT_EQ(out->contents(), std::string("\x01\x02\x00\x02hi\x0A\x0B\x00\x00", 10));
}
// [custom-frame-writer]

TEST(CustomFrame, RefusesALongBodyAndMovingEmpties) {
  const std::string big(0x10000, 'x');
  absl::StatusOr<tlv_frame> f = tlv_frame::make(1, funnel::bytes::copy_from(big));
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(f.status().message(), ::testing::HasSubstr("65536 bytes"));

  tlv_frame a = *tlv_frame::make(1, funnel::bytes::from_static("x"));
  EXPECT_EQ(a.size(), 5u);
  tlv_frame b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the law under test
  EXPECT_TRUE(a.wire().empty());
  EXPECT_TRUE(b.valid());
}

TEST(CustomFrame, WriterRefusesAnEmptyFrame) {
  tlv_writer writer{funnel::memory_sink()};
  auto h = writer.handle();
  EXPECT_EQ(h.send(tlv_frame()).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(writer.close().ok());
}

}  // namespace
