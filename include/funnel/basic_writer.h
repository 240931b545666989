// funnel/basic_writer.h
// -----------------------------------------------------------------------------
// `basic_writer<Queue, Sink, Backpressure, Batcher>`: many producer threads,
// one writer thread, one sink. The policies are described in
// funnel/concepts.h; docs/architecture.md has the whole picture.
//
//   writer w(sink, options);          // starts the writer thread
//   auto h = w.handle();              // copy one per producer thread
//   absl::Status s = h.send(std::move(frame));  // may wait (Backpressure)
//   s = h.try_send(std::move(frame)); // never waits
//   s = w.flush();                    // everything accepted so far is written
//   absl::Status final = w.close();   // drains, joins, reports
//
// Data flow: a producer takes pending budget (exact CAS admission, see
// detail/pending_budget.h), pushes the frame into the Queue, and returns. The
// writer thread sleeps in Queue::pop_wait until a frame arrives, takes every
// ready frame the Batcher admits (waiting a little longer if the batcher
// lingers), hands the whole batch to the Sink as one gather list (small
// frames copied into one staging range if the batcher coalesces), resumes
// partial writes at the exact byte, flushes (if the sink can), then destroys
// the frames (releasing their payloads), gives the batch's budget back and
// calls Backpressure::notify.
//
// Thread-safety: a handle may be used from any number of threads at once;
// handles are cheap to copy (one shared_ptr increment). close(), stats(),
// status() and handle() may be called from any thread, but close() and the
// destructor must not run concurrently with each other. A handle may outlive
// its writer: its sends then fail with FailedPrecondition.
//
// Close: close() (or the destructor) stops admission (later sends get
// FailedPrecondition "writer is closed"), wakes waiting producers, lets the
// writer write every frame accepted before that point, joins the thread and
// returns OK, or the failure below.
//
// Failure: when the sink returns an error, the writer stops writing. Every
// later send/try_send/flush returns Unavailable with the sink's status in its
// message ("sink failed: FAILED_PRECONDITION: writev to fd 5: Broken pipe");
// frames accepted but not completely written are counted in
// stats().frames_lost and in the message close() returns. Nothing accepted
// disappears uncounted: after close(), frames_accepted == frames_written +
// frames_lost.
//
// Allocation: the writer reserves its batch and gather buffers once, from
// Batcher::max_frames_hint(); the steady state allocates nothing per frame or
// per batch (payloads are the producers' own).
#ifndef FUNNEL_BASIC_WRITER_H_
#define FUNNEL_BASIC_WRITER_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>  // std::memcpy into the coalescing stage
#include <memory>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"  // ABSL_GUARDED_BY
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/concepts.h"
#include "funnel/detail/event_count.h"
#include "funnel/detail/pending_budget.h"
#include "funnel/frame.h"
#include "funnel/options.h"
#include "funnel/stats.h"

