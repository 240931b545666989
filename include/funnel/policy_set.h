// funnel/policy_set.h
// -----------------------------------------------------------------------------
// The policy algebra: a preset is a named compile-time bundle of the four
// policies; a user swaps one policy of a preset without restating the others.
//
//   using my_writer = funnel::writer_for<
//       funnel::with<funnel::procwire_preset, funnel::condvar_backpressure>>;
//
// `with<Preset, Policy>` finds the axis `Policy` belongs to from the concept
// it models (a type that models none, or more than one, is a compile error
// that says so); `with_queue`, `with_sink`, `with_backpressure` and
// `with_batcher` name the axis explicitly.
//
// A preset is a Boost.Hana map from axis to policy type (`Preset::policies`),
// so generic code can walk, compare or rewrite presets (the test and
// benchmark matrices do); `policy_set` turns such a map back into a type.
// Hana stays here, where types are computed; the writer itself is plain C++20.
//
// This header needs only the concepts and Hana: no policy, no
// framing, no platform header. The presets themselves live one per header
// (funnel/procwire/preset.h, ...); funnel/presets.h includes them all.
#ifndef FUNNEL_POLICY_SET_H_
#define FUNNEL_POLICY_SET_H_

#include <boost/hana/at_key.hpp>
#include <boost/hana/erase_key.hpp>
#include <boost/hana/insert.hpp>
#include <boost/hana/map.hpp>
#include <boost/hana/pair.hpp>
#include <boost/hana/type.hpp>

#include "funnel/concepts.h"  // which axis a policy belongs to

namespace funnel {

// The four axes, as keys of a preset's map.
struct queue_axis {};
struct sink_axis {};
struct backpressure_axis {};
struct batcher_axis {};

inline constexpr auto kQueueAxis = boost::hana::type_c<queue_axis>;
inline constexpr auto kSinkAxis = boost::hana::type_c<sink_axis>;
inline constexpr auto kBackpressureAxis = boost::hana::type_c<backpressure_axis>;
inline constexpr auto kBatcherAxis = boost::hana::type_c<batcher_axis>;

// A preset: one model per axis.
template <class Queue, class Sink, class Backpressure, class Batcher>
struct policy_set {
  using queue_type = Queue;
  using sink_type = Sink;
  using backpressure_type = Backpressure;
  using batcher_type = Batcher;

  // The same preset as a Hana map from axis to policy type.
  static constexpr auto policies = boost::hana::make_map(
      boost::hana::make_pair(kQueueAxis, boost::hana::type_c<Queue>),
      boost::hana::make_pair(kSinkAxis, boost::hana::type_c<Sink>),
      boost::hana::make_pair(kBackpressureAxis, boost::hana::type_c<Backpressure>),
      boost::hana::make_pair(kBatcherAxis, boost::hana::type_c<Batcher>));
};

template <class Queue, class Sink, class Backpressure, class Batcher>
class basic_writer;  // funnel/basic_writer.h, which users of writer_for include

// The writer a preset describes.
template <class Preset>
using writer_for = basic_writer<typename Preset::queue_type, typename Preset::sink_type,
                                typename Preset::backpressure_type, typename Preset::batcher_type>;

namespace detail {

// Hana map (axis -> type) back to a policy_set type.
template <class Map>
constexpr auto policy_set_from(Map map) {
  using Q = typename decltype(+map[kQueueAxis])::type;
  using S = typename decltype(+map[kSinkAxis])::type;
  using B = typename decltype(+map[kBackpressureAxis])::type;
  using Bt = typename decltype(+map[kBatcherAxis])::type;
  return boost::hana::type_c<policy_set<Q, S, B, Bt>>;
}

template <class Preset, class Policy, class AxisKey>
constexpr auto replace(AxisKey axis) {
  auto without = boost::hana::erase_key(Preset::policies, axis);
  return policy_set_from(
      boost::hana::insert(without, boost::hana::make_pair(axis, boost::hana::type_c<Policy>)));
}

// The axis a policy type belongs to, from the concept it models.
template <class Policy>
constexpr auto axis_of() {
  constexpr int matches = int{writer_queue<Policy>} + int{sink<Policy>} +
                          int{backpressure<Policy>} + int{batcher<Policy>};
  static_assert(matches != 0,
                "funnel::with: the policy models none of the Queue, Sink, Backpressure and "
                "Batcher concepts (see funnel/concepts.h); use with_queue/with_sink/... to "
                "see which member is missing");
  static_assert(matches <= 1,
                "funnel::with: the policy models more than one concept; name the axis with "
                "with_queue/with_sink/with_backpressure/with_batcher");
  if constexpr (writer_queue<Policy>) {
    return kQueueAxis;
  } else if constexpr (sink<Policy>) {
    return kSinkAxis;
  } else if constexpr (backpressure<Policy>) {
    return kBackpressureAxis;
  } else {
    return kBatcherAxis;
  }
}

}  // namespace detail

// `Preset` with the policy of one axis replaced.
template <class Preset, class Queue>
using with_queue = typename decltype(detail::replace<Preset, Queue>(kQueueAxis))::type;
template <class Preset, class Sink>
using with_sink = typename decltype(detail::replace<Preset, Sink>(kSinkAxis))::type;
template <class Preset, class Backpressure>
using with_backpressure =
    typename decltype(detail::replace<Preset, Backpressure>(kBackpressureAxis))::type;
template <class Preset, class Batcher>
using with_batcher = typename decltype(detail::replace<Preset, Batcher>(kBatcherAxis))::type;

// `Preset` with the axis `Policy` models replaced by `Policy`.
template <class Preset, class Policy>
using with = typename decltype(detail::replace<Preset, Policy>(detail::axis_of<Policy>()))::type;

}  // namespace funnel

#endif  // FUNNEL_POLICY_SET_H_
