// funnel/detail/ring_bytes.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// `ring_bytes`: the byte array of funnel::byte_ring (policies/queue/byte_ring.h)
// and the arithmetic of positions on it: a power-of-two number of bytes,
// cache-line aligned, addressed by positions that count up forever (offset =
// position mod size). Copies in that run across the end wrap to the start;
// a record's data comes out as one range, or two across the wrap.
//
// Thread-safety: none of its own. Producers write disjoint reserved ranges,
// the writer reads committed ones; byte_ring's atomics order them.
// Allocation: the array, once, in the constructor.
#ifndef FUNNEL_DETAIL_RING_BYTES_H_
#define FUNNEL_DETAIL_RING_BYTES_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "funnel/buffer.h"
#include "funnel/detail/pending_budget.h"  // kCacheLine
#include "funnel/detail/ring_words.h"

namespace funnel::detail {

class ring_bytes {
 public:
  // At least `n` bytes, rounded up to a power of two.
  explicit ring_bytes(std::size_t n)
      : size_(std::bit_ceil(n < 2 ? std::size_t{2} : n)),
        bytes_(new (std::align_val_t{kCacheLine}) std::byte[size_]) {}

  std::size_t size() const noexcept { return size_; }
  std::size_t offset(std::uint64_t at) const noexcept { return at & (size_ - 1); }
  // The byte at position `at`, or at offset 0 when `wraps`.
  std::byte* at(std::uint64_t at, bool wraps) const noexcept {
    return bytes_.get() + (wraps ? 0 : offset(at));
  }

  // Copies `src` to position `at`, wrapping at the end.
  void copy_in(std::uint64_t at, const_buffer src) noexcept {
    const std::size_t off = offset(at);
    const std::size_t first = src.size < size_ - off ? src.size : size_ - off;
    std::memcpy(bytes_.get() + off, src.data, first);
    if (first < src.size) std::memcpy(bytes_.get(), src.data + first, src.size - first);
  }

  // The wire bytes of a data record at position `at` with state `s`: how
  // many (a wrapped record's padding up to the end is not data), and their
  // ranges appended to `out`, merged with its last range when adjacent.
  std::uint64_t data_size(std::uint64_t at, std::uint64_t s) const noexcept {
    const std::uint64_t span = ring::state_span(s);
    return ring::state_wraps(s) ? span - (size_ - offset(at)) : span;
  }
  template <class Out>
  void data_ranges(std::uint64_t at, std::uint64_t s, Out& out) const {
    const std::uint64_t n = data_size(at, s);
    const std::size_t off = ring::state_wraps(s) ? 0 : offset(at);
    const std::size_t first = n < size_ - off ? n : size_ - off;
    append(out, bytes_.get() + off, first);
    if (first < n) append(out, bytes_.get(), n - first);
  }

 private:
  struct aligned_delete {
    void operator()(std::byte* p) const noexcept {
      ::operator delete[](p, std::align_val_t{kCacheLine});
    }
  };
  template <class Out>
  static void append(Out& out, const std::byte* p, std::size_t n) {
    if (n == 0) return;
    if (!out.empty() && out.back().data + out.back().size == p) {
      out.back().size += n;
    } else {
      out.push_back(const_buffer{p, n});
    }
  }

  const std::size_t size_;
  const std::unique_ptr<std::byte[], aligned_delete> bytes_;
};

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_RING_BYTES_H_
