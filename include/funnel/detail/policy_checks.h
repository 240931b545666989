// funnel/detail/policy_checks.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// `check_policies<Q, S, B, Bt, O>()`: checks each policy of a basic_writer
// against its concept (funnel/concepts.h) member by member, so that a policy
// missing something fails with one `static_assert` sentence naming the member
// instead of a page of template errors. tests/compile_fail/ pins the wording.
#ifndef FUNNEL_DETAIL_POLICY_CHECKS_H_
#define FUNNEL_DETAIL_POLICY_CHECKS_H_

#include <concepts>
#include <cstddef>

#include "funnel/concepts.h"
#include "funnel/observer.h"

namespace funnel::detail {

// Checks each policy against its concept member by member, so that a policy
// missing something fails with a sentence naming it.
template <class Q, class S, class B, class Bt, class O = no_observer>
consteval bool check_policies() {
  static_assert(queue_has_value_type<Q>,
                "funnel: the Queue policy needs `using value_type = <its frame type>` (the "
                "shipped queues take it as a parameter: mpsc_ring<outbound_frame>)");
  if constexpr (queue_has_value_type<Q>) {
    static_assert(check_frame<typename Q::value_type>(),
                  "funnel: the Queue's value_type is not a frame (see funnel/frame.h)");
  }
  // A byte queue (byte_ring) is checked by its own concept; a frame queue
  // member by member.
  if constexpr (!byte_queue<Q>) {
    static_assert(std::constructible_from<Q, std::size_t>,
                  "funnel: the Queue policy needs a constructor Q(std::size_t capacity)");
    static_assert(queue_has_try_push<Q>,
                  "funnel: the Queue policy needs `bool try_push(value_type&)`");
    static_assert(queue_has_try_pop<Q>,
                  "funnel: the Queue policy needs `bool try_pop(value_type&)`");
    static_assert(queue_has_pop_wait<Q>,
                  "funnel: the Queue policy needs `bool pop_wait(value_type&, absl::Time)`");
    static_assert(queue_has_close<Q>, "funnel: the Queue policy needs `void close()`");
    static_assert(queue_has_capacity<Q>,
                  "funnel: the Queue policy needs `std::size_t capacity() const`");
  }
  static_assert(std::move_constructible<S>, "funnel: the Sink policy must be move-constructible");
  static_assert(sink_has_write<S>,
                "funnel: the Sink policy needs `absl::StatusOr<std::size_t> "
                "write(std::span<const funnel::const_buffer>)`");
  static_assert(std::move_constructible<B>,
                "funnel: the Backpressure policy must be move-constructible");
  static_assert(backpressure_has_wait<B>,
                "funnel: the Backpressure policy needs `bool wait(absl::FunctionRef<bool()>, "
                "absl::Time)`");
  static_assert(backpressure_has_notify<B>,
                "funnel: the Backpressure policy needs `void notify()`");
  if constexpr (overflow_of<B> == overflow_action::drop_oldest) {
    static_assert(
        queue_with_evict<Q>,
        "funnel: drop_oldest_backpressure needs a Queue with `bool try_evict(value_type&)` "
        "callable from producers (mutex_queue, boost_lockfree_queue); mpsc_ring has a "
        "single consumer and byte_ring frees space in order, so neither can evict: use "
        "drop_newest_backpressure with them");
  }
  if constexpr (dropping_backpressure<B>) {
    static_assert(
        requires(B & b, const typename Q::value_type& f) { b.on_drop(f); },
        "funnel: a drop Backpressure policy needs `void on_drop(const value_type&)`");
  }
  static_assert(std::copy_constructible<Bt>, "funnel: the Batcher policy must be copyable");
  static_assert(batcher_has_admits<Bt>,
                "funnel: the Batcher policy needs `bool admits(const batch_stats&, std::size_t) "
                "const`");
  static_assert(batcher_has_hint<Bt>,
                "funnel: the Batcher policy needs `std::size_t max_frames_hint() const`");
  // Optional hooks: a member with a hook's name but the wrong signature
  // would be silently ignored, so it is an error instead.
  if constexpr (requires { &S::flush; }) {
    static_assert(flushable_sink<S>, "funnel: the Sink's flush() must return absl::Status");
  }
  if constexpr (requires { &S::on_writer_thread_start; }) {
    static_assert(sink_with_thread_start<S>,
                  "funnel: the Sink's on_writer_thread_start() must take no arguments");
  }
  if constexpr (requires { &S::on_writer_thread_stop; }) {
    static_assert(sink_with_thread_stop<S>,
                  "funnel: the Sink's on_writer_thread_stop() must take no arguments");
  }
  if constexpr (requires { &S::cancel; }) {
    static_assert(cancellable_sink<S>,
                  "funnel: the Sink's cancel() must take no arguments and be noexcept");
  }
  if constexpr (requires { &S::status; }) {
    static_assert(sink_with_status<S>,
                  "funnel: the Sink's status() must be const and return absl::Status");
  }
  if constexpr (requires { &Bt::linger; }) {
    static_assert(batcher_with_linger<Bt>,
                  "funnel: the Batcher's linger(const batch_stats&) must be const and return "
                  "absl::Duration");
  }
  if constexpr (requires { &Bt::coalesce_below; }) {
    static_assert(batcher_with_coalescing<Bt>,
                  "funnel: the Batcher's coalesce_below() must be const and return a size");
  }
  static_assert(std::move_constructible<O>,
                "funnel: the Observer policy must be move-constructible");
  static_assert(observer_has_on_batch<O>,
                "funnel: the Observer policy needs `void on_batch(const funnel::batch_report&)` "
                "(see funnel/observer.h)");
  return writer_queue<Q> && sink<S> && backpressure<B> && batcher<Bt> && observer<O>;
}

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_POLICY_CHECKS_H_
