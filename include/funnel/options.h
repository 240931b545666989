// funnel/options.h
// -----------------------------------------------------------------------------
// `writer_options`: the knobs every basic_writer has, whatever its policies.
// Policy-specific knobs (a sleep interval, a batch size) live in the policy
// object you pass to the writer's constructor.
//
// The defaults are the Rust seed writer's, so `procwire_writer` with default
// options behaves like it.
#ifndef FUNNEL_OPTIONS_H_
#define FUNNEL_OPTIONS_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace funnel {

inline constexpr std::size_t kDefaultMaxPendingFrames = 1024;
inline constexpr std::size_t kDefaultQueueCapacity = 1024;
inline constexpr absl::Duration kDefaultBackpressureTimeout = absl::Seconds(5);
inline constexpr absl::Duration kDefaultShutdownTimeout = absl::Seconds(10);
inline constexpr absl::Duration kDefaultClaimTimeout = absl::Seconds(1);
inline constexpr std::size_t kDefaultExpressCapacity = 16;
// The largest values the frame counts (max_pending_frames, queue_capacity,
// express_capacity) and max_pending_bytes may take: beyond them a size would
// overflow (a power-of-two capacity, a byte sum) long before it could be
// allocated. Values below them that cannot be allocated start the writer
// failed with ResourceExhausted naming the field.
inline constexpr std::size_t kMaxFramesOption = std::size_t{1} << 32;
inline constexpr std::size_t kMaxBytesOption = std::size_t{1} << 48;

struct writer_options {
  // Frames accepted (by send/try_send) but not yet completely written. The
  // bound is exact: no number of concurrent producers can exceed it.
  // 1..kMaxFramesOption.
  std::size_t max_pending_frames = kDefaultMaxPendingFrames;
  // The same bound in wire bytes (headers + payloads); 0 means no byte bound.
  // A frame larger than this bound on its own is rejected with
  // InvalidArgument rather than waited for forever. At most kMaxBytesOption.
  std::size_t max_pending_bytes = 0;
  // Frames the queue holds. The writer builds its queue with
  // max(queue_capacity, max_pending_frames), so admission is decided by the
  // pending budget alone and a producer holding budget never meets a full
  // queue. Queue models may round it up (mpsc_ring: to a power of two).
  // At most kMaxFramesOption.
  std::size_t queue_capacity = kDefaultQueueCapacity;
  // How long send() waits for pending budget before DeadlineExceeded.
  absl::Duration backpressure_timeout = kDefaultBackpressureTimeout;
  // How long the destructor (and move-assigning over a running writer) lets
  // close() drain before it stops the writer: frames still unwritten then
  // are counted in stats().frames_lost, and a sink with a cancel() hook is
  // interrupted, so a peer that never reads cannot hang the destructor.
  // absl::InfiniteDuration() waits for ever. close() without a deadline
  // always waits for every accepted frame.
  absl::Duration shutdown_timeout = kDefaultShutdownTimeout;
  // Byte queues (byte_ring) only: how long the writer waits for a claim
  // (handle.claim(n)) that is next in line to be committed or aborted. Past
  // it, the writer gives up on the claim (its commit() then fails) and
  // stops, DeadlineExceeded naming the claim: a producer that claims and
  // never commits cannot wedge the writer, and no later frame is written
  // out of order or over bytes the stuck producer may still write. > 0 (0
  // would give up on every claim the writer meets uncommitted).
  absl::Duration claim_timeout = kDefaultClaimTimeout;
  // The express lane's own exact bound, in frames (frame queues only; see
  // docs/policies.md, "Express lane"). Frames sent with send_express() (or
  // routed there by route_urgent) skip the bulk queue and go out at the next
  // batch boundary, ahead of queued bulk frames; they do not count against
  // max_pending_frames/bytes. A full lane makes send_express() wait as send()
  // does (try_send_express(): ResourceExhausted). 0 disables the lane:
  // send_express() returns FailedPrecondition. Cost: the bulk queue gets one
  // spare slot for the lane's wake-up token (mpsc_ring rounds its capacity up
  // to a power of two), the writer one load per batch. At most
  // kMaxFramesOption.
  std::size_t express_capacity = kDefaultExpressCapacity;
  // When true, send()/try_send() of a frame whose optional `urgent()` member
  // returns true (procwire: ABORT and ack frames) go through the express lane
  // as send_express()/try_send_express() would. Off by default: the writer
  // then keeps one FIFO order, as the seed did. Needs express_capacity > 0 and
  // a frame queue (not byte_ring).
  bool route_urgent = false;
};

// OK, or InvalidArgument naming the offending field.
inline absl::Status validate_options(const writer_options& o) {
  if (o.max_pending_frames == 0) {
    return absl::InvalidArgumentError("invalid writer_options: max_pending_frames must be > 0");
  }
  auto too_large = [](const char* field, std::size_t value, std::size_t max) {
    return absl::InvalidArgumentError(absl::StrCat("invalid writer_options: ", field, " ", value,
                                                   " exceeds the largest supported, ", max));
  };
  if (o.max_pending_frames > kMaxFramesOption) {
    return too_large("max_pending_frames", o.max_pending_frames, kMaxFramesOption);
  }
  if (o.queue_capacity > kMaxFramesOption) {
    return too_large("queue_capacity", o.queue_capacity, kMaxFramesOption);
  }
  if (o.express_capacity > kMaxFramesOption) {
    return too_large("express_capacity", o.express_capacity, kMaxFramesOption);
  }
  if (o.max_pending_bytes > kMaxBytesOption) {
    return too_large("max_pending_bytes", o.max_pending_bytes, kMaxBytesOption);
  }
  if (o.backpressure_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid writer_options: backpressure_timeout ",
                                                   absl::FormatDuration(o.backpressure_timeout),
                                                   " is negative"));
  }
  if (o.shutdown_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid writer_options: shutdown_timeout ",
                                                   absl::FormatDuration(o.shutdown_timeout),
                                                   " is negative"));
  }
  if (o.claim_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid writer_options: claim_timeout ", absl::FormatDuration(o.claim_timeout),
        " must be > 0 (the writer would give up on every claim it meets uncommitted)"));
  }
  if (o.route_urgent && o.express_capacity == 0) {
    return absl::InvalidArgumentError(
        "invalid writer_options: route_urgent needs an express lane, but express_capacity is 0");
  }
  return absl::OkStatus();
}

}  // namespace funnel

#endif  // FUNNEL_OPTIONS_H_
