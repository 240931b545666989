// funnel/basic_writer.h
// -----------------------------------------------------------------------------
// `basic_writer<Queue, Sink, Backpressure, Batcher, Observer = no_observer>`:
// many producer threads, one writer thread, one sink. The policies are
// described in funnel/concepts.h, the optional Observer in funnel/observer.h;
// docs/architecture.md has the whole picture.
//
//   writer w(sink, options);          // starts the writer thread
//   auto h = w.handle();              // copy one per producer thread
//   absl::Status s = h.send(std::move(frame));  // may wait (Backpressure)
//   s = h.send(outbound_frame::make(...));      // a StatusOr<frame>: its error, or sent
//   s = h.try_send(std::move(frame)); // never waits
//   s = h.send_express(abort_frame);  // overtakes queued frames (express lane)
//   auto c = h.claim(n);              // byte queues: encode in place, then
//   c->commit();                      //   c->data() holds the n wire bytes
//   s = w.flush();                    // everything accepted so far is written
//   absl::Status final = w.close();   // drains, joins, reports
//   final = w.close(absl::Now() + absl::Seconds(2));  // ... or gives up then
//
// Frames: the writer carries the frame type of its Queue (Queue::value_type,
// any funnel::frame, see funnel/frame.h): procwire frames, length-prefixed
// or raw frames, or your own.
//
// Data flow: a producer takes pending budget (exact CAS admission, see
// detail/pending_budget.h), pushes the frame into the Queue, and returns. The
// writer thread sleeps in Queue::pop_wait until a frame arrives, takes every
// ready frame the Batcher admits (waiting a little longer if the batcher
// lingers), hands the whole batch to the Sink as one gather list (small
// frames copied into one staging range if the batcher coalesces), resumes
// partial writes at the exact byte, flushes (if the sink can), then destroys
// the frames (releasing their payloads), gives the batch's budget back and
// calls Backpressure::notify. An Observer, if any, hears of each batch once
// it is written, before that publishing (funnel/observer.h); the default
// no_observer costs nothing.
//
// Handles (basic_writer_handle, every way to send): funnel/writer_handle.h.
//
// Thread-safety: a handle may be used from any number of threads at once;
// handles are cheap to copy (one shared_ptr increment). close(), flush(),
// stats(), status(), pending_count() and handle() may be called from any
// thread, concurrently with each other and with sends; concurrent close()
// calls all return the same final status once the thread is joined. Only
// the destructor and move assignment must not run concurrently with another
// call on the same writer object (as for any C++ object). A handle may
// outlive its writer: its sends then fail with FailedPrecondition.
//
// Close: close() stops admission (later sends get FailedPrecondition "writer
// is closed"), wakes waiting producers, lets the writer write every frame
// accepted before that point, joins the thread and returns OK, or the failure
// below. close(deadline) does the same but gives up at `deadline`: it stops
// the writer, interrupts a blocked write if the sink has cancel(), joins, and
// returns DeadlineExceeded naming how many accepted frames were not written
// (counted lost). The destructor is close(now + options.shutdown_timeout).
//
// Bad frames: an empty (default-constructed or moved-from) frame, and a valid
// one of size() 0, are refused with InvalidArgument before they take any
// budget; nothing reaches the sink. A frame whose wire() disagrees with its
// size() is refused by a byte_ring send, and stops a frame queue's writer
// (Internal) before any of its batch is written (funnel/frame.h, "Laws").
//
// Own thread: close() called on the writer thread (from an Observer, a Sink
// or another policy hook) begins the close and returns FailedPrecondition
// without waiting for itself; flush() there returns FailedPrecondition.
//
// fork(): in a child, the writer's thread does not run and its sink is the
// parent's. close(), flush(), status(), every send and the destructor return
// FailedPrecondition naming fork at once and touch nothing shared (no
// cancel, no write, no wake). Make a new writer in the child.
//
// Failure: when the sink returns an error, the writer stops writing. Every
// later send/try_send/flush returns Unavailable with the sink's status in its
// message ("sink failed: FAILED_PRECONDITION: writev to fd 5: Broken pipe");
// frames accepted but not completely written are counted in
// stats().frames_lost and in the message close() returns. Nothing accepted
// disappears uncounted: after close(), frames_accepted == frames_written +
// frames_lost + frames_dropped (drops: drop_newest_/drop_oldest_backpressure,
// whose full-bound sends return OK and drop a frame before any batch). A
// policy that throws on the writer thread fails the writer the same way with
// Internal naming what(); the process lives on.
//
// Allocation: the writer reserves its batch and gather buffers once, from
// Batcher::max_frames_hint(); the steady state allocates nothing per frame or
// per batch (payloads are the producers' own).
#ifndef FUNNEL_BASIC_WRITER_H_
#define FUNNEL_BASIC_WRITER_H_