namespace funnel {

template <class Queue, class Sink, class Backpressure, class Batcher>
class basic_writer;

namespace detail {

// Checks each policy against its concept member by member, so that a policy
// missing something fails with a sentence naming it.
template <class Q, class S, class B, class Bt>
consteval bool check_policies() {
  static_assert(std::constructible_from<Q, std::size_t>,
                "funnel: the Queue policy needs a constructor Q(std::size_t capacity)");
  static_assert(queue_has_try_push<Q>,
                "funnel: the Queue policy needs `bool try_push(outbound_frame&)`");
  static_assert(queue_has_try_pop<Q>,
                "funnel: the Queue policy needs `bool try_pop(outbound_frame&)`");
  static_assert(queue_has_pop_wait<Q>,
                "funnel: the Queue policy needs `bool pop_wait(outbound_frame&, absl::Time)`");
  static_assert(queue_has_close<Q>, "funnel: the Queue policy needs `void close()`");
  static_assert(queue_has_capacity<Q>,
                "funnel: the Queue policy needs `std::size_t capacity() const`");
  static_assert(std::move_constructible<S>, "funnel: the Sink policy must be move-constructible");
  static_assert(sink_has_write<S>,
                "funnel: the Sink policy needs `absl::StatusOr<std::size_t> "
                "write(std::span<const funnel::const_buffer>)`");
  static_assert(std::default_initializable<B>,
                "funnel: the Backpressure policy must be default-constructible");
  static_assert(std::move_constructible<B>,
                "funnel: the Backpressure policy must be move-constructible");
  static_assert(backpressure_has_wait<B>,
                "funnel: the Backpressure policy needs `bool wait(absl::FunctionRef<bool()>, "
                "absl::Time)`");
  static_assert(backpressure_has_notify<B>,
                "funnel: the Backpressure policy needs `void notify()`");
  static_assert(std::copy_constructible<Bt>, "funnel: the Batcher policy must be copyable");
  static_assert(batcher_has_admits<Bt>,
                "funnel: the Batcher policy needs `bool admits(const batch_stats&, std::size_t) "
                "const`");
  static_assert(batcher_has_hint<Bt>,
                "funnel: the Batcher policy needs `std::size_t max_frames_hint() const`");
  // Optional hooks: a member with a hook's name but the wrong signature
  // would be silently ignored, so it is an error instead.
  if constexpr (requires { &S::flush; }) {
    static_assert(flushable_sink<S>, "funnel: the Sink's flush() must return absl::Status");
  }
  if constexpr (requires { &S::on_writer_thread_start; }) {
    static_assert(sink_with_thread_start<S>,
                  "funnel: the Sink's on_writer_thread_start() must take no arguments");
  }
  if constexpr (requires { &Bt::linger; }) {
    static_assert(batcher_with_linger<Bt>,
                  "funnel: the Batcher's linger(const batch_stats&) must be const and return "
                  "absl::Duration");
  }
  if constexpr (requires { &Bt::coalesce_below; }) {
    static_assert(batcher_with_coalescing<Bt>,
                  "funnel: the Batcher's coalesce_below() must be const and return a size");
  }
  return queue<Q> && sink<S> && backpressure<B> && batcher<Bt>;
}

enum class writer_state : std::uint8_t {
  kOpen,     // accepting frames
  kClosing,  // close() called: no new frames; the writer drains what it accepted
  kFailed,   // the sink failed (or the options were invalid): no writing at all
  kClosed,   // the writer thread has finished after a clean drain
};

// Everything producers and the writer thread share. Handles keep it alive, so
// a handle that outlives its writer stays safe to call.
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

  // --- producer side --------------------------------------------------------

