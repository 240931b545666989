// funnel/detail/writer_shared.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// `writer_shared<Q, B>`: the state the producers, the owner and the writer
// thread of one basic_writer share, and the state machine over it. The other
// parts of the writer work on it: detail/admission.h (producers),
// detail/drain_loop.h (the writer thread), detail/writer_core.h (the owner:
// start, close, flush).
//
// States (state): kOpen -> kClosing -> kClosed on a clean close; any state
// but kClosed -> kFailed when the sink fails, a policy throws on the writer
// thread, a Queue breaks its contract, or a close deadline passes. The first
// failure's cause is kept. Transitions to kFailed and kClosed happen under
// mu, so exactly one of them wins.
//
// Shutdown handshake: a producer takes budget (seq_cst RMW) and then reads the
// state (seq_cst); whoever closes or fails the writer stores the state
// (seq_cst) and the writer thread then reads the budget (seq_cst). So either
// the producer sees "not open" and gives its budget back, or the writer sees
// the producer's budget and waits for its frame: no accepted frame is ever
// left behind uncounted. The express lane's slots (express_lane.h) take part
// the same way as the budget.
//
// Accounting: a frame is counted accepted before it is pushed (byte queues:
// committed), so flush() covers frames still being pushed, and uncounted if
// the push does not happen; it stays in the pending budget (byte queues: in
// the ring) until the writer has written it or counted it lost, so after the
// thread ends accepted == written + lost + dropped. Drop policies count their
// drops (frames_dropped, by producers) as overflow.h describes.
//
// Layout: producers write the budget (its own lines, see pending_budget.h);
// the writer thread's counters share a line only with each other, away from
// the state producers read on every send.
#ifndef FUNNEL_DETAIL_WRITER_SHARED_H_
#define FUNNEL_DETAIL_WRITER_SHARED_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "funnel/concepts.h"
#include "funnel/detail/express_lane.h"
#include "funnel/detail/pending_budget.h"
#include "funnel/detail/process.h"
#include "funnel/detail/ring_words.h"
#include "funnel/event_count.h"
#include "funnel/options.h"
#include "funnel/stats.h"

namespace funnel::detail {

enum class writer_state : std::uint8_t {
  kOpen,     // accepting frames
  kClosing,  // close() called: no new frames; the writer drains what it accepted
  kFailed,   // stopped by a failure: nothing more is written
  kClosed,   // the writer thread finished after a clean drain
};

// The writer's Queue, built from the options: a frame queue holds
// max(queue_capacity, max_pending_frames) frames (+ 1 with an express lane); a byte queue holds
// max_pending_bytes bytes (0: its default) in at most max_pending_frames
// records. Out-of-range values get a tiny queue, and so does a queue whose
// allocation throws (std::bad_alloc, std::length_error): `setup` then says
// why, and start() starts the writer failed with it.
template <class Q>
Q make_queue(const writer_options& o, absl::Status& setup) {
  const bool fits = validate_options(o).ok() &&
                    (!byte_queue<Q> || (o.max_pending_frames <= ring::kMaxRecords &&
                                        o.max_pending_bytes <= ring::kMaxBytes));
  auto tiny = [] {
    if constexpr (byte_queue<Q>) {
      return Q(2, 2);
    } else {
      return Q(2);
    }
  };
  if (!fits) return tiny();  // start() names the field
  try {
    if constexpr (byte_queue<Q>) {
      return Q(o.max_pending_bytes, o.max_pending_frames);
    } else {
      // + 1: the express lane's wake token (express_lane.h), at most one queued.
      return Q(std::max(o.queue_capacity, o.max_pending_frames) +
               (o.express_capacity != 0 ? 1 : 0));
    }
  } catch (const std::exception& e) {  // std::bad_alloc, std::length_error
    setup = absl::ResourceExhaustedError(absl::StrCat(
        "cannot allocate the writer's queue for ",
        byte_queue<Q> ? absl::StrCat("max_pending_bytes ", o.max_pending_bytes,
                                     " and max_pending_frames ", o.max_pending_frames)
                      : absl::StrCat("max(queue_capacity ", o.queue_capacity,
                                     ", max_pending_frames ", o.max_pending_frames, ")"),
        ": ", e.what(), "; lower the bound"));
    return tiny();
  }
}

// The express lane for `capacity` frames (0 for byte queues, and when the
// set-up failed already), or an empty one and `setup` saying why.
template <class F>
express_lane<F> make_express_lane(std::size_t capacity, absl::Status& setup) {
  if (!setup.ok() || capacity > kMaxFramesOption) return express_lane<F>(0);
  try {
    return express_lane<F>(capacity);
  } catch (const std::exception& e) {
    setup = absl::ResourceExhaustedError(absl::StrCat(
        "cannot allocate the express lane for express_capacity ", capacity, ": ", e.what(),
        "; lower it"));
    return express_lane<F>(0);
  }
}

template <class Q, class B>
struct writer_shared {
  using frame_type = typename Q::value_type;

