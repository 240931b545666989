// funnel/concepts.h
// -----------------------------------------------------------------------------
// The four policy concepts `basic_writer<Queue, Sink, Backpressure, Batcher>`
// is built from (Frame, what travels, is in funnel/frame.h; the writer takes
// its frame type from Queue::value_type; the optional fifth policy, Observer,
// defaulted to no_observer, is in funnel/observer.h). Each concept block says:
// the required expressions, their semantics, which thread may call what, and the models funnel
// ships.
//
// Threads, as used below:
//   * producer: any thread holding a writer handle (many, concurrently);
//   * writer:   the one thread basic_writer starts (exactly one);
//   * owner:    the thread that constructs, closes or destroys the writer.
//
// Policies are data members of the writer's shared state, never base classes.
// Optional hooks are detected with `requires`, never virtual functions.
//
// A policy that misses a member fails at the point of use with a
// `static_assert` sentence naming the member (see basic_writer.h); the
// fine-grained concepts below exist to word those sentences.
#ifndef FUNNEL_CONCEPTS_H_
#define FUNNEL_CONCEPTS_H_

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "absl/functional/function_ref.h"  // Backpressure::wait's predicate, no allocation
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"  // deadlines
#include "funnel/buffer.h"
#include "funnel/frame.h"     // the Frame concept a Queue carries
#include "funnel/overflow.h"  // what a Backpressure policy may do besides waiting

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

// -----------------------------------------------------------------------------
// Sink: where the bytes go. Owned by the writer and called only from the
// writer thread, so a sink needs no synchronisation of its own.
//
// Required expressions, for `S s`, `std::span<const const_buffer> b`:
//   S is move-constructible   (it is moved into the writer).
//   s.write(b) -> absl::StatusOr<std::size_t>
//       Writes a prefix of the concatenation of `b` (b is never empty and
//       holds no zero-length range) and returns how many bytes it took:
//       at least 1 on success. Short counts are normal (pipe buffer full,
//       IOV_MAX reached); the writer calls again with the rest, resuming at
//       the exact byte. Interrupts (EINTR) and would-block (EAGAIN) are the
//       sink's business: a sink either retries/waits or returns an error.
//       An error status stops the writer; its message must name the cause
//       (errno text, the limit exceeded).
// Optional hooks:
//   s.flush() -> absl::Status      called once at the end of each batch.
//   s.on_writer_thread_start()     called once on the writer thread before
//                                  the first write (e.g. to mask SIGPIPE).
//   s.on_writer_thread_stop()      called once on the writer thread after its
//                                  last write (clean close or failure), before
//                                  close() returns: undo what the start hook
//                                  did. Exceptions from it are ignored.
//   s.cancel() noexcept            owner thread, CONCURRENTLY with a write()
//                                  on the writer thread: makes a write that
//                                  is blocked (waiting for the peer) return an
//                                  error promptly, and every later write fail
//                                  at once. Idempotent. Called only when a
//                                  close(deadline) or the destructor's
//                                  shutdown_timeout runs out; without it, such
//                                  a close waits for the blocked write() to
//                                  return on its own (e.g. a write timeout).
//
// Exceptions: a write(), flush() or hook that throws fails the writer with
// Internal naming what() (the process lives on); prefer returning a status.
//
// Models: posix_writev_sink, memory_sink, and on Windows win32_handle_sink,
// win32_socket_sink (policies/sink/). Conformance suite:
// funnel/testing/sink_conformance.h.
template <class S>
concept sink_has_write = requires(S& s, std::span<const const_buffer> b) {
  { s.write(b) } -> std::same_as<absl::StatusOr<std::size_t>>;
};
template <class S>
concept sink = std::move_constructible<S> && sink_has_write<S>;
template <class S>
concept flushable_sink = sink<S> && requires(S& s) {
  { s.flush() } -> std::same_as<absl::Status>;
};
template <class S>
concept sink_with_thread_start = sink<S> && requires(S& s) {
  s.on_writer_thread_start();
};
template <class S>
concept sink_with_thread_stop = sink<S> && requires(S& s) {
  s.on_writer_thread_stop();
};
template <class S>
concept cancellable_sink = sink<S> && requires(S& s) {
  { s.cancel() }
  noexcept;
};

