// funnel/detail/ring_admission.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// The producer side of a basic_writer over a byte queue (byte_ring):
//   ring_send   reserves the frame's record (waiting as the Backpressure
//               policy says while the ring is full), re-checks the state (the
//               producer half of the shutdown handshake: the reservation is
//               the seq_cst RMW), counts the frame accepted, copies its wire
//               ranges in (or moves the frame object in, by reference) and
//               commits; under drop_newest_backpressure a full ring drops
//               the frame instead (overflow.h);
//   ring_claim  the same up to the reservation, for a claim the caller fills
//               (funnel/claim.h), then commit_claim / abort_claim.
// A reservation refused after the handshake becomes padding the writer
// skips, so nothing is left uncommitted.
//
// Thread-safety: any number of producers at once. Exceptions: a Backpressure
// wait that throws pads any record it reserved and the exception passes to
// the caller. Allocation: none (error statuses aside).
#ifndef FUNNEL_DETAIL_RING_ADMISSION_H_
#define FUNNEL_DETAIL_RING_ADMISSION_H_

#include <atomic>
#include <cstddef>
#include <new>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/detail/admission.h"  // wait_to_take, check_send
#include "funnel/detail/gather.h"     // frame_law_text
#include "funnel/detail/overflow.h"   // drop_new
#include "funnel/detail/ring_words.h"
#include "funnel/detail/writer_shared.h"
#include "funnel/options.h"

namespace funnel::detail {

// The byte ring's limits (detail/ring_words.h), as InvalidArgument.
inline absl::Status validate_ring_options(const writer_options& o) {
  if (o.max_pending_frames > ring::kMaxRecords) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid writer_options for a byte ring: max_pending_frames ",
                     o.max_pending_frames, " exceeds ", ring::kMaxRecords));
  }
  if (o.max_pending_bytes > ring::kMaxBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid writer_options for a byte ring: max_pending_bytes ",
                     o.max_pending_bytes, " exceeds ", ring::kMaxBytes));
  }
  return absl::OkStatus();
}

template <class Q, class B>
std::string ring_pending_text(const writer_shared<Q, B>& w) {
  return absl::StrCat("the byte ring is full (max_pending_bytes ", w.queue.max_bytes(),
                      ", max_pending_frames ", w.queue.capacity(), ")");
}

// Reserves a record of `n` bytes and passes the handshake, or says why not.
template <class Q, class B>
absl::Status ring_reserve(writer_shared<Q, B>& w, std::size_t n, bool contiguous, bool may_wait,
                          typename Q::reservation& r) {
  if (!w.open()) return w.not_open_status();
  if (!w.queue.try_reserve(n, contiguous, r)) {
    if (!may_wait) {
      return absl::ResourceExhaustedError(
          absl::StrCat("backpressure: ", ring_pending_text(w), "; frame rejected"));
    }
    absl::Status waited = wait_to_take(
        w, [&] { return w.queue.try_reserve(n, contiguous, r); },
        [&] { w.queue.commit(r, ring::kPadding); },
        [&] { return absl::StrCat(ring_pending_text(w), " for ", n, " bytes"); });
    if (!waited.ok()) return waited;
  }
  // Shutdown handshake, producer half: seq_cst, after the seq_cst reservation.
  if (w.state.load(std::memory_order_seq_cst) != writer_state::kOpen) {
    w.queue.commit(r, ring::kPadding);
    return w.not_open_status();
  }
  return absl::OkStatus();
}

