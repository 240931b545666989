// expect: the Sink policy needs `absl::StatusOr<std::size_t> write(
#include <span>

#include "funnel/funnel.h"

struct sink_with_typo {
  absl::StatusOr<std::size_t> wirte(std::span<const funnel::const_buffer> b) {
    return funnel::total_size(b);
  }
};

int main() {
  funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, sink_with_typo,
                       funnel::sleep_backpressure, funnel::count_batcher>
      w(sink_with_typo{});
  return 0;
}
