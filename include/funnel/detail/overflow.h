// funnel/detail/overflow.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// What a producer does when the pending budget is full and the Backpressure
// policy names an overflow action (funnel::overflow_of, concepts.h) instead
// of waiting:
//   drop_new   drop_newest (and drop_oldest with nothing left to evict): the
//              frame being sent is counted accepted and dropped; nothing is
//              queued; the policy's on_drop sees it.
//   make_room  drop_oldest: evict the oldest queued frame (Queue::try_evict),
//              count it dropped, give its budget back, take budget for the
//              new frame; repeat while the bound is still full. An express
//              wake token met at the head is put back and ends the eviction.
//
// Accounting (see also writer_shared.h): a dropped frame counts in
// frames_dropped, which processed() includes, so flush() and close() never
// wait for it. Both paths keep accepted == written + lost + dropped exact
// after close():
//   * an evicted frame still holds its budget while it is counted dropped
//     and gives it back only afterwards; the writer finishes only once the
//     budget is back to zero, so it sees the count.
//   * a dropped new frame holds no budget, so it takes part in the shutdown
//     handshake through `dropping` instead: the producer increments it
//     (seq_cst RMW), then reads the state (seq_cst); the writer thread, after
//     the state has become "not open", waits until `dropping` is zero before
//     it finishes (writer_thread.h). Either the producer sees "not open" and
//     counts nothing, or the writer waits for its counts.
// After each count the producer wakes flush() waiters (progress), since no
// batch will.
//
// Exceptions: on_drop that throws passes to the caller of send(); every drop
// is counted before it is called, and no budget is held during the call.
// Thread-safety: producers, any number at once. Allocation: none.
#ifndef FUNNEL_DETAIL_OVERFLOW_H_
#define FUNNEL_DETAIL_OVERFLOW_H_

#include <atomic>
#include <cstddef>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "funnel/concepts.h"
#include "funnel/detail/writer_shared.h"

namespace funnel::detail {

// Counts `frame` accepted and dropped without queueing it, or returns the
// writer's status when it is not open (nothing counted).
template <class Q, class B>
absl::Status drop_new(writer_shared<Q, B>& w, const typename Q::value_type& frame) {
  // seq_cst RMW, then the seq_cst state load: the producer half of the
  // shutdown handshake for a frame that holds no budget (see above).
  w.dropping.fetch_add(1, std::memory_order_seq_cst);
  if (w.state.load(std::memory_order_seq_cst) != writer_state::kOpen) {
    w.dropping.fetch_sub(1, std::memory_order_relaxed);  // nothing counted: nothing to publish
    return w.not_open_status();
  }
  if constexpr (byte_queue<Q>) {
    w.queue.count_accepted();
  } else {
    w.budget.count_accepted();
  }
  // Release: pairs with the acquire in processed(); a flush() that sees it
  // sees the frame accepted.
  w.frames_dropped.fetch_add(1, std::memory_order_release);
  // Release: the writer's seq_cst load that sees zero sees both counts.
  w.dropping.fetch_sub(1, std::memory_order_release);
  w.progress.notify_all();  // flush() waiters: no batch will tell them
  w.backpressure.on_drop(frame);
  return absl::OkStatus();
}

// drop_oldest on a frame queue: evicts queued frames until budget for `cost`
// bytes is taken (nullopt: go on and push `frame`), or drops `frame` when
// nothing is left to evict (OK), or returns why not (not open).
template <class Q, class B>
std::optional<absl::Status> make_room(writer_shared<Q, B>& w, typename Q::value_type& frame,
                                      std::size_t cost) {
  using F = typename Q::value_type;
  F old;
  for (;;) {
    // A closing writer keeps what it accepted: no eviction after close().
    if (!w.open()) return w.not_open_status();
    if (!w.queue.try_evict(old)) break;
    if (!old.valid()) {
      // An express lane's wake token (express_lane.h), not a frame: it holds
      // no budget and must reach the writer. Put it back (the queue keeps a
      // spare slot for it) and stop evicting: the new frame is dropped
      // instead (below) unless budget came back.
      if (!w.queue.try_push(old)) w.express.wake_consumed();
      old = F();
      break;
    }
    const std::size_t old_cost = old.size();
    // Counted while its budget is still held (see above). Release: pairs
    // with the acquire in processed().
    w.frames_dropped.fetch_add(1, std::memory_order_release);
    w.give_back(old_cost);
    w.progress.notify_all();
    w.backpressure.on_drop(std::as_const(old));
    old = F();  // the payload goes now, not at the next eviction
    if (w.budget.try_acquire(cost)) return std::nullopt;
  }
  // Everything pending is in the writer's hands; budget may have come back
  // meanwhile.
  if (w.budget.try_acquire(cost)) return std::nullopt;
  return drop_new(w, frame);
}

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_OVERFLOW_H_
