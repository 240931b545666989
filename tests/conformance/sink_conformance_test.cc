// The Sink conformance suite (funnel/testing/sink_conformance.h, also offered
// to downstream teams) run against every sink funnel ships that runs here:
// memory_sink, posix_writev_sink over a pipe and over a socketpair (a reader
// thread drains the other end), and the testing kit's
// fault_injecting_sink<memory_sink> with random short writes. A new sink joins
// with a sink_conformance_traits specialisation (its harness), an entry in
// `SinkModels` and a name in `sink_model_name`.
//
// This is the only .cc of the test binary that includes the suite: the header
// defines the tests.
#include "funnel/testing/sink_conformance.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "funnel/concepts.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/policies/sink/posix_writev_sink.h"
#include "funnel/testing/fault_sink.h"
#include "gtest/gtest.h"

// GoogleTest pastes the suite name into identifiers, so the suite is
// instantiated inside its own namespace (where GoogleTest is `::testing`).
namespace funnel::testing {

static_assert(sink<memory_sink> && sink<posix_writev_sink> &&
              sink<fault_injecting_sink<memory_sink>>);

template <>
struct sink_conformance_traits<memory_sink> {
  memory_sink s;
  std::shared_ptr<const memory_sink_buffer> out = s.buffer();
  memory_sink& sink() { return s; }
  std::string finish() { return out->contents(); }
};

template <>
struct sink_conformance_traits<fault_injecting_sink<memory_sink>> {
  memory_sink mem;
  std::shared_ptr<const memory_sink_buffer> out = mem.buffer();
  fault_injecting_sink<memory_sink> s{std::move(mem), {fault::random_short_writes(7, 5000)}};
  fault_injecting_sink<memory_sink>& sink() { return s; }
  std::string finish() { return out->contents(); }
};

// posix_writev_sink over one end of a pipe or socketpair; a reader thread
// drains the other end until EOF, or until break_peer() stops it (through a
// stop pipe: a thread blocked in read() cannot be woken by close()).
class fd_harness {
 public:
  using sink_type = posix_writev_sink;

  explicit fd_harness(bool socket) {
    int fds[2];
    const int rc = socket ? ::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) : ::pipe(fds);
    EXPECT_EQ(rc, 0) << "cannot create the " << (socket ? "socketpair" : "pipe");
    read_fd_ = fds[0];
    write_fd_ = fds[1];
    EXPECT_EQ(::pipe(stop_), 0);
    sink_ = std::make_unique<posix_writev_sink>(write_fd_);
    reader_ = std::thread([this] { read_until_eof_or_stop(); });
  }
  ~fd_harness() {
    finish();
    if (read_fd_ >= 0) ::close(read_fd_);
    ::close(stop_[0]);
    ::close(stop_[1]);
  }

  posix_writev_sink& sink() { return *sink_; }
  std::string finish() {
    if (write_fd_ >= 0) {
      sink_.reset();
      ::close(write_fd_);  // the reader sees EOF
      write_fd_ = -1;
    }
    if (reader_.joinable()) reader_.join();
    return got_;
  }
  // The reader goes away: later writes fail (EPIPE).
  void break_peer() {
    const char byte = 1;
    EXPECT_EQ(::write(stop_[1], &byte, 1), 1);
    if (reader_.joinable()) reader_.join();
    ::close(read_fd_);
    read_fd_ = -1;
  }

 private:
  void read_until_eof_or_stop() {
    char buf[65536];
    for (;;) {
      pollfd p[2] = {{read_fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (p[1].revents != 0) return;
      const ssize_t n = ::read(read_fd_, buf, sizeof buf);
      if (n > 0) {
        got_.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        return;
      }
    }
  }

  int read_fd_ = -1, write_fd_ = -1;
  int stop_[2] = {-1, -1};
  std::unique_ptr<posix_writev_sink> sink_;
  std::thread reader_;
  std::string got_;  // the reader's until it is joined
};

struct posix_over_pipe {};
struct posix_over_socketpair {};
template <>
struct sink_conformance_traits<posix_over_pipe> : fd_harness {
  sink_conformance_traits() : fd_harness(/*socket=*/false) {}
};
template <>
struct sink_conformance_traits<posix_over_socketpair> : fd_harness {
  sink_conformance_traits() : fd_harness(/*socket=*/true) {}
};

namespace {

using SinkModels = ::testing::Types<memory_sink, posix_over_pipe, posix_over_socketpair,
                                    fault_injecting_sink<memory_sink>>;

// Test names say which model failed: Models/SinkConformance/posix_pipe.X.
struct sink_model_name {
  template <class T>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<T, memory_sink>) return "memory_sink";
    if constexpr (std::is_same_v<T, posix_over_pipe>) return "posix_pipe";
    if constexpr (std::is_same_v<T, posix_over_socketpair>) return "posix_socketpair";
    if constexpr (std::is_same_v<T, fault_injecting_sink<memory_sink>>) return "fault_sink";
    return "unnamed_model";
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Models, SinkConformance, SinkModels, sink_model_name);

}  // namespace
}  // namespace funnel::testing
