// funnel/writer_handle.h
// -----------------------------------------------------------------------------
// `basic_writer_handle<Core>`: a producer's handle to a basic_writer
// (funnel/basic_writer.h), what `writer.handle()` returns and
// `basic_writer<...>::handle_type` names. Every way to hand the writer a
// frame is here: send / try_send, the express lane, and for byte queues
// claim / send_in_place. `Core` is the writer's shared state
// (detail/writer_core.h); spell the type as `decltype(w)::handle_type`.
//
// Thread-safety: a handle may be used from any number of threads at once;
// copies are cheap (one shared_ptr increment). A handle may outlive its
// writer: its sends then fail with FailedPrecondition.
// Blocking: send(), send_express(), claim() and send_in_place() wait as the
// Backpressure policy says (bounded by options.backpressure_timeout); the
// try_ forms never wait. Allocation: none (the frame is the caller's).
#ifndef FUNNEL_WRITER_HANDLE_H_
#define FUNNEL_WRITER_HANDLE_H_

#include <concepts>
#include <cstddef>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"  // send(StatusOr<frame>&&)
#include "funnel/claim.h"
#include "funnel/observer.h"  // no_observer, basic_writer's default fifth policy

namespace funnel {

template <class Queue, class Sink, class Backpressure, class Batcher, class Observer = no_observer>
class basic_writer;

// A producer's handle. Cheap to copy; safe to use from many threads at once;
// may outlive the writer (sends then fail with FailedPrecondition).
template <class Core>
class basic_writer_handle {
 public:
  using frame_type = typename Core::frame_type;

  // Queues `frame`, waiting as the Backpressure policy says while the pending
  // bound is reached. OK: the frame was accepted and will be written or
  // counted as lost (or, with a drop policy, as dropped). Errors:
  //   InvalidArgument    the frame is empty (default-constructed or moved
  //                      from), or alone exceeds max_pending_bytes;
  //   DeadlineExceeded   still no budget after options.backpressure_timeout;
  //   FailedPrecondition the writer is closed (or was moved from);
  //   Unavailable        the writer stopped because its sink failed; the
  //                      message carries the sink's status (errno text);
  //   Internal / DeadlineExceeded / InvalidArgument: the writer stopped for
  //                      another reason (see basic_writer::status()).
  // On error the frame is left untouched (not moved from): retry if you like.
  absl::Status send(frame_type&& frame) { return send_impl(frame, true); }
  // Sends a copy (for copyable frame types; procwire's shares the payload).
  absl::Status send(const frame_type& frame) requires std::copy_constructible<frame_type> {
    frame_type copy(frame);
    return send_impl(copy, true);
  }
  // Sends the frame a builder returned, or returns the builder's error
  // unchanged (nothing is sent): no unchecked dereference at the call site.
  //   h.send(some_frame::make(...));  // e.g. outbound_frame::make, varint_frame::make
  absl::Status send(absl::StatusOr<frame_type>&& frame) {
    if (!frame.ok()) return frame.status();
    return send_impl(*frame, true);
  }

  // As send(), but never waits: ResourceExhausted at once when the pending
  // bound is reached.
  absl::Status try_send(frame_type&& frame) { return send_impl(frame, false); }
  absl::Status try_send(const frame_type& frame) requires std::copy_constructible<frame_type> {
    frame_type copy(frame);
    return send_impl(copy, false);
  }
  absl::Status try_send(absl::StatusOr<frame_type>&& frame) {
    if (!frame.ok()) return frame.status();
    return send_impl(*frame, false);
  }

