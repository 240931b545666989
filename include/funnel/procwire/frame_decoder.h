// funnel/procwire/frame_decoder.h
// -----------------------------------------------------------------------------
// `frame_decoder`: the reading side of the procwire stream, for the peer of a
// funnel writer, for tests and for examples (the C++ counterpart of
// @procwire/protocol's FrameBuffer).
//
//   frame_decoder d;
//   d.push(chunk);                         // any split of the stream
//   while (auto f = d.next()) { ... }      // absl::StatusOr<std::optional<frame>>
//
// A header that fails validation is an error (InvalidArgument naming the
// field, and the stream offset); the decoder stops there, since nothing after
// a bad header can be trusted.
//
// Thread-safety: none; one decoder per reading thread.
// Allocation: the internal buffer grows to the largest frame (+ one read);
// decoded payloads are fresh `bytes` (one allocation each).
#ifndef FUNNEL_PROCWIRE_FRAME_DECODER_H_
#define FUNNEL_PROCWIRE_FRAME_DECODER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "funnel/bytes.h"
#include "funnel/procwire/frame.h"

namespace funnel::inline procwire {

struct decoded_frame {
  frame_header header;
  bytes payload;
};

class frame_decoder {
 public:
  explicit frame_decoder(std::uint32_t max_payload = kDefaultMaxPayload)
      : max_payload_(max_payload) {}

  // Appends the next chunk of the stream.
  void push(std::span<const std::byte> chunk) {
    buffer_.insert(buffer_.end(), chunk.begin(), chunk.end());
  }

  // The next complete frame, std::nullopt when more bytes are needed, or the
  // error of the first invalid header (sticky).
  absl::StatusOr<std::optional<decoded_frame>> next() {
    if (!error_.ok()) return error_;
    const std::size_t avail = buffer_.size() - start_;
    if (avail < kHeaderSize) return compact_and_wait();
    absl::StatusOr<frame_header> h =
        decode_header(std::span(buffer_).subspan(start_, kHeaderSize), max_payload_);
    if (!h.ok()) {
      error_ = absl::Status(h.status().code(), absl::StrCat(h.status().message(),
                                                            " (at stream offset ", consumed_, ")"));
      return error_;
    }
    if (avail < kHeaderSize + h->payload_length) return compact_and_wait();
    decoded_frame f{
        *h, bytes::copy_from(std::span(buffer_).subspan(start_ + kHeaderSize, h->payload_length))};
    start_ += kHeaderSize + h->payload_length;
    consumed_ += kHeaderSize + h->payload_length;
    return f;
  }

  // Bytes pushed but not yet returned as frames.
  std::size_t buffered() const noexcept { return buffer_.size() - start_; }
  // Bytes returned as frames so far.
  std::uint64_t consumed() const noexcept { return consumed_; }

 private:
  std::optional<decoded_frame> compact_and_wait() {
    if (start_ > 0) {
      buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(start_));
      start_ = 0;
    }
    return std::nullopt;
  }

  std::uint32_t max_payload_;
  std::vector<std::byte> buffer_;
  std::size_t start_ = 0;
  std::uint64_t consumed_ = 0;
  absl::Status error_;
};

}  // namespace funnel::inline procwire

#endif  // FUNNEL_PROCWIRE_FRAME_DECODER_H_
