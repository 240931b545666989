// funnel/detail/writer_core.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// `writer_core<Q, S, B, Bt>`: everything the producers, the owner and the
// writer thread of one basic_writer share. basic_writer.h documents the public
// behaviour; this header documents how it is kept.
//
// States (state_): kOpen -> kClosing -> kClosed on a clean close; any state
// but kClosed -> kFailed when the sink fails, a policy throws on the writer
// thread, a Queue breaks its contract, or a close deadline passes. The first
// failure's cause is kept. Transitions to kFailed and kClosed happen under
// mu_, so exactly one of them wins.
//
// Shutdown handshake: a producer takes budget (seq_cst RMW) and then reads the
// state (seq_cst); whoever closes or fails the writer stores the state
// (seq_cst) and the writer thread then reads the budget (seq_cst). So either
// the producer sees "not open" and gives its budget back, or the writer sees
// the producer's budget and waits for its frame: no accepted frame is ever
// left behind uncounted.
//
// Accounting: a frame is counted accepted before it is pushed (so flush()
// covers frames still being pushed) and uncounted if the push does not
// happen; it stays in the pending budget until the writer has written it or
// counted it lost, so after the thread ends accepted == written + lost.
//
// Exceptions: anything a policy throws on the writer thread fails the writer
// with Internal naming what(); the frames not written are counted lost and
// every waiter wakes. A policy that throws on a producer thread (queue push,
// backpressure wait) gets its budget returned and the exception passes to the
// caller of send(); the writer's state is untouched.
#ifndef FUNNEL_DETAIL_WRITER_CORE_H_
#define FUNNEL_DETAIL_WRITER_CORE_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/concepts.h"
#include "funnel/detail/event_count.h"
#include "funnel/detail/gather.h"
#include "funnel/detail/pending_budget.h"
#include "funnel/frame.h"
#include "funnel/options.h"
#include "funnel/stats.h"

namespace funnel::detail {

enum class writer_state : std::uint8_t {
  kOpen,     // accepting frames
  kClosing,  // close() called: no new frames; the writer drains what it accepted
  kFailed,   // stopped by a failure: nothing more is written
  kClosed,   // the writer thread finished after a clean drain
};

template <class Q, class S, class B, class Bt>
class writer_core {
 public:
  writer_core(S sink, const writer_options& options, B backpressure, Bt batcher)
      : options_(options),
        queue_(std::max(options.queue_capacity, options.max_pending_frames)),
        backpressure_(std::move(backpressure)),
        budget_(options.max_pending_frames, options.max_pending_bytes),
        sink_(std::move(sink)),
        batcher_(std::move(batcher)) {}

  writer_core(const writer_core&) = delete;
  writer_core& operator=(const writer_core&) = delete;

  const writer_options& options() const noexcept { return options_; }

  // Starts the writer thread, or leaves the writer failed (never throws):
  // invalid options or a queue smaller than max_pending_frames give
  // InvalidArgument naming the field; a thread that cannot start, Internal.
  void start() {
    absl::Status s = validate_options(options_);
    if (s.ok() && queue_.capacity() < options_.max_pending_frames) {
      s = absl::InvalidArgumentError(absl::StrCat(
          "the Queue's capacity() ", queue_.capacity(), " is below max_pending_frames ",
          options_.max_pending_frames,
          ": every accepted frame must fit in the queue (a Queue must hold at least the "
          "capacity it is constructed with)"));
    }
    if (s.ok()) {
      try {
        absl::MutexLock lock(&join_mu_);
        thread_ = std::thread([this] { run(); });
        return;
      } catch (const std::exception& e) {
        s = absl::InternalError(absl::StrCat("cannot start the writer thread: ", e.what()));
      }
    }
    fail(std::move(s));
    finished_.store(true, std::memory_order_release);  // no thread to wait for
  }

  // --- producer side --------------------------------------------------------

