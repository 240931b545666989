// funnel/testing/frame_factory.h
// -----------------------------------------------------------------------------
// Frame factories: how a framing-agnostic suite (funnel/testing/
// batcher_conformance.h) makes test frames of a given framing, and knows what
// they must look like on the wire. funnel ships `procwire_frame_factory`;
// other framings add theirs next to it.
//
// Minimal complete definition, for a factory `Fac`, `std::uint32_t i`,
// `std::size_t n` with 8 <= n <= 1 MiB:
//   Fac::frame_type              the frame type (models funnel::frame).
//   Fac::make(i, n) -> frame_type
//                                a valid frame numbered `i` whose payload has
//                                `n` bytes (its wire size is n plus the
//                                framing's overhead, if any).
// Laws:
//   * deterministic: make(i, n) gives the same wire bytes every time, so the
//     suite computes the stream it expects from fresh frames;
//   * distinct: for i != j, the wire bytes of make(i, n) and make(j, m) differ
//     within their first min(size) bytes (neither is a prefix of the other):
//     put the index in the first bytes of the header or payload. Then a
//     stream of interleaved frames parses back one way only.
// The suites compare raw bytes; they need no decoder.
//
// Thread-safety: make() is called from many producer threads at once.
#ifndef FUNNEL_TESTING_FRAME_FACTORY_H_
#define FUNNEL_TESTING_FRAME_FACTORY_H_

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "funnel/bytes.h"
#include "funnel/frame.h"
#include "funnel/procwire/frame.h"
#include "gtest/gtest.h"  // a factory that cannot make its frame fails the test

namespace funnel::testing {

template <class Fac>
concept conformance_frame_factory = requires(std::uint32_t i, std::size_t n) {
  typename Fac::frame_type;
  requires frame<typename Fac::frame_type>;
  { Fac::make(i, n) } -> std::same_as<typename Fac::frame_type>;
};

// A payload of `n` bytes that starts with `i` (4 bytes, little-endian) and
// continues with a pattern that depends on `i`: distinct frames, and a
// misplaced byte shows.
inline std::string indexed_payload(std::uint32_t i, std::size_t n) {
  std::string p(n, '\0');
  for (std::size_t k = 0; k < n; ++k) {
    p[k] = k < 4 ? static_cast<char>((i >> (8 * k)) & 0xFF) : static_cast<char>('a' + (i + k) % 26);
  }
  return p;
}

// procwire frames (funnel/procwire/frame.h): method 1, flags 0x03, request id
// `i`, the indexed payload. Wire size: 11 + n.
struct procwire_frame_factory {
  using frame_type = outbound_frame;
  static outbound_frame make(std::uint32_t i, std::size_t n) {
    absl::StatusOr<outbound_frame> f = outbound_frame::make(
        1, frame_flags::kResponseToParent, i, bytes::copy_from(indexed_payload(i, n)));
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *std::move(f) : outbound_frame();
  }
};
static_assert(conformance_frame_factory<procwire_frame_factory>);

// The wire bytes of a frame, as one string.
template <frame F>
std::string wire_string(const F& f) {
  std::string out;
  for (const const_buffer& r : f.wire()) out.append(reinterpret_cast<const char*>(r.data), r.size);
  return out;
}

}  // namespace funnel::testing

#endif  // FUNNEL_TESTING_FRAME_FACTORY_H_