  writer_shared(const writer_options& o, B bp)
      : options(o),
        queue(make_queue<Q>(o, setup)),
        backpressure(std::move(bp)),
        budget(o.max_pending_frames, o.max_pending_bytes),
        express(make_express_lane<frame_type>(byte_queue<Q> ? 0 : o.express_capacity, setup)) {}
  writer_shared(const writer_shared&) = delete;
  writer_shared& operator=(const writer_shared&) = delete;

  // Fails the writer with `cause` unless it has failed or finished already
  // (the first cause wins); wakes the writer, producers and flush() callers.
  void fail(absl::Status cause) noexcept {
    {
      absl::MutexLock lock(&mu);
      const writer_state st = state.load(std::memory_order_relaxed);
      if (st == writer_state::kFailed || st == writer_state::kClosed) return;
      failure = std::move(cause);
      // seq_cst: closing half of the shutdown handshake; stored before any
      // budget is returned, so no waiting producer is admitted from now on.
      state.store(writer_state::kFailed, std::memory_order_seq_cst);
    }
    wake_everyone();
  }

  // Stops admission and wakes the writer and every waiting producer. A
  // policy that throws here (Backpressure::notify, Queue::close) fails the
  // writer with Internal naming what(), as on the writer thread: close()
  // then returns that status, and the destructor never sees an exception.
  void begin_close() noexcept {
    writer_state expected = writer_state::kOpen;
    // seq_cst: the closing half of the shutdown handshake.
    state.compare_exchange_strong(expected, writer_state::kClosing, std::memory_order_seq_cst);
    // notify() first: the writer thread sleeps in pop_wait until the queue
    // closes, so it cannot finish cleanly before a throw here is recorded.
    guarded_close_call([this] { backpressure.notify(); });
    guarded_close_call([this] { queue.close(); });
  }
  template <class Call>
  void guarded_close_call(Call&& call) noexcept {
    try {
      call();
    } catch (const std::exception& e) {
      fail(absl::InternalError(absl::StrCat("a policy threw on close(): ", e.what())));
    } catch (...) {
      fail(absl::InternalError(
          "a policy threw on close(): an exception not derived from std::exception"));
    }
  }

  // The writer thread drained everything after a close.
  void finish_clean() {
    absl::MutexLock lock(&mu);
    // Release: a thread that sees kClosed sees every counter above.
    if (state.load(std::memory_order_relaxed) != writer_state::kFailed) {
      state.store(writer_state::kClosed, std::memory_order_release);
    }
  }

  // Policies' close()/notify() must not throw; if one does on this path
  // anyway, the waiters still time out on their own deadlines.
  void wake_everyone() noexcept {
    try {
      queue.close();
      backpressure.notify();
    } catch (...) {
    }
    progress.notify_all();
  }

  // Returns budget taken for a frame that will not be pushed. A closing or
  // failed writer may be waiting for exactly this budget: wake it.
  void give_back(std::size_t cost) {
    budget.release(1, cost);
    if (state.load(std::memory_order_seq_cst) != writer_state::kOpen) queue.close();
    backpressure.notify();
  }

  // The writer released a batch's budget (or ring space): wakes waiting
  // producers, or lets a policy with water marks decide from what is still
  // pending (Backpressure::notify(level), concepts.h). Relaxed readings of the
  // level: a hint for the policy; its waiters' own checks decide.
  void notify_released() {
    if constexpr (backpressure_with_level<B>) {
      if constexpr (byte_queue<Q>) {
        backpressure.notify(queue.level());
      } else {
        backpressure.notify(pending_level{budget.frames_relaxed(), budget.max_frames(),
                                          budget.bytes(), budget.max_bytes()});
      }
    } else {
      backpressure.notify();
    }
  }

  bool open() const noexcept {
    // Acquire: pairs with the seq_cst state stores, so a thread that sees
    // kFailed also sees the failure status. In a fork()ed child the writer is
    // never open (process.h).
    return state.load(std::memory_order_acquire) == writer_state::kOpen && !forked();
  }
  // True in a child of fork(): the writer thread does not run here.
  bool forked() const noexcept { return detail::forked(fork_gen); }
  bool failed() const noexcept {
    return state.load(std::memory_order_acquire) == writer_state::kFailed;  // as open()
  }

