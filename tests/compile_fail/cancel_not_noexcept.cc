// expect: funnel: the Sink's cancel() must take no arguments and be noexcept
// cancel() runs on the owner thread while the writer may be inside write():
// a throwing cancel() would escape close(), so the hook must be noexcept.
#include <span>

#include "funnel/funnel.h"

struct sink_with_throwing_cancel {
  absl::StatusOr<std::size_t> write(std::span<const funnel::const_buffer> b) {
    return funnel::total_size(b);
  }
  void cancel() {}
};

int main() {
  funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, sink_with_throwing_cancel,
                       funnel::sleep_backpressure, funnel::count_batcher>
      w(sink_with_throwing_cancel{});
  return 0;
}
