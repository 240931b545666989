// funnel/buffer.h
// -----------------------------------------------------------------------------
// The platform-neutral gather list a writer hands to its Sink.
//
// A batch reaches a sink as `std::span<const const_buffer>`: an ordered list of
// byte ranges, in wire order. It is deliberately neither `iovec` (POSIX) nor
// `WSABUF` (Win32, whose fields are in the other order and 32-bit): each sink
// translates into its platform's structure in a buffer it owns and reuses, a
// copy of 16 bytes per range that costs nothing next to the system call.
//
// `consume_front` is how a writer resumes after a partial write: it drops the
// first n bytes of a gather list in place, so the next call starts at the
// exact byte where the previous one stopped, be that inside a header, on the
// header/payload boundary or inside a payload.
//
// Thread-safety: plain values and pure functions.
#ifndef FUNNEL_BUFFER_H_
#define FUNNEL_BUFFER_H_

#include <cstddef>
#include <span>

namespace funnel {

// One contiguous range of bytes to write. Does not own the bytes.
struct const_buffer {
  const std::byte* data = nullptr;
  std::size_t size = 0;

  std::span<const std::byte> span() const noexcept { return {data, size}; }
  friend bool operator==(const const_buffer&, const const_buffer&) = default;
};

// Sum of the sizes of `buffers`.
constexpr std::size_t total_size(std::span<const const_buffer> buffers) noexcept {
  std::size_t n = 0;
  for (const const_buffer& b : buffers) n += b.size;
  return n;
}

// Removes the first `n` bytes from `buffers`: whole ranges are dropped, the
// range in which byte n falls is shortened in place. Returns the remaining
// ranges (empty when n >= total_size(buffers)); ranges left empty are dropped
// too, so the result never starts with a zero-length range.
constexpr std::span<const_buffer> consume_front(std::span<const_buffer> buffers,
                                                std::size_t n) noexcept {
  std::size_t i = 0;
  while (i < buffers.size() && n >= buffers[i].size) {
    n -= buffers[i].size;
    ++i;
  }
  buffers = buffers.subspan(i);
  if (!buffers.empty()) {
    buffers.front().data += n;
    buffers.front().size -= n;
  }
  return buffers;
}

}  // namespace funnel

#endif  // FUNNEL_BUFFER_H_
