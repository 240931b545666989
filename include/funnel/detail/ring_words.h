// funnel/detail/ring_words.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// The two packed 64-bit words of funnel::byte_ring (policies/queue/byte_ring.h):
//
//   position  [ record count : 24 | byte position : 40 ]
//             The ring's tail (next free record and byte, taken by producers
//             with one CAS) and its head (first record and byte not yet freed,
//             stored by the writer). Both fields count up forever and wrap
//             modulo 2^24 and 2^40; differences are taken modulo the same, and
//             the bounds (at most 2^22 records, 2^32 bytes outstanding) keep
//             them unambiguous. One CAS on one word reserves a record and its
//             bytes together, so both bounds are exact at every instant.
//
//   record state  [ record count : 24 | kind and wrap flag : 4 | span : 36 ]
//             One per record slot (the slot array has a power of two >= the
//             record bound). The count field says which lap the state belongs
//             to: a state whose count is not the record's own is a stale one
//             from an earlier lap, i.e. "not committed yet".
//
// Pure functions of plain integers. Thread-safety: values only.
#ifndef FUNNEL_DETAIL_RING_WORDS_H_
#define FUNNEL_DETAIL_RING_WORDS_H_

#include <cstddef>
#include <cstdint>

namespace funnel::detail::ring {

inline constexpr int kByteBits = 40;
inline constexpr std::uint64_t kByteMask = (std::uint64_t{1} << kByteBits) - 1;
inline constexpr std::uint64_t kCountMask = (std::uint64_t{1} << 24) - 1;
inline constexpr std::size_t kMaxRecords = std::size_t{1} << 22;
inline constexpr std::size_t kMaxBytes = std::size_t{1} << 32;

constexpr std::uint64_t pack_position(std::uint64_t count, std::uint64_t bytes) noexcept {
  return ((count & kCountMask) << kByteBits) | (bytes & kByteMask);
}
constexpr std::uint64_t position_count(std::uint64_t p) noexcept { return p >> kByteBits; }
constexpr std::uint64_t position_bytes(std::uint64_t p) noexcept { return p & kByteMask; }
// Records / bytes from `head` to `tail` (modular).
constexpr std::uint64_t count_between(std::uint64_t head, std::uint64_t tail) noexcept {
  return (position_count(tail) - position_count(head)) & kCountMask;
}
constexpr std::uint64_t bytes_between(std::uint64_t head, std::uint64_t tail) noexcept {
  return (position_bytes(tail) - position_bytes(head)) & kByteMask;
}

// What a committed record holds. kWrap is a flag: the record's bytes up to
// the end of the ring are padding and its content starts at ring offset 0
// (a claim or a by-reference frame must be contiguous).
enum kind : std::uint64_t {
  kData = 1,       // `span` wire bytes, copied in (may run across the wrap)
  kPadding = 2,    // nothing to write: an aborted claim, a refused send
  kFrame = 3,      // a frame object (sent by reference): write its wire()
  kClaimed = 4,    // reserved by a claim, not committed yet
  kAbandoned = 5,  // a claim the writer gave up on (claim_timeout)
};
inline constexpr std::uint64_t kWrapFlag = 8;
inline constexpr int kSpanBits = 36;
inline constexpr std::uint64_t kSpanMask = (std::uint64_t{1} << kSpanBits) - 1;

constexpr std::uint64_t pack_state(std::uint64_t count, std::uint64_t kind_and_flag,
                                   std::uint64_t span) noexcept {
  return ((count & kCountMask) << 40) | (kind_and_flag << kSpanBits) | (span & kSpanMask);
}
constexpr std::uint64_t state_count(std::uint64_t s) noexcept { return s >> 40; }
constexpr kind state_kind(std::uint64_t s) noexcept {
  return static_cast<kind>((s >> kSpanBits) & 7);
}
constexpr bool state_wraps(std::uint64_t s) noexcept { return ((s >> kSpanBits) & kWrapFlag) != 0; }
constexpr std::uint64_t state_span(std::uint64_t s) noexcept { return s & kSpanMask; }

}  // namespace funnel::detail::ring

#endif  // FUNNEL_DETAIL_RING_WORDS_H_
