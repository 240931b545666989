// funnel/concepts/queue.h
// -----------------------------------------------------------------------------
// The Queue concepts: queue (frames), byte_queue (a byte ring), writer_queue.
// One of the four policy concepts of funnel/concepts.h, which includes it
// and says how to read these blocks (threads, optional hooks).
#ifndef FUNNEL_CONCEPTS_QUEUE_H_
#define FUNNEL_CONCEPTS_QUEUE_H_

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"  // pop_wait's deadline
#include "funnel/buffer.h"   // const_buffer
#include "funnel/frame.h"    // the Frame concept a Queue carries

namespace funnel {

// -----------------------------------------------------------------------------
// Queue: carries frames from producers to the writer thread.
//
// Required expressions, for `Q q`, `typename Q::value_type f`, `absl::Time d`:
//   Q::value_type             the frame type it carries (a funnel::frame);
//                             the writer's frame type.
//   Q(std::size_t capacity)   Constructs a queue holding at least `capacity`
//                             frames. basic_writer passes a capacity of at
//                             least max_pending_frames, so a producer that
//                             holds pending budget never finds it full.
//   q.try_push(f) -> bool     producer. Moves `f` in and returns true, or
//                             returns false (full) and leaves `f` untouched.
//                             Never blocks. Must wake a consumer blocked in
//                             pop_wait. The push happens-before the pop that
//                             returns the frame.
//   q.try_pop(f) -> bool      writer. Moves the oldest frame into `f`, or
//                             returns false when none is ready. Never blocks.
//   q.pop_wait(f, d) -> bool  writer. As try_pop, but when empty blocks
//                             WITHOUT SPINNING (unless the model is named a
//                             spinning one) until a frame arrives, `d` passes
//                             or the queue is closed. Returns false on the
//                             last two. Spurious false returns are allowed.
//                             funnel::event_count::await (funnel/event_count.h)
//                             is the one-call way to write it.
//   q.close()                 any thread, idempotent. After it, pop_wait on
//                             an empty queue returns false at once; a
//                             consumer blocked in pop_wait wakes. Pushes are
//                             still accepted (basic_writer decides who may
//                             push; the queue only has to wake the reader).
//   q.capacity() -> size_t    any thread.
// Optional member (needed by drop_oldest_backpressure, checked when used):
//   q.try_evict(f) -> bool    any producer thread, CONCURRENTLY with try_pop
//                             on the writer thread and with other try_evict
//                             and try_push calls. Moves the oldest frame the
//                             writer has not taken yet into `f`, or returns
//                             false when there is none. Never blocks (beyond
//                             a short lock). An evicted frame is never seen by
//                             try_pop. Models: mutex_queue, boost_lockfree_queue;
//                             mpsc_ring and byte_ring have a single consumer.
// Order: frames pushed by one producer are popped in push order (FIFO per
// producer); frames of different producers are interleaved in some order.
// The writer may push an empty (default-constructed) frame, the express
// lane's wake token (detail/express_lane.h), and skips it when popped; it
// constructs the queue with one slot more for it.
//
// Models: mpsc_ring<F>, mutex_queue<F>, boost_lockfree_queue<F>
// (policies/queue/), for any frame type F.
//
// The other kind of Queue, a byte ring where producers encode in place, is
// the concept byte_queue below; basic_writer selects its loop by concept, so
// its public API is the same for both (plus claim() for byte queues).
template <class Q>
concept queue_has_value_type = requires {
  typename Q::value_type;
};
template <class Q>
concept queue_carries_frames = queue_has_value_type<Q> && frame<typename Q::value_type>;
template <class Q>
concept queue_has_try_push = queue_has_value_type<Q> && requires(Q& q, typename Q::value_type& f) {
  { q.try_push(f) } -> std::same_as<bool>;
};
template <class Q>
concept queue_has_try_pop = queue_has_value_type<Q> && requires(Q& q, typename Q::value_type& f) {
  { q.try_pop(f) } -> std::same_as<bool>;
};
template <class Q>
concept queue_has_pop_wait = queue_has_value_type<Q> &&
    requires(Q& q, typename Q::value_type& f, absl::Time d) {
  { q.pop_wait(f, d) } -> std::same_as<bool>;
};
template <class Q>
concept queue_has_close = requires(Q& q) {
  q.close();
};
template <class Q>
concept queue_has_capacity = requires(const Q& q) {
  { q.capacity() } -> std::convertible_to<std::size_t>;
};
template <class Q>
concept queue_with_evict = queue_has_value_type<Q> && requires(Q& q, typename Q::value_type& f) {
  { q.try_evict(f) } -> std::same_as<bool>;
};
template <class Q>
concept queue =
    queue_carries_frames<Q> && std::constructible_from<Q, std::size_t> && queue_has_try_push<Q> &&
    queue_has_try_pop<Q> && queue_has_pop_wait<Q> && queue_has_close<Q> && queue_has_capacity<Q>;

// -----------------------------------------------------------------------------
// Byte queue: a bounded MPSC ring of bytes whose producers encode frames in
// place (reserve, write, commit) and whose writer writes whole committed
// regions. The model, funnel::byte_ring (policies/queue/byte_ring.h),
// documents each member; the record format is funnel's own
// (detail/ring_words.h), so a byte queue is a byte_ring configuration
// (byte_ring_config) rather than a type written from scratch: the concept
// exists so the writer can tell the two kinds of Queue apart and word its
// errors.
//   Q::value_type, Q::reservation, Q::config
//   Q(std::size_t max_bytes, std::size_t max_records)
//   q.try_reserve(n, contiguous, r) -> bool, q.copy_in(r, at, buffer),
//   q.data(r) -> std::byte*, q.commit(r, kind), q.mark_claimed(r),
//   q.commit_claim(r, kind) -> bool                  producers
//   q.state(count), q.abandon(count, state), q.release(count, at),
//   q.wait_readable(cond, deadline), q.data_ranges(at, state, out),
//   q.frame_at(at, wraps)                            the writer
//   q.tail(), q.close(), q.closed(), q.capacity(), q.max_bytes()
template <class Q>
concept byte_queue = queue_carries_frames<Q> &&
    std::constructible_from<Q, std::size_t, std::size_t> &&
    requires(Q& q, typename Q::reservation& r, std::size_t n, const_buffer b) {
  { q.try_reserve(n, true, r) } -> std::same_as<bool>;
  q.copy_in(r, n, b);
  { q.data(r) } -> std::same_as<std::byte*>;
  q.mark_claimed(r);
  { q.state(std::uint64_t{}) } -> std::same_as<std::uint64_t>;
  q.release(std::uint64_t{}, std::uint64_t{});
  { q.tail() } -> std::same_as<std::uint64_t>;
  { q.max_bytes() } -> std::convertible_to<std::size_t>;
  q.close();
};

// What basic_writer's Queue parameter accepts: a frame queue or a byte queue.
template <class Q>
concept writer_queue = queue<Q> || byte_queue<Q>;

}  // namespace funnel

#endif  // FUNNEL_CONCEPTS_QUEUE_H_