  // OK while running or after a clean close; otherwise the cause, and once
  // the thread has ended (`final`) the number of accepted frames not written.
  absl::Status status(bool final) const {
    if (forked()) return forked_status();  // before mu: the parent may have held it at fork()
    if (!failed()) return absl::OkStatus();
    absl::MutexLock lock(&mu);
    if (!final || !started) return failure;
    return absl::Status(failure.code(), absl::StrCat(failure.message(), "; ",
                                                     frames_lost.load(std::memory_order_relaxed),
                                                     " accepted frame(s) were not written"));
  }

  absl::Status not_open_status() const {
    if (forked() || failed()) return status(false);
    return absl::FailedPreconditionError("funnel writer is closed; frame rejected");
  }

  std::string pending_text() const {
    return absl::StrCat(budget.frames(), " frames / ", budget.bytes(),
                        " bytes pending (max_pending_frames ", budget.max_frames(),
                        ", max_pending_bytes ", budget.max_bytes(), ")");
  }

  // Frames accepted so far (a byte queue counts them beside its tail).
  std::uint64_t accepted() const noexcept {
    if constexpr (byte_queue<Q>) {
      return queue.accepted();
    } else {
      return budget.accepted();
    }
  }

  // Frames the writer is done with, written or lost, and frames dropped.
  // Acquire: pairs with the release in bump() (and in the drop counts,
  // overflow.h), so a caller that sees a frame processed also sees its
  // budget returned. (Waiters are woken through progress.)
  std::uint64_t processed() const noexcept {
    return frames_written.load(std::memory_order_acquire) +
           frames_lost.load(std::memory_order_acquire) +
           frames_dropped.load(std::memory_order_acquire);
  }

  // Writer-thread counters: one writer, so a load and a store, no RMW.
  // Release: pairs with the acquire loads in processed().
  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }

  writer_stats stats() const noexcept {
    // Relaxed loads: each counter is exact on its own; see funnel/stats.h.
    writer_stats s;
    s.frames_accepted = accepted();
    s.frames_written = frames_written.load(std::memory_order_relaxed);
    s.bytes_written = bytes_written.load(std::memory_order_relaxed);
    s.batches = batches.load(std::memory_order_relaxed);
    s.write_calls = write_calls.load(std::memory_order_relaxed);
    s.partial_writes = partial_writes.load(std::memory_order_relaxed);
    s.express_frames = express_frames.load(std::memory_order_relaxed);
    s.backpressure_waits = backpressure_waits.load(std::memory_order_relaxed);
    s.backpressure_timeouts = backpressure_timeouts.load(std::memory_order_relaxed);
    s.frames_lost = frames_lost.load(std::memory_order_relaxed);
    s.frames_dropped = frames_dropped.load(std::memory_order_relaxed);
    s.flush_waiters = progress.waiters();
    return s;
  }

  // The process generation this writer was made in (process.h).
  const std::uint32_t fork_gen = fork_watch();
  const writer_options options;
  // OK, or why building the queue or the express lane failed (start()).
  absl::Status setup;
  Q queue;
  B backpressure;
  pending_budget budget;
  std::atomic<writer_state> state{writer_state::kOpen};
  // Set once by the writer thread as its last act (or by start() when there
  // is no thread); close() waits for it through progress, then joins.
  std::atomic<bool> finished{false};

  mutable absl::Mutex mu;
  absl::Status failure ABSL_GUARDED_BY(mu);
  bool started ABSL_GUARDED_BY(mu) = false;

  // Written by producers (relaxed fetch_add).
  std::atomic<std::uint64_t> backpressure_waits{0};
  std::atomic<std::uint64_t> backpressure_timeouts{0};
  // Drop policies only (overflow.h): frames dropped, and producers between
  // the handshake and the count of a dropped new frame.
  std::atomic<std::uint64_t> frames_dropped{0};
  std::atomic<std::uint32_t> dropping{0};
  // Written by the writer thread only (bump), on a line of their own.
  alignas(kCacheLine) std::atomic<std::uint64_t> frames_written{0};
  std::atomic<std::uint64_t> bytes_written{0};
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> write_calls{0};
  std::atomic<std::uint64_t> partial_writes{0};
  std::atomic<std::uint64_t> frames_lost{0};
  // Wakes flush() and close() callers after each batch and when the writer
  // stops.
  alignas(kCacheLine) event_count progress;
  // The express lane (express_lane.h): frame queues only (byte queues get a
  // disabled one). Its pending count joins the shutdown handshake beside the
  // budget; express_frames is written by the writer thread only (bump).
  express_lane<frame_type> express;
  std::atomic<std::uint64_t> express_frames{0};
};

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_WRITER_SHARED_H_
