// funnel/testing/framing_decoders.h
// -----------------------------------------------------------------------------
// Reading back the framings of funnel/framing/, for tests and for the peer of
// a writer (the counterparts of procwire's frame_decoder):
//
//   * `length_prefixed_decoder<Prefix>`: a byte stream of prefix + body
//     frames (be32_prefix, le32_prefix, varint_prefix) to bodies;
//   * `delimited_decoder`: a byte stream to the records between delimiters
//     (what raw_frame::make(payload, delimiter) frames);
//   * `decode_length_prefixed<Prefix>(stream)`, `split_delimited(stream, d)`:
//     a whole stream at once, which must end on a frame boundary.
//
//   funnel::testing::length_prefixed_decoder<funnel::framing::varint_prefix> d;
//   d.push(chunk);                          // any split of the stream
//   while (auto body = d.next()) { ... }    // absl::StatusOr<std::optional<bytes>>
//   EXPECT_TRUE(d.finish().ok());           // the stream ended on a boundary
//
// Errors name the stream offset of the frame and are sticky (nothing after a
// bad prefix can be trusted): InvalidArgument for a length above max_body, a
// varint of more than 10 bytes or whose 10th byte overflows 64 bits, a record
// longer than max_record; OutOfRange from finish() when the stream ends inside
// a prefix (a truncated varint), a body or a record. Non-minimal varints
// (80 00 for 0) are accepted, as protobuf's readers accept them.
//
// Thread-safety: none; one decoder per reading thread.
// Allocation: the buffer grows to the largest frame (+ one chunk); each
// returned body is a fresh `bytes` (one allocation).
#ifndef FUNNEL_TESTING_FRAMING_DECODERS_H_
#define FUNNEL_TESTING_FRAMING_DECODERS_H_

#include <algorithm>  // std::search for the delimiter
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "funnel/bytes.h"
#include "funnel/framing/length_prefixed.h"

namespace funnel::testing {

namespace framing_internal {
// Buffers pushed chunks; `start` is the first byte not yet returned.
class stream_buffer {
 public:
  void push(std::span<const std::byte> chunk) {
    // Compacts before growing, so the buffer stays near the largest frame.
    data_.erase(data_.begin(), data_.begin() + static_cast<std::ptrdiff_t>(start_));
    start_ = 0;
    data_.insert(data_.end(), chunk.begin(), chunk.end());
  }
  std::span<const std::byte> unread() const { return std::span(data_).subspan(start_); }
  void skip(std::size_t n) {
    start_ += n;
    consumed_ += n;
  }
  bytes take(std::size_t n) {
    bytes out = bytes::copy_from(unread().first(n));
    skip(n);
    return out;
  }
  std::uint64_t consumed() const noexcept { return consumed_; }

 private:
  std::vector<std::byte> data_;
  std::size_t start_ = 0;
  std::uint64_t consumed_ = 0;
};
}  // namespace framing_internal

template <class Prefix>
class length_prefixed_decoder {
 public:
  explicit length_prefixed_decoder(std::size_t max_body = framing::kDefaultMaxBody)
      : max_body_(max_body) {}

  void push(std::span<const std::byte> chunk) { buf_.push(chunk); }
  void push(std::string_view chunk) { push(std::as_bytes(std::span(chunk))); }

  // The next complete body, std::nullopt when more bytes are needed, or the
  // first error (sticky).
  absl::StatusOr<std::optional<bytes>> next() {
    if (!error_.ok()) return error_;
    const std::span<const std::byte> in = buf_.unread();
    std::uint64_t length = 0;
    std::size_t used = 0;
    if constexpr (std::is_same_v<Prefix, framing::varint_prefix>) {
      for (;; ++used) {
        if (used == in.size()) return std::nullopt;
        const auto b = static_cast<std::uint64_t>(in[used]);
        if (used == 9 && (b & 0x80) != 0) return fail("varint longer than 10 bytes");
        if (used == 9 && b > 1) return fail("varint overflows 64 bits");
        length |= (b & 0x7F) << (7 * used);
        if ((b & 0x80) == 0) break;
      }
      ++used;
    } else {
      static_assert(std::is_same_v<Prefix, framing::be32_prefix> ||
                        std::is_same_v<Prefix, framing::le32_prefix>,
                    "length_prefixed_decoder: be32_prefix, le32_prefix or varint_prefix");
      if (in.size() < 4) return std::nullopt;
      for (std::size_t i = 0; i < 4; ++i) {
        const std::size_t shift =
            std::is_same_v<Prefix, framing::be32_prefix> ? 8 * (3 - i) : 8 * i;
        length |= static_cast<std::uint64_t>(in[i]) << shift;
      }
      used = 4;
    }
    if (length > max_body_) {
      return fail(absl::StrCat("length ", length, " exceeds max_body ", max_body_));
    }
    if (in.size() - used < length) return std::nullopt;
    buf_.skip(used);
    return buf_.take(static_cast<std::size_t>(length));
  }