  absl::Status send(outbound_frame& frame, bool may_wait) {
    if (!frame.valid()) {
      return absl::InvalidArgumentError(
          "frame is empty (default-constructed or moved from); frame rejected");
    }
    if (state_.load(std::memory_order_acquire) != writer_state::kOpen) return not_open_status();
    const std::size_t cost = frame.size();
    if (budget_.max_bytes() != 0 && cost > budget_.max_bytes()) {
      return absl::InvalidArgumentError(
          absl::StrCat("frame of ", cost, " bytes exceeds max_pending_bytes ", budget_.max_bytes(),
                       " on its own; frame rejected"));
    }
    if (!budget_.try_acquire(cost)) {
      if (!may_wait) {
        return absl::ResourceExhaustedError(
            absl::StrCat("backpressure: ", pending_text(), "; frame rejected"));
      }
      if (absl::Status s = wait_for_budget(cost); !s.ok()) return s;
    }
    // Shutdown handshake, producer half (see the header comment).
    if (state_.load(std::memory_order_seq_cst) != writer_state::kOpen) {
      give_back(cost);
      return not_open_status();
    }
    budget_.count_accepted();  // before the push: see "Accounting" above
    bool pushed = false;
    try {
      pushed = queue_.try_push(frame);
    } catch (...) {
      budget_.uncount_accepted();
      give_back(cost);
      throw;
    }
    if (!pushed) {
      // A conforming queue cannot be full here (start() checked capacity).
      budget_.uncount_accepted();
      fail(absl::InternalError(
          absl::StrCat("the Queue broke its contract: try_push failed with ", budget_.frames(),
                       " frames pending, below its capacity ", queue_.capacity())));
      give_back(cost);
      return not_open_status();
    }
    return absl::OkStatus();
  }

  std::size_t pending_count() const noexcept { return budget_.frames(); }
  bool is_backpressure_active() const noexcept { return budget_.exhausted(); }

  // --- owner side (any thread, concurrently) --------------------------------

  // Stops admission, lets the writer drain until `deadline`, then stops it
  // (cancelling the sink if it can be), joins the thread and returns the final
  // status. Concurrent and repeated calls all return the same final status.
  absl::Status close(absl::Time deadline) {
    begin_close();
    auto finished = [this] { return finished_.load(std::memory_order_acquire); };
    if (!progress_.await(finished, deadline)) {
      fail(absl::DeadlineExceededError(
          "close deadline passed before every accepted frame was written; writer stopped"));
      if constexpr (cancellable_sink<S>) sink_.cancel();
      progress_.await(finished, absl::InfiniteFuture());
    }
    {
      absl::MutexLock lock(&join_mu_);
      if (thread_.joinable()) thread_.join();
    }
    return status(/*final=*/true);
  }

  // Returns once every frame accepted before the call has been handed to the
  // sink (and flushed, for flushable sinks): OK; or the writer's failure as
  // soon as it has failed; or DeadlineExceeded at `deadline`.
  absl::Status flush(absl::Time deadline) {
    const std::uint64_t target = budget_.accepted();
    const bool done = progress_.await(
        [&] {
          const writer_state st = state_.load(std::memory_order_acquire);
          return processed() >= target || st == writer_state::kFailed ||
                 st == writer_state::kClosed;
        },
        deadline);
    if (state_.load(std::memory_order_acquire) == writer_state::kFailed) return status(false);
    if (!done) {
      return absl::DeadlineExceededError(
          absl::StrCat("flush deadline passed with ", target - std::min(target, processed()),
                       " of the frames accepted before the call not yet written"));
    }
    return absl::OkStatus();
  }

  // OK while running or after a clean close; otherwise the cause, and once
  // the thread has ended (`final`) the number of accepted frames not written.
  absl::Status status(bool final) const {
    if (state_.load(std::memory_order_acquire) != writer_state::kFailed) return absl::OkStatus();
    absl::MutexLock lock(&mu_);
    if (!final || !started_) return failure_;
    return absl::Status(failure_.code(), absl::StrCat(failure_.message(), "; ",
                                                      frames_lost_.load(std::memory_order_relaxed),
                                                      " accepted frame(s) were not written"));
  }

  writer_stats stats() const noexcept {
    // Relaxed loads: each counter is exact on its own; see funnel/stats.h.
    writer_stats s;
    s.frames_accepted = budget_.accepted();
    s.frames_written = frames_written_.load(std::memory_order_relaxed);
    s.bytes_written = bytes_written_.load(std::memory_order_relaxed);
    s.batches = batches_.load(std::memory_order_relaxed);
    s.write_calls = write_calls_.load(std::memory_order_relaxed);
    s.partial_writes = partial_writes_.load(std::memory_order_relaxed);
    s.backpressure_waits = backpressure_waits_.load(std::memory_order_relaxed);
    s.backpressure_timeouts = backpressure_timeouts_.load(std::memory_order_relaxed);
    s.frames_lost = frames_lost_.load(std::memory_order_relaxed);
    s.flush_waiters = progress_.waiters();
    return s;
  }

