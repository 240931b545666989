// funnel/policy_set.h
// -----------------------------------------------------------------------------
// The policy algebra: a preset is a named compile-time bundle of the four
// policies and the optional Observer (no_observer unless given); a user swaps
// one policy of a preset without restating the others.
//
//   using my_writer = funnel::writer_for<
//       funnel::with<funnel::procwire_preset, funnel::condvar_backpressure>>;
//
// `with<Preset, Policy>` finds the axis `Policy` belongs to from the concept
// it models (a type that models none, or more than one, is a compile error
// that says so); `with_queue`, `with_sink`, `with_backpressure`,
// `with_batcher` and `with_observer` name the axis explicitly.
//
//   using observed = funnel::with<funnel::procwire_preset, funnel::summary_observer>;
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
#include "funnel/observer.h"  // the fifth axis and its default, no_observer

namespace funnel {

// The five axes, as keys of a preset's map.
struct queue_axis {};
struct sink_axis {};
struct backpressure_axis {};
struct batcher_axis {};
struct observer_axis {};

inline constexpr auto kQueueAxis = boost::hana::type_c<queue_axis>;
inline constexpr auto kSinkAxis = boost::hana::type_c<sink_axis>;
inline constexpr auto kBackpressureAxis = boost::hana::type_c<backpressure_axis>;
inline constexpr auto kBatcherAxis = boost::hana::type_c<batcher_axis>;
inline constexpr auto kObserverAxis = boost::hana::type_c<observer_axis>;

// A preset: one model per axis (policy_set<Q, S, B, Bt> has no observer).
template <class Queue, class Sink, class Backpressure, class Batcher, class Observer = no_observer>
struct policy_set {
  using queue_type = Queue;
  using sink_type = Sink;
  using backpressure_type = Backpressure;
  using batcher_type = Batcher;
  using observer_type = Observer;

  // The same preset as a Hana map from axis to policy type.
  static constexpr auto policies = boost::hana::make_map(
      boost::hana::make_pair(kQueueAxis, boost::hana::type_c<Queue>),
      boost::hana::make_pair(kSinkAxis, boost::hana::type_c<Sink>),
      boost::hana::make_pair(kBackpressureAxis, boost::hana::type_c<Backpressure>),
      boost::hana::make_pair(kBatcherAxis, boost::hana::type_c<Batcher>),
      boost::hana::make_pair(kObserverAxis, boost::hana::type_c<Observer>));
};

template <class Queue, class Sink, class Backpressure, class Batcher, class Observer>
class basic_writer;  // funnel/basic_writer.h, which users of writer_for include

namespace detail {
// A preset's observer_type, or no_observer for a hand-written preset without one.
template <class Preset>
struct observer_of {
  using type = no_observer;
};
template <class Preset>
requires requires { typename Preset::observer_type; }
struct observer_of<Preset> {
  using type = typename Preset::observer_type;
};
}  // namespace detail

// The writer a preset describes.
template <class Preset>
using writer_for = basic_writer<typename Preset::queue_type, typename Preset::sink_type,
                                typename Preset::backpressure_type, typename Preset::batcher_type,
                                typename detail::observer_of<Preset>::type>;

namespace detail {

// Hana map (axis -> type) back to a policy_set type.
template <class Map>
constexpr auto policy_set_from(Map map) {
  using Q = typename decltype(+map[kQueueAxis])::type;
  using S = typename decltype(+map[kSinkAxis])::type;
  using B = typename decltype(+map[kBackpressureAxis])::type;
  using Bt = typename decltype(+map[kBatcherAxis])::type;
  using O = typename decltype(+map[kObserverAxis])::type;
  return boost::hana::type_c<policy_set<Q, S, B, Bt, O>>;
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
                          int{backpressure<Policy>} + int{batcher<Policy>} + int{observer<Policy>};
  static_assert(matches != 0,
                "funnel::with: the policy models none of the Queue, Sink, Backpressure, "
                "Batcher and Observer concepts (see funnel/concepts.h, funnel/observer.h); use "
                "with_queue/with_sink/... to see which member is missing");
  static_assert(matches <= 1,
                "funnel::with: the policy models more than one concept; name the axis with "
                "with_queue/with_sink/with_backpressure/with_batcher/with_observer");
  if constexpr (writer_queue<Policy>) {
    return kQueueAxis;
  } else if constexpr (sink<Policy>) {
    return kSinkAxis;
  } else if constexpr (backpressure<Policy>) {
    return kBackpressureAxis;
  } else if constexpr (batcher<Policy>) {
    return kBatcherAxis;
  } else {
    return kObserverAxis;
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
template <class Preset, class Observer>
using with_observer = typename decltype(detail::replace<Preset, Observer>(kObserverAxis))::type;

// `Preset` with the axis `Policy` models replaced by `Policy`.
template <class Preset, class Policy>
using with = typename decltype(detail::replace<Preset, Policy>(detail::axis_of<Policy>()))::type;

}  // namespace funnel

#endif  // FUNNEL_POLICY_SET_H_
