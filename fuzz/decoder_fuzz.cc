// fuzz/decoder_fuzz.cc: libFuzzer target for the procwire stream decoder
// (funnel/procwire/frame_decoder.h).
//
// Two modes, chosen by the first input byte:
//   raw bytes   the rest of the input is a byte stream, fed to a
//               frame_decoder in fuzzed chunk splits. The frames, the error
//               and the leftover bytes must be exactly those of a one-shot
//               decode written here from the wire format alone (the model):
//               same frames, the error of the first bad header naming its
//               stream offset, sticky; buffered() equal to the trailing
//               partial frame. Every decoded frame must re-encode
//               (outbound_frame::make) to the bytes it came from.
//   round trip  the rest describes frames (method, flags, request id,
//               payload); each one outbound_frame::make accepts is encoded,
//               and the concatenation, decoded in fuzzed splits, must give
//               back exactly those frames and nothing else.
//
// Input layout (fuzz/fuzz_input.h reads zeros past the end):
//   u8  mode        bit 0: round trip; bits 1-2: max_payload (0: the default
//                   1 GiB, 1: u8, 2: u16, 3: the absolute maximum)
//   [u8 | u16]      max_payload when bits 1-2 are 1 or 2
//   u8  n           n & 15 split sizes follow, u8 each, used cyclically (a 0
//                   is an empty push); no split sizes: one push
//   ...             the stream (raw) or frames (round trip):
//                   u16 method, u8 flags, u32 request id, u8 length, payload
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "funnel/bytes.h"
#include "funnel/procwire/frame.h"
#include "funnel/procwire/frame_decoder.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_input.h"

