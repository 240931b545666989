// tests/policy_matrix.h
// -----------------------------------------------------------------------------
// The policy matrix the typed matrix tests share: every shipped queue (over
// frame type F, the byte ring included) x backpressure x batcher, as policy_set types with a sink
// S, built with Hana's cartesian_product, plus the drop policies (drop_newest with every queue,
// drop_oldest with the queues that can evict); the retrying send that lets a fail-fast policy take
// part; and `kDrops<B>`, which tells the suites to accept dropped frames (an in-order subsequence
// per producer, accepted == written + dropped) for the drop policies only. Used by matrix_test.cc
// (procwire frames) and framing_matrix_test.cc (length-prefixed and raw frames).
#ifndef FUNNEL_TESTS_POLICY_MATRIX_H_
#define FUNNEL_TESTS_POLICY_MATRIX_H_

#include <boost/hana/at.hpp>
#include <boost/hana/cartesian_product.hpp>
#include <boost/hana/concat.hpp>
#include <boost/hana/drop_front.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/take_front.hpp>
#include <boost/hana/transform.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>
#include <boost/hana/unpack.hpp>
#include <cstddef>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "funnel/concepts.h"  // dropping_backpressure
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/backpressure/drop_newest_backpressure.h"
#include "funnel/policies/backpressure/drop_oldest_backpressure.h"
#include "funnel/policies/backpressure/fail_fast_backpressure.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/backpressure/spin_backpressure.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/policies/batcher/coalescing_batcher.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/batcher/linger_batcher.h"
#include "funnel/policies/queue/boost_lockfree_queue.h"
#include "funnel/policies/queue/byte_ring.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/queue/mutex_queue.h"
#include "funnel/policy_set.h"
#include "gtest/gtest.h"

namespace funnel::testing_internal {

// A linger batcher that actually lingers (the default lingers 0).
struct linger_1ms : linger_batcher {
  linger_1ms() : linger_batcher({.max_frames = 32, .small = 4, .linger = absl::Milliseconds(1)}) {}
};
// condvar_backpressure with a low-water mark: waiters wake at half the bound.
struct condvar_low_water : condvar_backpressure {
  condvar_low_water() : condvar_backpressure({.low_water = 0.5}) {}
};
// A small byte bound so that batches really split.
struct byte_batcher_2k : byte_batcher {
  byte_batcher_2k() : byte_batcher(2048) {}
};

// Every combination for frames F and sink S, as ::testing::Types of policy_set.
template <class F, class S>
constexpr auto policy_matrix() {
  namespace hana = boost::hana;
  // The byte ring sends frames of 512 bytes and more by reference, so both
  // of its paths (copied in, moved in) run in every combination.
  constexpr auto queues = hana::tuple_t<mpsc_ring<F>, mutex_queue<F>, boost_lockfree_queue<F>,
                                        byte_ring<F, byte_ring_config{.by_reference_above = 512}>>;
  constexpr auto backpressures =
      hana::tuple_t<sleep_backpressure, spin_backpressure, condvar_backpressure, condvar_low_water,
                    fail_fast_backpressure>;
  constexpr auto batchers =
      hana::tuple_t<count_batcher, byte_batcher_2k, linger_1ms, coalescing_batcher>;
  // drop_oldest needs a Queue with try_evict (the others fail to compile,
  // tests/compile_fail/drop_oldest_with_mpsc_ring.cc).
  constexpr auto evicting_queues = hana::tuple_t<mutex_queue<F>, boost_lockfree_queue<F>>;
  constexpr auto as_policy_set = [](auto c) {
    using Q = typename decltype(+hana::at_c<0>(c))::type;
    using B = typename decltype(+hana::at_c<1>(c))::type;
    using Bt = typename decltype(+hana::at_c<2>(c))::type;
    return hana::type_c<policy_set<Q, S, B, Bt>>;
  };
  constexpr auto combos = hana::concat(
      hana::concat(
          hana::transform(
              hana::cartesian_product(hana::make_tuple(queues, backpressures, batchers)),
              as_policy_set),
          hana::transform(hana::cartesian_product(hana::make_tuple(
                              queues, hana::tuple_t<drop_newest_backpressure<>>, batchers)),
                          as_policy_set)),
      hana::transform(hana::cartesian_product(hana::make_tuple(
                          evicting_queues, hana::tuple_t<drop_oldest_backpressure<>>, batchers)),
                      as_policy_set));
  constexpr std::size_t kCombinations = 80 + 16 + 8;
  static_assert(hana::length(combos) == hana::size_c<kCombinations>);
#if defined(FUNNEL_MATRIX_PART)
  // One half of the combinations (FUNNEL_MATRIX_PART 0 or 1), for toolchains
  // whose object files cannot hold the symbols of a whole matrix (MinGW's
  // PE/COFF string table; tests/CMakeLists.txt builds two binaries there).
  constexpr auto half = hana::size_c<kCombinations / 2>;
#if FUNNEL_MATRIX_PART == 0
  constexpr auto selected = hana::take_front(combos, half);
#else
  constexpr auto selected = hana::drop_front(combos, half);
#endif
#else
  constexpr auto selected = combos;
#endif
  return hana::unpack(selected, [](auto... t) {
    return hana::type_c<::testing::Types<typename decltype(t)::type...>>;
  });
}
template <class F, class S>
using policy_matrix_types = typename decltype(policy_matrix<F, S>())::type;

// True for the drop policies: the suites then accept dropped frames.
template <class B>
inline constexpr bool kDrops = dropping_backpressure<B>;

// Sends `f`, retrying while a fail-fast policy (or a timed-out wait) says
// "full"; any other status is returned.
template <class Handle, class F>
absl::Status send_retrying(Handle& handle, F f) {
  for (;;) {
    absl::Status s = handle.send(std::move(f));
    if (s.code() != absl::StatusCode::kDeadlineExceeded &&
        s.code() != absl::StatusCode::kResourceExhausted) {
      return s;
    }
    std::this_thread::yield();
  }
}

}  // namespace funnel::testing_internal

#endif  // FUNNEL_TESTS_POLICY_MATRIX_H_
