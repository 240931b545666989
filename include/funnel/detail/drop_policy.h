// funnel/detail/drop_policy.h
// -----------------------------------------------------------------------------
// The body the drop policies share (drop_newest_backpressure,
// drop_oldest_backpressure, policies/backpressure/): the overflow action the
// writer's admission reads, the Backpressure members the concept asks for
// (never called by admission for a dropping policy), and the user's on_drop
// callable. Each policy is this class with its action, plus its contract.
//
// Thread-safety: wait()/notify() are stateless; on_drop() runs on producer
// threads concurrently (the callable must allow that). Memory ordering: none.
// Blocking: never. Allocation: none (the callable's own aside).
#ifndef FUNNEL_DETAIL_DROP_POLICY_H_
#define FUNNEL_DETAIL_DROP_POLICY_H_

#include <concepts>
#include <functional>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "funnel/overflow.h"

namespace funnel::detail {

template <overflow_action Action, class OnDrop>
class drop_policy {
 public:
  // Read by admission (funnel::overflow_of).
  static constexpr overflow_action overflow = Action;

  drop_policy() requires std::default_initializable<OnDrop> : on_drop_() {}
  explicit drop_policy(OnDrop on_drop) : on_drop_(std::move(on_drop)) {}

  // Never called by admission for a dropping policy; present for the concept.
  bool wait(absl::FunctionRef<bool()> ready, absl::Time /*deadline*/) const { return ready(); }
  void notify() const noexcept {}

  // Producer thread: `frame` was dropped (and is counted already).
  template <class F>
  void on_drop(const F& frame) {
    std::invoke(on_drop_, frame);
  }

 private:
  [[no_unique_address]] OnDrop on_drop_;
};

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_DROP_POLICY_H_