  // Express lane (frame queues only; docs/policies.md): the writer takes the
  // frame at its next batch boundary, ahead of queued bulk frames, never
  // splitting a batch; order within each lane is kept. Its own exact bound,
  // writer_options::express_capacity, waited for as send() waits for budget.
  // Errors: as send(); FailedPrecondition when express_capacity is 0.
  absl::Status send_express(frame_type&& frame) { return express_impl(frame, true); }
  absl::Status send_express(const frame_type& frame) requires std::copy_constructible<frame_type> {
    frame_type copy(frame);
    return express_impl(copy, true);
  }
  absl::Status send_express(absl::StatusOr<frame_type>&& frame) {
    if (!frame.ok()) return frame.status();
    return express_impl(*frame, true);
  }
  // As send_express(), but never waits: ResourceExhausted at once when the
  // lane holds express_capacity frames.
  absl::Status try_send_express(frame_type&& frame) { return express_impl(frame, false); }
  absl::Status try_send_express(
      const frame_type& frame) requires std::copy_constructible<frame_type> {
    frame_type copy(frame);
    return express_impl(copy, false);
  }
  absl::Status try_send_express(absl::StatusOr<frame_type>&& frame) {
    if (!frame.ok()) return frame.status();
    return express_impl(*frame, false);
  }

  // Byte queues (byte_ring) only: claims `n` bytes of the ring to encode a
  // frame in place (funnel/claim.h). claim() waits as send() does;
  // try_claim() never waits.
  using claim_type = basic_claim<Core>;
  absl::StatusOr<claim_type> claim(std::size_t n) requires Core::kByteQueue {
    return claim_impl(n, true);
  }
  absl::StatusOr<claim_type> try_claim(std::size_t n) requires Core::kByteQueue {
    return claim_impl(n, false);
  }

  // Byte queues only: claims `n` bytes, calls `fill(std::span<std::byte>)` to
  // write the frame's wire bytes into them, and commits; the same as claim()
  // and commit() without a claim object (no reference count traffic). `fill`
  // returns void, or an absl::Status whose error aborts the frame and is
  // returned; if it throws, nothing is sent and the exception passes on.
  // `fill` runs while the claim holds back later frames: keep it short.
  template <class Fill>
  absl::Status send_in_place(std::size_t n, Fill&& fill) requires Core::kByteQueue {
    if (!core_) return absl::FailedPreconditionError("funnel writer was moved from");
    return core_->send_in_place(n, true, fill);
  }
  template <class Fill>
  absl::Status try_send_in_place(std::size_t n, Fill&& fill) requires Core::kByteQueue {
    if (!core_) return absl::FailedPreconditionError("funnel writer was moved from");
    return core_->send_in_place(n, false, fill);
  }

  // Frames accepted and not yet completely written.
  std::size_t pending_count() const noexcept { return core_ ? core_->pending_count() : 0; }
  // True while the next send would have to wait.
  bool is_backpressure_active() const noexcept { return core_ && core_->is_backpressure_active(); }

 private:
  template <class, class, class, class, class>
  friend class basic_writer;
  explicit basic_writer_handle(std::shared_ptr<Core> core) noexcept : core_(std::move(core)) {}

  absl::Status send_impl(frame_type& frame, bool may_wait) {
    if (!core_) return absl::FailedPreconditionError("funnel writer was moved from");
    return core_->send(frame, may_wait);
  }

  absl::Status express_impl(frame_type& frame, bool may_wait) {
    static_assert(!Core::kByteQueue,
                  "funnel: send_express/try_send_express need a frame queue (mpsc_ring, "
                  "mutex_queue, ...); a byte_ring writer has no express lane");
    if (!core_) return absl::FailedPreconditionError("funnel writer was moved from");
    if constexpr (!Core::kByteQueue) return core_->send_express(frame, may_wait);
    return absl::OkStatus();  // unreachable: the static_assert above
  }

  absl::StatusOr<claim_type> claim_impl(std::size_t n, bool may_wait) {
    if (!core_) return absl::FailedPreconditionError("funnel writer was moved from");
    typename Core::reservation r;
    if (absl::Status s = core_->claim(n, may_wait, r); !s.ok()) return s;
    return claim_type(core_, r, core_->claim_data(r), n);
  }

  std::shared_ptr<Core> core_;  // null for a handle of a moved-from writer
};

}  // namespace funnel

#endif  // FUNNEL_WRITER_HANDLE_H_