 private:
  // --- writer thread --------------------------------------------------------

  // The thread's body: it survives whatever a policy throws.
  void run() {
    {
      absl::MutexLock lock(&mu_);
      started_ = true;
    }
    try {
      loop();
    } catch (const std::exception& e) {
      fail(absl::InternalError(absl::StrCat("a policy threw on the writer thread: ", e.what())));
      drain_as_lost();
    } catch (...) {
      fail(absl::InternalError(
          "a policy threw on the writer thread: an exception not derived from std::exception"));
      drain_as_lost();
    }
    if constexpr (sink_with_thread_stop<S>) {
      try {
        sink_.on_writer_thread_stop();
      } catch (...) {  // documented: ignored; every frame is accounted for already
      }
    }
    // Release: whoever sees finished_ sees every counter and state above.
    finished_.store(true, std::memory_order_release);
    progress_.notify_all();
  }

  // Wait for frames, take a batch, write it, publish progress; until closed
  // (every accepted frame written) or failed (the rest counted lost).
  void loop() {
    if constexpr (sink_with_thread_start<S>) sink_.on_writer_thread_start();
    const std::size_t hint = std::max<std::size_t>(1, batcher_.max_frames_hint());
    batch_.reserve(hint);
    gather_.reserve(2 * hint);
    for (;;) {
      if (!have_next_ && !queue_.pop_wait(next_, absl::InfiniteFuture())) {
        // Woken without a frame: closed, failed (or spurious).
        const writer_state st = state_.load(std::memory_order_seq_cst);
        if (st == writer_state::kOpen) continue;
        if (st == writer_state::kFailed) break;
        // Closing half of the shutdown handshake: zero budget means every
        // accepted frame is written and no producer can still push.
        if (budget_.frames() == 0) {
          finish_clean();
          return;
        }
        // A producer holds budget but has not pushed yet (a window of a few
        // instructions), or is backing out. Only reachable during shutdown.
        std::this_thread::yield();
        continue;
      }
      have_next_ = false;
      batch_stats st{1, next_.size()};
      batch_.push_back(std::move(next_));
      have_next_ = fill_batch(st);
      if (absl::Status s = write_batch(st); !s.ok()) {
        // Always Unavailable, whatever the sink said: send() gives
        // FailedPrecondition, DeadlineExceeded and ResourceExhausted their
        // own meanings. The sink's own code and text stay in the message.
        fail(absl::UnavailableError(absl::StrCat("sink failed: ", s.ToString())));
        break;
      }
      // Failed from another thread (close deadline, a broken queue).
      if (state_.load(std::memory_order_acquire) == writer_state::kFailed) break;
    }
    drain_as_lost();
  }

  // Adds ready frames to batch_ while the batcher admits them, lingering if
  // the batcher asks to. Returns true when next_ holds a refused frame that
  // starts the next batch.
  bool fill_batch(batch_stats& st) {
    [[maybe_unused]] absl::Time linger_deadline = absl::InfinitePast();
    for (;;) {
      // Pops straight into the batch (no intermediate move); the slot is
      // taken back if nothing arrives or the batcher refuses the frame.
      outbound_frame& slot = batch_.emplace_back();
      bool got = queue_.try_pop(slot);
      if constexpr (batcher_with_linger<Bt>) {
        if (!got) {
          const absl::Duration wait = batcher_.linger(st);
          if (wait > absl::ZeroDuration()) {
            if (linger_deadline == absl::InfinitePast()) linger_deadline = absl::Now() + wait;
            got = queue_.pop_wait(slot, linger_deadline);  // false: deadline passed or closed
          }
        }
      }
      if (!got) {
        batch_.pop_back();
        return false;
      }
      if (!batcher_.admits(st, slot.size())) {
        next_ = std::move(slot);
        batch_.pop_back();
        return true;
      }
      ++st.frames;
      st.bytes += slot.size();
    }
  }

