// fuzz/fuzz_input.h
// -----------------------------------------------------------------------------
// `fuzz_input`: reads a fuzzer's byte string as a sequence of small decisions
// (a byte, a 16-bit number, a bounded size, a run of bytes) from the front.
//
// Why not FuzzedDataProvider: that header ships with clang only, and every
// fuzz target here is also compiled by GCC as a regression test that replays
// the seed corpus (fuzz/replay_main.cc). This is the small part of it the
// targets need, with one contract: reading past the end never fails, it
// yields zeros (and empty byte runs), so any input is a valid input.
//
// Thread-safety: none; one object per input.
#ifndef FUNNEL_FUZZ_FUZZ_INPUT_H_
#define FUNNEL_FUZZ_FUZZ_INPUT_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

namespace funnel::fuzzing {

class fuzz_input {
 public:
  fuzz_input(const std::uint8_t* data, std::size_t size) : rest_(data, size) {}

  bool empty() const noexcept { return rest_.empty(); }
  std::size_t remaining() const noexcept { return rest_.size(); }

  // The next byte, or 0 at the end.
  std::uint8_t u8() noexcept {
    if (rest_.empty()) return 0;
    const std::uint8_t v = rest_.front();
    rest_ = rest_.subspan(1);
    return v;
  }
  // Big-endian, so a seed file reads the way the wire does.
  std::uint16_t u16() noexcept { return static_cast<std::uint16_t>((u8() << 8) | u8()); }
  std::uint32_t u32() noexcept {
    return (static_cast<std::uint32_t>(u16()) << 16) | static_cast<std::uint32_t>(u16());
  }
  bool boolean() noexcept { return (u8() & 1) != 0; }

  // A value in [lo, hi] (hi >= lo) from one or two bytes.
  std::size_t in_range(std::size_t lo, std::size_t hi) noexcept {
    const std::size_t span = hi - lo + 1;
    const std::size_t raw = span <= 256 ? u8() : u16();
    return lo + raw % span;
  }

  // Up to `n` bytes (fewer at the end of the input).
  std::span<const std::uint8_t> take(std::size_t n) noexcept {
    n = std::min(n, rest_.size());
    std::span<const std::uint8_t> out = rest_.first(n);
    rest_ = rest_.subspan(n);
    return out;
  }
  // Everything left.
  std::span<const std::uint8_t> take_rest() noexcept { return take(rest_.size()); }

 private:
  std::span<const std::uint8_t> rest_;
};

}  // namespace funnel::fuzzing

#endif  // FUNNEL_FUZZ_FUZZ_INPUT_H_
