// expect: the Observer policy needs `void on_batch(const funnel::batch_report&)`
#include "funnel/funnel.h"

// A typo: onBatch instead of on_batch.
struct observer_with_typo {
  void onBatch(const funnel::batch_report&) {}
};

int main() {
  funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, funnel::memory_sink,
                       funnel::sleep_backpressure, funnel::count_batcher, observer_with_typo>
      w(funnel::memory_sink{});
  return 0;
}
