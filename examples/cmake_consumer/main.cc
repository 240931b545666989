// Uses funnel through CMake: a writer over a memory sink, with the preset's
// backpressure swapped for condvar_backpressure; prints what was written.
#include <cstdio>
#include <string>

#include "funnel/funnel.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"

using preset = funnel::with<funnel::with<funnel::procwire_preset, funnel::memory_sink>,
                            funnel::condvar_backpressure>;

int main() {
  funnel::memory_sink sink;
  auto out = sink.buffer();
  funnel::writer_for<preset> writer(std::move(sink));
  auto h = writer.handle();
  for (std::uint32_t i = 0; i < 100; ++i) {
    // send() takes make()'s StatusOr: a build error is returned, not dereferenced.
    if (!h.send(funnel::outbound_frame::make(1, 0, i, funnel::bytes::copy_from("hello"))).ok()) {
      return 1;
    }
  }
  if (!writer.close().ok()) return 1;
  std::printf("%zu bytes written in %llu frames\n", out->size(),
              static_cast<unsigned long long>(writer.stats().frames_written));
  return out->size() == 100 * (funnel::kHeaderSize + 5) ? 0 : 1;
}