  absl::Status send(outbound_frame& frame, bool may_wait) {
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
            absl::StrCat("backpressure: ", budget_.frames(), " frames / ", budget_.bytes(),
                         " bytes pending (max_pending_frames ", budget_.max_frames(),
                         ", max_pending_bytes ", budget_.max_bytes(), "); frame rejected"));
      }
      // Relaxed: statistics.
      backpressure_waits_.fetch_add(1, std::memory_order_relaxed);
      bool acquired = false;
      const absl::Time start = absl::Now();
      const absl::Time deadline = start + options_.backpressure_timeout;
      backpressure_.wait(
          [&] {
            // Acquire: pairs with the release/seq_cst state stores, so a
            // waiter that sees kFailed also sees the failure status.
            if (state_.load(std::memory_order_acquire) != writer_state::kOpen) return true;
            acquired = budget_.try_acquire(cost);
            return acquired;
          },
          deadline);
      if (!acquired) {
        if (state_.load(std::memory_order_acquire) != writer_state::kOpen) {
          return not_open_status();
        }
        backpressure_timeouts_.fetch_add(1, std::memory_order_relaxed);
        return absl::DeadlineExceededError(
            absl::StrCat("backpressure: still ", budget_.frames(), " frames / ", budget_.bytes(),
                         " bytes pending (max_pending_frames ", budget_.max_frames(),
                         ", max_pending_bytes ", budget_.max_bytes(), ") after waiting ",
                         absl::FormatDuration(absl::Now() - start), " (backpressure_timeout ",
                         absl::FormatDuration(options_.backpressure_timeout), "); frame rejected"));
      }
    }
    // Shutdown handshake, producer half: the budget CAS above (seq_cst) comes
    // before this seq_cst load. The closing side stores the state and then
    // reads the budget, both seq_cst; so either we see "not open" here and
    // back out, or the writer sees our budget and waits for our frame.
    if (state_.load(std::memory_order_seq_cst) != writer_state::kOpen) {
      budget_.release(1, cost);
      queue_.close();  // wakes the writer, which may be waiting for this budget
      backpressure_.notify();
      return not_open_status();
    }
    // Counted before the push, so that flush() (which waits until the writer
    // has processed as many frames as were counted) covers this frame even
    // while a producer that was counted earlier is still pushing: a frame
    // counted after flush() read the count is pushed after every frame whose
    // send() returned before flush() began, and FIFO queues pop it later.
    budget_.count_accepted();
    if (!queue_.try_push(frame)) {
      // Unreachable with a conforming queue: capacity >= max_pending_frames.
      // Counted as lost, so accepted == written + lost still holds.
      budget_.release(1, cost);
      frames_lost_.fetch_add(1, std::memory_order_relaxed);
      return absl::InternalError(absl::StrCat("queue full (capacity ", queue_.capacity(),
                                              ") although pending budget was available"));
    }
    return absl::OkStatus();
  }

  std::size_t pending_count() const noexcept { return budget_.frames(); }
  bool is_backpressure_active() const noexcept { return budget_.exhausted(); }

  // --- owner side -----------------------------------------------------------

  // Marks the writer failed before it starts (invalid options).
  void fail_before_start(absl::Status status) {
    {
      absl::MutexLock lock(&mu_);
      failure_ = std::move(status);
    }
    state_.store(writer_state::kFailed, std::memory_order_seq_cst);
  }

  // Stops admission and wakes the writer and every waiting producer.
  void begin_close() {
    writer_state expected = writer_state::kOpen;
    // seq_cst: the closing half of the shutdown handshake (see send()).
    state_.compare_exchange_strong(expected, writer_state::kClosing, std::memory_order_seq_cst);
    queue_.close();
    backpressure_.notify();
  }

  // Returns once every frame accepted before the call has been handed to the
  // sink (and flushed, for flushable sinks), or the writer has stopped: then
  // the failure (or OK after a clean close, which writes everything).
  absl::Status flush() {
    const std::uint64_t target = budget_.accepted();
    auto done = [&] {
      const writer_state st = state_.load(std::memory_order_acquire);
      return processed() >= target || st == writer_state::kFailed || st == writer_state::kClosed;
    };
    while (!done()) {
      const event_count::key key = progress_.prepare_wait();
      if (done()) {
        progress_.cancel_wait();
        break;
      }
      progress_.commit_wait(key, absl::InfiniteFuture());
    }
    if (processed() >= target && frames_lost_.load(std::memory_order_relaxed) == 0) {
      return absl::OkStatus();
    }
    return status(/*final=*/false);
  }

  // OK while running or after a clean close; otherwise the cause, with the
  // number of accepted frames that were not written once that is final.
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
    return s;
  }

  // --- writer thread --------------------------------------------------------

  void run() {
    {
      absl::MutexLock lock(&mu_);
      started_ = true;
    }
    if constexpr (sink_with_thread_start<S>) sink_.on_writer_thread_start();
    const std::size_t hint = std::max<std::size_t>(1, batcher_.max_frames_hint());
    batch_.reserve(hint);
    gather_.reserve(2 * hint);

    outbound_frame next;
    bool have_next = false;  // `next` holds a frame the batcher refused last time
    for (;;) {
      if (!have_next && !queue_.pop_wait(next, absl::InfiniteFuture())) {
        // Woken without a frame: closed (or spurious).
        if (state_.load(std::memory_order_seq_cst) == writer_state::kOpen) continue;
        // Shutdown handshake, closing half: state was stored before this
        // seq_cst budget read. Zero means every accepted frame is written and
        // no producer can still push (see send()).
        if (budget_.frames() == 0) break;
        // A producer holds budget but has not pushed yet (a window of a few
        // instructions), or is backing out. Only reachable during shutdown.
        std::this_thread::yield();
        continue;
      }
      have_next = false;
      batch_stats st{1, next.size()};
      batch_.push_back(std::move(next));
      have_next = fill_batch(st, next);
      if (absl::Status s = write_batch(st); !s.ok()) {
        fail_and_drain(std::move(s), st, have_next ? &next : nullptr);
        return;
      }
    }
    // Release: a thread that sees kClosed sees every counter above.
    state_.store(writer_state::kClosed, std::memory_order_release);
    progress_.notify_all();
  }

 private:
  using event_count = detail::event_count;

  // Frames the writer is done with, written or lost. Acquire: pairs with the
  // release in bump(), so a caller that sees a frame processed also sees its
  // budget returned. (Waiters are woken through progress_.)
  std::uint64_t processed() const noexcept {
    return frames_written_.load(std::memory_order_acquire) +
           frames_lost_.load(std::memory_order_acquire);
  }

  // Adds ready frames to batch_ while the batcher admits them, lingering if
  // the batcher asks to. Returns true when `next` holds a refused frame that
  // starts the next batch.
  bool fill_batch(batch_stats& st, outbound_frame& next) {
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
        next = std::move(slot);
        batch_.pop_back();
        return true;
      }
      ++st.frames;
      st.bytes += slot.size();
    }
  }

  // Builds gather_ for batch_: header + payload ranges per frame, or, with a
  // coalescing batcher, runs of headers and small payloads copied into
  // staging_ with large payloads referenced in between.
  void build_gather_list() {
    gather_.clear();
    if constexpr (batcher_with_coalescing<Bt>) {
      const std::size_t below = batcher_.coalesce_below();
      std::size_t staged = 0;
      for (const outbound_frame& f : batch_) {
        staged += kHeaderSize + (f.payload().size() < below ? f.payload().size() : 0);
      }
      // Grows only when a batch needs more than any batch before: the steady
      // state reuses it. Sized before any pointer into it is taken.
      if (staging_.size() < staged) staging_.resize(staged);
      std::byte* const base = staging_.data();
      std::size_t run_start = 0, cursor = 0;
      auto copy = [&](const std::byte* p, std::size_t n) {
        if (n != 0) std::memcpy(base + cursor, p, n);
        cursor += n;
      };
      for (const outbound_frame& f : batch_) {
        std::memcpy(base + cursor, f.encoded().data(), kHeaderSize);  // constant size
        cursor += kHeaderSize;
        const bytes& payload = f.payload();
        if (payload.size() < below) {
          copy(payload.data(), payload.size());
        } else {
          gather_.push_back({base + run_start, cursor - run_start});
          gather_.push_back({payload.data(), payload.size()});
          run_start = cursor;
        }
      }
      if (cursor > run_start) gather_.push_back({base + run_start, cursor - run_start});
    } else {
      for (const outbound_frame& f : batch_) {
        gather_.push_back({f.encoded().data(), kHeaderSize});
        if (!f.payload().empty()) gather_.push_back({f.payload().data(), f.payload().size()});
      }
    }
  }

  // Writes batch_ (described by `st`) completely, then flushes. On failure
  // leaves batch_ and its budget to fail_and_drain, with unwritten_bytes_ set:
  // returning the budget before the state says "failed" would let a waiting
  // producer in, only for its frame to be lost.
  absl::Status write_batch(const batch_stats& st) {
    build_gather_list();
    std::span<const_buffer> rest(gather_);
    std::size_t remaining = st.bytes;
    while (remaining > 0) {
      absl::StatusOr<std::size_t> n = sink_.write(rest);
      bump(write_calls_, 1);
      if (!n.ok() || *n == 0 || *n > remaining) {
        unwritten_bytes_ = remaining;
        if (!n.ok()) return n.status();
        return absl::InternalError(
            absl::StrCat("sink write returned ", *n, " for ", remaining, " bytes offered"));
      }
      if (*n < remaining) bump(partial_writes_, 1);
      bump(bytes_written_, *n);
      remaining -= *n;
      rest = consume_front(rest, *n);
    }
    if constexpr (flushable_sink<S>) {
      // A failed flush: the bytes reached the sink but may not go further.
      // The frames count as written; the writer stops.
      if (absl::Status flushed = sink_.flush(); !flushed.ok()) {
        unwritten_bytes_ = 0;
        return flushed;
      }
    }
    batch_.clear();  // drops the payload references before budget returns
    budget_.release(st.frames, st.bytes);
    // After the release: whoever sees the frames counted as written (flush())
    // also sees their budget returned (release store / acquire in processed()).
    bump(frames_written_, st.frames);
    bump(batches_, 1);
    backpressure_.notify();
    progress_.notify_all();  // flush() waiters; one fence + load when none
    return absl::OkStatus();
  }

  // The sink failed on batch_ (described by `st`, with unwritten_bytes_ of
  // it not written): stop, tell everyone why, and count every frame accepted
  // but not completely written, including those a producer pushes while we
  // stop. Frames of the failed batch whose last byte was written count as
  // written.
  void fail_and_drain(absl::Status cause, const batch_stats& st, outbound_frame* carried) {
    {
      absl::MutexLock lock(&mu_);
      // Always Unavailable, whatever the sink said: send() already gives
      // FailedPrecondition (closed), DeadlineExceeded (backpressure) and
      // ResourceExhausted (full) their own meaning, and EPIPE maps to
      // FailedPrecondition. The sink's own code and text stay in the message.
      failure_ = absl::UnavailableError(absl::StrCat("sink failed: ", cause.ToString()));
    }
    // seq_cst: closing half of the shutdown handshake (see send()). Stored
    // before any budget is returned, so no waiting producer is admitted now.
    state_.store(writer_state::kFailed, std::memory_order_seq_cst);
    queue_.close();
    backpressure_.notify();

    std::size_t offset = 0, written = 0;
    const std::size_t done = st.bytes - unwritten_bytes_;
    for (const outbound_frame& f : batch_) {
      offset += f.size();
      if (offset <= done) ++written;
    }
    batch_.clear();
    budget_.release(st.frames, st.bytes);
    bump(frames_written_, written);
    std::uint64_t lost = st.frames - written;
    if (carried != nullptr) {
      ++lost;
      budget_.release(1, carried->size());
      *carried = outbound_frame();
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
    frames_lost_.fetch_add(lost, std::memory_order_release);
    backpressure_.notify();
    progress_.notify_all();
  }

  // Writer-thread counters: one writer, so a load and a store, no RMW.
  // Release: pairs with the acquire loads in processed() (see write_batch).
  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }

  absl::Status not_open_status() const {
    if (state_.load(std::memory_order_acquire) == writer_state::kFailed) return status(false);
    return absl::FailedPreconditionError("funnel writer is closed; frame rejected");
  }

  const writer_options options_;
  Q queue_;
  B backpressure_;
  detail::pending_budget budget_;
  std::atomic<writer_state> state_{writer_state::kOpen};

  mutable absl::Mutex mu_;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;

  // Written by producers (relaxed fetch_add).
  std::atomic<std::uint64_t> backpressure_waits_{0};
  std::atomic<std::uint64_t> backpressure_timeouts_{0};
  // Written by the writer thread only.
  alignas(kCacheLine) std::atomic<std::uint64_t> frames_written_{0};
  std::atomic<std::uint64_t> bytes_written_{0};
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> write_calls_{0};
  std::atomic<std::uint64_t> partial_writes_{0};
  // Written by the writer thread, and by a producer on the unreachable
  // queue-full path: fetch_add.
  std::atomic<std::uint64_t> frames_lost_{0};
  // Wakes flush() callers after each batch and when the writer stops.
  event_count progress_;

  // Writer thread only.
  S sink_;
  Bt batcher_;
  std::vector<outbound_frame> batch_;
  std::vector<const_buffer> gather_;
  std::vector<std::byte> staging_;   // coalescing batchers only
  std::size_t unwritten_bytes_ = 0;  // of a failed batch (see write_batch)
};

}  // namespace detail

