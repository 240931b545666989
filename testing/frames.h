// funnel/testing/frames.h
// -----------------------------------------------------------------------------
// Reading back what a funnel writer wrote, for tests:
//
//   * `decode_frames(stream)`: a whole byte stream (or a gather list) to
//     frames, or an error naming the stream offset of the first bad header or
//     of a trailing partial frame;
//   * `decoded_frames(memory_sink_buffer)`: the same for a memory_sink's bytes;
//   * `wire_bytes(frame)` and `test_frame(...)`: the bytes a frame puts on the
//     wire, and a valid frame built in one line (the test fails if it is not);
//   * gmock matchers for `funnel::decoded_frame`: FrameIs, EqualsFrame,
//     HasMethodId, HasFlags, HasRequestId, HasPayload, HasHeader.
//
//   auto frames = funnel::testing::decoded_frames(*buffer);
//   ASSERT_TRUE(frames.ok()) << frames.status();
//   EXPECT_THAT(*frames, ElementsAre(FrameIs(1, 42, "hello"), HasPayload(HasSubstr("x"))));
//
// Matcher arguments are values or matchers: `HasRequestId(7)`,
// `HasRequestId(Gt(6))`; a payload is matched as a std::string, so
// `HasPayload("abc")`, `HasPayload(StartsWith("a"))` and `HasPayload(IsEmpty())`
// all work.
//
// Namespace note: inside `namespace funnel { ... }`, the name `testing` means
// `funnel::testing`; spell GoogleTest's namespace `::testing` there.
//
// This header also gives GoogleTest printers (PrintTo, found by ADL in
// namespace funnel) for `frame_header`, `decoded_frame` and `const_buffer`, so failure
// messages show headers and bytes instead of raw object dumps.
//
// Thread-safety: pure functions; matchers are immutable once built.
#ifndef FUNNEL_TESTING_FRAMES_H_
#define FUNNEL_TESTING_FRAMES_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"  // CHexEscape in the printers
#include "absl/strings/str_cat.h"
#include "funnel/buffer.h"
#include "funnel/bytes.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/procwire/frame.h"
#include "funnel/procwire/frame_decoder.h"  // decoded_frame
#include "gmock/gmock.h"
#include "gtest/gtest.h"  // ADD_FAILURE in test_frame

namespace funnel {

// GoogleTest printers. They live in namespace funnel so that argument-
// dependent lookup finds them; they print, they do not change any behaviour.
inline void PrintTo(const frame_header& h, std::ostream* os) {
  *os << "{method_id " << h.method_id << ", flags 0x" << std::hex << static_cast<unsigned>(h.flags)
      << std::dec << ", request_id " << h.request_id << ", payload_length " << h.payload_length
      << "}";
}

inline void PrintTo(const decoded_frame& f, std::ostream* os) {
  constexpr std::size_t kShown = 64;
  const std::string_view p = f.payload.as_string_view();
  *os << "{header ";
  PrintTo(f.header, os);
  *os << ", payload \"" << absl::CHexEscape(absl::string_view(p.data(), std::min(p.size(), kShown)))
      << (p.size() > kShown ? "\"...}" : "\"}");
}

inline void PrintTo(const const_buffer& b, std::ostream* os) {
  constexpr std::size_t kShown = 16;
  *os << "[" << b.size << " bytes:";
  for (std::size_t i = 0; i < std::min(b.size, kShown); ++i) {
    const unsigned v = static_cast<unsigned>(b.data[i]);
    *os << ' ' << "0123456789ABCDEF"[v >> 4] << "0123456789ABCDEF"[v & 0xF];
  }
  *os << (b.size > kShown ? " ...]" : "]");
}

}  // namespace funnel

