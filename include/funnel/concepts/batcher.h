// funnel/concepts/batcher.h
// -----------------------------------------------------------------------------
// The Batcher concepts: batch_stats, batcher and its optional hooks.
// One of the four policy concepts of funnel/concepts.h, which includes it
// and says how to read these blocks (threads, optional hooks).
#ifndef FUNNEL_CONCEPTS_BATCHER_H_
#define FUNNEL_CONCEPTS_BATCHER_H_

#include <concepts>
#include <cstddef>

#include "absl/time/time.h"  // linger

namespace funnel {

// -----------------------------------------------------------------------------
// Batcher: how many frames one gather write takes. Called only from the
// writer thread.
//
// What the writer tells it about the batch being assembled:
struct batch_stats {
  std::size_t frames = 0;  // frames already in the batch
  std::size_t bytes = 0;   // their wire bytes (Frame::size(), summed)
};
// Required expressions, for `const Bt bt`, `batch_stats st`, `std::size_t n`:
//   bt.admits(st, n) -> bool  May a frame of `n` wire bytes join a batch that
//                             holds `st`? Asked only when st.frames >= 1: the
//                             first frame of a batch always joins. A refused
//                             frame starts the next batch.
//   bt.max_frames_hint() -> size_t
//                             A typical upper bound on frames per batch; the
//                             writer reserves its buffers for it once, so the
//                             steady state allocates nothing.
//
// Optional hooks:
//   bt.linger(st) -> absl::Duration
//       Asked when the queue runs dry with the batch holding `st`: how long
//       to wait for more frames before writing (zero or less: write now).
//       Measured from the first time the queue ran dry for this batch; asked
//       again after each frame that arrives, so a batch that has grown large
//       enough can stop lingering. Without the hook: never linger.
//   bt.coalesce_below() -> std::size_t
//       Frame ranges (Frame::wire()) shorter than this are copied into one
//       contiguous staging buffer the writer owns, so runs of small frames
//       become one range instead of one or two per frame; longer ranges
//       (large payloads) are still written from the producer's buffer.
//       Without the hook: no copying.
//
// Models: count_batcher, byte_batcher, linger_batcher, coalescing_batcher
// (policies/batcher/); the wrappers lingering<Inner> and coalescing<Inner>
// add a hook to any batcher and compose. Conformance suite:
// funnel/testing/batcher_conformance.h.
template <class Bt>
concept batcher_has_admits = requires(const Bt& bt, const batch_stats& st, std::size_t n) {
  { bt.admits(st, n) } -> std::same_as<bool>;
};
template <class Bt>
concept batcher_has_hint = requires(const Bt& bt) {
  { bt.max_frames_hint() } -> std::convertible_to<std::size_t>;
};
template <class Bt>
concept batcher = std::copy_constructible<Bt> && batcher_has_admits<Bt> && batcher_has_hint<Bt>;
template <class Bt>
concept batcher_with_linger = batcher<Bt> && requires(const Bt& bt, const batch_stats& st) {
  { bt.linger(st) } -> std::same_as<absl::Duration>;
};
template <class Bt>
concept batcher_with_coalescing = batcher<Bt> && requires(const Bt& bt) {
  { bt.coalesce_below() } -> std::convertible_to<std::size_t>;
};

}  // namespace funnel

#endif  // FUNNEL_CONCEPTS_BATCHER_H_