// A producer's handle. Cheap to copy; safe to use from many threads at once;
// may outlive the writer (sends then fail with FailedPrecondition).
template <class Core>
class basic_writer_handle {
 public:
  // Queues `frame`, waiting as the Backpressure policy says while the pending
  // bound is reached. OK: the frame was accepted and will be written or
  // counted as lost. Errors:
  //   DeadlineExceeded   still no budget after options.backpressure_timeout;
  //   FailedPrecondition the writer is closed;
  //   InvalidArgument    the frame alone exceeds max_pending_bytes;
  //   Unavailable        the writer stopped because its sink failed; the
  //                      message carries the sink's status (errno text).
  // On error the frame is left untouched (not moved from): retry if you like.
  absl::Status send(outbound_frame&& frame) { return core_->send(frame, true); }
  // Sends a copy; the copy shares the payload (no byte copy).
  absl::Status send(const outbound_frame& frame) {
    outbound_frame copy(frame);
    return core_->send(copy, true);
  }

  // As send(), but never waits: ResourceExhausted at once when the pending
  // bound is reached.
  absl::Status try_send(outbound_frame&& frame) { return core_->send(frame, false); }
  absl::Status try_send(const outbound_frame& frame) {
    outbound_frame copy(frame);
    return core_->send(copy, false);
  }