namespace funnel::testing {

// -----------------------------------------------------------------------------
// Decoding

// Decodes `stream`, which must be a sequence of whole, valid frames (an empty
// stream is zero frames). Errors:
//   InvalidArgument  a header fails validation (the field, and "at stream
//                    offset N");
//   OutOfRange       the stream ends inside a frame (its offset, what is
//                    missing).
inline absl::StatusOr<std::vector<decoded_frame>> decode_frames(
    std::string_view stream, std::uint32_t max_payload = kDefaultMaxPayload) {
  const std::span<const std::byte> in = std::as_bytes(std::span(stream));
  std::vector<decoded_frame> out;
  std::size_t offset = 0;
  while (offset < in.size()) {
    const std::size_t left = in.size() - offset;
    if (left < kHeaderSize) {
      return absl::OutOfRangeError(absl::StrCat("stream ends inside a frame header: ", left,
                                                " trailing byte(s) at stream offset ", offset,
                                                " (a header has ", kHeaderSize, ")"));
    }
    absl::StatusOr<frame_header> h = decode_header(in.subspan(offset, kHeaderSize), max_payload);
    if (!h.ok()) {
      return absl::Status(h.status().code(),
                          absl::StrCat(h.status().message(), " (at stream offset ", offset, ")"));
    }
    if (left - kHeaderSize < h->payload_length) {
      return absl::OutOfRangeError(
          absl::StrCat("stream ends inside a frame: the frame at stream offset ", offset,
                       " declares payload_length ", h->payload_length, " but only ",
                       left - kHeaderSize, " payload byte(s) follow"));
    }
    out.push_back({*h, bytes::copy_from(in.subspan(offset + kHeaderSize, h->payload_length))});
    offset += kHeaderSize + h->payload_length;
  }
  return out;
}

// The bytes of a gather list, concatenated in order.
inline std::string flatten(std::span<const const_buffer> buffers) {
  std::string out;
  out.reserve(total_size(buffers));
  for (const const_buffer& b : buffers) out.append(reinterpret_cast<const char*>(b.data), b.size);
  return out;
}

// Decodes the concatenation of a gather list (what one Sink::write call was
// offered). Only the first write call of a batch starts on a frame boundary;
// after a short write the writer offers the rest, which starts mid-frame.
inline absl::StatusOr<std::vector<decoded_frame>> decode_frames(
    std::span<const const_buffer> buffers, std::uint32_t max_payload = kDefaultMaxPayload) {
  return decode_frames(flatten(buffers), max_payload);
}

// Everything a memory_sink received, decoded. Read it after the writer is
// closed (or after memory_sink_buffer::await_size): a writer caught mid-batch
// leaves a partial frame, which is an OutOfRange error here.
inline absl::StatusOr<std::vector<decoded_frame>> decoded_frames(
    const memory_sink_buffer& buffer, std::uint32_t max_payload = kDefaultMaxPayload) {
  return decode_frames(buffer.contents(), max_payload);
}

// -----------------------------------------------------------------------------
// Building expected values

// The exact bytes `frame` puts on the wire: its header, then its payload.
inline std::string wire_bytes(const outbound_frame& frame) {
  std::string out(reinterpret_cast<const char*>(frame.encoded().data()), kHeaderSize);
  out.append(frame.payload().as_string_view());
  return out;
}

// A valid frame, or (when the arguments make an invalid one, e.g. method_id 0)
// a non-fatal test failure and an empty outbound_frame that no writer accepts.
inline outbound_frame test_frame(std::uint16_t method_id, std::uint32_t request_id,
                                 std::string_view payload, std::uint8_t flags = 0) {
  absl::StatusOr<outbound_frame> f =
      outbound_frame::make(method_id, flags, request_id, bytes::copy_from(payload));
  if (!f.ok()) {
    ADD_FAILURE() << "test_frame(" << method_id << ", " << request_id << ", ...): " << f.status();
    return outbound_frame();
  }
  return *std::move(f);
}

// -----------------------------------------------------------------------------
// Matchers for funnel::decoded_frame

template <class M>
auto HasMethodId(M m) {
  return ::testing::ResultOf(
      "method_id", [](const decoded_frame& f) { return f.header.method_id; },
      ::testing::MatcherCast<std::uint16_t>(std::move(m)));
}

template <class M>
auto HasFlags(M m) {
  return ::testing::ResultOf(
      "flags", [](const decoded_frame& f) { return f.header.flags; },
      ::testing::MatcherCast<std::uint8_t>(std::move(m)));
}

template <class M>
auto HasRequestId(M m) {
  return ::testing::ResultOf(
      "request_id", [](const decoded_frame& f) { return f.header.request_id; },
      ::testing::MatcherCast<std::uint32_t>(std::move(m)));
}

// The payload, as a std::string (binary-safe).
template <class M>
auto HasPayload(M m) {
  return ::testing::ResultOf(
      "payload", [](const decoded_frame& f) { return std::string(f.payload.as_string_view()); },
      ::testing::MatcherCast<std::string>(std::move(m)));
}

// The whole header (a funnel::frame_header, compared with ==, or a matcher).
template <class M>
auto HasHeader(M m) {
  return ::testing::ResultOf(
      "header", [](const decoded_frame& f) { return f.header; },
      ::testing::MatcherCast<frame_header>(std::move(m)));
}

// method_id, request_id and payload at once; each a value or a matcher.
template <class MethodM, class RequestM, class PayloadM>
auto FrameIs(MethodM method_id, RequestM request_id, PayloadM payload) {
  return ::testing::AllOf(HasMethodId(std::move(method_id)), HasRequestId(std::move(request_id)),
                          HasPayload(std::move(payload)));
}

// The decoded frame is `sent`, header (all fields) and payload.
inline auto EqualsFrame(const outbound_frame& sent) {
  return ::testing::AllOf(HasHeader(sent.header()),
                          HasPayload(std::string(sent.payload().as_string_view())));
}

}  // namespace funnel::testing

#endif  // FUNNEL_TESTING_FRAMES_H_
