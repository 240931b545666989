// funnel/detail/writer_core.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// `writer_core<Q, S, B, Bt, O>`: one basic_writer, assembled from its parts:
//   writer_shared.h  the shared state, the state machine, the accounting
//   admission.h      the producer side: send()
//   drain_loop.h     the writer thread: wait, batch, write, publish
//   ring_admission.h, ring_drain_loop.h: the same two over a byte queue
//                    (byte_ring), chosen by concept; claims
//   failure_drain.h  what the thread does once the writer has failed
//   gather.h         gather lists from frames' wire ranges (and coalescing)
//   observation.h    timing and reports for the Observer O, if any
// and the owner side here: start, close (with its deadline), flush. The
// public behaviour is documented in basic_writer.h.
#ifndef FUNNEL_DETAIL_WRITER_CORE_H_
#define FUNNEL_DETAIL_WRITER_CORE_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "funnel/concepts.h"
#include "funnel/detail/admission.h"
#include "funnel/detail/drain_loop.h"
#include "funnel/detail/process.h"
#include "funnel/detail/ring_admission.h"
#include "funnel/detail/ring_drain_loop.h"
#include "funnel/detail/writer_shared.h"
#include "funnel/options.h"
#include "funnel/stats.h"

namespace funnel::detail {

template <class Q>
struct reservation_of_t {
  struct type {};  // frame queues have no reservations
};
template <byte_queue Q>
struct reservation_of_t<Q> {
  using type = typename Q::reservation;
};
template <class Q>
using reservation_of = typename reservation_of_t<Q>::type;

template <class Q, class S, class B, class Bt, class O = no_observer>
class writer_core {
 public:
  using frame_type = typename Q::value_type;
  using reservation = reservation_of<Q>;  // claims (byte queues only)
  static constexpr bool kByteQueue = byte_queue<Q>;

  writer_core(S sink, const writer_options& options, B backpressure, Bt batcher, O observer = O{})
      : shared_(options, std::move(backpressure)),
        loop_(shared_, std::move(sink), std::move(batcher), std::move(observer)) {}
  writer_core(const writer_core&) = delete;
  writer_core& operator=(const writer_core&) = delete;
  // In a fork()ed child the thread object names the parent's thread, which
  // does not run here: it is let go, never joined (process.h).
  ~writer_core() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (shared_.forked() && thread_.joinable()) thread_.detach();
  }

  const writer_options& options() const noexcept { return shared_.options; }

  // Starts the writer thread, or leaves the writer failed (never throws):
  // invalid options or a queue smaller than max_pending_frames give
  // InvalidArgument naming the field; a sink whose status() is not OK, that
  // status; a thread that cannot start, Internal.
  void start() {
    absl::Status s = validate_options(shared_.options);
    if (s.ok()) s = shared_.setup;  // the queue or express lane could not be allocated
    if constexpr (sink_with_status<S>) {
      if (s.ok()) s = loop_.sink().status();  // a sink whose set-up failed
    }
    if (s.ok() && kByteQueue) s = validate_ring_options(shared_.options);  // ring_admission.h
    if (s.ok() && kByteQueue && shared_.options.route_urgent) {
      s = absl::InvalidArgumentError(
          "invalid writer_options: route_urgent needs a frame queue; a byte queue (byte_ring) "
          "has no express lane");
    }
    if (s.ok() && shared_.queue.capacity() < shared_.options.max_pending_frames) {
      s = absl::InvalidArgumentError(absl::StrCat(
          "the Queue's capacity() ", shared_.queue.capacity(), " is below max_pending_frames ",
          shared_.options.max_pending_frames,
          ": every accepted frame must fit in the queue (a Queue must hold at least the "
          "capacity it is constructed with)"));
    }
    if (s.ok()) {
      try {
        absl::MutexLock lock(&join_mu_);
        thread_ = std::thread([this] { loop_.run(); });
        return;
      } catch (const std::exception& e) {
        s = absl::InternalError(absl::StrCat("cannot start the writer thread: ", e.what()));
      }
    }
    shared_.fail(std::move(s));
    shared_.finished.store(true, std::memory_order_release);  // no thread to wait for
  }

