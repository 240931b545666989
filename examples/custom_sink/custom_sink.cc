// examples/custom_sink/custom_sink.cc
// -----------------------------------------------------------------------------
// A custom Sink and a custom Backpressure policy plugged into the procwire
// preset with funnel::with. Two producer threads send known frames through a
// writer whose sink is checksum_sink<posix_writev_sink> on /dev/null; at the
// end the program recomputes the checksum from the frames it sent and
// compares it with what the sink saw.
//
//   bazel run //examples/custom_sink
//
// Exit status: 0 when the checksums, frame and byte counts match and close()
// returned OK; 1 otherwise.
#include <fcntl.h>  // open

#include <cerrno>
#include <cinttypes>  // PRIx64
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>  // strerror
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "examples/custom_sink/checksum_sink.h"
#include "examples/custom_sink/yield_backpressure.h"
#include "funnel/presets.h"

namespace {

using funnel_example::checksum_sink;
using funnel_example::yield_backpressure;

// [preset]
// The preset with two axes replaced, each found from the concept it models.
using checksum_preset =
    funnel::with<funnel::procwire_preset, checksum_sink<funnel::posix_writev_sink>>;
using demo_preset = funnel::with<checksum_preset, yield_backpressure>;
using demo_writer = funnel::writer_for<demo_preset>;
// [preset]

static_assert(std::is_same_v<demo_writer::queue_type, funnel::mpsc_ring<funnel::outbound_frame>>);
static_assert(std::is_same_v<demo_writer::batcher_type, funnel::count_batcher>);

constexpr int kProducers = 2;
constexpr std::uint32_t kFramesPerProducer = 20000;

// Frame `seq` of producer `p`: method_id p + 1, request_id seq, and a payload
// of 0..199 bytes whose content depends on both.
absl::StatusOr<funnel::outbound_frame> known_frame(int p, std::uint32_t seq) {
  std::string payload(seq % 200, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) {
    payload[i] = static_cast<char>(p * 131 + seq * 7 + i);
  }
  return funnel::outbound_frame::make(static_cast<std::uint16_t>(p + 1), /*flags=*/0, seq,
                                      funnel::bytes::copy_from(payload));
}

absl::Status produce(demo_writer::handle_type h, int p) {
  for (std::uint32_t seq = 0; seq < kFramesPerProducer; ++seq) {
    if (absl::Status s = h.send(known_frame(p, seq)); !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("producer ", p, ", frame ", seq, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

int main() {
  const int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "open /dev/null: %s\n", std::strerror(errno));
    return 1;
  }
  // [construct]
  checksum_sink sink(funnel::posix_writev_sink(fd, {.ownership = funnel::fd_ownership::owned}));
  auto seen = sink.state();  // the sink itself moves into the writer

  // A small bound, so that producers do meet backpressure and wait in
  // yield_backpressure.
  funnel::writer_options options;
  options.max_pending_frames = 64;
  demo_writer writer(std::move(sink), options);
  // [construct]

  std::vector<absl::Status> results(kProducers);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] { results[p] = produce(writer.handle(), p); });
  }
  for (std::thread& t : producers) t.join();
  const absl::Status closed = writer.close();  // writes everything, joins the writer thread

  // What the sink should have seen, from the frames sent.
  std::uint64_t want_checksum = 0, want_bytes = 0, want_frames = 0;
  for (int p = 0; p < kProducers; ++p) {
    for (std::uint32_t seq = 0; seq < kFramesPerProducer; ++seq) {
      const funnel::outbound_frame f = known_frame(p, seq).value();  // checked: throws if invalid
      want_checksum += funnel_example::frame_checksum(f);
      want_bytes += f.size();
      ++want_frames;
    }
  }

  const funnel::writer_stats st = writer.stats();
  std::printf("frames   sent %" PRIu64 ", sink saw %" PRIu64 "\n", want_frames, seen->frames());
  std::printf("bytes    sent %" PRIu64 ", sink saw %" PRIu64 "\n", want_bytes, seen->bytes());
  std::printf("checksum expected %016" PRIx64 ", sink saw %016" PRIx64 "\n", want_checksum,
              seen->checksum());
  std::printf("writer   %" PRIu64 " batches, %" PRIu64 " write calls, %" PRIu64
              " backpressure waits\n",
              st.batches, st.write_calls, st.backpressure_waits);

  bool ok = true;
  for (int p = 0; p < kProducers; ++p) {
    if (!results[p].ok()) {
      std::fprintf(stderr, "FAIL: %s\n", results[p].ToString().c_str());
      ok = false;
    }
  }
  if (!closed.ok()) {
    std::fprintf(stderr, "FAIL: close: %s\n", closed.ToString().c_str());
    ok = false;
  }
  if (seen->checksum() != want_checksum || seen->bytes() != want_bytes ||
      seen->frames() != want_frames) {
    std::fprintf(stderr, "FAIL: the sink did not see exactly the frames sent\n");
    ok = false;
  }
  std::printf("%s\n", ok ? "OK" : "MISMATCH");
  return ok ? 0 : 1;
}