  // OK when every byte pushed was returned as a body; OutOfRange otherwise
  // (call it at the end of the stream).
  absl::Status finish() const {
    if (!error_.ok()) return error_;
    const std::size_t left = buf_.unread().size();
    if (left == 0) return absl::OkStatus();
    return absl::OutOfRangeError(absl::StrCat("stream ends inside a ", Prefix::name,
                                              "-prefixed frame at stream offset ", buf_.consumed(),
                                              " (", left, " byte(s) left)"));
  }
  std::size_t buffered() const noexcept { return buf_.unread().size(); }
  std::uint64_t consumed() const noexcept { return buf_.consumed(); }

 private:
  absl::Status fail(std::string_view what) {
    error_ = absl::InvalidArgumentError(absl::StrCat(Prefix::name, " length prefix: ", what,
                                                     " (at stream offset ", buf_.consumed(), ")"));
    return error_;
  }

  std::size_t max_body_;
  framing_internal::stream_buffer buf_;
  absl::Status error_;
};

class delimited_decoder {
 public:
  // Splits on `delimiter` (copied); an empty one makes next() fail.
  explicit delimited_decoder(std::string_view delimiter,
                             std::size_t max_record = framing::kDefaultMaxBody)
      : max_record_(max_record) {
    const std::span<const std::byte> d = std::as_bytes(std::span(delimiter));
    delimiter_.assign(d.begin(), d.end());
    if (delimiter.empty())
      error_ = absl::InvalidArgumentError("delimited_decoder: empty delimiter");
  }

  void push(std::span<const std::byte> chunk) { buf_.push(chunk); }
  void push(std::string_view chunk) { push(std::as_bytes(std::span(chunk))); }

  // The next record (without its delimiter), std::nullopt when more bytes are
  // needed, or the first error (sticky).
  absl::StatusOr<std::optional<bytes>> next() {
    if (!error_.ok()) return error_;
    const std::span<const std::byte> in = buf_.unread();
    const auto at = std::search(in.begin() + static_cast<std::ptrdiff_t>(scanned_), in.end(),
                                delimiter_.begin(), delimiter_.end());
    // Where the record ends; when no delimiter was found, a lower bound (the
    // last delimiter.size() - 1 bytes may start one: the next call searches
    // them again).
    const std::size_t d = delimiter_.size();
    const std::size_t record = at != in.end() ? static_cast<std::size_t>(at - in.begin())
                                              : (in.size() >= d ? in.size() - d + 1 : 0);
    if (record > max_record_) {
      error_ =
          absl::InvalidArgumentError(absl::StrCat("record longer than max_record ", max_record_,
                                                  " (at stream offset ", buf_.consumed(), ")"));
      return error_;
    }
    if (at == in.end()) {
      scanned_ = record;
      return std::nullopt;
    }
    scanned_ = 0;
    bytes out = buf_.take(record);
    buf_.skip(d);
    return out;
  }

  absl::Status finish() const {
    if (!error_.ok()) return error_;
    const std::size_t left = buf_.unread().size();
    if (left == 0) return absl::OkStatus();
    return absl::OutOfRangeError(absl::StrCat("stream ends inside a record at stream offset ",
                                              buf_.consumed(), " (", left,
                                              " byte(s) without a delimiter)"));
  }
  std::size_t buffered() const noexcept { return buf_.unread().size(); }
  std::uint64_t consumed() const noexcept { return buf_.consumed(); }

 private:
  std::vector<std::byte> delimiter_;
  std::size_t max_record_;
  std::size_t scanned_ = 0;  // where the next search starts (no delimiter before it)
  framing_internal::stream_buffer buf_;
  absl::Status error_;
};

namespace framing_internal {
template <class Decoder>
absl::StatusOr<std::vector<bytes>> decode_all(Decoder& d, std::string_view stream) {
  d.push(stream);
  std::vector<bytes> out;
  for (;;) {
    absl::StatusOr<std::optional<bytes>> b = d.next();
    if (!b.ok()) return b.status();
    if (!b->has_value()) break;
    out.push_back(**std::move(b));
  }
  if (absl::Status s = d.finish(); !s.ok()) return s;
  return out;
}
}  // namespace framing_internal

// Every body of a whole stream, which must end on a frame boundary.
template <class Prefix>
absl::StatusOr<std::vector<bytes>> decode_length_prefixed(
    std::string_view stream, std::size_t max_body = framing::kDefaultMaxBody) {
  length_prefixed_decoder<Prefix> d(max_body);
  return framing_internal::decode_all(d, stream);
}

// Every record of a whole stream, which must end with a delimiter.
inline absl::StatusOr<std::vector<bytes>> split_delimited(std::string_view stream,
                                                          std::string_view delimiter) {
  delimited_decoder d(delimiter);
  return framing_internal::decode_all(d, stream);
}

}  // namespace funnel::testing

#endif  // FUNNEL_TESTING_FRAMING_DECODERS_H_
