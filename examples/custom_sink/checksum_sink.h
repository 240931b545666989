// examples/custom_sink/checksum_sink.h
// -----------------------------------------------------------------------------
// A custom Sink (funnel/concepts.h, "Sink"): `checksum_sink<Inner>` passes
// every write on to `Inner` and, for the bytes `Inner` took, counts them and
// keeps a checksum of every frame that went through. docs/custom-policies.md
// walks through it; custom_sink.cc and custom_sink_test.cc use it.
//
// The checksum: FNV-1a 64 over each frame's wire bytes (header + payload),
// added up modulo 2^64 over all frames. FNV-1a within a frame catches a
// changed, lost or duplicated byte; the sum across frames does not depend on
// how the frames of different producers interleave, so a program can
// recompute it from the frames it sent, in any order.
//
// What it shows about the Sink contract:
//   * write() gets a gather list whose boundaries are arbitrary: after a short
//     write the writer resumes at the exact byte, so a header can arrive in
//     two calls. The sink keeps its position in the current frame across calls.
//   * Short counts pass through: the sink hashes only the bytes `Inner` took
//     (the writer offers the rest again), and returns `Inner`'s count.
//   * Errors pass through unchanged; they stop the writer.
//   * The optional hooks are forwarded exactly when `Inner` has them, with
//     `requires` clauses, so wrapping a sink never changes what the writer
//     calls (posix_writev_sink's on_writer_thread_start blocks SIGPIPE once).
//   * Results are read through a shared `checksum_state`, because the sink
//     itself is moved into the writer.
//
// Thread-safety: write(), flush() and the thread hooks on the writer thread
// only (as for every Sink); cancel() from the owner. checksum_state may be
// read from any thread.
#ifndef FUNNEL_EXAMPLES_CUSTOM_SINK_CHECKSUM_SINK_H_
#define FUNNEL_EXAMPLES_CUSTOM_SINK_CHECKSUM_SINK_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "funnel/buffer.h"
#include "funnel/concepts.h"
#include "funnel/procwire/frame.h"

namespace funnel_example {

// --- FNV-1a 64 ----------------------------------------------------------------

inline constexpr std::uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
inline constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

// Continues an FNV-1a 64 hash `h` over `data`.
constexpr std::uint64_t fnv1a64(std::uint64_t h, std::span<const std::byte> data) noexcept {
  for (std::byte b : data) {
    h ^= static_cast<std::uint8_t>(b);
    h *= kFnvPrime;
  }
  return h;
}

// The published test vectors ("" and "a").
static_assert(fnv1a64(kFnvOffsetBasis, {}) == 0xcbf29ce484222325ULL);
static_assert(fnv1a64(kFnvOffsetBasis, std::array{std::byte{'a'}}) == 0xaf63dc4c8601ec8cULL);

// The checksum of one frame: what checksum_sink adds up for it.
inline std::uint64_t frame_checksum(const funnel::outbound_frame& f) {
  return fnv1a64(fnv1a64(kFnvOffsetBasis, f.encoded()), f.payload().span());
}

// --- the results, shared between the sink and whoever reads them --------------

// Written by the writer thread only, so a load and a store, no RMW. Relaxed:
// each value is exact on its own; after basic_writer::close() returns, the
// join orders every store before your loads, so the values are final.
class checksum_state {
 public:
  std::uint64_t bytes() const noexcept { return bytes_.load(std::memory_order_relaxed); }
  std::uint64_t frames() const noexcept { return frames_.load(std::memory_order_relaxed); }
  // Sum (mod 2^64) of frame_checksum() over every complete frame.
  std::uint64_t checksum() const noexcept { return checksum_.load(std::memory_order_relaxed); }

 private:
  template <funnel::sink>
  friend class checksum_sink;
  static void add(std::atomic<std::uint64_t>& a, std::uint64_t n) noexcept {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  std::atomic<std::uint64_t> bytes_{0};
  std::atomic<std::uint64_t> frames_{0};
  std::atomic<std::uint64_t> checksum_{0};
};

// --- the sink -----------------------------------------------------------------

// [checksum-sink]
template <funnel::sink Inner>
class checksum_sink {
 public:
  explicit checksum_sink(Inner inner)
      : inner_(std::move(inner)), state_(std::make_shared<checksum_state>()) {}

