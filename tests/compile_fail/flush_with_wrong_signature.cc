// expect: funnel: the Sink's flush() must return absl::Status
// A hook with the right name and the wrong signature must not be ignored.
#include <span>

#include "funnel/funnel.h"

struct sink_with_void_flush {
  absl::StatusOr<std::size_t> write(std::span<const funnel::const_buffer> b) {
    return funnel::total_size(b);
  }
  void flush() {}
};

int main() {
  funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, sink_with_void_flush,
                       funnel::sleep_backpressure, funnel::count_batcher>
      w(sink_with_void_flush{});
  return 0;
}
