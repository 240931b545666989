// win32_handle_sink over real anonymous pipes, named pipes and files, under a
// funnel writer with many producers: every byte is decoded on the reader's
// side, per-producer order is checked, and a reader that goes away mid-batch
// is reported as ERROR_NO_DATA with the lost frames counted.
#include "funnel/policies/sink/win32_handle_sink.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "funnel/buffer.h"
#include "funnel/presets.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/win32/win32_test_util.h"

namespace funnel {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using win32_test::check_stream;
using win32_test::frame_of;
using win32_test::make_anonymous_pipe;
using win32_test::make_named_pipe;
using win32_test::read_handle;
using win32_test::reader_thread;

// On Windows, procwire_preset's sink is win32_handle_sink.
static_assert(std::is_same_v<procwire_preset::sink_type, win32_handle_sink>);
static_assert(sink<win32_handle_sink>);

constexpr std::uint32_t kProducers = 4;
constexpr std::uint32_t kFramesEach = 400;

// Runs kProducers threads sending kFramesEach frames each; returns how many
// sends returned OK.
template <class Writer>
std::uint64_t produce(Writer& w, std::uint32_t frames_each = kFramesEach) {
  std::atomic<std::uint64_t> ok{0};
  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p, h = w.handle()]() mutable {
      for (std::uint32_t seq = 0; seq < frames_each; ++seq) {
        if (!h.send(frame_of(p, seq)).ok()) return;  // the writer failed: stop
        ok.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return ok.load(std::memory_order_relaxed);
}

// A gather list of small and large ranges, written by the sink alone and
// resumed the way the writer resumes (consume_front), arrives intact.
class GatherListTest : public ::testing::TestWithParam<std::size_t> {};

TEST_P(GatherListTest, EveryByteArrivesInOrder) {
  win32_test::pipe_pair pipe = make_anonymous_pipe(4096);
  reader_thread reader(read_handle(pipe.read));
  std::vector<std::string> parts;
  for (int i = 0; i < 200; ++i)
    parts.push_back(std::string(i % 7 == 0 ? 10000 : i % 50, 'a' + i % 26));
  std::vector<const_buffer> list;
  std::string expected;
  for (const std::string& s : parts) {
    if (s.empty()) continue;
    list.push_back({reinterpret_cast<const std::byte*>(s.data()), s.size()});
    expected += s;
  }
  {
    win32_handle_sink sink(pipe.write,
                           {.copy_below = GetParam(), .ownership = handle_ownership::owned});
    std::span<const_buffer> rest(list);
    while (!rest.empty()) {
      absl::StatusOr<std::size_t> n = sink.write(rest);
      ASSERT_TRUE(n.ok()) << n.status();
      ASSERT_GE(*n, 1u);
      rest = consume_front(rest, *n);
    }
  }  // owned: closing the write end ends the reader
  EXPECT_EQ(reader.collected(), expected);
  ::CloseHandle(pipe.read);
}

INSTANTIATE_TEST_SUITE_P(CopyBelow, GatherListTest, ::testing::Values(0, 64, 4096, 1 << 20),
                         [](const auto& info) { return absl::StrCat("copy_below_", info.param); });

TEST(Win32HandleSink, ManyProducersOverAnAnonymousPipe) {
  win32_test::pipe_pair pipe = make_anonymous_pipe();
  reader_thread reader(read_handle(pipe.read));
  procwire_writer w{win32_handle_sink(pipe.write, {.ownership = handle_ownership::owned})};
  EXPECT_EQ(produce(w), kProducers * kFramesEach);
  ASSERT_TRUE(w.close().ok());
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_written, kProducers * kFramesEach);
  EXPECT_EQ(st.frames_lost, 0u);
  { procwire_writer gone = std::move(w); }  // destroys the sink: closes the write end
  const std::string got = reader.collected();
  EXPECT_EQ(got.size(), st.bytes_written);
  EXPECT_THAT(check_stream(got, kProducers), ::testing::Each(kFramesEach));
  ::CloseHandle(pipe.read);
}

TEST(Win32HandleSink, ManyProducersOverANamedPipe) {
  win32_test::pipe_pair pipe = make_named_pipe(8192);
  reader_thread reader(read_handle(pipe.read));
  {
    procwire_writer w{win32_handle_sink(pipe.write, {.ownership = handle_ownership::owned})};
    EXPECT_EQ(produce(w), kProducers * kFramesEach);
    ASSERT_TRUE(w.close().ok());
    EXPECT_EQ(w.stats().frames_written, kProducers * kFramesEach);
  }
  EXPECT_THAT(check_stream(reader.collected(), kProducers), ::testing::Each(kFramesEach));
  ::CloseHandle(pipe.read);
}

TEST(Win32HandleSink, ManyProducersIntoAFile) {
  char dir[MAX_PATH], path[MAX_PATH];
  ASSERT_GT(::GetTempPathA(MAX_PATH, dir), 0u);
  ASSERT_NE(::GetTempFileNameA(dir, "fnl", 0, path), 0u);
  HANDLE file =
      ::CreateFileA(path, GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  ASSERT_NE(file, INVALID_HANDLE_VALUE) << ::GetLastError();
  {
    procwire_writer w{win32_handle_sink(file)};  // borrowed
    EXPECT_EQ(produce(w), kProducers * kFramesEach);
    ASSERT_TRUE(w.close().ok());
  }
  ASSERT_TRUE(::CloseHandle(file));  // borrowed: still ours to close
  HANDLE in = ::CreateFileA(path, GENERIC_READ, 0, nullptr, OPEN_EXISTING, 0, nullptr);
  ASSERT_NE(in, INVALID_HANDLE_VALUE);
  std::string got;
  char buf[65536];
  DWORD n = 0;
  while (::ReadFile(in, buf, sizeof buf, &n, nullptr) && n > 0) got.append(buf, n);
  ::CloseHandle(in);
  ::DeleteFileA(path);
  EXPECT_THAT(check_stream(got, kProducers), ::testing::Each(kFramesEach));
}

// The reader takes some bytes and closes its end while the writer is in the
// middle of batches: the writer reports ERROR_NO_DATA, counts every accepted
// frame it did not write as lost, and the process lives on.
TEST(Win32HandleSink, ReaderClosingMidBatchIsReportedAndCounted) {
  win32_test::pipe_pair pipe = make_anonymous_pipe(4096);
  constexpr std::size_t kReadBeforeClose = 50000;
  HANDLE read_end = pipe.read;
  reader_thread reader(read_handle(read_end), kReadBeforeClose,
                       [read_end] { ::CloseHandle(read_end); });
  writer_options o;
  o.max_pending_frames = 256;
  procwire_writer w{win32_handle_sink(pipe.write, {.ownership = handle_ownership::owned}), o};
  const std::uint64_t sent_ok = produce(w, 2000);
  const absl::Status closed = w.close();
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(closed.message(), AnyOf(HasSubstr("ERROR_NO_DATA (232): the reader closed the pipe"),
                                      HasSubstr("ERROR_BROKEN_PIPE (109)")));
  EXPECT_THAT(closed.message(), HasSubstr("were not written"));
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, sent_ok);
  EXPECT_GE(st.frames_lost, 1u);
  EXPECT_EQ(st.frames_accepted, st.frames_written + st.frames_lost);
  EXPECT_LT(sent_ok, kProducers * 2000u);  // sends after the failure were refused
  // What the reader got is an in-order prefix of each producer's frames.
  const std::string got = reader.collected();
  EXPECT_EQ(got.size(), kReadBeforeClose);
  std::uint64_t decoded = 0;
  for (std::uint32_t n : check_stream(got, kProducers, /*allow_truncated=*/true)) decoded += n;
  EXPECT_LE(decoded, st.frames_written);
}

TEST(Win32HandleSink, ErrorsCarryTheCodeItsNameAndTheSystemText) {
  win32_test::pipe_pair pipe = make_anonymous_pipe();
  ASSERT_TRUE(::CloseHandle(pipe.read));
  win32_handle_sink sink(pipe.write, {.ownership = handle_ownership::owned});
  const std::string payload = "hello";
  const const_buffer b{reinterpret_cast<const std::byte*>(payload.data()), payload.size()};
  absl::StatusOr<std::size_t> n = sink.write(std::span(&b, 1));
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(n.status().message(), HasSubstr("WriteFile to handle 0x"));
  EXPECT_THAT(n.status().message(),
              AnyOf(HasSubstr("ERROR_NO_DATA (232)"), HasSubstr("ERROR_BROKEN_PIPE (109)")));
  // FormatMessage's text follows the name.
  EXPECT_THAT(n.status().message(), HasSubstr(win32::error_text(ERROR_NO_DATA)));
  EXPECT_NE(win32::error_text(ERROR_NO_DATA), "unknown error");
}

TEST(Win32HandleSink, OwnedHandlesAreClosedBorrowedOnesAreNot) {
  DWORD flags = 0;
  win32_test::pipe_pair borrowed = make_anonymous_pipe();
  { win32_handle_sink sink(borrowed.write); }
  EXPECT_TRUE(::GetHandleInformation(borrowed.write, &flags)) << "a borrowed handle was closed";
  win32_test::pipe_pair owned = make_anonymous_pipe();
  {
    win32_handle_sink sink(owned.write, {.ownership = handle_ownership::owned});
    win32_handle_sink moved = std::move(sink);  // the moved-from sink closes nothing
  }
  EXPECT_FALSE(::GetHandleInformation(owned.write, &flags)) << "an owned handle stayed open";
  ::CloseHandle(borrowed.write);
  ::CloseHandle(borrowed.read);
  ::CloseHandle(owned.read);
}

}  // namespace
}  // namespace funnel