  // Producer side: see admission.h.
  absl::Status send(frame_type& frame, bool may_wait) {
    if constexpr (kByteQueue) {
      return ring_send(shared_, frame, may_wait);
    } else {
      if constexpr (urgent_frame<frame_type>) {
        if (shared_.options.route_urgent && frame.valid() && frame.urgent()) {
          return admit_express(shared_, frame, may_wait);
        }
      }
      return admit(shared_, frame, may_wait);
    }
  }
  // The express lane (express_lane.h, admission.h); frame queues only.
  absl::Status send_express(frame_type& frame, bool may_wait) requires(!kByteQueue) {
    return admit_express(shared_, frame, may_wait);
  }
  std::size_t pending_count() const noexcept {
    if constexpr (kByteQueue) {
      const std::uint64_t accepted = shared_.accepted(), done = shared_.processed();
      return accepted > done ? accepted - done : 0;
    } else {
      return shared_.budget.frames() + shared_.express.pending();
    }
  }
  bool is_backpressure_active() const noexcept {
    if constexpr (kByteQueue) {
      return shared_.queue.full();
    } else {
      return shared_.budget.exhausted();
    }
  }

  // Claims (byte queues): see funnel/claim.h and ring_admission.h.
  absl::Status claim(std::size_t n, bool may_wait, reservation& r) requires kByteQueue {
    return ring_claim(shared_, n, may_wait, r);
  }
  std::byte* claim_data(const reservation& r) requires kByteQueue { return shared_.queue.data(r); }
  absl::Status commit_claim(const reservation& r, std::size_t n) requires kByteQueue {
    return ring_commit_claim(shared_, r, n);
  }
  template <class Fill>
  absl::Status send_in_place(std::size_t n, bool may_wait, Fill& fill) requires kByteQueue {
    return ring_send_in_place(shared_, n, may_wait, fill);
  }
  void abort_claim(const reservation& r) noexcept requires kByteQueue {
    ring_abort_claim(shared_, r);
  }

  // Stops admission, lets the writer drain until `deadline`, then stops it
  // (cancelling the sink if it can be), joins the thread and returns the final
  // status. Concurrent and repeated calls all return the same final status.
  // In a fork()ed child: FailedPrecondition at once, touching nothing
  // (process.h). On the writer's own thread: begins the close and returns
  // FailedPrecondition without waiting for itself.
  absl::Status close(absl::Time deadline) {
    if (shared_.forked()) return forked_status();
    if (current_writer == &shared_) {
      shared_.begin_close();
      return self_close_status();
    }
    shared_.begin_close();
    // Acquire: pairs with the release of `finished`, the thread's last act.
    auto finished = [this] { return shared_.finished.load(std::memory_order_acquire); };
    if (!shared_.progress.await(finished, deadline)) {
      shared_.fail(absl::DeadlineExceededError(
          "close deadline passed before every accepted frame was written; writer stopped"));
      if constexpr (cancellable_sink<S>) loop_.sink().cancel();
      shared_.progress.await(finished, absl::InfiniteFuture());
    }
    {
      absl::MutexLock lock(&join_mu_);
      if (thread_.joinable()) thread_.join();
    }
    return shared_.status(/*final=*/true);
  }

  // Returns once every frame accepted before the call has been handed to the
  // sink (and flushed, for flushable sinks): OK; or the writer's failure as
  // soon as it has failed; or DeadlineExceeded at `deadline`.
  absl::Status flush(absl::Time deadline) {
    if (shared_.forked()) return forked_status();
    if (current_writer == &shared_) return self_flush_status();
    const std::uint64_t target = shared_.accepted();
    const bool done = shared_.progress.await(
        [&] {
          const writer_state st = shared_.state.load(std::memory_order_acquire);
          return shared_.processed() >= target || st == writer_state::kFailed ||
                 st == writer_state::kClosed;
        },
        deadline);
    if (shared_.failed()) return shared_.status(false);
    if (!done) {
      return absl::DeadlineExceededError(absl::StrCat(
          "flush deadline passed with ", target - std::min(target, shared_.processed()),
          " of the frames accepted before the call not yet written"));
    }
    return absl::OkStatus();
  }

  absl::Status status(bool final) const { return shared_.status(final); }
  writer_stats stats() const noexcept { return shared_.stats(); }

 private:
  writer_shared<Q, B> shared_;
  std::conditional_t<kByteQueue, ring_drain_loop<Q, S, B, Bt, O>, drain_loop<Q, S, B, Bt, O>> loop_;
  // Serialises start() and the join in close(): concurrent close() calls.
  absl::Mutex join_mu_;
  std::thread thread_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_WRITER_CORE_H_
