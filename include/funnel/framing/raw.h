// funnel/framing/raw.h
// -----------------------------------------------------------------------------
// `raw_frame`: bytes the producer has already framed, written as they are,
// optionally followed by a short delimiter the frame appends itself. A model
// of funnel::frame (funnel/frame.h).
//
// When to use: text protocols and record streams whose framing is a
// delimiter (newline-delimited JSON, CSV, log lines: "\n"; RESP, SMTP,
// HTTP/1 header lines: "\r\n"; NUL-separated records), or a stream whose
// records the producer frames itself (already length-prefixed, TLV). When
// not: the payload may contain the delimiter (funnel does not scan for it;
// a stray "\n" in a JSON string splits the record at the peer): escape it,
// or use funnel/framing/length_prefixed.h.
//
// Wire format: payload, then delimiter (0..kMaxDelimiter bytes). The frame
// must put at least one byte on the wire: an empty payload with no delimiter
// is refused; an empty payload with a delimiter is an empty record ("\n").
//
// Thread-safety: a value type; copying shares the payload (funnel/bytes.h).
// Allocation: none here; the delimiter is stored inline (8 bytes), so the
// writer never allocates per frame. Moving leaves the source empty
// (valid() == false).
#ifndef FUNNEL_FRAMING_RAW_H_
#define FUNNEL_FRAMING_RAW_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>  // std::memcpy of the delimiter
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/status.h"    // make()'s refusals
#include "absl/status/statusor.h"  // make()
#include "absl/strings/str_cat.h"  // messages that name the size and the limit
#include "funnel/bytes.h"          // the shared, immutable payload
#include "funnel/frame.h"          // the Frame concept this type models

namespace funnel::framing {

class raw_frame {
 public:
  static constexpr std::size_t kMaxDelimiter = 8;
  static constexpr std::size_t max_ranges = 2;  // payload, delimiter

  // The empty state (valid() == false): a move target, e.g. for Queue::try_pop.
  raw_frame() noexcept = default;
  raw_frame(raw_frame&& o) noexcept
      : payload_(std::move(o.payload_)),
        delimiter_(o.delimiter_),
        delimiter_size_(std::exchange(o.delimiter_size_, 0)) {}
  raw_frame& operator=(raw_frame&& o) noexcept {
    payload_ = std::move(o.payload_);
    delimiter_ = o.delimiter_;
    delimiter_size_ = std::exchange(o.delimiter_size_, 0);
    return *this;
  }
  raw_frame(const raw_frame&) = default;
  raw_frame& operator=(const raw_frame&) = default;

  // `payload`, then `delimiter` (up to kMaxDelimiter bytes, copied into the
  // frame). InvalidArgument for a longer delimiter, or when both are empty.
  static absl::StatusOr<raw_frame> make(bytes payload, std::string_view delimiter = {}) {
    if (delimiter.size() > kMaxDelimiter) {
      return absl::InvalidArgumentError(absl::StrCat("raw_frame: a delimiter of ", delimiter.size(),
                                                     " bytes exceeds the limit of ", kMaxDelimiter,
                                                     " bytes"));
    }
    if (payload.empty() && delimiter.empty()) {
      return absl::InvalidArgumentError(
          "raw_frame: an empty payload without a delimiter puts no byte on the wire");
    }
    raw_frame f;
    f.payload_ = std::move(payload);
    if (!delimiter.empty()) std::memcpy(f.delimiter_.data(), delimiter.data(), delimiter.size());
    f.delimiter_size_ = static_cast<std::uint8_t>(delimiter.size());
    return f;
  }

  const bytes& payload() const noexcept { return payload_; }
  std::span<const std::byte> delimiter() const noexcept {
    return {delimiter_.data(), delimiter_size_};
  }

  // The Frame concept. A valid frame has a payload or a delimiter; moving
  // empties both.
  bool valid() const noexcept { return delimiter_size_ != 0 || !payload_.empty(); }
  std::size_t size() const noexcept { return payload_.size() + delimiter_size_; }
  frame_ranges<max_ranges> wire() const noexcept {
    frame_ranges<max_ranges> r;
    r.add(payload_.data(), payload_.size());
    r.add(delimiter_.data(), delimiter_size_);
    return r;
  }

 private:
  bytes payload_;
  std::array<std::byte, kMaxDelimiter> delimiter_{};
  std::uint8_t delimiter_size_ = 0;
};

static_assert(check_frame<raw_frame>());

}  // namespace funnel::framing

#endif  // FUNNEL_FRAMING_RAW_H_
