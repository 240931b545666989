// funnel/detail/drain_loop.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// `drain_loop<Q, S, B, Bt, O>`: the writer thread. Its loop reads like the
// Disruptor's BatchEventProcessor::run: wait for a frame, take a batch (every
// ready frame the Batcher admits, lingering if it asks to), write it (one
// gather list, resumed at the exact byte after short writes), publish
// progress (budget back, counters, wake producers and flush() callers).
// Express lane (express_lane.h): at every batch boundary, before any bulk
// frame, the writer first writes every frame in the lane as a batch of its
// own; a wake token popped from the bulk queue ends the batch being filled
// (nothing of it written yet) so the express frames go next. An Observer
// (O, funnel/observer.h) other than no_observer hears of each batch, bulk or
// express, once it is written, before it is published (detail/observation.h).
//
// The loop owns the Sink, the Batcher and its reusable buffers; nothing else
// touches them, except Sink::cancel() from the owner (see concepts.h).
//
// Exceptions: anything a policy throws on the writer thread fails the writer
// with Internal naming what(); the frames not written are counted lost and
// every waiter wakes. The thread survives whatever a policy does.
//
// Allocation: the batch and gather buffers are reserved once from the
// batcher's hint and reused; the steady state allocates nothing.
#ifndef FUNNEL_DETAIL_DRAIN_LOOP_H_
#define FUNNEL_DETAIL_DRAIN_LOOP_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/concepts.h"
#include "funnel/detail/batch_write.h"
#include "funnel/detail/failure_drain.h"
#include "funnel/detail/gather.h"
#include "funnel/detail/observation.h"
#include "funnel/detail/writer_shared.h"
#include "funnel/detail/writer_thread.h"

namespace funnel::detail {

template <class Q, class S, class B, class Bt, class O = no_observer>
class drain_loop {
  using F = typename Q::value_type;

 public:
  drain_loop(writer_shared<Q, B>& shared, S sink, Bt batcher, O observer = O{})
      : w_(shared),
        sink_(std::move(sink)),
        batcher_(std::move(batcher)),
        observation_(std::move(observer)) {
    express_batch_.reserve(w_.express.capacity());  // once: the failure drain must not allocate
  }

  // For Sink::cancel() from the owner thread; nothing else.
  S& sink() noexcept { return sink_; }

  // The thread's body: it survives whatever a policy throws (writer_thread.h).
  void run() noexcept {
    run_writer_thread(
        w_, sink_, [this] { return loop(); },
        [this] {
          drain_express_as_lost(w_, express_batch_, express_done_);
          express_done_ = 0;
          drain_as_lost(w_, batch_, batch_done_, have_next_ ? &next_ : nullptr);
          have_next_ = false;
          batch_done_ = 0;
        });
  }

 private:
  // Wait, take a batch, write, publish; until closed and drained (true) or
  // failed (false: the caller counts the rest lost).
  bool loop() {
    if constexpr (sink_with_thread_start<S>) sink_.on_writer_thread_start();
    // A batch never holds more than max_pending_frames frames: a batcher's
    // larger hint (count_batcher(SIZE_MAX)) must not make it reserve more.
    const std::size_t hint =
        std::clamp<std::size_t>(batcher_.max_frames_hint(), 1, w_.options.max_pending_frames);
    batch_.reserve(hint);
    gather_.reserve(F::max_ranges * std::max(hint, w_.express.capacity()));
    for (;;) {
      // The batch boundary: express frames first. Unused, one load.
      if (w_.express.pending() != 0 && !write_express()) return false;
      if (!have_next_) {
        if (!w_.queue.pop_wait(next_, absl::InfiniteFuture())) {
          if (const std::optional<bool> done = on_woken_empty()) return *done;
          continue;
        }
        if (!next_.valid()) {  // a wake token: the express lane has frames
          w_.express.wake_consumed();
          continue;
        }
      }
      have_next_ = false;
      batch_stats st{1, next_.size()};
      batch_.push_back(std::move(next_));
      have_next_ = fill_batch(st);
      if constexpr (kObserved<O>) observation_.taken(w_, st.frames);
      if (absl::Status s = write_batch(st); !s.ok()) return sink_failed(s);
      if constexpr (kObserved<O>) observation_.written(w_, st);
      publish(st);
      if (w_.failed()) return false;  // failed from another thread (deadline, broken queue)
    }
  }

  // A frame in the batch broke the Frame laws (gather.h): the writer fails
  // with Internal before it writes any of that batch, so the stream keeps
  // whole frames; the batch is counted lost.
  absl::Status frame_laws_broken(const absl::Status& s) {
    absl::Status cause = absl::InternalError(
        absl::StrCat(s.message(), "; the writer stopped before writing that frame's batch"));
    w_.fail(cause);
    return cause;
  }

  // Always Unavailable, whatever the sink said: send() gives
  // FailedPrecondition, DeadlineExceeded and ResourceExhausted their own
  // meanings. The sink's own code and text stay in the message. (After
  // frame_laws_broken() the writer has failed already: the first cause wins.)
  bool sink_failed(const absl::Status& s) {
    w_.fail(absl::UnavailableError(absl::StrCat("sink failed: ", s.ToString())));
    return false;
  }

