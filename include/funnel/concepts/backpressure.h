// funnel/concepts/backpressure.h
// -----------------------------------------------------------------------------
// The Backpressure concept, its optional water-mark hook and overflow members.
// One of the four policy concepts of funnel/concepts.h, which includes it
// and says how to read these blocks (threads, optional hooks).
#ifndef FUNNEL_CONCEPTS_BACKPRESSURE_H_
#define FUNNEL_CONCEPTS_BACKPRESSURE_H_

#include <concepts>

#include "absl/functional/function_ref.h"  // wait's predicate, no allocation
#include "absl/time/time.h"                // deadlines
#include "funnel/overflow.h"               // what a Backpressure policy may do besides waiting

namespace funnel {

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
// drop_oldest_backpressure<OnDrop> (policies/backpressure/). Conformance
// suites: funnel/testing/backpressure_conformance.h for waiting policies,
// funnel/testing/overflow_conformance.h for dropping ones.
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

}  // namespace funnel

#endif  // FUNNEL_CONCEPTS_BACKPRESSURE_H_
