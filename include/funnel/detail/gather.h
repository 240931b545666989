// funnel/detail/gather.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// Building the gather list the writer hands its Sink for one batch, from each
// frame's wire ranges (Frame::wire()):
//   * build_gather: every range of every frame, referenced in place;
//   * build_coalesced_gather: ranges shorter than `below` copied into one
//     staging buffer the writer owns, so a run of small frames becomes one
//     range; longer ranges (large payloads) are referenced in between.
// Both clear `out` first and never emit a zero-length range, and both check
// each frame's laws on the way (frame.h: wire() fits max_ranges and adds up
// to size()), which costs an add and a compare per range: a frame that breaks
// them makes them return InvalidArgument naming it, and the writer fails
// before it writes any of that batch. Writer thread only.
// Allocation: none once `out` and `staging` have grown to the largest batch
// seen (the writer reserves them up front from the batcher's hint).
#ifndef FUNNEL_DETAIL_GATHER_H_
#define FUNNEL_DETAIL_GATHER_H_

#include <cstddef>
#include <cstring>  // std::memcpy into the staging buffer
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "funnel/buffer.h"
#include "funnel/frame.h"

namespace funnel::detail {

// What is wrong with a frame of `size` bytes whose wire() gave `wire`.
template <std::size_t N>
std::string frame_law_text(std::size_t size, const frame_ranges<N>& wire) {
  if (wire.overflowed()) {
    return absl::StrCat("a frame's wire() added more ranges than its max_ranges, ", N,
                        " (funnel/frame.h)");
  }
  return absl::StrCat("a frame's size() is ", size, " but its wire() ranges hold ", wire.total(),
                      " bytes (funnel/frame.h: they must agree)");
}

// OK, or InvalidArgument naming the broken law of `f`, whose wire() is `w`.
template <frame F>
absl::Status check_frame_laws(const F& f, const frame_ranges<F::max_ranges>& w) {
  if (!w.overflowed() && w.total() == f.size()) [[likely]] {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(frame_law_text(f.size(), w));
}

template <frame F>
absl::Status build_gather(std::span<const F> batch, std::vector<const_buffer>& out) {
  out.clear();
  for (const F& f : batch) {
    const frame_ranges<F::max_ranges> w = f.wire();
    if (absl::Status s = check_frame_laws(f, w); !s.ok()) return s;
    for (const const_buffer& r : w) out.push_back(r);
  }
  return absl::OkStatus();
}

template <frame F>
absl::Status build_coalesced_gather(std::span<const F> batch, std::size_t below,
                                    std::vector<std::byte>& staging,
                                    std::vector<const_buffer>& out) {
  out.clear();
  std::size_t staged = 0;
  for (const F& f : batch) {
    const frame_ranges<F::max_ranges> w = f.wire();
    if (absl::Status s = check_frame_laws(f, w); !s.ok()) return s;
    for (const const_buffer& r : w) staged += r.size < below ? r.size : 0;
  }
  // Grows only when a batch needs more than any batch before: the steady
  // state reuses it. Sized before any pointer into it is taken.
  if (staging.size() < staged) staging.resize(staged);
  std::byte* const base = staging.data();
  std::size_t run_start = 0, cursor = 0;
  for (const F& f : batch) {
    for (const const_buffer& r : f.wire()) {  // never empty (frame_ranges::add)
      if (r.size < below) {
        std::memcpy(base + cursor, r.data, r.size);
        cursor += r.size;
      } else {
        if (cursor > run_start) out.push_back({base + run_start, cursor - run_start});
        out.push_back(r);
        run_start = cursor;
      }
    }
  }
  if (cursor > run_start) out.push_back({base + run_start, cursor - run_start});
  return absl::OkStatus();
}

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_GATHER_H_
