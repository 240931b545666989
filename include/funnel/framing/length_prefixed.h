// funnel/framing/length_prefixed.h
// -----------------------------------------------------------------------------
// `length_prefixed_frame<Prefix>`: a body preceded by its length, the framing
// of most binary protocols. A model of funnel::frame (funnel/frame.h).
//
// When to use: the peer reads "length, then that many bytes": protobuf's
// writeDelimitedTo / parseDelimitedFrom (varint_prefix), Kafka, Netty's
// LengthFieldBasedFrameDecoder, Node's length-prefixed streams (be32_prefix),
// little-endian in-house formats (le32_prefix). When not: the peer splits on a
// delimiter (funnel/framing/raw.h), or needs a richer header (procwire, or
// your own frame type: docs/custom-policies.md).
//
// Wire format: prefix, then body.
//   be32_prefix    4 bytes, unsigned big-endian         (300 -> 00 00 01 2C)
//   le32_prefix    4 bytes, unsigned little-endian      (300 -> 2C 01 00 00)
//   varint_prefix  1..10 bytes, base-128, low group first, high bit = "more"
//                  (protobuf's varint; 300 -> AC 02, 0 -> 00)
// An empty body is legal: the frame is its prefix alone (00 00 00 00, or 00),
// so valid() and size() > 0 still hold and the peer reads a zero-length body.
//
// Limits: make() refuses (InvalidArgument, naming the size and the limit) a
// body above `max_body` (default kDefaultMaxBody, 64 MiB) or above what the
// prefix can express (4 GiB - 1 for the 32-bit prefixes). protobuf's readers
// refuse messages of 2 GiB or more; keep max_body under that for them.
//
// Thread-safety: a value type; copying shares the body (funnel/bytes.h).
// Allocation: none here; the prefix is stored inline in the frame (4 or 10
// bytes), so the writer never allocates per frame. Moving leaves the source
// empty (valid() == false).
#ifndef FUNNEL_FRAMING_LENGTH_PREFIXED_H_
#define FUNNEL_FRAMING_LENGTH_PREFIXED_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "absl/status/status.h"    // make()'s refusals
#include "absl/status/statusor.h"  // make()
#include "absl/strings/str_cat.h"  // messages that name the size and the limit
#include "funnel/bytes.h"          // the shared, immutable body
#include "funnel/frame.h"          // the Frame concept this type models

namespace funnel::framing {

inline constexpr std::size_t kDefaultMaxBody = std::size_t{64} << 20;  // 64 MiB

// Prefix policies: `max_size` (bytes), `max_length` (the largest length the
// prefix can express), `name`, and `encode(length, out)`, which writes the
// prefix to `out` (room for max_size bytes) and returns its size.
struct be32_prefix {
  static constexpr std::size_t max_size = 4;
  static constexpr std::uint64_t max_length = 0xFFFF'FFFFu;
  static constexpr const char* name = "be32";
  static constexpr std::size_t encode(std::uint64_t n, std::byte* out) noexcept {
    for (int i = 0; i < 4; ++i) out[i] = static_cast<std::byte>((n >> (8 * (3 - i))) & 0xFF);
    return 4;
  }
};
struct le32_prefix {
  static constexpr std::size_t max_size = 4;
  static constexpr std::uint64_t max_length = 0xFFFF'FFFFu;
  static constexpr const char* name = "le32";
  static constexpr std::size_t encode(std::uint64_t n, std::byte* out) noexcept {
    for (int i = 0; i < 4; ++i) out[i] = static_cast<std::byte>((n >> (8 * i)) & 0xFF);
    return 4;
  }
};
struct varint_prefix {
  static constexpr std::size_t max_size = 10;  // ceil(64 / 7)
  static constexpr std::uint64_t max_length = ~std::uint64_t{0};
  static constexpr const char* name = "varint";
  static constexpr std::size_t encode(std::uint64_t n, std::byte* out) noexcept {
    std::size_t i = 0;
    for (; n >= 0x80; n >>= 7) out[i++] = static_cast<std::byte>((n & 0x7F) | 0x80);
    out[i++] = static_cast<std::byte>(n);
    return i;
  }
};

template <class Prefix>
class length_prefixed_frame {
  static_assert(Prefix::max_size >= 1 && Prefix::max_size <= 255,
                "funnel::framing: a Prefix needs max_size in 1..255 bytes");

 public:
  using prefix_type = Prefix;
  static constexpr std::size_t max_ranges = 2;  // prefix, body

  // The empty state (valid() == false): a move target, e.g. for Queue::try_pop.
  length_prefixed_frame() noexcept = default;
  length_prefixed_frame(length_prefixed_frame&& o) noexcept
      : prefix_(o.prefix_),
        prefix_size_(std::exchange(o.prefix_size_, 0)),
        body_(std::move(o.body_)) {}
  length_prefixed_frame& operator=(length_prefixed_frame&& o) noexcept {
    prefix_ = o.prefix_;
    prefix_size_ = std::exchange(o.prefix_size_, 0);
    body_ = std::move(o.body_);
    return *this;
  }
  length_prefixed_frame(const length_prefixed_frame&) = default;
  length_prefixed_frame& operator=(const length_prefixed_frame&) = default;

  // A frame carrying `body` (which may be empty), or InvalidArgument when
  // body.size() exceeds max_body or Prefix::max_length.
  static absl::StatusOr<length_prefixed_frame> make(bytes body,
                                                    std::size_t max_body = kDefaultMaxBody) {
    const std::uint64_t limit =
        max_body < Prefix::max_length ? std::uint64_t{max_body} : Prefix::max_length;
    if (body.size() > limit) {
      return absl::InvalidArgumentError(
          absl::StrCat("length_prefixed_frame<", Prefix::name, ">: body of ", body.size(),
                       " bytes exceeds the limit of ", limit, " bytes (max_body ", max_body, ")"));
    }
    length_prefixed_frame f;
    f.prefix_size_ = static_cast<std::uint8_t>(Prefix::encode(body.size(), f.prefix_.data()));
    f.body_ = std::move(body);
    return f;
  }

  // The encoded prefix (empty for an empty frame) and the body.
  std::span<const std::byte> prefix() const noexcept { return {prefix_.data(), prefix_size_}; }
  const bytes& body() const noexcept { return body_; }

  // The Frame concept: the prefix is never empty in a valid frame.
  bool valid() const noexcept { return prefix_size_ != 0; }
  std::size_t size() const noexcept { return prefix_size_ + body_.size(); }
  frame_ranges<max_ranges> wire() const noexcept {
    frame_ranges<max_ranges> r;
    r.add(prefix_.data(), prefix_size_);  // nothing for an empty frame, whose body is empty too
    r.add(body_.data(), body_.size());
    return r;
  }

 private:
  std::array<std::byte, Prefix::max_size> prefix_{};
  std::uint8_t prefix_size_ = 0;  // 0: the empty state
  bytes body_;
};

using be32_frame = length_prefixed_frame<be32_prefix>;
using le32_frame = length_prefixed_frame<le32_prefix>;
using varint_frame = length_prefixed_frame<varint_prefix>;  // protobuf's delimited format

static_assert(check_frame<be32_frame>() && check_frame<le32_frame>() &&
              check_frame<varint_frame>());

}  // namespace funnel::framing

#endif  // FUNNEL_FRAMING_LENGTH_PREFIXED_H_