  // Writes batch_ (described by `st`) completely, then flushes. On failure
  // leaves batch_ and its budget to drain_as_lost(), with batch_done_ saying
  // how much of it the sink took: returning the budget before the state says
  // "failed" would let a waiting producer in, only for its frame to be lost.
  absl::Status write_batch(const batch_stats& st) {
    if constexpr (batcher_with_coalescing<Bt>) {
      build_coalesced_gather(batch_, batcher_.coalesce_below(), staging_, gather_);
    } else {
      build_gather(batch_, gather_);
    }
    std::span<const_buffer> rest(gather_);
    batch_done_ = 0;
    while (batch_done_ < st.bytes) {
      const std::size_t remaining = st.bytes - batch_done_;
      absl::StatusOr<std::size_t> n = sink_.write(rest);
      bump(write_calls_, 1);
      if (!n.ok()) return n.status();
      if (*n == 0 || *n > remaining) {
        return absl::InternalError(
            absl::StrCat("sink write returned ", *n, " for ", remaining, " bytes offered"));
      }
      if (*n < remaining) bump(partial_writes_, 1);
      bump(bytes_written_, *n);
      batch_done_ += *n;
      rest = consume_front(rest, *n);
    }
    if constexpr (flushable_sink<S>) {
      // A failed flush: the bytes reached the sink but may not go further.
      // The frames count as written (batch_done_ is whole); the writer stops.
      if (absl::Status flushed = sink_.flush(); !flushed.ok()) return flushed;
    }
    batch_.clear();  // drops the payload references before budget returns
    batch_done_ = 0;
    budget_.release(st.frames, st.bytes);
    // After the release: whoever sees the frames counted as written (flush())
    // also sees their budget returned (release store / acquire in processed()).
    bump(frames_written_, st.frames);
    bump(batches_, 1);
    backpressure_.notify();
    progress_.notify_all();  // flush() waiters; one fence + load when none
    return absl::OkStatus();
  }

  // The writer has failed (fail() stored kFailed, so no producer is admitted
  // any more): count every frame accepted but not completely written, in the
  // batch, carried over, queued, or pushed by a producer while we stop.
  // Frames of the batch whose last byte the sink took count as written.
  void drain_as_lost() noexcept {
    std::uint64_t written = 0, lost = 0;
    std::size_t frames = 0, bytes = 0, end = 0;
    for (const outbound_frame& f : batch_) {
      if (!f.valid()) continue;  // a slot a throwing pop left empty
      ++frames;
      bytes += f.size();
      end += f.size();
      ++(end <= batch_done_ ? written : lost);
    }
    batch_.clear();
    batch_done_ = 0;
    budget_.release(frames, bytes);
    bump(frames_written_, written);
    if (have_next_) {
      ++lost;
      budget_.release(1, next_.size());
      next_ = outbound_frame();
      have_next_ = false;
    }
    outbound_frame f;
    for (;;) {
      while (queue_.try_pop(f)) {
        ++lost;
        budget_.release(1, f.size());
        f = outbound_frame();
      }
      if (budget_.frames() == 0) break;
      std::this_thread::yield();  // a producer is between budget and push
    }
    bump(frames_lost_, lost);
    wake_everyone();
  }

  void finish_clean() {
    absl::MutexLock lock(&mu_);
    // Release: a thread that sees kClosed sees every counter above.
    if (state_.load(std::memory_order_relaxed) != writer_state::kFailed) {
      state_.store(writer_state::kClosed, std::memory_order_release);
    }
  }

  // --- shared helpers -------------------------------------------------------

  // Stops admission and wakes the writer and every waiting producer.
  void begin_close() {
    writer_state expected = writer_state::kOpen;
    // seq_cst: the closing half of the shutdown handshake.
    state_.compare_exchange_strong(expected, writer_state::kClosing, std::memory_order_seq_cst);
    queue_.close();
    backpressure_.notify();
  }

  // Fails the writer with `cause` unless it has failed or finished already
  // (the first cause wins); wakes the writer, producers and flush() callers.
  void fail(absl::Status cause) noexcept {
    {
      absl::MutexLock lock(&mu_);
      const writer_state st = state_.load(std::memory_order_relaxed);
      if (st == writer_state::kFailed || st == writer_state::kClosed) return;
      failure_ = std::move(cause);
      // seq_cst: closing half of the shutdown handshake; stored before any
      // budget is returned, so no waiting producer is admitted from now on.
      state_.store(writer_state::kFailed, std::memory_order_seq_cst);
    }
    wake_everyone();
  }

  // Policies' close()/notify() must not throw; if one does on this path
  // anyway, the waiters still time out on their own deadlines.
  void wake_everyone() noexcept {
    try {
      queue_.close();
      backpressure_.notify();
    } catch (...) {
    }
    progress_.notify_all();
  }

