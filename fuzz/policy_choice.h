// fuzz/policy_choice.h
// -----------------------------------------------------------------------------
// Turns fuzzer bytes into a writer configuration: which Queue (always behind
// a gated_queue, see fuzz/gated_queue.h), which Backpressure, and which
// Batcher with which parameters. Each `choose_*` calls `fn` with a type tag
// (or a policy object) so that the writer type is a compile-time choice per
// branch, like the policy matrix in tests/matrix_test.cc.
//
// Thread-safety: pure functions.
#ifndef FUNNEL_FUZZ_POLICY_CHOICE_H_
#define FUNNEL_FUZZ_POLICY_CHOICE_H_

#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/backpressure/drop_newest_backpressure.h"
#include "funnel/policies/backpressure/fail_fast_backpressure.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/backpressure/spin_backpressure.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/policies/batcher/coalescing_batcher.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/batcher/linger_batcher.h"
#include "funnel/policies/queue/boost_lockfree_queue.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/queue/mutex_queue.h"
#include "fuzz/gated_queue.h"

namespace funnel::fuzzing {

// coalesce_below() == 0 (every payload referenced, none copied) is drawn too:
// partial_write_fuzz once found an empty payload reaching the sink as a
// zero-length range there (fixed in funnel/detail/gather.h; the reproducer is
// in corpus/partial_write_fuzz/coalesce_below_zero_empty_payload).
inline constexpr bool kFuzzCoalesceBelowZero = true;

template <class T>
struct type_tag {
  using type = T;
};

// Every Queue model funnel ships, gated.
template <class Fn>
void choose_queue(std::uint8_t k, Fn&& fn) {
  switch (k % 3) {
    case 0:
      fn(type_tag<gated_queue<mpsc_ring<outbound_frame>>>{});
      break;
    case 1:
      fn(type_tag<gated_queue<mutex_queue<outbound_frame>>>{});
      break;
    default:
      fn(type_tag<gated_queue<boost_lockfree_queue<outbound_frame>>>{});
      break;
  }
}

// Every Backpressure model funnel ships that works over every queue above:
// the four waiting ones by `k`, or drop_newest_backpressure when `drop`.
// (drop_oldest needs a Queue with try_evict, which gated_queue does not have.)
template <class Fn>
void choose_backpressure(std::uint8_t k, bool drop, Fn&& fn) {
  if (drop) {
    fn(type_tag<drop_newest_backpressure<>>{});
    return;
  }
  switch (k % 4) {
    case 0:
      fn(type_tag<sleep_backpressure>{});
      break;
    case 1:
      fn(type_tag<spin_backpressure>{});
      break;
    case 2:
      fn(type_tag<condvar_backpressure>{});
      break;
    default:
      fn(type_tag<fail_fast_backpressure>{});
      break;
  }
}

// Every Batcher model funnel ships, with parameters from `a` and `b`:
//   count_batcher(1 + a % 16); byte_batcher(b, 1 + a % 16);
//   coalescing_batcher{1 + a % 16, coalesce_below = b % 600, never 0 while
//   kFuzzCoalesceBelowZero is false};
//   linger_batcher{1 + a % 16, small = b % 8, linger 20 us} (the gate keeps
//   the queue dry while it lingers, so it only costs time).
template <class Fn>
void choose_batcher(std::uint8_t k, std::uint8_t a, std::uint16_t b, Fn&& fn) {
  const std::size_t frames = 1 + a % 16;
  switch (k % 4) {
    case 0:
      fn(count_batcher(frames));
      break;
    case 1:
      fn(byte_batcher(b, frames));
      break;
    case 2:
      fn(coalescing_batcher({.max_frames = frames,
                             .coalesce_below = kFuzzCoalesceBelowZero ? std::size_t{b} % 600
                                                                      : 1 + std::size_t{b} % 599}));
      break;
    default:
      fn(linger_batcher(
          {.max_frames = frames, .small = std::size_t{b} % 8, .linger = absl::Microseconds(20)}));
      break;
  }
}

}  // namespace funnel::fuzzing

#endif  // FUNNEL_FUZZ_POLICY_CHOICE_H_
