// Scale stress: 8 producers, frames of random sizes, through the real
// posix_writev_sink on a real socket, with EINTR, EAGAIN and short writes
// injected *below* the sink (at the sendmsg call, by interposing it in this
// executable) and, in a second run, a hard failure at a random byte.
// A reader thread decodes the stream as it arrives and checks every byte.
//
// CI runs a reduced size. The full run (8 x 1 M frames):
//   FUNNEL_SCALE_FRAMES=1000000 bazel test -c opt //tests:scale_stress_test
//     --test_env=FUNNEL_SCALE_FRAMES --test_timeout=3600 --test_output=streamed
// (one command line).
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/options.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/posix_writev_sink.h"
#include "funnel/procwire/frame.h"
#include "funnel/procwire/frame_decoder.h"
#include "gtest/gtest.h"
#include "tests/posix_test_util.h"
#include "tests/test_util.h"

// --- fault injection below the sink -----------------------------------------
namespace {

// The socket faults are injected on, by inode (0: none; the sink sends
// through an fd of its own, a dup, so the fd number is not the test's), the
// byte offset at which it dies with EPIPE (~0: never), and the bytes it has
// taken so far.
std::atomic<ino_t> g_fault_ino{0};
std::atomic<std::uint64_t> g_fail_at{~std::uint64_t{0}};
std::atomic<std::uint64_t> g_taken{0};
std::atomic<std::uint64_t> g_eintr{0}, g_eagain{0}, g_short{0};

// Decides the fate of one call on the fault fd: -1 with errno set, or the
// number of bytes (<= offered) to let through.
long fault_decision(std::size_t offered) {
  thread_local std::mt19937_64 rng(12345);
  const std::uint64_t taken = g_taken.load(std::memory_order_relaxed);
  const std::uint64_t fail_at = g_fail_at.load(std::memory_order_relaxed);
  if (taken >= fail_at) {
    errno = EPIPE;
    return -1;
  }
  const unsigned roll = rng() % 100;
  if (roll < 10) {
    g_eintr.fetch_add(1, std::memory_order_relaxed);
    errno = EINTR;
    return -1;
  }
  if (roll < 20) {
    g_eagain.fetch_add(1, std::memory_order_relaxed);
    errno = EAGAIN;
    return -1;
  }
  std::size_t allow = offered;
  if (roll < 50 && offered > 1) {
    g_short.fetch_add(1, std::memory_order_relaxed);
    allow = 1 + rng() % (offered - 1);
  }
  return static_cast<long>(std::min<std::uint64_t>(allow, fail_at - taken));
}

// Cuts an iovec array to its first `limit` bytes, in `out`.
int cut(const iovec* iov, int n, std::size_t limit, std::vector<iovec>& out) {
  out.clear();
  for (int i = 0; i < n && limit > 0; ++i) {
    const std::size_t len = std::min(iov[i].iov_len, limit);
    if (len == 0) continue;
    out.push_back({iov[i].iov_base, len});
    limit -= len;
  }
  return static_cast<int>(out.size());
}

std::size_t total(const iovec* iov, int n) {
  std::size_t t = 0;
  for (int i = 0; i < n; ++i) t += iov[i].iov_len;
  return t;
}

}  // namespace

// Interposed: the sink's calls land here first (the executable's definition
// wins over libc's); every other fd goes straight to the next definition.
extern "C" ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  using fn = ssize_t (*)(int, const msghdr*, int);
  static const fn next = reinterpret_cast<fn>(dlsym(RTLD_NEXT, "sendmsg"));
  struct stat st;
  const ino_t fault_ino = g_fault_ino.load(std::memory_order_relaxed);
  if (fault_ino == 0 || ::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_ino != fault_ino) {
    return next(fd, msg, flags);
  }
  const long allow = fault_decision(total(msg->msg_iov, static_cast<int>(msg->msg_iovlen)));
  if (allow < 0) return -1;
  thread_local std::vector<iovec> part;
  msghdr m = *msg;
  m.msg_iovlen = static_cast<std::size_t>(
      cut(msg->msg_iov, static_cast<int>(msg->msg_iovlen), static_cast<std::size_t>(allow), part));
  m.msg_iov = part.data();
  const ssize_t r = next(fd, &m, flags);
  if (r > 0) g_taken.fetch_add(static_cast<std::uint64_t>(r), std::memory_order_relaxed);
  return r;
}

