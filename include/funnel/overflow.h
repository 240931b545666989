// funnel/overflow.h
// -----------------------------------------------------------------------------
// What a Backpressure policy (funnel/concepts.h, "Backpressure") may do
// besides waiting, as optional members the writer detects:
//   * an overflow action (`B::overflow`): drop the newest or the oldest frame
//     instead of waiting (drop_newest_backpressure, drop_oldest_backpressure);
//   * water marks (`b.notify(const pending_level&)`): the writer's per-batch
//     wake-up with what is still pending, so a policy can wake its waiters
//     only at a low-water mark (condvar_backpressure({.low_water = f})).
// Types and traits only; no state, no allocation.
#ifndef FUNNEL_OVERFLOW_H_
#define FUNNEL_OVERFLOW_H_

#include <concepts>
#include <cstddef>

namespace funnel {

// What a producer does when the pending budget is full:
enum class overflow_action {
  wait,         // wait for budget as the policy's wait() says (the default)
  drop_newest,  // drop the frame being sent (spdlog's discard_new)
  drop_oldest,  // evict the oldest queued frame to admit it (spdlog's overrun_oldest);
                // needs a Queue with try_evict
};
template <class B>
inline constexpr overflow_action overflow_of = overflow_action::wait;
template <class B>
requires requires {
  { B::overflow } -> std::convertible_to<overflow_action>;
}
inline constexpr overflow_action overflow_of<B> = B::overflow;
template <class B>
concept dropping_backpressure = (overflow_of<B> != overflow_action::wait);
// The default on_drop callable of the drop policies: does nothing.
struct ignore_drops {
  template <class F>
  void operator()(const F&) const noexcept {}
};

// What is still pending after the writer released a batch's budget (the
// argument of the optional Backpressure::notify(level) hook). Frame queues:
// the pending budget; byte queues: the ring's records and bytes in use.
// Relaxed readings: producers may take budget while it is read.
struct pending_level {
  std::size_t frames = 0;      // frames (records) pending
  std::size_t max_frames = 0;  // their bound (max_pending_frames)
  std::size_t bytes = 0;       // wire bytes pending (ring: bytes in use)
  std::size_t max_bytes = 0;   // their bound; 0: no byte bound
};
template <class B>
concept backpressure_with_level = requires(B& b, const pending_level& l) {
  b.notify(l);
};

}  // namespace funnel

#endif  // FUNNEL_OVERFLOW_H_
