// expect: the Batcher policy needs `std::size_t max_frames_hint() const`
#include <cstddef>

#include "funnel/funnel.h"

struct batcher_without_hint {
  bool admits(const funnel::batch_stats&, std::size_t) const { return true; }
};

int main() {
  funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, funnel::memory_sink,
                       funnel::sleep_backpressure, batcher_without_hint>
      w(funnel::memory_sink{});
  return 0;
}