#include <concepts>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"  // send(StatusOr<frame>&&)
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/claim.h"
#include "funnel/concepts.h"
#include "funnel/detail/policy_checks.h"
#include "funnel/detail/writer_core.h"
#include "funnel/frame.h"
#include "funnel/observer.h"
#include "funnel/options.h"
#include "funnel/stats.h"
#include "funnel/writer_handle.h"  // basic_writer_handle, handle_type

namespace funnel {

// Declared, with Observer = no_observer, in funnel/writer_handle.h.
template <class Queue, class Sink, class Backpressure, class Batcher, class Observer>
class basic_writer {
  static_assert(detail::check_policies<Queue, Sink, Backpressure, Batcher, Observer>());
  using core_type = detail::writer_core<Queue, Sink, Backpressure, Batcher, Observer>;

 public:
  using frame_type = typename Queue::value_type;
  using queue_type = Queue;
  using sink_type = Sink;
  using backpressure_type = Backpressure;
  using batcher_type = Batcher;
  using observer_type = Observer;
  using handle_type = basic_writer_handle<core_type>;

  // Starts the writer thread. Invalid options (or a Queue smaller than
  // max_pending_frames) do not throw: the writer starts failed and every
  // send, flush() and close() return InvalidArgument naming the field; so
  // does a queue that cannot be allocated (ResourceExhausted) and a sink
  // whose optional status() is not OK (its status).
  // `observer` is moved into the writer; share state with it through a
  // pointer it holds (summary_observer's copies share theirs).
  explicit basic_writer(Sink sink, writer_options options = {},
                        Backpressure backpressure = Backpressure{}, Batcher batcher = Batcher{},
                        Observer observer = Observer{})
      : core_(std::make_shared<core_type>(std::move(sink), options, std::move(backpressure),
                                          std::move(batcher), std::move(observer))) {
    core_->start();
  }

  // The moved-from writer is empty: close()/flush()/status() return
  // FailedPrecondition, its handles' sends too. Handles taken before the move
  // keep working: they belong to the writer, not to the object.
  basic_writer(basic_writer&&) noexcept = default;
  // Closes this writer first (as the destructor does), then takes `other`'s.
  basic_writer& operator=(basic_writer&& other) noexcept {
    if (this != &other) {
      shut_down();
      core_ = std::move(other.core_);
    }
    return *this;
  }
  basic_writer(const basic_writer&) = delete;
  basic_writer& operator=(const basic_writer&) = delete;

  // close(now + options.shutdown_timeout), discarding the result; call
  // close() yourself to see it.
  ~basic_writer() { shut_down(); }

  handle_type handle() const { return handle_type(core_); }

  // Stops admission, writes every frame accepted so far, joins the writer
  // thread. Returns OK, or the failure with the count of accepted frames that
  // were not written. Idempotent and safe from several threads at once: every
  // call returns the same final status.
  absl::Status close() { return close(absl::InfiniteFuture()); }
  // As close(), but at `deadline` stops the writer (cancelling the sink if it
  // has cancel()), counts what was not written as lost and returns
  // DeadlineExceeded naming that count. Bounded in time when the sink can be
  // cancelled or its writes time out on their own.
  absl::Status close(absl::Time deadline) {
    if (!core_) return moved_from();
    return core_->close(deadline);
  }

  // Returns once every frame accepted before the call has been written to
  // the sink (and the sink flushed, if it can be): OK; or the writer's
  // failure whenever it has failed; or, with a deadline, DeadlineExceeded when
  // it passes first (the writer goes on). Any thread, concurrently.
  absl::Status flush() { return flush(absl::InfiniteFuture()); }
  absl::Status flush(absl::Time deadline) {
    if (!core_) return moved_from();
    return core_->flush(deadline);
  }

  // OK while the writer runs or after a clean close; the failure once it has
  // failed.
  absl::Status status() const {
    if (!core_) return moved_from();
    return core_->status(/*final=*/false);
  }
  writer_stats stats() const noexcept { return core_ ? core_->stats() : writer_stats{}; }
  std::size_t pending_count() const noexcept { return core_ ? core_->pending_count() : 0; }

 private:
  static absl::Status moved_from() {
    return absl::FailedPreconditionError("funnel writer was moved from");
  }

  void shut_down() noexcept {
    if (!core_) return;
    const absl::Duration timeout = core_->options().shutdown_timeout;
    const absl::Time deadline =
        timeout >= absl::InfiniteDuration() || timeout < absl::ZeroDuration()
            ? absl::InfiniteFuture()
            : absl::Now() + timeout;
    core_->close(deadline).IgnoreError();
  }

  std::shared_ptr<core_type> core_;
};

}  // namespace funnel

#endif  // FUNNEL_BASIC_WRITER_H_
