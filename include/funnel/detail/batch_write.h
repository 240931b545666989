// funnel/detail/batch_write.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// `write_whole(sink, gather, total, w, done)`: hands one batch's gather list
// to the Sink until all `total` bytes are taken, resuming short writes at the
// exact byte, then flushes a flushable sink. Counts write calls, partial
// writes and bytes in `w`'s writer-thread counters. `done` says how many
// bytes the sink took, also on failure (the failure drain needs it). Used by
// both writer loops (drain_loop.h, ring_drain_loop.h). `timing`: `untimed`
// (no clock read), or a write_timing* that gets each Sink::write call's
// duration (an Observer is present, observation.h).
//
// Thread-safety: the writer thread only. Allocation: none.
#ifndef FUNNEL_DETAIL_BATCH_WRITE_H_
#define FUNNEL_DETAIL_BATCH_WRITE_H_

#include <chrono>
#include <cstddef>
#include <span>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "funnel/buffer.h"
#include "funnel/concepts.h"
#include "funnel/detail/observation.h"

namespace funnel::detail {

template <class S, class Shared, class Timing = untimed>
absl::Status write_whole(S& sink, std::span<const_buffer> rest, std::size_t total, Shared& w,
                         std::size_t& done, Timing timing = {}) {
  done = 0;
  while (done < total) {
    const std::size_t remaining = total - done;
    absl::StatusOr<std::size_t> n = [&]() -> absl::StatusOr<std::size_t> {
      if constexpr (std::is_same_v<Timing, write_timing*>) {
        const auto start = std::chrono::steady_clock::now();
        absl::StatusOr<std::size_t> r = sink.write(rest);
        timing->add(std::chrono::steady_clock::now() - start);
        return r;
      } else {
        return sink.write(rest);
      }
    }();
    w.bump(w.write_calls, 1);
    if (!n.ok()) return n.status();
    if (*n == 0 || *n > remaining) {
      return absl::InternalError(
          absl::StrCat("sink write returned ", *n, " for ", remaining, " bytes offered"));
    }
    if (*n < remaining) w.bump(w.partial_writes, 1);
    w.bump(w.bytes_written, *n);
    done += *n;
    rest = consume_front(rest, *n);
  }
  if constexpr (flushable_sink<S>) {
    // A failed flush: the bytes reached the sink but may not go further.
    // The frames count as written (done is whole); the writer stops.
    if (absl::Status flushed = sink.flush(); !flushed.ok()) return flushed;
  }
  return absl::OkStatus();
}

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_BATCH_WRITE_H_
