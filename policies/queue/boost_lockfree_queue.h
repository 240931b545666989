// funnel/policies/queue/boost_lockfree_queue.h
// -----------------------------------------------------------------------------
// `boost_lockfree_queue<F>`: an ADAPTER that plugs a well-known third-party
// lock-free queue, boost::lockfree::queue (Michael & Scott's queue over a
// preallocated node freelist), into funnel's Queue concept.
//
// What it shows: a Queue model need not be written for funnel. Three things
// have to be supplied around a foreign queue, and this header is the
// template for doing so:
//   1. Element type. boost::lockfree::queue requires a trivially copyable,
//      trivially destructible T, which a frame (e.g. procwire's, with its
//      reference-counted payload) need not be. The frames live in a preallocated slot array and
//      only uint32 slot indices travel through two fixed-size
//      boost::lockfree::queue<std::uint32_t>: `ready_` (producers -> writer)
//      and `free_` (writer -> producers). A push takes a free slot, moves the
//      frame in, and queues the index on `ready_`; a pop takes an index from
//      `ready_`, moves the frame out and returns the index to `free_`.
//   2. Boundedness. Both queues preallocate their nodes and are only used
//      through bounded_push, so nothing is allocated after construction and
//      "full" is simply "no free slot".
//   3. Blocking. The foreign queue cannot sleep; the writer sleeps on a
//      funnel::event_count (funnel/event_count.h, public for this purpose)
//      with one await() call, exactly as in mpsc_ring.
//
// Trade-off, in one sentence: any well-known lock-free queue plugs in, at
// the price of two lock-free queue operations per frame on each side (each
// several CAS: the queue's link plus its node freelist) where mpsc_ring's
// producer does one CAS and its consumer none.
//
// When to use: to compare funnel's own ring against an established
// implementation (benchmarks, the conformance suite), or as the model for
// wrapping another third-party queue.
// When not to use: production, where mpsc_ring does the same job with a
// fraction of the atomic traffic and no freelist ABA tags.
//
// ThreadSanitizer: Boost's queue reads node memory speculatively and only
// then validates it with a CAS, and its freelist keeps tagged pointers in
// node memory with plain reads and writes; a value read in a lost race is
// discarded, but TSan reports each as a data race (boostorg/lockfree issue
// #78). Under TSan the adapter therefore brackets every call into Boost with
// ABSL_ANNOTATE_IGNORE_READS_AND_WRITES_BEGIN/END: Boost's plain accesses
// are not checked, while its atomics still create happens-before edges, so
// funnel's own slot hand-off (below) stays fully checked. The brackets are
// empty in other builds.
//
// Cost on the hot path: a push is a pop from `free_` (a CAS on its head, one
// on its freelist) and a bounded_push to `ready_` (a CAS on its freelist,
// one to link the node, one to swing the tail), a move of the frame
// (48 bytes) into its slot, and the event count's fast path (a fence and a
// relaxed load). A pop is the mirror image.
//
// Thread-safety: try_push and try_evict from any number of threads; try_pop
// and pop_wait from one thread at a time (the writer); close and capacity
// from anywhere.
//
// Memory ordering: slot ownership travels with its index. A producer writes
// slot i, then pushes i onto `ready_`; Boost's push links the node with a
// seq_cst CAS (a release) and the writer's pop reads the link with an
// acquire load, so the frame's bytes happen-before the writer's move out of
// slot i. The writer moves the frame out, then pushes i onto `free_`; a
// producer's pop from `free_` acquires that push, so the writer's move-out
// happens-before the producer's next write to slot i. No slot is ever
// touched by two threads without one of these two edges between them.
// `closed_` is a release store read with acquire loads; wake-ups: see
// event_count.h.
//
// Blocking: pop_wait blocks on the event count's condition variable; never
// spins. try_push never blocks.
// Allocation: the slot array and both queues' nodes, once, in the
// constructor (Boost allocates its freelist node by node there). None per
// push or pop.
#ifndef FUNNEL_POLICIES_QUEUE_BOOST_LOCKFREE_QUEUE_H_
#define FUNNEL_POLICIES_QUEUE_BOOST_LOCKFREE_QUEUE_H_

#include <algorithm>
#include <atomic>
#include <boost/lockfree/queue.hpp>  // the adapted queue (header-only, a system header)
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>

#include "absl/base/dynamic_annotations.h"  // TSan: ignore Boost's benign races
#include "absl/time/time.h"
#include "funnel/detail/pending_budget.h"  // kCacheLine
#include "funnel/event_count.h"
#include "funnel/frame.h"

namespace funnel {

template <class F>
class boost_lockfree_queue {
  static_assert(check_frame<F>());

 public:
  using value_type = F;