  // Writes every frame in the express lane, oldest first, as one batch (no
  // coalescing: control frames are few and small), then publishes it.
  // Returns false when the sink failed (the failure drain counts the rest).
  bool write_express() {
    const std::size_t n = w_.express.take_all(express_batch_);
    if (n == 0) return true;  // a producer holds a slot but has not pushed yet
    std::size_t bytes = 0;
    for (const F& f : express_batch_) bytes += f.size();
    if (absl::Status laws = build_gather<F>(express_batch_, gather_); !laws.ok()) {
      return sink_failed(frame_laws_broken(laws));
    }
    if constexpr (kObserved<O>) observation_.taken(w_, n);
    if (absl::Status s = write_whole(sink_, std::span<const_buffer>(gather_), bytes, w_,
                                     express_done_, observation_.timing());
        !s.ok()) {
      return sink_failed(s);
    }
    if constexpr (kObserved<O>) observation_.written(w_, batch_stats{n, bytes});
    express_batch_.clear();
    express_done_ = 0;
    w_.express.release(n);
    // After the release, as in publish().
    w_.bump(w_.frames_written, n);
    w_.bump(w_.express_frames, n);
    w_.bump(w_.batches, 1);
    w_.backpressure.notify();  // producers waiting for an express slot
    w_.progress.notify_all();
    return true;
  }

  // pop_wait came back without a frame: closed, failed, or spurious. Returns
  // whether the loop ends (and how), or nullopt to wait again.
  std::optional<bool> on_woken_empty() {
    // seq_cst: the closing half of the shutdown handshake (writer_shared.h).
    const writer_state st = w_.state.load(std::memory_order_seq_cst);
    if (st == writer_state::kOpen) return std::nullopt;
    if (st == writer_state::kFailed) return false;
    // Zero budget and no express slot taken means every accepted frame is
    // written and no producer can still push.
    if (w_.budget.frames() == 0 && w_.express.pending() == 0) {
      w_.finish_clean();
      return true;
    }
    // A producer holds budget but has not pushed yet (a window of a few
    // instructions), or is backing out. Only reachable during shutdown.
    std::this_thread::yield();
    return std::nullopt;
  }

  // Adds ready frames to batch_ while the batcher admits them, lingering if
  // the batcher asks to. Returns true when next_ holds a refused frame that
  // starts the next batch.
  bool fill_batch(batch_stats& st) {
    [[maybe_unused]] absl::Time linger_deadline = absl::InfinitePast();
    for (;;) {
      // Pops straight into the batch (no intermediate move); the slot is
      // taken back if nothing arrives or the batcher refuses the frame.
      F& slot = batch_.emplace_back();
      bool got = w_.queue.try_pop(slot);
      if constexpr (batcher_with_linger<Bt>) {
        if (!got) {
          const absl::Duration wait = batcher_.linger(st);
          if (wait > absl::ZeroDuration()) {
            if (linger_deadline == absl::InfinitePast()) linger_deadline = absl::Now() + wait;
            got = w_.queue.pop_wait(slot, linger_deadline);  // false: deadline passed or closed
          }
        }
      }
      if (!got) {
        batch_.pop_back();
        return false;
      }
      if (!slot.valid()) {  // a wake token: end the batch, the express frames go next
        w_.express.wake_consumed();
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
    absl::Status laws;
    if constexpr (batcher_with_coalescing<Bt>) {
      laws = build_coalesced_gather<F>(batch_, batcher_.coalesce_below(), staging_, gather_);
    } else {
      laws = build_gather<F>(batch_, gather_);
    }
    if (!laws.ok()) return frame_laws_broken(laws);
    return write_whole(sink_, std::span<const_buffer>(gather_), st.bytes, w_, batch_done_,
                       observation_.timing());
  }

  // The batch is written: drop it, give its budget back, publish progress.
  void publish(const batch_stats& st) {
    batch_.clear();  // drops the payload references before budget returns
    batch_done_ = 0;
    w_.budget.release(st.frames, st.bytes);
    // After the release: whoever sees the frames counted as written (flush())
    // also sees their budget returned (release store / acquire in processed()).
    w_.bump(w_.frames_written, st.frames);
    w_.bump(w_.batches, 1);
    w_.notify_released();
    w_.progress.notify_all();  // flush() waiters; one fence + load when none
  }

  writer_shared<Q, B>& w_;
  S sink_;
  Bt batcher_;
  std::vector<F> batch_;
  F next_;                      // a frame the batcher refused, starting the next batch
  bool have_next_ = false;      // next_ holds such a frame
  std::size_t batch_done_ = 0;  // bytes of batch_ the sink has taken
  std::vector<const_buffer> gather_;
  std::vector<std::byte> staging_;  // coalescing batchers only
  std::vector<F> express_batch_;    // the express frames being written
  std::size_t express_done_ = 0;    // bytes of express_batch_ the sink has taken

  // The Observer and its per-batch timing; empty for no_observer.
  [[no_unique_address]] batch_observation<O> observation_;
};

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_DRAIN_LOOP_H_