  // Frames accepted and not yet completely written.
  std::size_t pending_count() const noexcept { return core_->pending_count(); }
  // True while the next send would have to wait.
  bool is_backpressure_active() const noexcept { return core_->is_backpressure_active(); }

 private:
  template <class, class, class, class>
  friend class basic_writer;
  explicit basic_writer_handle(std::shared_ptr<Core> core) noexcept : core_(std::move(core)) {}

  std::shared_ptr<Core> core_;
};

template <class Queue, class Sink, class Backpressure, class Batcher>
class basic_writer {
  static_assert(detail::check_policies<Queue, Sink, Backpressure, Batcher>());
  using core_type = detail::writer_core<Queue, Sink, Backpressure, Batcher>;

 public:
  using queue_type = Queue;
  using sink_type = Sink;
  using backpressure_type = Backpressure;
  using batcher_type = Batcher;
  using handle_type = basic_writer_handle<core_type>;

  // Starts the writer thread. Invalid options do not throw: the writer starts
  // failed and every send, and close(), return InvalidArgument naming the
  // field.
  explicit basic_writer(Sink sink, writer_options options = {},
                        Backpressure backpressure = Backpressure{}, Batcher batcher = Batcher{})
      : core_(std::make_shared<core_type>(std::move(sink), options, std::move(backpressure),
                                          std::move(batcher))) {
    if (absl::Status s = validate_options(options); !s.ok()) {
      core_->fail_before_start(std::move(s));
      return;
    }
    thread_ = std::thread([core = core_.get()] { core->run(); });
  }

