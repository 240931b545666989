// funnel/detail/gather.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// Building the gather list the writer hands its Sink for one batch:
//   * build_gather: a header range and (if any) a payload range per frame;
//   * build_coalesced_gather: headers and payloads shorter than `below` copied
//     into one staging buffer the writer owns, so a run of small frames
//     becomes one range; larger payloads are referenced in between.
// Both clear `out` first. Writer thread only.
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

inline void build_gather(std::span<const outbound_frame> batch, std::vector<const_buffer>& out) {
  out.clear();
  for (const outbound_frame& f : batch) {
    out.push_back({f.encoded().data(), kHeaderSize});
    if (!f.payload().empty()) out.push_back({f.payload().data(), f.payload().size()});
  }
}

inline void build_coalesced_gather(std::span<const outbound_frame> batch, std::size_t below,
                                   std::vector<std::byte>& staging,
                                   std::vector<const_buffer>& out) {
  out.clear();
  std::size_t staged = 0;
  for (const outbound_frame& f : batch) {
    staged += kHeaderSize + (f.payload().size() < below ? f.payload().size() : 0);
  }
  // Grows only when a batch needs more than any batch before: the steady
  // state reuses it. Sized before any pointer into it is taken.
  if (staging.size() < staged) staging.resize(staged);
  std::byte* const base = staging.data();
  std::size_t run_start = 0, cursor = 0;
  for (const outbound_frame& f : batch) {
    std::memcpy(base + cursor, f.encoded().data(), kHeaderSize);  // constant size
    cursor += kHeaderSize;
    const bytes& payload = f.payload();
    if (payload.size() < below || payload.empty()) {  // never a zero-length range
      if (!payload.empty()) std::memcpy(base + cursor, payload.data(), payload.size());
      cursor += payload.size();
    } else {
      out.push_back({base + run_start, cursor - run_start});
      out.push_back({payload.data(), payload.size()});
      run_start = cursor;
    }
  }
  if (cursor > run_start) out.push_back({base + run_start, cursor - run_start});
}

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_GATHER_H_