  // Waits for budget as the Backpressure policy says, up to the timeout.
  absl::Status wait_for_budget(std::size_t cost) {
    // Relaxed: statistics.
    backpressure_waits_.fetch_add(1, std::memory_order_relaxed);
    bool acquired = false;
    const absl::Time start = absl::Now();
    try {
      backpressure_.wait(
          [&] {
            // Acquire: pairs with the seq_cst state stores, so a waiter that
            // sees kFailed also sees the failure status.
            if (state_.load(std::memory_order_acquire) != writer_state::kOpen) return true;
            acquired = budget_.try_acquire(cost);
            return acquired;
          },
          start + options_.backpressure_timeout);
    } catch (...) {
      if (acquired) give_back(cost);
      throw;
    }
    if (acquired) return absl::OkStatus();
    if (state_.load(std::memory_order_acquire) != writer_state::kOpen) return not_open_status();
    backpressure_timeouts_.fetch_add(1, std::memory_order_relaxed);
    return absl::DeadlineExceededError(
        absl::StrCat("backpressure: still ", pending_text(), " after waiting ",
                     absl::FormatDuration(absl::Now() - start), " (backpressure_timeout ",
                     absl::FormatDuration(options_.backpressure_timeout), "); frame rejected"));
  }

  // Returns budget taken for a frame that will not be pushed. A closing or
  // failed writer may be waiting for exactly this budget: wake it.
  void give_back(std::size_t cost) {
    budget_.release(1, cost);
    if (state_.load(std::memory_order_seq_cst) != writer_state::kOpen) queue_.close();
    backpressure_.notify();
  }

  std::string pending_text() const {
    return absl::StrCat(budget_.frames(), " frames / ", budget_.bytes(),
                        " bytes pending (max_pending_frames ", budget_.max_frames(),
                        ", max_pending_bytes ", budget_.max_bytes(), ")");
  }

  absl::Status not_open_status() const {
    if (state_.load(std::memory_order_acquire) == writer_state::kFailed) return status(false);
    return absl::FailedPreconditionError("funnel writer is closed; frame rejected");
  }

  // Frames the writer is done with, written or lost. Acquire: pairs with the
  // release in bump(), so a caller that sees a frame processed also sees its
  // budget returned. (Waiters are woken through progress_.)
  std::uint64_t processed() const noexcept {
    return frames_written_.load(std::memory_order_acquire) +
           frames_lost_.load(std::memory_order_acquire);
  }

  // Writer-thread counters: one writer, so a load and a store, no RMW.
  // Release: pairs with the acquire loads in processed() (see write_batch).
  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }

  const writer_options options_;
  Q queue_;
  B backpressure_;
  pending_budget budget_;
  std::atomic<writer_state> state_{writer_state::kOpen};
  // Set once by the writer thread as its last act (or by start() when there
  // is no thread); close() waits for it through progress_, then joins.
  std::atomic<bool> finished_{false};

  mutable absl::Mutex mu_;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  // Serialises start() and the join in close(): concurrent close() calls.
  absl::Mutex join_mu_;
  std::thread thread_ ABSL_GUARDED_BY(join_mu_);

  // Written by producers (relaxed fetch_add).
  std::atomic<std::uint64_t> backpressure_waits_{0};
  std::atomic<std::uint64_t> backpressure_timeouts_{0};
  // Written by the writer thread only (bump).
  alignas(kCacheLine) std::atomic<std::uint64_t> frames_written_{0};
  std::atomic<std::uint64_t> bytes_written_{0};
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> write_calls_{0};
  std::atomic<std::uint64_t> partial_writes_{0};
  std::atomic<std::uint64_t> frames_lost_{0};
  // Wakes flush() and close() callers after each batch and when the writer
  // stops.
  event_count progress_;

  // Writer thread only.
  S sink_;
  Bt batcher_;
  std::vector<outbound_frame> batch_;
  outbound_frame next_;         // a frame the batcher refused, starting the next batch
  bool have_next_ = false;      // next_ holds such a frame
  std::size_t batch_done_ = 0;  // bytes of batch_ the sink has taken
  std::vector<const_buffer> gather_;
  std::vector<std::byte> staging_;  // coalescing batchers only
};

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_WRITER_CORE_H_