  basic_writer(basic_writer&&) noexcept = default;
  basic_writer& operator=(basic_writer&& other) noexcept {
    if (this != &other) {
      close().IgnoreError();
      core_ = std::move(other.core_);
      thread_ = std::move(other.thread_);
    }
    return *this;
  }
  basic_writer(const basic_writer&) = delete;
  basic_writer& operator=(const basic_writer&) = delete;

  // Closes (see close()) and discards the result; call close() yourself to
  // see it.
  ~basic_writer() { close().IgnoreError(); }

  handle_type handle() const { return handle_type(core_); }

  // Stops admission, writes every frame accepted so far, joins the writer
  // thread. Returns OK, or the sink's failure with the count of accepted
  // frames that were not written. Idempotent; later calls return the same.
  absl::Status close() {
    if (!core_) return absl::FailedPreconditionError("funnel writer was moved from");
    if (thread_.joinable()) {
      core_->begin_close();
      thread_.join();
    }
    return core_->status(/*final=*/true);
  }

  // Returns once every frame accepted before the call has been written to
  // the sink (and the sink flushed, if it can be), or the writer has failed:
  // then its status. May be called from any thread, concurrently.
  absl::Status flush() { return core_->flush(); }

  // OK while the writer runs; the sink's failure once it has stopped.
  absl::Status status() const { return core_->status(/*final=*/false); }
  writer_stats stats() const noexcept { return core_->stats(); }
  std::size_t pending_count() const noexcept { return core_->pending_count(); }

 private:
  std::shared_ptr<core_type> core_;
  std::thread thread_;
};

}  // namespace funnel

#endif  // FUNNEL_BASIC_WRITER_H_