// -----------------------------------------------------------------------------
// Backpressure: how a producer waits while too much is pending.
//
// The bound itself is not the policy's business: basic_writer keeps exact
// frame and byte budgets (a compare-and-swap admission, so concurrent
// producers can never overshoot). The policy only decides how to wait for
// budget to come back: spin, sleep, block on a condition variable, or not at
// all.
//
// Required expressions, for `B b`, `absl::FunctionRef<bool()> ready`,
// `absl::Time d`:
//   B is move-constructible (the writer moves the policy object it is given
//   into place). Only basic_writer's default constructor argument
//   (`Backpressure{}`) needs it default-constructible too; a policy holding
//   a capturing callable is passed in explicitly.
//   b.wait(ready, d) -> bool   producer, concurrently from many threads.
//       Calls `ready()` until it returns true (then returns true) or until `d`
//       has passed (then returns false). Calls it at least once. `ready()`
//       is cheap, never blocks, and is true also when the writer stops, so a
//       waiter never outlives the writer's usefulness.
//   b.notify()                 writer (after it released budget) and owner
//                              (on close). Wakes waiters that block; a policy
//                              that polls may do nothing. Must be cheap when
//                              nobody waits: it runs once per batch.
// Optional hook:
//   b.notify(const pending_level& l)
//                              writer only, once per batch after it released
//                              budget, INSTEAD of notify(): `l` is what is
//                              still pending. A policy may leave its waiters
//                              asleep until pending falls below a low-water
//                              mark (condvar_backpressure's water marks).
//                              Only the writer skips wake-ups this way: close,
//                              failure and a producer backing out always call
//                              notify(). Skipping is safe because while
//                              anything is pending another batch (and another
//                              call) follows; a policy must wake its waiters
//                              at least when l.frames == 0.
//
// Optional members (an overflow policy instead of waiting):
//   B::overflow                `static constexpr funnel::overflow_action`;
//                              without it, `wait`. With drop_newest or
//                              drop_oldest, admission never calls wait():
//                              when the budget is full it drops a frame
//                              (see overflow_action) and the send returns OK.
//   b.on_drop(f)               producer, concurrently from many threads:
//                              told about each frame it drops (`const F&`),
//                              on the producer thread that drops it, after
//                              the drop is counted in writer_stats.
//
// Models: sleep_backpressure, spin_backpressure, condvar_backpressure,
// fail_fast_backpressure, drop_newest_backpressure<OnDrop>,
// drop_oldest_backpressure<OnDrop> (policies/backpressure/).
//
// overflow_action, overflow_of, ignore_drops: funnel/overflow.h.
template <class B>
concept backpressure_has_wait = requires(B& b, absl::FunctionRef<bool()> ready, absl::Time d) {
  { b.wait(ready, d) } -> std::same_as<bool>;
};
template <class B>
concept backpressure_has_notify = requires(B& b) {
  b.notify();
};
template <class B>
concept backpressure =
    std::move_constructible<B> && backpressure_has_wait<B> && backpressure_has_notify<B>;

// -----------------------------------------------------------------------------
// Batcher: how many frames one gather write takes. Called only from the
// writer thread.
//
// What the writer tells it about the batch being assembled:
struct batch_stats {
  std::size_t frames = 0;  // frames already in the batch
  std::size_t bytes = 0;   // their wire bytes (Frame::size(), summed)
};
// Required expressions, for `const Bt bt`, `batch_stats st`, `std::size_t n`:
//   bt.admits(st, n) -> bool  May a frame of `n` wire bytes join a batch that
//                             holds `st`? Asked only when st.frames >= 1: the
//                             first frame of a batch always joins. A refused
//                             frame starts the next batch.
//   bt.max_frames_hint() -> size_t
//                             A typical upper bound on frames per batch; the
//                             writer reserves its buffers for it once, so the
//                             steady state allocates nothing.
//
// Optional hooks:
//   bt.linger(st) -> absl::Duration
//       Asked when the queue runs dry with the batch holding `st`: how long
//       to wait for more frames before writing (zero or less: write now).
//       Measured from the first time the queue ran dry for this batch; asked
//       again after each frame that arrives, so a batch that has grown large
//       enough can stop lingering. Without the hook: never linger.
//   bt.coalesce_below() -> std::size_t
//       Frame ranges (Frame::wire()) shorter than this are copied into one
//       contiguous staging buffer the writer owns, so runs of small frames
//       become one range instead of one or two per frame; longer ranges
//       (large payloads) are still written from the producer's buffer.
//       Without the hook: no copying.
//
// Models: count_batcher, byte_batcher, linger_batcher, coalescing_batcher
// (policies/batcher/); the wrappers lingering<Inner> and coalescing<Inner>
// add a hook to any batcher and compose. Conformance suite:
// funnel/testing/batcher_conformance.h.
template <class Bt>
concept batcher_has_admits = requires(const Bt& bt, const batch_stats& st, std::size_t n) {
  { bt.admits(st, n) } -> std::same_as<bool>;
};
template <class Bt>
concept batcher_has_hint = requires(const Bt& bt) {
  { bt.max_frames_hint() } -> std::convertible_to<std::size_t>;
};
template <class Bt>
concept batcher = std::copy_constructible<Bt> && batcher_has_admits<Bt> && batcher_has_hint<Bt>;
template <class Bt>
concept batcher_with_linger = batcher<Bt> && requires(const Bt& bt, const batch_stats& st) {
  { bt.linger(st) } -> std::same_as<absl::Duration>;
};
template <class Bt>
concept batcher_with_coalescing = batcher<Bt> && requires(const Bt& bt) {
  { bt.coalesce_below() } -> std::convertible_to<std::size_t>;
};

}  // namespace funnel

#endif  // FUNNEL_CONCEPTS_H_
