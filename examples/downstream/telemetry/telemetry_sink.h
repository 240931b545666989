// telemetry/telemetry_sink.h
// -----------------------------------------------------------------------------
// `telemetry_sink<Inner>`: the team's own Sink. Wraps any funnel Sink and
// counts what reaches it (bytes and write calls) in counters that outlive the
// sink, readable from any thread.
//
// When to use: in front of the real sink, to export I/O counters.
// Cost: two relaxed atomic adds per write call.
// Thread-safety: write() on the writer thread only; counters from any thread.
// Memory ordering: relaxed: the counters are statistics, ordered with nothing.
// Blocking and allocation: Inner's; the counters once, at construction.
#ifndef DOWNSTREAM_TELEMETRY_TELEMETRY_SINK_H_
#define DOWNSTREAM_TELEMETRY_TELEMETRY_SINK_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "funnel/buffer.h"
#include "funnel/concepts.h"

namespace telemetry {

struct io_counters {
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> write_calls{0};
};

template <funnel::sink Inner>
class telemetry_sink {
 public:
  explicit telemetry_sink(Inner inner)
      : inner_(std::move(inner)), counters_(std::make_shared<io_counters>()) {}

  absl::StatusOr<std::size_t> write(std::span<const funnel::const_buffer> buffers) {
    absl::StatusOr<std::size_t> n = inner_.write(buffers);
    counters_->write_calls.fetch_add(1, std::memory_order_relaxed);
    if (n.ok()) counters_->bytes.fetch_add(*n, std::memory_order_relaxed);
    return n;
  }
  // The optional hooks, forwarded only when Inner has them.
  absl::Status flush() requires funnel::flushable_sink<Inner> { return inner_.flush(); }
  void on_writer_thread_start() requires funnel::sink_with_thread_start<Inner> {
    inner_.on_writer_thread_start();
  }

  std::shared_ptr<const io_counters> counters() const { return counters_; }

 private:
  Inner inner_;
  std::shared_ptr<io_counters> counters_;
};

}  // namespace telemetry

#endif  // DOWNSTREAM_TELEMETRY_TELEMETRY_SINK_H_
