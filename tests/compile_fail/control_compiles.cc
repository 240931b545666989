// expect: COMPILES
// The control case: the same harness must compile a correct program, so a
// broken include path cannot pass for a readable error.
#include "funnel/funnel.h"

int main() {
  funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, funnel::memory_sink,
                       funnel::sleep_backpressure, funnel::count_batcher>
      w(funnel::memory_sink{});
  return w.close().ok() ? 0 : 1;
}
