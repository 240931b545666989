// funnel/detail/admission.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// `admit(shared, frame, may_wait)`: the producer side of a basic_writer
// (`admit_express`: the same into the express lane, express_lane.h). A
// frame is refused if empty or alone above the byte bound; otherwise it takes
// pending budget (exact CAS admission, see pending_budget.h), waiting as the
// Backpressure policy says (or, for a drop policy, drops a frame: see
// overflow.h), re-checks the state (the producer half of the
// shutdown handshake, see writer_shared.h), is counted accepted and pushed.
//
// Thread-safety: any number of producers at once, concurrently with the owner
// and the writer thread.
// Exceptions: a Queue push or a Backpressure wait that throws gets its budget
// (and its acceptance) back and the exception passes to the caller of send();
// the writer's state is untouched.
// Allocation: none (error statuses aside).
#ifndef FUNNEL_DETAIL_ADMISSION_H_
#define FUNNEL_DETAIL_ADMISSION_H_

#include <atomic>
#include <cstddef>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/detail/overflow.h"  // drop_new, make_room
#include "funnel/detail/writer_shared.h"

namespace funnel::detail {

// Waits as the Backpressure policy says until `take()` succeeds, up to
// options.backpressure_timeout: OK once taken; the writer's status once it is
// not open; else DeadlineExceeded, "backpressure: <pending()> after waiting
// ...". If the policy throws after `take()` succeeded, `undo()` gives back what
// it took. Used for the pending budget here and for ring space
// (ring_admission.h).
template <class Q, class B, class Take, class Undo, class Pending>
absl::Status wait_to_take(writer_shared<Q, B>& w, Take&& take, Undo&& undo, Pending&& pending) {
  // Relaxed: statistics.
  w.backpressure_waits.fetch_add(1, std::memory_order_relaxed);
  bool taken = false;
  const absl::Time start = absl::Now();
  try {
    w.backpressure.wait(
        [&] {
          if (!w.open()) return true;  // a waiter never outlives the writer
          taken = take();
          return taken;
        },
        start + w.options.backpressure_timeout);
  } catch (...) {
    if (taken) undo();
    throw;
  }
  if (taken) return absl::OkStatus();
  if (!w.open()) return w.not_open_status();
  w.backpressure_timeouts.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
  return absl::DeadlineExceededError(
      absl::StrCat("backpressure: ", pending(), " after waiting ",
                   absl::FormatDuration(absl::Now() - start), " (backpressure_timeout ",
                   absl::FormatDuration(w.options.backpressure_timeout), "); frame rejected"));
}

// Waits for `cost` bytes (and one frame) of pending budget.
template <class Q, class B>
absl::Status wait_for_budget(writer_shared<Q, B>& w, std::size_t cost) {
  return wait_to_take(
      w, [&] { return w.budget.try_acquire(cost); }, [&] { w.give_back(cost); },
      [&] { return absl::StrCat("still ", w.pending_text()); });
}

// The checks every send makes before it takes anything, in this order: the
// frame is not empty, the writer is open (so a writer that started failed
// answers with its cause, not with a size complaint), the frame has at least
// one wire byte (frame.h's laws). OK, or why the frame is refused.
template <class Q, class B>
absl::Status check_send(const writer_shared<Q, B>& w, const typename Q::value_type& frame) {
  if (!frame.valid()) {
    return absl::InvalidArgumentError(
        "frame is empty (default-constructed or moved from); frame rejected");
  }
  if (!w.open()) return w.not_open_status();
  if (frame.size() == 0) {
    return absl::InvalidArgumentError(
        "frame is valid but its size() is 0: a frame has at least one wire byte; frame "
        "rejected");
  }
  return absl::OkStatus();
}

// Admits `frame` and moves it into the queue, or returns why not (leaving
// `frame` untouched).
template <class Q, class B>
absl::Status admit(writer_shared<Q, B>& w, typename Q::value_type& frame, bool may_wait) {
  if (absl::Status s = check_send(w, frame); !s.ok()) return s;
  const std::size_t cost = frame.size();
  if (w.budget.max_bytes() != 0 && cost > w.budget.max_bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame of ", cost, " bytes exceeds max_pending_bytes ", w.budget.max_bytes(),
                     " on its own; frame rejected"));
  }
  if (!w.budget.try_acquire(cost)) {
    if constexpr (overflow_of<B> == overflow_action::drop_newest) {
      return drop_new(w, frame);  // send() and try_send() alike
    } else if constexpr (overflow_of<B> == overflow_action::drop_oldest) {
      if (std::optional<absl::Status> s = make_room(w, frame, cost)) return *s;
    } else if (!may_wait) {
      return absl::ResourceExhaustedError(
          absl::StrCat("backpressure: ", w.pending_text(), "; frame rejected"));
    } else if (absl::Status s = wait_for_budget(w, cost); !s.ok()) {
      return s;
    }
  }
  // Shutdown handshake, producer half: seq_cst, after the seq_cst budget RMW.
  if (w.state.load(std::memory_order_seq_cst) != writer_state::kOpen) {
    w.give_back(cost);
    return w.not_open_status();
  }
  w.budget.count_accepted();  // before the push: see "Accounting" in writer_shared.h
  bool pushed = false;
  try {
    pushed = w.queue.try_push(frame);
  } catch (...) {
    w.budget.uncount_accepted();
    w.give_back(cost);
    throw;
  }
  if (!pushed) {
    // A conforming queue cannot be full here (start() checked its capacity).
    w.budget.uncount_accepted();
    w.fail(absl::InternalError(
        absl::StrCat("the Queue broke its contract: try_push failed with ", w.budget.frames(),
                     " frames pending, below its capacity ", w.queue.capacity())));
    w.give_back(cost);
    return w.not_open_status();
  }
  return absl::OkStatus();
}

