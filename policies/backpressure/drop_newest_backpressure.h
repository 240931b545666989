// funnel/policies/backpressure/drop_newest_backpressure.h
// -----------------------------------------------------------------------------
// `drop_newest_backpressure<OnDrop>`: an overflow policy, spdlog's
// `discard_new`. When the pending budget is full (max_pending_frames or
// max_pending_bytes; for a byte ring, the ring), send() and try_send() do
// not wait and do not fail: the frame being sent is DROPPED, the call returns
// OK, and the frame is counted in writer_stats as both frames_accepted and
// frames_dropped (so accepted == written + lost + dropped after close()).
// Nothing of it is queued, so a dropped frame is never half-written.
//
// Trade-off, in one sentence: producers never block and never see an error
// for a full bound, at the price of losing the newest frames while the sink
// is slow: the stream keeps its oldest data (the backlog) and loses the tail.
//
// The callback: `on_drop(const F&)` is called with each dropped frame (its
// identity: for procwire frames, header().method_id and request_id), on the
// producer thread that dropped it, after the drop is counted, outside any
// lock of the writer. It runs concurrently on many producers: make it
// thread-safe and short. If it throws, the exception passes to the caller
// of send(); the frame stays counted as dropped. The default, ignore_drops,
// does nothing. Construct the policy with a capturing lambda and pass it to
// the writer:
//   funnel::drop_newest_backpressure drop([&](const funnel::outbound_frame& f) { ... });
//   funnel::basic_writer<Q, S, decltype(drop), Bt> w(sink, options, std::move(drop));
//
// Queues: every Queue, and the byte ring. Claims (claim(), send_in_place())
// on a full byte ring cannot be dropped (the caller has not written the
// frame yet): they return ResourceExhausted at once, as try_claim() does.
//
// When to use: telemetry or logging streams where losing the newest data
// under overload is acceptable and a producer must never wait (real-time
// threads). When not to use: when every frame matters (use a waiting
// policy), or when fresh data matters more than old (drop_oldest_backpressure).
//
// Cost on the hot path: none while the budget has room (wait() and notify()
// are never called by admission). A drop costs two RMWs on a writer-wide
// counter (the shutdown handshake), the two counts, a wake-up check for
// flush() waiters and the callback.
// Thread-safety: wait()/notify() are stateless; on_drop() from any producer
// thread concurrently (the callable must allow that).
// Memory ordering: none of its own; admission counts the drop (see
// detail/overflow.h).
// Blocking: never. Allocation: none (the callback's own aside).
// The members (wait()/notify() for the concept, never called by admission;
// on_drop) are funnel::detail::drop_policy's (funnel/detail/drop_policy.h).
#ifndef FUNNEL_POLICIES_BACKPRESSURE_DROP_NEWEST_BACKPRESSURE_H_
#define FUNNEL_POLICIES_BACKPRESSURE_DROP_NEWEST_BACKPRESSURE_H_

#include "funnel/detail/drop_policy.h"
#include "funnel/overflow.h"  // overflow_action, ignore_drops

namespace funnel {

template <class OnDrop = ignore_drops>
class drop_newest_backpressure : public detail::drop_policy<overflow_action::drop_newest, OnDrop> {
 public:
  using detail::drop_policy<overflow_action::drop_newest, OnDrop>::drop_policy;
};

template <class OnDrop>
drop_newest_backpressure(OnDrop) -> drop_newest_backpressure<OnDrop>;

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BACKPRESSURE_DROP_NEWEST_BACKPRESSURE_H_
