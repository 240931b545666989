// telemetry/metrics_publisher.h
// -----------------------------------------------------------------------------
// `metrics_publisher<Inner>`: the team's component. Publishes "name=value"
// metrics as procwire frames (method 7, one request id per metric) from any
// thread, through funnel's procwire preset with one policy swapped: the sink
// is telemetry_sink<Inner>.
//
//   metrics_publisher<funnel::posix_writev_sink> p(funnel::posix_writev_sink(fd));
//   p.publish("requests", 42);
//   absl::Status s = p.close();
//
// Tests instantiate it over funnel's MockSink or fault_injecting_sink
// (metrics_publisher_test.cc).
#ifndef DOWNSTREAM_TELEMETRY_METRICS_PUBLISHER_H_
#define DOWNSTREAM_TELEMETRY_METRICS_PUBLISHER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "funnel/presets.h"
#include "telemetry/telemetry_sink.h"

namespace telemetry {

inline constexpr std::uint16_t kMetricMethod = 7;

// The preset: funnel's procwire preset with the sink swapped.
template <class Inner>
using telemetry_preset = funnel::with<funnel::procwire_preset, telemetry_sink<Inner>>;

template <class Inner>
class metrics_publisher {
 public:
  explicit metrics_publisher(Inner inner, funnel::writer_options options = {})
      : metrics_publisher(telemetry_sink<Inner>(std::move(inner)), options) {}

  // Thread-safe. OK means accepted (written, or counted as lost).
  absl::Status publish(std::string_view name, std::int64_t value) {
    const std::uint32_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
    // A frame that cannot be built comes back as make()'s error, unsent.
    return writer_.handle().send(funnel::outbound_frame::make(
        kMetricMethod, 0, id, funnel::bytes::copy_from(absl::StrCat(name, "=", value))));
  }

  absl::Status flush() { return writer_.flush(); }
  absl::Status close() { return writer_.close(); }
  funnel::writer_stats stats() const { return writer_.stats(); }
  const io_counters& io() const { return *counters_; }

 private:
  metrics_publisher(telemetry_sink<Inner> sink, funnel::writer_options options)
      : counters_(sink.counters()), writer_(std::move(sink), options) {}

  std::shared_ptr<const io_counters> counters_;
  std::atomic<std::uint32_t> next_id_{0};
  funnel::writer_for<telemetry_preset<Inner>> writer_;
};

}  // namespace telemetry

#endif  // DOWNSTREAM_TELEMETRY_METRICS_PUBLISHER_H_