  // Exactly max(capacity, 1) slots (at most 2^32 - 1).
  explicit boost_lockfree_queue(std::size_t capacity)
      : capacity_(clamp_capacity(capacity)),
        slots_(std::make_unique<slot[]>(capacity_)),
        ready_(capacity_),
        free_(capacity_) {
    for (std::uint32_t i = 0; i < capacity_; ++i) {
      [[maybe_unused]] const bool ok = push_index(free_, i);
      assert(ok && "boost_lockfree_queue: free list preallocated for every slot");
    }
  }

  boost_lockfree_queue(const boost_lockfree_queue&) = delete;
  boost_lockfree_queue& operator=(const boost_lockfree_queue&) = delete;

  // Frames still queued are destroyed with the slot array (payloads
  // released); the Boost queues only hold integers.
  ~boost_lockfree_queue() = default;

  std::size_t capacity() const noexcept { return capacity_; }

  bool try_push(F& frame) noexcept {
    std::uint32_t i;
    // Acquire (inside Boost's pop): the writer's move out of slot i is
    // complete before we move in.
    if (!pop_index(free_, i)) return false;  // every slot is queued or in flight: full
    slots_[i].frame = std::move(frame);
    // Release (inside Boost's push): publishes slot i to the writer's pop.
    // Cannot fail: `ready_` has a node per slot and holds each index at most
    // once. Checked anyway, so a broken invariant loses nothing.
    if (!push_index(ready_, i)) {
      frame = std::move(slots_[i].frame);
      (void)push_index(free_, i);
      return false;
    }
    ready_ec_.notify_all();
    return true;
  }

  bool try_pop(F& out) noexcept {
    std::uint32_t i;
    // Acquire (inside Boost's pop): pairs with the producer's push above.
    if (!pop_index(ready_, i)) return false;
    out = std::move(slots_[i].frame);  // leaves the slot empty: the payload goes with `out`
    // Release (inside Boost's push): our move-out happens-before the next
    // producer that takes slot i. Cannot fail, as above (one node per slot).
    [[maybe_unused]] const bool ok = push_index(free_, i);
    assert(ok && "boost_lockfree_queue: free list has a node for every slot");
    return true;
  }

  // Any thread, concurrently with try_pop (drop_oldest_backpressure):
  // boost::lockfree::queue is multi-consumer, so a producer may pop `ready_`
  // exactly as the writer does, with the same slot hand-off.
  bool try_evict(F& out) noexcept { return try_pop(out); }

  bool pop_wait(F& out, absl::Time deadline) {
    bool got = false;
    ready_ec_.await([&] { return (got = try_pop(out)) || closed(); }, deadline);
    return got;
  }

  void close() noexcept {
    // Release: ordered before notify_all's fence; the consumer's re-check
    // after prepare_wait reads it.
    closed_.store(true, std::memory_order_release);
    ready_ec_.notify_all();
  }

 private:
  static std::size_t clamp_capacity(std::size_t capacity) noexcept {
    constexpr std::size_t kMaxSlots = std::numeric_limits<std::uint32_t>::max();
    return std::clamp<std::size_t>(capacity, 1, kMaxSlots);
  }

  bool closed() const noexcept {
    // Acquire: pairs with close().
    return closed_.load(std::memory_order_acquire);
  }

  // The only calls into Boost after construction. Under TSan, Boost's plain
  // reads and writes are hidden (see "ThreadSanitizer" above); its atomics
  // are not.
  using index_queue = boost::lockfree::queue<std::uint32_t>;
  static bool push_index(index_queue& q, std::uint32_t i) noexcept {
    ABSL_ANNOTATE_IGNORE_READS_AND_WRITES_BEGIN();
    const bool ok = q.bounded_push(i);  // never allocates: false when out of nodes
    ABSL_ANNOTATE_IGNORE_READS_AND_WRITES_END();
    return ok;
  }
  static bool pop_index(index_queue& q, std::uint32_t& i) noexcept {
    ABSL_ANNOTATE_IGNORE_READS_AND_WRITES_BEGIN();
    const bool ok = q.pop(i);
    ABSL_ANNOTATE_IGNORE_READS_AND_WRITES_END();
    return ok;
  }

  // One frame per cache line: producers filling neighbouring slots do not
  // false-share.
  struct alignas(detail::kCacheLine) slot {
    F frame;
  };
  const std::size_t capacity_;
  const std::unique_ptr<slot[]> slots_;
  // The adapted queues carry indices only, so Boost's requirements on T
  // (trivially copyable and destructible) hold.
  index_queue ready_;  // producers -> writer: slots holding a frame
  index_queue free_;   // writer -> producers: empty slots
  std::atomic<bool> closed_{false};
  event_count ready_ec_;
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_QUEUE_BOOST_LOCKFREE_QUEUE_H_