namespace funnel {
namespace {

using namespace posix_test;  // NOLINT: the fd helpers
using testing_internal::kTsan;

constexpr int kProducers = 8;

std::uint32_t frames_per_producer() {
  if (const char* env = ::getenv("FUNNEL_SCALE_FRAMES")) return std::strtoul(env, nullptr, 10);
  return kTsan ? 2000 : 20000;
}

// Payload i of producer p: its size and bytes follow from (p, i) alone.
std::size_t payload_size(std::uint32_t p, std::uint32_t i) {
  return (p * 2654435761u + i * 40503u) % 2048;
}
char payload_byte(std::uint32_t p, std::uint32_t i, std::size_t k) {
  return static_cast<char>((p * 31 + i * 7 + k) & 0xFF);
}

struct outcome {
  writer_stats stats;
  absl::Status closed;
  std::uint64_t ok_sends = 0;
  std::uint64_t decoded = 0;
  std::string reader_error;
};

outcome run(std::uint64_t fail_at) {
  fd_pair p = make_socketpair();
  g_taken.store(0);
  g_fail_at.store(fail_at);
  struct stat st;
  EXPECT_EQ(::fstat(p.write_end.get(), &st), 0);
  g_fault_ino.store(st.st_ino);
  outcome out;
  // The reader decodes as it goes and checks each producer's order and bytes.
  std::thread reader([&] {
    frame_decoder d;
    std::vector<std::uint32_t> next(kProducers, 0);
    std::vector<char> buf(1 << 16);
    for (;;) {
      const ssize_t n = ::read(p.read_end.get(), buf.data(), buf.size());
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return;
      }
      d.push(std::as_bytes(std::span(buf.data(), static_cast<std::size_t>(n))));
      for (;;) {
        absl::StatusOr<std::optional<decoded_frame>> f = d.next();
        if (!f.ok()) {
          out.reader_error = f.status().ToString();
          return;
        }
        if (!f->has_value()) break;
        const std::uint32_t id = (*f)->header.request_id;
        const std::uint32_t prod = id >> 24, seq = id & 0xFFFFFF;
        const std::string_view got = (*f)->payload.as_string_view();
        bool bytes_ok = prod < kProducers && got.size() == payload_size(prod, seq);
        for (std::size_t k = 0; bytes_ok && k < got.size(); ++k) {
          bytes_ok = got[k] == payload_byte(prod, seq, k);
        }
        if (!bytes_ok || seq != next[prod]) {
          out.reader_error = absl::StrCat("frame ", prod, "/", seq, " (expected seq ",
                                          prod < kProducers ? next[prod] : 0, ") is wrong");
          return;
        }
        ++next[prod];
        ++out.decoded;
      }
    }
  });
  writer_options o;
  o.max_pending_frames = 256;
  o.backpressure_timeout = absl::Hours(1);
  using writer = basic_writer<mpsc_ring<outbound_frame>, posix_writev_sink, condvar_backpressure,
                              count_batcher>;
  writer w(posix_writev_sink(p.write_end.get()), o);
  const std::uint32_t per = frames_per_producer();
  std::atomic<std::uint64_t> ok{0};
  std::vector<std::thread> producers;
  for (std::uint32_t prod = 0; prod < kProducers; ++prod) {
    producers.emplace_back([&, prod] {
      auto h = w.handle();
      std::string payload;
      for (std::uint32_t i = 0; i < per; ++i) {
        payload.resize(payload_size(prod, i));
        for (std::size_t k = 0; k < payload.size(); ++k) payload[k] = payload_byte(prod, i, k);
        absl::StatusOr<outbound_frame> f = outbound_frame::make(
            1, frame_flags::kResponseToParent, prod << 24 | i, bytes::copy_from(payload));
        if (!f.ok() || !h.send(*std::move(f)).ok()) return;
        ok.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (std::thread& t : producers) t.join();
  out.closed = w.close();
  g_fault_ino.store(0);
  p.write_end.reset();  // EOF for the reader
  reader.join();
  out.stats = w.stats();
  out.ok_sends = ok.load();
  return out;
}

TEST(ScaleStress, FaultsBelowTheSinkLeaveTheStreamExact) {
  const outcome r = run(~std::uint64_t{0});
  EXPECT_TRUE(r.closed.ok()) << r.closed;
  EXPECT_EQ(r.reader_error, "");
  const std::uint64_t all = std::uint64_t{kProducers} * frames_per_producer();
  EXPECT_EQ(r.ok_sends, all);
  EXPECT_EQ(r.stats.frames_accepted, all);
  EXPECT_EQ(r.stats.frames_written, all);
  EXPECT_EQ(r.stats.frames_lost, 0u);
  EXPECT_EQ(r.decoded, all);
  EXPECT_GT(g_eintr.load(), 0u);
  EXPECT_GT(g_eagain.load(), 0u);
  EXPECT_GT(g_short.load(), 0u);
  std::printf(
      "scale: %llu frames, %llu bytes, %llu write calls; injected %llu EINTR, %llu "
      "EAGAIN, %llu short\n",
      static_cast<unsigned long long>(all), static_cast<unsigned long long>(r.stats.bytes_written),
      static_cast<unsigned long long>(r.stats.write_calls),
      static_cast<unsigned long long>(g_eintr.load()),
      static_cast<unsigned long long>(g_eagain.load()),
      static_cast<unsigned long long>(g_short.load()));
}

TEST(ScaleStress, AHardFailureAtARandomByteKeepsTheAccountingExact) {
  std::mt19937_64 rng(absl::ToUnixNanos(absl::Now()));
  const std::uint64_t fail_at = 1 + rng() % (std::uint64_t{frames_per_producer()} * 1024 * 4);
  SCOPED_TRACE(absl::StrCat("fail_at = ", fail_at));
  const outcome r = run(fail_at);
  EXPECT_EQ(r.closed.code(), absl::StatusCode::kUnavailable) << r.closed;
  EXPECT_EQ(r.reader_error, "");
  EXPECT_EQ(r.stats.frames_accepted, r.ok_sends);
  EXPECT_EQ(r.stats.frames_accepted, r.stats.frames_written + r.stats.frames_lost);
  EXPECT_EQ(r.stats.bytes_written, fail_at);
  EXPECT_EQ(r.decoded, r.stats.frames_written) << "the peer got exactly the frames counted written";
}

}  // namespace
}  // namespace funnel