  // Required: hand the ranges to Inner, then account for what it took.
  absl::StatusOr<std::size_t> write(std::span<const funnel::const_buffer> buffers) {
    absl::StatusOr<std::size_t> n = inner_.write(buffers);
    if (!n.ok()) return n;  // Inner's error, unchanged: it stops the writer
    std::size_t left = *n;  // hash exactly the prefix Inner took, no more
    for (const funnel::const_buffer& b : buffers) {
      if (left == 0) break;
      const std::size_t take = std::min(left, b.size);
      if (absl::Status s = consume({b.data, take}); !s.ok()) return s;
      left -= take;
    }
    checksum_state::add(state_->bytes_, *n);
    return n;
  }

  // Optional hooks: present exactly when Inner has them.
  absl::Status flush() requires funnel::flushable_sink<Inner> { return inner_.flush(); }
  void on_writer_thread_start() requires funnel::sink_with_thread_start<Inner> {
    inner_.on_writer_thread_start();
  }
  void on_writer_thread_stop() requires funnel::sink_with_thread_stop<Inner> {
    inner_.on_writer_thread_stop();  // posix_writev_sink releases its own fd there
  }
  void cancel() noexcept requires funnel::cancellable_sink<Inner> { inner_.cancel(); }
  absl::Status status() const requires funnel::sink_with_status<Inner> { return inner_.status(); }

  // Keep this before moving the sink into a writer, to read the results.
  std::shared_ptr<const checksum_state> state() const { return state_; }
  // [checksum-sink]

 private:
  // Feeds bytes in stream order. A frame is header_ (11 bytes, which may
  // arrive in pieces) and then payload_left_ payload bytes.
  absl::Status consume(std::span<const std::byte> in) {
    while (!in.empty()) {
      std::size_t take;
      if (have_ < funnel::kHeaderSize) {
        take = std::min(in.size(), funnel::kHeaderSize - have_);
        std::copy_n(in.begin(), take, header_.begin() + have_);
        have_ += take;
        if (have_ == funnel::kHeaderSize) {
          absl::StatusOr<funnel::frame_header> h = funnel::decode_header(header_);
          // Cannot happen with basic_writer (frames are validated in make());
          // shown because a sink's error must name its cause.
          if (!h.ok()) {
            return absl::DataLossError(absl::StrCat("checksum_sink: ", h.status().message()));
          }
          payload_left_ = h->payload_length;
        }
      } else {
        take = std::min<std::size_t>(in.size(), payload_left_);
        payload_left_ -= take;
      }
      hash_ = fnv1a64(hash_, in.first(take));
      in = in.subspan(take);
      if (have_ == funnel::kHeaderSize && payload_left_ == 0) {  // the frame is complete
        checksum_state::add(state_->checksum_, hash_);
        checksum_state::add(state_->frames_, 1);
        hash_ = kFnvOffsetBasis;
        have_ = 0;
      }
    }
    return absl::OkStatus();
  }

  Inner inner_;
  std::shared_ptr<checksum_state> state_;
  // Position in the current frame (writer thread only).
  funnel::encoded_header header_{};
  std::size_t have_ = 0;  // header bytes seen
  std::uint64_t payload_left_ = 0;
  std::uint64_t hash_ = kFnvOffsetBasis;
};

// [discard-sink]
// The smallest Sink there is: takes every byte and drops it. A checksum_sink
// over it only counts.
struct discard_sink {
  absl::StatusOr<std::size_t> write(std::span<const funnel::const_buffer> buffers) {
    return funnel::total_size(buffers);
  }
};
// [discard-sink]

}  // namespace funnel_example

#endif  // FUNNEL_EXAMPLES_CUSTOM_SINK_CHECKSUM_SINK_H_
