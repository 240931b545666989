// Publishes a few metrics to stdout as procwire frames (binary):
//   bazel run //telemetry:publish_to_stdout | xxd | head
#include <unistd.h>

#include <cstdio>

#include "funnel/policies/sink/posix_writev_sink.h"
#include "telemetry/metrics_publisher.h"

int main() {
  telemetry::metrics_publisher<funnel::posix_writev_sink> p(
      funnel::posix_writev_sink(STDOUT_FILENO));
  for (int i = 0; i < 10; ++i) {
    if (!p.publish("requests", i).ok()) return 1;
  }
  const absl::Status s = p.close();
  std::fprintf(stderr, "published %llu metrics (%llu bytes): %s\n",
               static_cast<unsigned long long>(p.stats().frames_written),
               static_cast<unsigned long long>(p.io().bytes.load()), s.ToString().c_str());
  return s.ok() ? 0 : 1;
}
