// expect: the Backpressure policy needs `void notify()`
#include "funnel/funnel.h"

struct backpressure_without_notify {
  bool wait(absl::FunctionRef<bool()> ready, absl::Time) { return ready(); }
};

int main() {
  funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, funnel::memory_sink,
                       backpressure_without_notify, funnel::count_batcher>
      w(funnel::memory_sink{});
  return 0;
}
