// funnel/policies/backpressure/drop_oldest_backpressure.h
// -----------------------------------------------------------------------------
// `drop_oldest_backpressure<OnDrop>`: an overflow policy, spdlog's
// `overrun_oldest`. When the pending budget is full, the sending producer
// EVICTS the oldest queued frame (one the writer has not taken yet), counts it
// in writer_stats.frames_dropped, gives its budget back and takes budget for
// the new frame, evicting again while the bound (frames or bytes) is still
// full. send() and try_send() then return OK. If nothing can be evicted
// (every pending frame is already in the writer's batch), the NEW frame is
// dropped instead, counted accepted and dropped, and send() returns OK.
// After close(): accepted == written + lost + dropped. Frames are evicted
// only from the queue, before they join a batch, so a dropped frame is never
// half-written; each producer's written frames stay in send order.
//
// Trade-off, in one sentence: fresh data wins (telemetry, "latest state"
// streams) and producers never block, at the price of losing the backlog
// while the sink is slow, and an eviction per send while it stays full.
//
// Queues: needs a Queue with `bool try_evict(F&)` callable from producers
// concurrently with the writer's pops (funnel/concepts.h): mutex_queue and
// boost_lockfree_queue. mpsc_ring (one consumer) and byte_ring (space frees
// in order) cannot evict; basic_writer rejects them with a static_assert.
// "Oldest" is the queue's oldest frame the writer has not taken out yet:
// mutex_queue hands the writer everything pending at each swap, so frames
// already swapped to the writer's side are past eviction.
//
// The callback: `on_drop(const F&)` is called with each dropped frame (the
// evicted one, or the new one), on the producer thread that dropped it,
// after the drop is counted, outside any lock of the writer. It runs
// concurrently on many producers: make it thread-safe and short. If it
// throws, the exception passes to the caller of send(); the dropped frame
// stays counted, the new frame is not sent (send() did not return OK).
// Default: ignore_drops. Construct it as drop_newest_backpressure is.
//
// A send racing with close() may evict a frame and then be refused itself
// (FailedPrecondition); the evicted frame is counted dropped.
//
// When to use: telemetry-like streams where the newest data matters most.
// When not to use: when every frame matters, or with a single-consumer
// queue (use drop_newest_backpressure there).
//
// Cost on the hot path: none while the budget has room. A full bound costs
// the sender one try_evict (mutex_queue: a lock and a vector erase at the
// front, O(queued frames); boost_lockfree_queue: a pop and a push), a budget
// release and acquisition, the counts, a wake-up check and the callback.
// Thread-safety: as drop_newest_backpressure.
// Memory ordering: none of its own (see detail/overflow.h).
// Blocking: never (beyond the queue's lock). Allocation: none.
// The members (wait()/notify() for the concept, never called by admission;
// on_drop) are funnel::detail::drop_policy's (funnel/detail/drop_policy.h).
#ifndef FUNNEL_POLICIES_BACKPRESSURE_DROP_OLDEST_BACKPRESSURE_H_
#define FUNNEL_POLICIES_BACKPRESSURE_DROP_OLDEST_BACKPRESSURE_H_

#include "funnel/detail/drop_policy.h"
#include "funnel/overflow.h"  // overflow_action, ignore_drops

namespace funnel {

template <class OnDrop = ignore_drops>
class drop_oldest_backpressure : public detail::drop_policy<overflow_action::drop_oldest, OnDrop> {
 public:
  using detail::drop_policy<overflow_action::drop_oldest, OnDrop>::drop_policy;
};

template <class OnDrop>
drop_oldest_backpressure(OnDrop) -> drop_oldest_backpressure<OnDrop>;

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BACKPRESSURE_DROP_OLDEST_BACKPRESSURE_H_
