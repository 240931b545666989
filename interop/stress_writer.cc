// interop/stress_writer.cc: the C++ half of the interop check (.ci/interop.sh,
// docs/fuzzing.md#interop). For every procwire configuration (each Queue x
// Backpressure x Batcher model funnel ships, with posix_writev_sink, built
// with Hana's cartesian_product as tests/matrix_test.cc does) it starts a
// writer on a real pipe or AF_UNIX socket and has 8 producer threads send
// frames with payloads of 0 to 64 KiB (interop/stress_payload.h). The other
// end is the Node decoder of the real protocol (interop/verify.mjs, which
// uses @procwire/protocol's FrameBuffer) and checks every byte.
//
//   stress_writer --pipe [--frames N] [--seed S]        # stdout must be a pipe
//   stress_writer --socket PATH [--frames N] [--seed S] # connects to PATH per
//                                                       # configuration
//
// The stream of one configuration is: a "begin" frame (method 0xF000, JSON
// payload {"config","producers","frames","seed"}), then the producers'
// frames (method 1 + producer, request id = sequence). The run ends with a
// "done" frame (method 0xF0FF, JSON {"streams": N}) on the pipe, or on a last
// connection of its own. Exits non-zero if any writer reports an error or a
// lost frame; progress goes to stderr.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/hana/at.hpp>
#include <boost/hana/cartesian_product.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/transform.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/backpressure/fail_fast_backpressure.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/backpressure/spin_backpressure.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/policies/batcher/coalescing_batcher.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/batcher/linger_batcher.h"
#include "funnel/policies/queue/boost_lockfree_queue.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/queue/mutex_queue.h"
#include "funnel/presets.h"
#include "interop/stress_payload.h"

namespace funnel::interop {
namespace {

namespace hana = boost::hana;

constexpr int kProducers = 8;
constexpr std::uint16_t kBeginMethod = 0xF000;
constexpr std::uint16_t kDoneMethod = 0xF0FF;

// A linger batcher that lingers (the default lingers 0).
struct linger_100us : linger_batcher {
  linger_100us()
      : linger_batcher({.max_frames = 64, .small = 8, .linger = absl::Microseconds(100)}) {}
};

template <class T>
constexpr std::string_view name_of = "?";
template <>
constexpr std::string_view name_of<mpsc_ring<outbound_frame>> = "mpsc_ring";
template <>
constexpr std::string_view name_of<mutex_queue<outbound_frame>> = "mutex_queue";
template <>
constexpr std::string_view name_of<boost_lockfree_queue<outbound_frame>> = "boost_lockfree_queue";
template <>
constexpr std::string_view name_of<sleep_backpressure> = "sleep";
template <>
constexpr std::string_view name_of<spin_backpressure> = "spin";
template <>
constexpr std::string_view name_of<condvar_backpressure> = "condvar";
template <>
constexpr std::string_view name_of<fail_fast_backpressure> = "fail_fast";
template <>
constexpr std::string_view name_of<count_batcher> = "count";
template <>
constexpr std::string_view name_of<byte_batcher> = "byte";
template <>
constexpr std::string_view name_of<linger_100us> = "linger";
template <>
constexpr std::string_view name_of<coalescing_batcher> = "coalescing";

constexpr auto kQueues = hana::tuple_t<mpsc_ring<outbound_frame>, mutex_queue<outbound_frame>,
                                       boost_lockfree_queue<outbound_frame>>;
constexpr auto kBackpressures = hana::tuple_t<sleep_backpressure, spin_backpressure,
                                              condvar_backpressure, fail_fast_backpressure>;
constexpr auto kBatchers =
    hana::tuple_t<count_batcher, byte_batcher, linger_100us, coalescing_batcher>;
// Every procwire configuration: procwire_preset with each axis replaced.
constexpr auto kConfigurations = hana::transform(
    hana::cartesian_product(hana::make_tuple(kQueues, kBackpressures, kBatchers)), [](auto c) {
      using Q = typename decltype(+hana::at_c<0>(c))::type;
      using B = typename decltype(+hana::at_c<1>(c))::type;
      using Bt = typename decltype(+hana::at_c<2>(c))::type;
      return hana::type_c<with_batcher<with_backpressure<with_queue<procwire_preset, Q>, B>, Bt>>;
    });

struct args {
  bool pipe = false;
  std::string socket_path;
  std::uint32_t frames = 32;  // per producer and configuration
  std::uint32_t seed = 1;
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "stress_writer: %s\n", what.c_str());
  std::exit(2);
}

int connect_to(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) die("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.data(), path.size());
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  for (;;) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die(absl::StrCat("socket: ", std::strerror(errno)));
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return fd;
    const int err = errno;
    ::close(fd);
    if ((err != ENOENT && err != ECONNREFUSED) || absl::Now() > deadline) {
      die(absl::StrCat("connect to ", path, ": ", std::strerror(err)));
    }
    absl::SleepFor(absl::Milliseconds(20));  // the verifier is not listening yet
  }
}

outbound_frame control_frame(std::uint16_t method, const std::string& json) {
  absl::StatusOr<outbound_frame> f = outbound_frame::make(method, frame_flags::kToParent, 0,
                                                          bytes::copy_from(std::string_view(json)));
  if (!f.ok()) die(f.status().ToString());
  return *std::move(f);
}

