// A writer in a child of fork(): the writer thread does not exist there, and
// its sink shares the socket or pipe (and the sink's wake pipe) with the
// parent. In the child, close(), flush(), sends and the destructor return at
// once with FailedPrecondition naming fork, and touch nothing: the parent's
// writer goes on as if the child never was. On the commit before this was
// fixed, the child's close() shut the shared socket down (the parent's writer
// then failed with EPIPE) or wrote into the shared wake pipe, and hung.
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/policies/sink/posix_writev_sink.h"
#include "funnel/presets.h"
#include "gtest/gtest.h"
#include "tests/posix_test_util.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing_internal::decode_all;
using testing_internal::make_frame;
using testing_internal::wire_bytes;
using namespace posix_test;  // NOLINT: the fd helpers

// Runs `child` in a fork()ed child and returns its wait status. The child
// dies by SIGALRM if it hangs for 20 s; the parent gives up (and kills it)
// after 60 s.
int run_in_child(const std::function<int()>& child) {
  std::fflush(nullptr);  // the child must not flush the parent's buffered output again
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(20);
    ::_exit(child());
  }
  EXPECT_GT(pid, 0) << "fork: " << errno;
  if (pid <= 0) return -1;
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > give_up) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "the child hung";
      return -1;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return status;
}

void expect_clean_exit(int status) {
  EXPECT_TRUE(WIFEXITED(status)) << "the child died "
                                 << (WIFSIGNALED(status) ? "by a signal (SIGALRM: it hung)" : "");
  if (WIFEXITED(status)) {
    EXPECT_EQ(WEXITSTATUS(status), 0) << "bit set: a check failed there";
  }
}

bool names_fork(const absl::Status& s) {
  return s.code() == absl::StatusCode::kFailedPrecondition &&
         absl::StrContains(s.message(), "fork");
}

void parent_writer_survives_a_child_close(fd_pair p) {
  reader_thread reader(p.read_end.get(), p.write_end);
  auto w = std::make_unique<procwire_writer>(posix_writev_sink(p.write_end.get()));
  for (std::uint32_t i = 1; i <= 100; ++i)
    ASSERT_TRUE(w->handle().send(make_frame(i, "parent")).ok());
  ASSERT_TRUE(w->flush().ok());

  expect_clean_exit(run_in_child([&] {
    int bad = 0;
    // A deadline that has passed: before the fix this cancelled the sink.
    if (!names_fork(w->close(absl::Now()))) bad |= 1;
    if (!names_fork(w->handle().send(make_frame(999, "child")))) bad |= 2;
    if (!names_fork(w->flush())) bad |= 4;
    if (!names_fork(w->status())) bad |= 8;
    w.reset();  // the destructor returns at once too
    return bad;
  }));

  for (std::uint32_t i = 101; i <= 200; ++i)
    ASSERT_TRUE(w->handle().send(make_frame(i, "parent")).ok());
  EXPECT_TRUE(w->close(absl::Now() + absl::Seconds(20)).ok());
  EXPECT_EQ(w->stats().frames_written, 200u);
  w.reset();
  const std::vector<decoded_frame> frames = decode_all(reader.close_and_join());
  ASSERT_EQ(frames.size(), 200u) << "nothing lost, nothing from the child";
  for (std::uint32_t i = 0; i < 200; ++i) EXPECT_EQ(frames[i].header.request_id, i + 1);
}

TEST(Fork, AChildsCloseOfASocketWriterLeavesTheParentsSocketAlone) {
  parent_writer_survives_a_child_close(make_socketpair());
}

TEST(Fork, AChildsCloseOfAPipeWriterLeavesTheParentsPipeAlone) {
  parent_writer_survives_a_child_close(make_pipe());
}

// exit() in the child runs the destructors of static objects, a static
// writer's included: it must return there, not wait for a thread that does
// not exist.
procwire_writer& static_writer(int fd) {
  static procwire_writer w{posix_writev_sink(fd)};
  return w;
}

TEST(Fork, AChildThatExitsWithAStaticWriterDoesNotHang) {
  static fd_pair* p = new fd_pair(make_pipe());  // outlives the static writer
  procwire_writer& w = static_writer(p->write_end.get());
  ASSERT_TRUE(w.handle().send(make_frame(1, "before")).ok());
  ASSERT_TRUE(w.flush().ok());

  expect_clean_exit(run_in_child([] {
    std::exit(0);  // runs ~procwire_writer of the static writer
    return 1;
  }));

  ASSERT_TRUE(w.handle().send(make_frame(2, "after")).ok());
  ASSERT_TRUE(w.flush().ok());
  const std::string want = wire_bytes(1, "before") + wire_bytes(2, "after");
  std::string got(want.size(), '\0');
  std::size_t have = 0;
  while (have < got.size()) {
    const ssize_t n = ::read(p->read_end.get(), got.data() + have, got.size() - have);
    ASSERT_GT(n, 0);
    have += static_cast<std::size_t>(n);
  }
  EXPECT_EQ(got, want) << "nothing from the child, nothing lost";
}

}  // namespace
}  // namespace funnel
