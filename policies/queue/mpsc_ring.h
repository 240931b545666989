// funnel/policies/queue/mpsc_ring.h
// -----------------------------------------------------------------------------
// `mpsc_ring<F>`: a bounded, lock-free, multi-producer single-consumer ring of
// frames of type F (any funnel::frame) (Vyukov's bounded queue with a single consumer), whose
// consumer sleeps on an event count when the ring is empty.
//
// When to use: the default queue. Producers never take a lock; the writer
// thread never spins.
// When not to use: when producers vastly outnumber cores and contend on the
// enqueue index all the time, a queue that hands over whole buffers under one
// lock (mutex queue) may waste fewer CAS retries.
//
// Template parameters: F, the frame type (funnel/frame.h); a type that is not
// a frame fails with a sentence naming the missing member.
//
// Cost on the hot path: a push is one CAS on the shared enqueue index, a move
// of the frame (procwire: 48 bytes, no reference-count traffic) into its cell, a
// release store, and a fence plus a relaxed load to see whether the consumer
// sleeps (the event count's fast path). A pop is an acquire load, a move and
// a release store; the consumer's index is not shared.
//
// Thread-safety: try_push from any number of threads; try_pop and pop_wait
// from one thread at a time (the writer); close and capacity from anywhere.
//
// Memory ordering: each cell has a sequence number. A producer claims
// position p when the cell's sequence equals p (acquire load, pairs with the
// consumer's release store that freed the cell, so the consumer's move-out is
// complete before we construct), by CAS on the enqueue index (relaxed: the
// index only hands out positions, the cell sequence carries the data), then
// publishes with a release store of p + 1, which the consumer's acquire load
// pairs with. Wake-ups: see event_count.h.
//
// Layout: the producers' index, the consumer's index and the wake-up state
// (closed flag, event count) each own a cache line, asserted below: the
// consumer writes its index on every pop, producers read the event count's
// waiter count on every push, and none of them may drag the others' line.
//
// Blocking: pop_wait blocks on a condition variable, never spins.
// Allocation: the cells, once, in the constructor (capacity rounded up to a
// power of two). None per push or pop.
#ifndef FUNNEL_POLICIES_QUEUE_MPSC_RING_H_
#define FUNNEL_POLICIES_QUEUE_MPSC_RING_H_

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

#include "absl/time/time.h"
#include "funnel/detail/pending_budget.h"  // kCacheLine
#include "funnel/event_count.h"
#include "funnel/frame.h"

namespace funnel {

template <class F>
class mpsc_ring {
  static_assert(check_frame<F>());

 public:
  using value_type = F;

  // At least `capacity` slots (rounded up to a power of two, at least 2).
  explicit mpsc_ring(std::size_t capacity)
      : mask_(std::bit_ceil(capacity < 2 ? std::size_t{2} : capacity) - 1),
        cells_(std::make_unique<cell[]>(mask_ + 1)) {
    for (std::size_t i = 0; i <= mask_; ++i) {
      // Relaxed: the constructor is not concurrent with anything; the thread
      // start that publishes the ring synchronises.
      cells_[i].sequence.store(i, std::memory_order_relaxed);
    }
  }

  ~mpsc_ring() {
    F discard;
    while (try_pop(discard)) discard = F();
  }

  mpsc_ring(const mpsc_ring&) = delete;
  mpsc_ring& operator=(const mpsc_ring&) = delete;

  std::size_t capacity() const noexcept { return mask_ + 1; }

  bool try_push(F& frame) noexcept {
    // Relaxed: a starting guess; the cell's sequence decides.
    std::uint64_t pos = producer_.enqueue_pos.load(std::memory_order_relaxed);
    cell* c;
    for (;;) {
      c = &cells_[pos & mask_];
      // Acquire: pairs with the consumer's release in try_pop, so its move
      // out of this cell happened before we move in.
      const std::uint64_t seq = c->sequence.load(std::memory_order_acquire);
      const auto diff = static_cast<std::int64_t>(seq - pos);
      if (diff == 0) {
        // Relaxed: the CAS only hands out the position (see header comment).
        if (producer_.enqueue_pos.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed,
                                                        std::memory_order_relaxed)) {
          break;
        }
      } else if (diff < 0) {
        return false;  // the cell still holds the frame from one lap ago: full
      } else {
        pos = producer_.enqueue_pos.load(std::memory_order_relaxed);  // another producer won
      }
    }
    ::new (static_cast<void*>(c->storage)) F(std::move(frame));
    // Release: publishes the frame to the consumer's acquire load.
    c->sequence.store(pos + 1, std::memory_order_release);
    wake_.ready.notify_all();
    return true;
  }

  bool try_pop(F& out) noexcept {
    std::uint64_t& dequeue_pos = consumer_.dequeue_pos;
    cell& c = cells_[dequeue_pos & mask_];
    // Acquire: pairs with the producer's release, making the frame visible.
    const std::uint64_t seq = c.sequence.load(std::memory_order_acquire);
    if (seq != dequeue_pos + 1) return false;  // empty, or the producer is mid-write
    F* f = std::launder(reinterpret_cast<F*>(c.storage));
    out = std::move(*f);
    f->~F();
    // Release: our move-out is complete before a producer reuses the cell.
    c.sequence.store(dequeue_pos + mask_ + 1, std::memory_order_release);
    ++dequeue_pos;
    return true;
  }

  bool pop_wait(F& out, absl::Time deadline) {
    bool got = false;
    wake_.ready.await([&] { return (got = try_pop(out)) || closed(); }, deadline);
    return got;
  }

  // True while the consumer is in pop_wait's sleep, or committed to it (a
  // push or close() from now on must wake it). For tests and diagnostics.
  bool consumer_waiting() const noexcept { return wake_.ready.waiters() != 0; }

  void close() noexcept {
    // Release: ordered before notify_all's fence; the consumer's re-check
    // after prepare_wait reads it.
    wake_.closed.store(true, std::memory_order_release);
    wake_.ready.notify_all();
  }

 private:
  bool closed() const noexcept {
    // Acquire: pairs with close().
    return wake_.closed.load(std::memory_order_acquire);
  }

  struct cell {
    std::atomic<std::uint64_t> sequence;
    alignas(F) std::byte storage[sizeof(F)];
  };
  // Each contended field on a line of its own (see "Layout").
  struct alignas(detail::kCacheLine) producer_side {
    std::atomic<std::uint64_t> enqueue_pos{0};  // CAS by every producer
  };
  struct alignas(detail::kCacheLine) consumer_side {
    std::uint64_t dequeue_pos = 0;  // written by the consumer on every pop
  };
  struct alignas(detail::kCacheLine) wake_side {
    std::atomic<bool> closed{false};
    event_count ready;  // waiter count read by every push
  };
  static_assert(sizeof(producer_side) == detail::kCacheLine &&
                    sizeof(consumer_side) == detail::kCacheLine,
                "mpsc_ring: the producers' and the consumer's index must each fill one cache "
                "line, to prevent false sharing");
  static_assert(sizeof(wake_side) % detail::kCacheLine == 0,
                "mpsc_ring: the wake-up state must not share a line with the indices");

  // Read-only after construction: shared by everyone without contention.
  const std::size_t mask_;
  const std::unique_ptr<cell[]> cells_;
  producer_side producer_;
  consumer_side consumer_;
  wake_side wake_;
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_QUEUE_MPSC_RING_H_
