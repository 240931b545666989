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
// Both clear `out` first and never emit a zero-length range. Writer thread
// only.
// Allocation: none once `out` and `staging` have grown to the largest batch
// seen (the writer reserves them up front from the batcher's hint).
#ifndef FUNNEL_DETAIL_GATHER_H_
#define FUNNEL_DETAIL_GATHER_H_

#include <cstddef>
#include <cstring>  // std::memcpy into the staging buffer
#include <span>
#include <vector>

#include "funnel/buffer.h"
#include "funnel/frame.h"

namespace funnel::detail {

template <frame F>
void build_gather(std::span<const F> batch, std::vector<const_buffer>& out) {
  out.clear();
  for (const F& f : batch) {
    for (const const_buffer& r : f.wire()) out.push_back(r);
  }
}

template <frame F>
void build_coalesced_gather(std::span<const F> batch, std::size_t below,
                            std::vector<std::byte>& staging, std::vector<const_buffer>& out) {
  out.clear();
  std::size_t staged = 0;
  for (const F& f : batch) {
    for (const const_buffer& r : f.wire()) staged += r.size < below ? r.size : 0;
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
}

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_GATHER_H_
