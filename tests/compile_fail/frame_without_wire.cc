// expect: a frame type needs `funnel::frame_ranges<max_ranges> wire() const noexcept`
#include <cstddef>
#include <string>

#include "funnel/funnel.h"

// A frame type that says how big it is but not where its bytes are.
struct text_frame {
  static constexpr std::size_t max_ranges = 1;
  std::string text;
  bool valid() const noexcept { return !text.empty(); }
  std::size_t size() const noexcept { return text.size(); }
};

int main() {
  funnel::basic_writer<funnel::mpsc_ring<text_frame>, funnel::memory_sink,
                       funnel::sleep_backpressure, funnel::count_batcher>
      w(funnel::memory_sink{});
  return 0;
}