// Sends, retrying while a fail-fast (or timed-out) backpressure says "full".
template <class Handle>
absl::Status send_retrying(Handle& h, const outbound_frame& f) {
  for (;;) {
    absl::Status s = h.send(f);
    if (s.code() != absl::StatusCode::kDeadlineExceeded &&
        s.code() != absl::StatusCode::kResourceExhausted) {
      return s;
    }
    std::this_thread::yield();
  }
}

// One configuration over `fd`: begin frame, 8 producers, close. Returns
// whether everything was written.
template <class Preset>
bool run_configuration(int fd, const std::string& name, std::uint32_t seed, std::uint32_t frames) {
  writer_options o;
  o.max_pending_frames = 64;      // small, so producers meet the bound
  o.max_pending_bytes = 1 << 20;  // and the byte bound (a frame is <= 64 KiB + 11)
  o.backpressure_timeout = absl::Seconds(60);
  writer_for<Preset> w(posix_writev_sink(fd), o);
  auto h = w.handle();
  const std::string begin = absl::StrCat(R"({"config":")", name, R"(","producers":)", kProducers,
                                         R"(,"frames":)", frames, R"(,"seed":)", seed, "}");
  bool ok = send_retrying(h, control_frame(kBeginMethod, begin)).ok();

  std::atomic<bool> go{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      auto mine = w.handle();
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (std::uint32_t s = 0; s < frames; ++s) {
        absl::StatusOr<outbound_frame> f =
            outbound_frame::make(static_cast<std::uint16_t>(1 + p), frame_flags::kResponseToParent,
                                 s, bytes::adopt(make_payload(seed, p, s)));
        absl::Status st = f.ok() ? send_retrying(mine, *f) : f.status();
        if (!st.ok()) {
          std::fprintf(stderr, "stress_writer: %s producer %d frame %u: %s\n", name.c_str(), p, s,
                       st.ToString().c_str());
          failures.fetch_add(1, std::memory_order_relaxed);
          return;
        }
      }
    });
  }
  go.store(true, std::memory_order_release);
  for (std::thread& t : producers) t.join();
  const absl::Status closed = w.close();
  const writer_stats st = w.stats();
  const std::uint64_t expected = 1 + std::uint64_t{kProducers} * frames;
  if (!closed.ok() || failures.load() != 0 || st.frames_written != expected ||
      st.frames_lost != 0) {
    std::fprintf(
        stderr, "stress_writer: %s FAILED: close %s, written %llu of %llu, lost %llu\n",
        name.c_str(), closed.ToString().c_str(), static_cast<unsigned long long>(st.frames_written),
        static_cast<unsigned long long>(expected), static_cast<unsigned long long>(st.frames_lost));
    ok = false;
  } else {
    std::fprintf(stderr, "stress_writer: %-44s %llu frames, %llu bytes, %llu batches\n",
                 name.c_str(), static_cast<unsigned long long>(st.frames_written),
                 static_cast<unsigned long long>(st.bytes_written),
                 static_cast<unsigned long long>(st.batches));
  }
  return ok;
}

// Writes the "done" frame through a writer of its own.
void send_done(int fd, int streams) {
  procwire_writer w{posix_writev_sink(fd)};
  auto h = w.handle();
  absl::Status s = h.send(control_frame(kDoneMethod, absl::StrCat(R"({"streams":)", streams, "}")));
  if (s.ok()) s = w.close();
  if (!s.ok()) die("done frame: " + s.ToString());
}

args parse(int argc, char** argv) {
  args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(absl::StrCat(arg, " needs a value"));
      return argv[++i];
    };
    if (arg == "--pipe") {
      a.pipe = true;
    } else if (arg == "--socket") {
      a.socket_path = value();
    } else if (arg == "--frames") {
      a.frames = static_cast<std::uint32_t>(std::stoul(value()));
    } else if (arg == "--seed") {
      a.seed = static_cast<std::uint32_t>(std::stoul(value()));
    } else {
      die(absl::StrCat("unknown argument ", arg,
                       " (usage: --pipe | --socket PATH, [--frames N] [--seed S])"));
    }
  }
  if (a.pipe == !a.socket_path.empty()) die("give exactly one of --pipe and --socket PATH");
  return a;
}

int run(const args& a) {
  if (a.pipe) {
    struct stat st;
    if (::fstat(STDOUT_FILENO, &st) != 0 || !S_ISFIFO(st.st_mode)) {
      die("--pipe writes to stdout, which must be a pipe (| node interop/verify.mjs --pipe)");
    }
  }
  int streams = 0, failed = 0;
  std::uint32_t seed = a.seed;
  hana::for_each(kConfigurations, [&](auto preset) {
    using P = typename decltype(preset)::type;
    const std::string name =
        absl::StrCat(name_of<typename P::queue_type>, "/", name_of<typename P::backpressure_type>,
                     "/", name_of<typename P::batcher_type>, a.pipe ? " pipe" : " socket");
    const int fd = a.pipe ? STDOUT_FILENO : connect_to(a.socket_path);
    if (!run_configuration<P>(fd, name, seed++, a.frames)) ++failed;
    if (!a.pipe) ::close(fd);
    ++streams;
  });
  if (a.pipe) {
    send_done(STDOUT_FILENO, streams);
  } else {
    const int fd = connect_to(a.socket_path);
    send_done(fd, streams);
    ::close(fd);
  }
  std::fprintf(stderr, "stress_writer: %d configurations, %d failed\n", streams, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace funnel::interop

int main(int argc, char** argv) { return funnel::interop::run(funnel::interop::parse(argc, argv)); }