// Returns an express slot taken for a frame that will not be pushed (as
// give_back() does for budget).
template <class Q, class B>
void give_back_express(writer_shared<Q, B>& w) {
  w.express.release(1);
  if (w.state.load(std::memory_order_seq_cst) != writer_state::kOpen) w.queue.close();
  w.backpressure.notify();
}

// Admits `frame` into the express lane (express_lane.h) and wakes the writer,
// or returns why not (leaving `frame` untouched). The lane's own exact bound
// (express_capacity) replaces the pending budget; the shutdown handshake and
// the accounting are the same as admit()'s.
template <class Q, class B>
absl::Status admit_express(writer_shared<Q, B>& w, typename Q::value_type& frame, bool may_wait) {
  using F = typename Q::value_type;
  if (absl::Status s = check_send(w, frame); !s.ok()) return s;
  const std::size_t cap = w.express.capacity();
  if (cap == 0) {
    return absl::FailedPreconditionError(
        "the express lane is disabled (writer_options::express_capacity is 0); frame rejected");
  }
  if (!w.express.try_acquire()) {
    auto pending = [&] {
      return absl::StrCat("the express lane still holds ", w.express.pending(),
                          " frames (express_capacity ", cap, ")");
    };
    if (!may_wait) {
      return absl::ResourceExhaustedError(
          absl::StrCat("backpressure: the express lane holds ", w.express.pending(),
                       " frames (express_capacity ", cap, "); frame rejected"));
    }
    absl::Status s = wait_to_take(
        w, [&] { return w.express.try_acquire(); }, [&] { give_back_express(w); }, pending);
    if (!s.ok()) return s;
  }
  // Shutdown handshake, producer half: seq_cst, after the seq_cst slot RMW.
  if (w.state.load(std::memory_order_seq_cst) != writer_state::kOpen) {
    give_back_express(w);
    return w.not_open_status();
  }
  w.budget.count_accepted();  // before the push: see "Accounting" in writer_shared.h
  w.express.push(frame);      // cannot fail: we hold a slot
  if (w.express.request_wake()) {
    // The writer may sleep in the bulk queue's pop_wait: push a wake token
    // (an empty frame; the writer skips it). The queue has a spare slot for
    // the one token that can be queued. The frame is accepted already: a
    // push that fails or throws is not the caller's error; the writer still
    // takes the frame at its next batch boundary.
    bool pushed = false;
    try {
      F token{};
      pushed = w.queue.try_push(token);
    } catch (...) {
    }
    if (!pushed) w.express.wake_consumed();
  }
  return absl::OkStatus();
}

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_ADMISSION_H_
