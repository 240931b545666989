// examples/quickstart/quickstart.cc
// -----------------------------------------------------------------------------
// funnel in one file. N producer threads send M frames each through one
// `funnel::procwire_writer`, which gather-writes them into one end of a Unix
// socket pair; a reader thread decodes the other end with
// `funnel::frame_decoder` and checks every frame: who sent it, its place in
// that producer's order, its payload.
//
//   bazel run -c opt //examples/quickstart -- --producers=4 --frames=100000 --payload=64
//
// Exit status: 0 when every frame arrived intact and in order and close()
// returned OK; 1 otherwise.
#include <sys/socket.h>  // socketpair
#include <unistd.h>      // read, close

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>   // fflush
#include <cstring>  // strerror
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/funnel.h"

ABSL_FLAG(int, producers, 4, "producer threads (1..65534)");
ABSL_FLAG(int64_t, frames, 100000, "frames each producer sends (1..2^32-1)");
ABSL_FLAG(int64_t, payload, 64, "payload bytes per frame (0..1 GiB)");

namespace {

struct config {
  int producers;
  std::uint32_t frames;
  std::size_t payload;
};

// The wire says who sent a frame and in which order: method_id is the
// producer's index + 1 (method_id 0 is reserved), request_id its sequence
// number.
std::uint16_t method_of(int producer) { return static_cast<std::uint16_t>(producer + 1); }

// Each producer's payload: `size` bytes of a pattern the reader can rebuild.
funnel::bytes make_payload(int producer, std::size_t size) {
  std::vector<std::byte> data(size);
  for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::byte>(producer * 31 + i);
  // adopt() takes the vector without copying its bytes.
  return funnel::bytes::adopt(std::move(data));
}

// One producer thread. `h` is this thread's own copy of the writer's handle:
// copying a handle is cheap, and every thread may send concurrently.
absl::Status produce(funnel::procwire_writer::handle_type h, int producer, const config& cfg) {
  // Built once, shared by every frame below: a funnel::bytes is an immutable,
  // reference-counted buffer, so passing it to make() copies a reference, not
  // the payload. The buffer lives until the writer has written the last frame
  // that uses it.
  const funnel::bytes payload = make_payload(producer, cfg.payload);
  for (std::uint32_t seq = 0; seq < cfg.frames; ++seq) {
    // make() validates the header and encodes it once, here on the producer;
    // send() takes its StatusOr, so a frame that cannot be built is returned
    // as make()'s error, never dereferenced. send() returns once the frame is
    // queued, not written. It waits while the pending bound (1024 frames) is
    // reached. A non-OK status means the frame was NOT accepted and says why:
    // InvalidArgument (make() refused it), DeadlineExceeded (still no room
    // after 5 s), FailedPrecondition (writer closed), or the sink's error
    // with its errno text (e.g. "Broken pipe").
    if (absl::Status s =
            h.send(funnel::outbound_frame::make(method_of(producer), /*flags=*/0, seq, payload));
        !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("producer ", producer, ", frame ", seq, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

struct read_result {
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
  std::string error;  // the first problem seen; empty when all is well
};

// The reader thread: decodes the stream until EOF and checks every frame.
read_result read_and_check(int fd, const config& cfg) {
  std::vector<funnel::bytes> expected;
  for (int p = 0; p < cfg.producers; ++p) expected.push_back(make_payload(p, cfg.payload));
  std::vector<std::uint32_t> next_seq(cfg.producers, 0);

  read_result r;
  funnel::frame_decoder decoder;
  std::vector<std::byte> chunk(64 * 1024);
  for (;;) {
    const ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n == 0) break;  // EOF: the writer's end is closed
    if (n < 0) {
      if (errno == EINTR) continue;
      if (r.error.empty()) r.error = absl::StrCat("read: ", std::strerror(errno));
      break;
    }
    r.bytes += static_cast<std::size_t>(n);
    if (!r.error.empty()) continue;  // keep draining, so the writer never blocks
    decoder.push(std::span(chunk).first(static_cast<std::size_t>(n)));
    for (;;) {
      absl::StatusOr<std::optional<funnel::decoded_frame>> next = decoder.next();
      if (!next.ok()) {
        r.error = std::string(next.status().message());
        break;
      }
      if (!next->has_value()) break;  // needs more bytes
      const funnel::decoded_frame& f = **next;
      const int p = f.header.method_id - 1;
      if (p < 0 || p >= cfg.producers) {
        r.error = absl::StrCat("frame from unknown producer (method_id ", f.header.method_id, ")");
      } else if (f.header.request_id != next_seq[p]) {
        r.error = absl::StrCat("producer ", p, ": expected frame ", next_seq[p], ", got ",
                               f.header.request_id, " (missing or out of order)");
      } else if (f.payload != expected[p]) {
        r.error = absl::StrCat("producer ", p, ", frame ", f.header.request_id, ": payload of ",
                               f.payload.size(), " bytes differs from the ", cfg.payload, " sent");
      }
      if (!r.error.empty()) break;
      ++next_seq[p];
      ++r.frames;
    }
  }
  ::close(fd);  // a writer still writing now fails with EPIPE instead of blocking
  if (r.error.empty() && decoder.buffered() != 0) {
    r.error = absl::StrCat("stream ends inside a frame (", decoder.buffered(), " bytes left)");
  }
  for (int p = 0; p < cfg.producers && r.error.empty(); ++p) {
    if (next_seq[p] != cfg.frames) {
      r.error =
          absl::StrCat("producer ", p, ": ", next_seq[p], " of ", cfg.frames, " frames arrived");
    }
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Sends frames from many threads through one funnel writer and checks them.\n"
      "  quickstart [--producers=4] [--frames=100000] [--payload=64]");
  absl::ParseCommandLine(argc, argv);
  const int producers = absl::GetFlag(FLAGS_producers);
  const std::int64_t frames = absl::GetFlag(FLAGS_frames);
  const std::int64_t payload = absl::GetFlag(FLAGS_payload);
  if (producers < 1 || producers > 65534 || frames < 1 || frames > UINT32_MAX || payload < 0 ||
      payload > funnel::kDefaultMaxPayload) {
    absl::FPrintF(stderr, "quickstart: flag out of range (see --help)\n");
    return 2;
  }
  const config cfg{producers, static_cast<std::uint32_t>(frames),
                   static_cast<std::size_t>(payload)};

  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    absl::FPrintF(stderr, "quickstart: socketpair: %s\n", std::strerror(errno));
    return 1;
  }

  const absl::Time start = absl::Now();
  read_result got;
  std::thread reader([&] { got = read_and_check(fds[1], cfg); });

  // The writer starts its own writer thread and owns the sink; the sink only
  // borrows fds[0] (we close it once the writer is closed). Braces, not
  // parentheses: `writer(posix_writev_sink(fd))` would declare a function.
  funnel::procwire_writer writer{funnel::posix_writev_sink(fds[0])};

  std::vector<absl::Status> sent(cfg.producers);
  std::vector<std::thread> threads;
  for (int p = 0; p < cfg.producers; ++p) {
    threads.emplace_back([&sent, &cfg, p, h = writer.handle()] { sent[p] = produce(h, p, cfg); });
  }
  for (std::thread& t : threads) t.join();

  // close() stops admission, writes every frame accepted so far, joins the
  // writer thread and reports: OK, or the sink's failure with the number of
  // accepted frames that could not be written. Always check it: a send that
  // returned OK only means "queued".
  const absl::Status closed = writer.close();
  ::close(fds[0]);  // EOF for the reader
  reader.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const funnel::writer_stats st = writer.stats();  // final after close()

  absl::PrintF("funnel quickstart: %d producers x %d frames x %d-byte payload\n", cfg.producers,
               cfg.frames, cfg.payload);
  absl::PrintF("  frames read      %d\n", got.frames);
  absl::PrintF("  bytes read       %d (%d-byte headers + payloads)\n", got.bytes,
               funnel::kHeaderSize);
  absl::PrintF("  elapsed          %.3f s\n", seconds);
  absl::PrintF("  throughput       %.0f frames/s, %.1f MB/s\n", got.frames / seconds,
               got.bytes / seconds / 1e6);
  absl::PrintF("writer stats\n");
  absl::PrintF("  batches          %d (avg %.1f frames/batch)\n", st.batches,
               st.batches == 0 ? 0.0 : static_cast<double>(st.frames_written) / st.batches);
  absl::PrintF("  write calls      %d (partial writes %d)\n", st.write_calls, st.partial_writes);
  absl::PrintF("  backpressure     %d waits, %d timeouts\n", st.backpressure_waits,
               st.backpressure_timeouts);
  absl::PrintF("  frames           %d accepted = %d written + %d lost\n", st.frames_accepted,
               st.frames_written, st.frames_lost);

  std::vector<std::string> problems;
  for (const absl::Status& s : sent) {
    if (!s.ok()) problems.push_back(absl::StrCat("send failed: ", s.ToString()));
  }
  if (!closed.ok()) problems.push_back(absl::StrCat("close() failed: ", closed.ToString()));
  if (!got.error.empty()) problems.push_back(absl::StrCat("reader: ", got.error));
  const std::uint64_t want = static_cast<std::uint64_t>(cfg.producers) * cfg.frames;
  if (got.frames != want || st.frames_written != want || got.bytes != st.bytes_written) {
    problems.push_back(absl::StrCat(
        "expected ", want, " frames; the writer wrote ", st.frames_written, " (", st.bytes_written,
        " bytes), the reader checked ", got.frames, " (", got.bytes, " bytes)"));
  }
  std::fflush(stdout);  // the report first, then the problems on stderr
  for (const std::string& p : problems) absl::FPrintF(stderr, "FAIL: %s\n", p);
  if (!problems.empty()) return 1;
  absl::PrintF("OK: every frame arrived, in order, intact\n");
  return 0;
}
