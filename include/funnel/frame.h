// funnel/frame.h
// -----------------------------------------------------------------------------
// The Frame concept: what travels from producers, through a Queue, to the
// writer thread and onto the Sink. funnel knows no wire format; a framing is
// a frame type (procwire: funnel/procwire/frame.h; length-prefixed and raw
// frames: funnel/framing/; your own: docs/custom-policies.md).
//
// Minimal complete definition, for `F f`, `const F cf`:
//   F is default-constructible, and moves without throwing (queues move
//       frames in and out of their slots and must not throw half way).
//   F::max_ranges                static constexpr std::size_t, 1..16: the
//                                most ranges wire() ever returns.
//   cf.valid() noexcept -> bool  false for a default-constructed or
//                                moved-from frame (the "empty" state), true
//                                for a frame that may be written. Writers
//                                refuse an empty frame with InvalidArgument.
//   cf.size() noexcept -> size_t the frame's wire size in bytes: the sum of
//                                the sizes of wire()'s ranges; > 0 when valid.
//   cf.wire() noexcept -> frame_ranges<F::max_ranges>
//                                the frame's wire bytes, in order, as up to
//                                max_ranges contiguous ranges (e.g. a header
//                                range, then the payload). The ranges point
//                                into memory the frame owns or shares, stay
//                                valid while the frame lives and is not
//                                moved from, and are never empty.
//
// Optional member:
//   cf.urgent() noexcept -> bool true for a control frame that may overtake
//                                queued bulk frames: with
//                                writer_options::route_urgent, send() puts it
//                                in the express lane (funnel/options.h). Detected
//                                by the concept `urgent_frame`; procwire's frame
//                                says true for ABORT and acknowledgements.
//
// Laws: the bytes of a frame's ranges never change while it is queued; for a
// valid frame, size() > 0 and size() == total of wire()'s sizes, in at most
// max_ranges ranges; moving leaves the source empty (valid() == false); a
// frame is either written whole or counted lost (basic_writer never writes
// part of a frame and then something else).
// Where the laws are checked (cheaply, never with a debug-only assert):
// send() refuses a valid frame of size() 0 with InvalidArgument on every
// queue; a byte_ring send() sums wire() before it reserves and refuses a
// frame whose ranges do not add up to size() (or overflow max_ranges) with
// InvalidArgument; a frame queue's writer thread checks the same per frame
// when it builds a batch's gather list and, before writing any of that
// batch, fails the writer with Internal naming the broken law (the stream
// stays whole frames; the batch is counted lost).
//
// Threads: a frame is built by a producer, moved into the queue, and read on
// the writer thread; nothing of it is shared between threads at once unless
// its payload is (funnel::bytes shares immutable bytes, with atomic
// reference counts).
//
// Cost: the writer calls wire() once per frame per batch (to build the
// gather list) and size() a few times; both should be a few loads. No
// virtual calls, no allocation.
//
// Models: procwire::outbound_frame (funnel/procwire/frame.h), and the
// framings in funnel/framing/.
#ifndef FUNNEL_FRAME_H_
#define FUNNEL_FRAME_H_

#include <array>
#include <concepts>
#include <cstddef>
#include <type_traits>

#include "funnel/buffer.h"

namespace funnel {

// A short, bounded list of ranges: a frame's wire bytes. Zero-length ranges
// are never stored (add() skips them), so the writer's gather list never holds
// one.
template <std::size_t N>
class frame_ranges {
  static_assert(N >= 1 && N <= 16, "funnel::frame_ranges: a frame has 1..16 ranges");

 public:
  static constexpr std::size_t capacity() noexcept { return N; }

  // Appends [data, data + size); a no-op for size 0. At most N calls with a
  // non-zero size: a range past the N-th is not stored, and overflowed()
  // says so (the writer then refuses the frame: its wire bytes no longer add
  // up to its size()). Never writes out of bounds.
  constexpr void add(const std::byte* data, std::size_t size) noexcept {
    if (size == 0) return;
    if (count_ == N) {
      overflowed_ = true;
      return;
    }
    ranges_[count_++] = const_buffer{data, size};
  }
  constexpr void add(const_buffer b) noexcept { add(b.data, b.size); }

  constexpr std::size_t size() const noexcept { return count_; }
  constexpr bool empty() const noexcept { return count_ == 0; }
  // True when add() was called with more than N non-empty ranges.
  constexpr bool overflowed() const noexcept { return overflowed_; }
  // The sum of the stored ranges' sizes.
  constexpr std::size_t total() const noexcept {
    std::size_t t = 0;
    for (std::size_t i = 0; i < count_; ++i) t += ranges_[i].size;
    return t;
  }
  constexpr const const_buffer* begin() const noexcept { return ranges_.data(); }
  constexpr const const_buffer* end() const noexcept { return ranges_.data() + count_; }
  constexpr const const_buffer& operator[](std::size_t i) const noexcept { return ranges_[i]; }

 private:
  std::array<const_buffer, N> ranges_{};
  std::size_t count_ = 0;
  bool overflowed_ = false;
};

// The parts of the concept, one by one, so a type that misses one fails with
// a sentence naming it (see detail/policy_checks.h).
template <class F>
concept frame_moves_without_throwing =
    std::is_nothrow_move_constructible_v<F> && std::is_nothrow_move_assignable_v<F>;
template <class F>
concept frame_has_max_ranges = requires {
  { F::max_ranges } -> std::convertible_to<std::size_t>;
  requires F::max_ranges >= 1 && F::max_ranges <= 16;
};
template <class F>
concept frame_has_valid = requires(const F& f) {
  { f.valid() }
  noexcept->std::same_as<bool>;
};
template <class F>
concept frame_has_size = requires(const F& f) {
  { f.size() }
  noexcept->std::same_as<std::size_t>;
};
template <class F>
concept frame_has_wire = frame_has_max_ranges<F> && requires(const F& f) {
  { f.wire() }
  noexcept->std::same_as<frame_ranges<F::max_ranges>>;
};

template <class F>
concept frame = std::default_initializable<F> && frame_moves_without_throwing<F> &&
    frame_has_valid<F> && frame_has_size<F> && frame_has_wire<F>;

// The optional urgent() member (see the concept comment at the top).
template <class F>
concept urgent_frame = requires(const F& f) {
  { f.urgent() }
  noexcept->std::same_as<bool>;
};

// Checks `F` member by member; a type that is not a frame fails with one
// sentence naming what is missing. Used by the writer and every queue.
template <class F>
consteval bool check_frame() {
  static_assert(std::default_initializable<F>,
                "funnel: a frame type must be default-constructible (its empty state)");
  static_assert(frame_moves_without_throwing<F>,
                "funnel: a frame type must be nothrow move-constructible and move-assignable");
  static_assert(frame_has_max_ranges<F>,
                "funnel: a frame type needs `static constexpr std::size_t max_ranges` (1..16)");
  static_assert(frame_has_valid<F>, "funnel: a frame type needs `bool valid() const noexcept`");
  static_assert(frame_has_size<F>,
                "funnel: a frame type needs `std::size_t size() const noexcept` (its wire size)");
  static_assert(frame_has_wire<F>,
                "funnel: a frame type needs `funnel::frame_ranges<max_ranges> wire() const "
                "noexcept` (its wire bytes)");
  return frame<F>;
}

}  // namespace funnel

#endif  // FUNNEL_FRAME_H_