namespace funnel::fuzzing {
namespace {

struct model_frame {
  frame_header header;
  std::string payload;
};

// The one-shot model: the wire format of /work/shared/seed/README.md, read
// directly (no funnel code).
struct model_result {
  std::vector<model_frame> frames;
  std::optional<std::size_t> error_offset;  // offset of the first bad header
  std::string error_kind;                   // what the message must mention
  std::size_t trailing = 0;                 // bytes of an incomplete last frame
};

model_result model_decode(std::string_view s, std::uint32_t max_payload) {
  const std::uint32_t limit = max_payload < kAbsoluteMaxPayload ? max_payload : kAbsoluteMaxPayload;
  auto byte = [&](std::size_t i) { return static_cast<std::uint32_t>(std::uint8_t(s[i])); };
  model_result r;
  std::size_t off = 0;
  while (off < s.size()) {
    if (s.size() - off < kHeaderSize) break;
    frame_header h;
    h.method_id = static_cast<std::uint16_t>(byte(off) << 8 | byte(off + 1));
    h.flags = static_cast<std::uint8_t>(byte(off + 2));
    h.request_id = byte(off + 3) << 24 | byte(off + 4) << 16 | byte(off + 5) << 8 | byte(off + 6);
    h.payload_length =
        byte(off + 7) << 24 | byte(off + 8) << 16 | byte(off + 9) << 8 | byte(off + 10);
    if (h.method_id == 0) {
      r.error_kind = "method_id 0";
    } else if ((h.flags & 0xC0) != 0) {
      r.error_kind = "reserved bits";
    } else if (h.payload_length > limit) {
      r.error_kind = "exceeds the maximum";
    }
    if (!r.error_kind.empty()) {
      r.error_offset = off;
      return r;
    }
    if (s.size() - off - kHeaderSize < h.payload_length) break;
    r.frames.push_back({h, std::string(s.substr(off + kHeaderSize, h.payload_length))});
    off += kHeaderSize + h.payload_length;
  }
  r.trailing = s.size() - off;
  return r;
}

struct chunked_result {
  std::vector<decoded_frame> frames;
  absl::Status error;
};

// Feeds `stream` to a frame_decoder in the chunk sizes `splits` (cyclic),
// taking every complete frame after each push.
// A split of 0 is an empty push; a whole cycle of them pushes the rest.
chunked_result chunked_decode(std::string_view stream, std::span<const std::uint8_t> splits,
                              frame_decoder& d) {
  chunked_result r;
  std::size_t off = 0, i = 0, empty_pushes = 0;
  bool first = true;
  while (first || off < stream.size()) {
    first = false;
    std::size_t n = stream.size() - off;
    if (!splits.empty() && empty_pushes < splits.size()) {
      n = std::min<std::size_t>(splits[i++ % splits.size()], n);
    }
    empty_pushes = n == 0 ? empty_pushes + 1 : 0;
    d.push(std::as_bytes(std::span(stream.substr(off, n))));
    off += n;
    for (;;) {
      absl::StatusOr<std::optional<decoded_frame>> f = d.next();
      if (!f.ok()) {
        if (r.error.ok()) r.error = f.status();
        // Sticky: asking again gives the same error.
        absl::StatusOr<std::optional<decoded_frame>> again = d.next();
        FUZZ_CHECK(!again.ok() && again.status() == r.error)
            << "the decoder's error is not sticky: first " << r.error << ", then "
            << (again.ok() ? std::string("OK") : again.status().ToString());
        break;
      }
      if (!f->has_value()) break;
      FUZZ_CHECK(r.error.ok()) << "a frame after the error " << r.error;
      r.frames.push_back(**std::move(f));
    }
  }
  return r;
}

std::string hex_header(const frame_header& h) {
  return absl::StrCat("{method ", h.method_id, ", flags ", h.flags, ", request ", h.request_id,
                      ", length ", h.payload_length, "}");
}

void check_same_frames(const std::vector<decoded_frame>& got,
                       const std::vector<model_frame>& want) {
  FUZZ_CHECK(got.size() == want.size())
      << "decoder gave " << got.size() << " frames, the model " << want.size();
  for (std::size_t i = 0; i < got.size(); ++i) {
    FUZZ_CHECK(got[i].header == want[i].header)
        << "frame " << i << ": header " << hex_header(got[i].header) << " vs model "
        << hex_header(want[i].header);
    FUZZ_CHECK(got[i].payload.as_string_view() == want[i].payload)
        << "frame " << i << ": payload differs (" << got[i].payload.size() << " vs "
        << want[i].payload.size() << " bytes)";
  }
}

// Re-encoding a decoded frame gives the bytes it came from.
void check_round_trip(const std::vector<decoded_frame>& frames, std::string_view stream,
                      std::uint32_t max_payload) {
  std::size_t off = 0;
  for (const decoded_frame& f : frames) {
    absl::StatusOr<outbound_frame> o = outbound_frame::make(f.header, f.payload, max_payload);
    FUZZ_CHECK(o.ok()) << "a decoded frame does not re-encode: " << o.status();
    const std::string_view h(reinterpret_cast<const char*>(o->encoded().data()), kHeaderSize);
    FUZZ_CHECK(stream.substr(off, kHeaderSize) == h) << "re-encoded header differs at " << off;
    FUZZ_CHECK(o->payload().as_string_view() == stream.substr(off + kHeaderSize, f.payload.size()))
        << "re-encoded payload differs at " << off;
    FUZZ_CHECK(o->header() == f.header) << "outbound_frame::header() differs at " << off;
    off += o->size();
  }
}

void run_raw(std::string_view stream, std::span<const std::uint8_t> splits,
             std::uint32_t max_payload) {
  const model_result want = model_decode(stream, max_payload);
  frame_decoder d(max_payload);
  const chunked_result got = chunked_decode(stream, splits, d);
  check_same_frames(got.frames, want.frames);
  if (want.error_offset) {
    FUZZ_CHECK(got.error.code() == absl::StatusCode::kInvalidArgument)
        << "model: bad header at offset " << *want.error_offset << "; decoder: " << got.error;
    const std::string where = absl::StrCat("at stream offset ", *want.error_offset, ")");
    FUZZ_CHECK(absl::StrContains(got.error.message(), where))
        << "error does not name offset " << *want.error_offset << ": " << got.error;
    FUZZ_CHECK(absl::StrContains(got.error.message(), want.error_kind))
        << "error does not say '" << want.error_kind << "': " << got.error;
  } else {
    FUZZ_CHECK(got.error.ok()) << "decoder error on a stream the model accepts: " << got.error;
    FUZZ_CHECK(d.buffered() == want.trailing)
        << "buffered() " << d.buffered() << ", the model leaves " << want.trailing;
    FUZZ_CHECK(d.consumed() == stream.size() - want.trailing)
        << "consumed() " << d.consumed() << " of " << stream.size();
  }
  check_round_trip(got.frames, stream, max_payload);
}

void run_round_trip(fuzz_input& in, std::span<const std::uint8_t> splits,
                    std::uint32_t max_payload) {
  std::string stream;
  std::vector<model_frame> sent;
  while (!in.empty()) {
    const std::uint16_t method = in.u16();
    const std::uint8_t flags = in.u8();
    const std::uint32_t request = in.u32();
    const std::size_t length = in.u8();
    const std::span<const std::uint8_t> payload = in.take(length);
    const std::string p(payload.begin(), payload.end());
    absl::StatusOr<outbound_frame> f =
        outbound_frame::make(method, flags, request, bytes::copy_from(p), max_payload);
    const bool valid = method != 0 && (flags & 0xC0) == 0 &&
                       p.size() <= std::min(max_payload, kAbsoluteMaxPayload);
    FUZZ_CHECK(f.ok() == valid) << "make(" << method << ", " << int{flags} << ", " << request
                                << ", " << p.size() << " bytes): " << f.status();
    if (!f.ok()) {
      FUZZ_CHECK(f.status().code() == absl::StatusCode::kInvalidArgument) << f.status();
      continue;
    }
    stream.append(reinterpret_cast<const char*>(f->encoded().data()), kHeaderSize);
    stream.append(p);
    sent.push_back({f->header(), p});
  }
  frame_decoder d(max_payload);
  const chunked_result got = chunked_decode(stream, splits, d);
  FUZZ_CHECK(got.error.ok()) << "decoding frames funnel encoded: " << got.error;
  check_same_frames(got.frames, sent);
  FUZZ_CHECK(d.buffered() == 0) << d.buffered() << " bytes left over";
}

}  // namespace
}  // namespace funnel::fuzzing

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace funnel::fuzzing;
  fuzz_input in(data, size);
  const std::uint8_t mode = in.u8();
  std::uint32_t max_payload = funnel::kDefaultMaxPayload;
  switch ((mode >> 1) & 3) {
    case 1:
      max_payload = in.u8();
      break;
    case 2:
      max_payload = in.u16();
      break;
    case 3:
      max_payload = funnel::kAbsoluteMaxPayload;
      break;
  }
  const std::size_t nsplits = in.u8() & 15;
  const std::span<const std::uint8_t> splits = in.take(nsplits);
  if ((mode & 1) != 0) {
    run_round_trip(in, splits, max_payload);
  } else {
    const std::span<const std::uint8_t> rest = in.take_rest();
    run_raw(std::string_view(reinterpret_cast<const char*>(rest.data()), rest.size()), splits,
            max_payload);
  }
  return 0;
}