// Copies `frame` into the ring (or moves it in, by reference, when it is at
// least Q::config.by_reference_above bytes), or returns why not, leaving
// `frame` untouched.
template <class Q, class B>
absl::Status ring_send(writer_shared<Q, B>& w, typename Q::value_type& frame, bool may_wait) {
  using F = typename Q::value_type;
  if (absl::Status s = check_send(w, frame); !s.ok()) return s;
  const std::size_t size = frame.size();
  // The ring reserves size() and copies wire(): they must agree, or the copy
  // would overrun the record or leave stale bytes in it (frame.h's laws).
  // One pass over at most max_ranges sizes, before anything is reserved.
  const frame_ranges<F::max_ranges> wire = frame.wire();
  if (wire.overflowed() || wire.total() != size) {
    return absl::InvalidArgumentError(absl::StrCat(frame_law_text(size, wire), "; frame rejected"));
  }
  const bool by_reference = size >= Q::config.by_reference_above;
  if (!by_reference && size > w.queue.max_bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame of ", size, " bytes exceeds the byte ring's max_pending_bytes ",
                     w.queue.max_bytes(), " on its own; frame rejected"));
  }
  if (by_reference && Q::kFrameRecordBytes > w.queue.max_claim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frame of ", size, " bytes goes by reference, but the byte ring's max_pending_bytes ",
        w.queue.max_bytes(), " cannot hold a frame object (", Q::kFrameRecordBytes,
        " bytes, at most half the ring); frame rejected"));
  }
  typename Q::reservation r;
  const std::size_t n = by_reference ? Q::kFrameRecordBytes : size;
  if constexpr (overflow_of<B> == overflow_action::drop_newest) {
    // A full ring drops the frame (overflow.h); ResourceExhausted is only "full".
    absl::Status s = ring_reserve(w, n, by_reference, /*may_wait=*/false, r);
    if (absl::IsResourceExhausted(s)) return drop_new(w, frame);
    if (!s.ok()) return s;
  } else if (absl::Status s = ring_reserve(w, n, by_reference, may_wait, r); !s.ok()) {
    return s;
  }
  w.queue.count_accepted();  // before the commit: see "Accounting" in writer_shared.h
  if (by_reference) {
    ::new (static_cast<void*>(w.queue.frame_at(w.queue.data(r)))) F(std::move(frame));
    w.queue.commit(r, ring::kFrame);
  } else {
    std::size_t at = 0;
    for (const const_buffer& range : wire) {
      w.queue.copy_in(r, at, range);
      at += range.size;
    }
    w.queue.commit(r, ring::kData);
  }
  return absl::OkStatus();
}

// A claim of `n` bytes: reserved contiguously and marked claimed.
template <class Q, class B>
absl::Status ring_claim(writer_shared<Q, B>& w, std::size_t n, bool may_wait,
                        typename Q::reservation& r) {
  if (!w.open()) return w.not_open_status();  // a failed writer says why, not a size
  if (n == 0) return absl::InvalidArgumentError("claim of 0 bytes; a frame has at least one byte");
  if (n > w.queue.max_claim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "claim of ", n, " bytes exceeds the largest claim the byte ring takes, ",
        w.queue.max_claim(), " (half of max_pending_bytes ", w.queue.max_bytes(),
        ": a claim is contiguous and may need padding at the wrap); use send() for it"));
  }
  // A claim on a full ring cannot be dropped (its frame is not written yet):
  // under a drop policy it never waits and returns ResourceExhausted.
  const bool wait = may_wait && !dropping_backpressure<B>;
  if (absl::Status s = ring_reserve(w, n, /*contiguous=*/true, wait, r); !s.ok()) return s;
  w.queue.mark_claimed(r);
  return absl::OkStatus();
}

template <class Q, class B>
absl::Status ring_commit_claim(writer_shared<Q, B>& w, const typename Q::reservation& r,
                               std::size_t n) {
  w.queue.count_accepted();  // before the commit, as ring_send
  if (w.queue.commit_claim(r, ring::kData)) return absl::OkStatus();
  w.queue.uncount_accepted();
  // The writer gave up on the claim: it failed (a sink error, a close
  // deadline, or this claim's own timeout), so its status says why.
  if (w.failed()) return w.status(false);
  return absl::DeadlineExceededError(
      absl::StrCat("claim of ", n,
                   " bytes committed too late: the writer gave up on it after "
                   "claim_timeout ",
                   absl::FormatDuration(w.options.claim_timeout), "; frame not sent"));
}

template <class Q, class B>
void ring_abort_claim(writer_shared<Q, B>& w, const typename Q::reservation& r) noexcept {
  w.queue.commit_claim(r, ring::kPadding);  // false: abandoned already; nothing to undo
}

// Reserves `n` bytes, lets `fill` write the frame's wire bytes into them and
// commits: a claim without a claim object. `fill(std::span<std::byte>)`
// returns void, or an absl::Status whose error aborts (padding, nothing sent)
// and is returned; if it throws, the record is padded and the exception
// passes on.
template <class Q, class B, class Fill>
absl::Status ring_send_in_place(writer_shared<Q, B>& w, std::size_t n, bool may_wait, Fill& fill) {
  typename Q::reservation r;
  if (absl::Status s = ring_claim(w, n, may_wait, r); !s.ok()) return s;
  const std::span<std::byte> out(w.queue.data(r), n);
  try {
    if constexpr (std::is_void_v<decltype(fill(out))>) {
      fill(out);
    } else {
      if (absl::Status s = fill(out); !s.ok()) {
        ring_abort_claim(w, r);
        return s;
      }
    }
  } catch (...) {
    ring_abort_claim(w, r);
    throw;
  }
  return ring_commit_claim(w, r, n);
}

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_RING_ADMISSION_H_
