// win32_socket_sink over real loopback TCP connections, blocking and not,
// under a funnel writer with many producers: every byte is decoded on the
// reader's side, per-producer order is checked, partial sends resume at the
// exact byte, a full socket waits with WSAPoll up to the timeout, and a peer
// that resets the connection mid-batch is reported as WSAECONNRESET with the
// lost frames counted.
#include "funnel/policies/sink/win32_socket_sink.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/presets.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/win32/win32_test_util.h"

namespace funnel {
namespace {

using ::testing::HasSubstr;
using win32_test::check_stream;
using win32_test::frame_of;
using win32_test::make_tcp_pair;
using win32_test::read_socket;
using win32_test::reader_thread;

// The procwire preset with the socket sink swapped in.
using socket_writer = writer_for<with<procwire_preset, win32_socket_sink>>;
static_assert(sink<win32_socket_sink>);

const auto* const kWsa = ::testing::AddGlobalTestEnvironment(new win32_test::wsa_environment);

constexpr std::uint32_t kProducers = 4;
constexpr std::uint32_t kFramesEach = 400;

std::uint64_t produce(socket_writer& w, std::uint32_t frames_each = kFramesEach) {
  std::atomic<std::uint64_t> ok{0};
  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p, h = w.handle()]() mutable {
      for (std::uint32_t seq = 0; seq < frames_each; ++seq) {
        if (!h.send(frame_of(p, seq)).ok()) return;
        ok.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return ok.load(std::memory_order_relaxed);
}

void set_send_buffer(SOCKET s, int bytes) {
  EXPECT_EQ(
      ::setsockopt(s, SOL_SOCKET, SO_SNDBUF, reinterpret_cast<const char*>(&bytes), sizeof bytes),
      0);
}

TEST(Win32SocketSink, ManyProducersOverLoopbackTcp) {
  win32_test::socket_pair sp = make_tcp_pair();
  reader_thread reader(read_socket(sp.server));
  {
    socket_writer w{win32_socket_sink(sp.client, {.ownership = socket_ownership::owned})};
    EXPECT_EQ(produce(w), kProducers * kFramesEach);
    ASSERT_TRUE(w.close().ok());
    EXPECT_EQ(w.stats().frames_written, kProducers * kFramesEach);
    EXPECT_EQ(w.stats().frames_lost, 0u);
  }  // owned: closesocket ends the reader's stream
  EXPECT_THAT(check_stream(reader.collected(), kProducers), ::testing::Each(kFramesEach));
  ::closesocket(sp.server);
}

// A non-blocking socket with a small send buffer: WSASend takes part of a
// batch or answers WSAEWOULDBLOCK, the sink waits in WSAPoll, and the writer
// resumes at the exact byte: the stream is still intact.
TEST(Win32SocketSink, NonBlockingSocketWithASmallBufferDeliversIntact) {
  win32_test::socket_pair sp = make_tcp_pair();
  win32_test::set_nonblocking(sp.client);
  set_send_buffer(sp.client, 4096);
  reader_thread reader(read_socket(sp.server));
  {
    socket_writer w{win32_socket_sink(sp.client, {.ownership = socket_ownership::owned})};
    EXPECT_EQ(produce(w), kProducers * kFramesEach);
    ASSERT_TRUE(w.close().ok());
  }
  EXPECT_THAT(check_stream(reader.collected(), kProducers), ::testing::Each(kFramesEach));
  ::closesocket(sp.server);
}

// The sink on its own: a gather list larger than the connection can buffer
// is taken in part (a short count), then the full socket times out in
// WSAPoll with a status naming the timeout; once a reader drains it, the rest
// goes out from the exact byte where the short count stopped.
TEST(Win32SocketSink, PartialSendsResumeAtTheExactByteAndFullSocketsTimeOut) {
  win32_test::socket_pair sp = make_tcp_pair();
  win32_test::set_nonblocking(sp.client);
  std::vector<std::string> parts;
  std::string expected;
  for (int i = 0; i < 400; ++i) {
    parts.push_back(std::string(i % 2 ? 11 : 20011, static_cast<char>('a' + i % 26)));
    expected += parts.back();
  }
  std::vector<const_buffer> list;
  for (const std::string& s : parts)
    list.push_back({reinterpret_cast<const std::byte*>(s.data()), s.size()});
  std::span<const_buffer> rest(list);

  win32_socket_sink sink(sp.client, {.write_timeout = absl::Milliseconds(100)});
  absl::StatusOr<std::size_t> n = sink.write(rest);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_LT(*n, expected.size()) << "expected a short count: the socket cannot hold 4 MB";
  rest = consume_front(rest, *n);
  // Nothing reads: the socket stays full until the timeout.
  absl::Status full;
  for (int i = 0; i < 1000 && full.ok(); ++i) {
    absl::StatusOr<std::size_t> m = sink.write(rest);
    if (m.ok()) {
      rest = consume_front(rest, *m);
    } else {
      full = m.status();
    }
  }
  EXPECT_EQ(full.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(full.message(), HasSubstr("not writable within 100ms"));

  reader_thread reader(read_socket(sp.server));
  while (!rest.empty()) {
    absl::StatusOr<std::size_t> m = sink.write(rest);
    ASSERT_TRUE(m.ok()) << m.status();
    rest = consume_front(rest, *m);
  }
  ::shutdown(sp.client, SD_SEND);
  EXPECT_TRUE(reader.collected() == expected) << "the stream differs from what was offered";
  ::closesocket(sp.client);
  ::closesocket(sp.server);
}

// The peer reads some bytes, then resets the connection (SO_LINGER 0) while
// the writer is mid-batch: the writer reports WSAECONNRESET, counts every
// accepted frame it did not write as lost, and the process lives on.
TEST(Win32SocketSink, PeerResetMidBatchIsReportedAndCounted) {
  win32_test::socket_pair sp = make_tcp_pair();
  set_send_buffer(sp.client, 8192);
  constexpr std::size_t kReadBeforeReset = 50000;
  SOCKET server = sp.server;
  reader_thread reader(read_socket(server), kReadBeforeReset, [server] {
    const linger hard{1, 0};
    ::setsockopt(server, SOL_SOCKET, SO_LINGER, reinterpret_cast<const char*>(&hard), sizeof hard);
    ::closesocket(server);  // RST
  });
  writer_options o;
  o.max_pending_frames = 256;
  socket_writer w{win32_socket_sink(sp.client, {.ownership = socket_ownership::owned}), o};
  const std::uint64_t sent_ok = produce(w, 5000);
  const absl::Status closed = w.close();
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(closed.message(), HasSubstr("WSAECONNRESET (10054): the peer reset the connection"));
  EXPECT_THAT(closed.message(), HasSubstr("were not written"));
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, sent_ok);
  EXPECT_GE(st.frames_lost, 1u);
  EXPECT_EQ(st.frames_accepted, st.frames_written + st.frames_lost);
  EXPECT_LT(sent_ok, kProducers * 5000u);
  const std::string got = reader.collected();
  EXPECT_EQ(got.size(), kReadBeforeReset);
  std::uint64_t decoded = 0;
  for (std::uint32_t n : check_stream(got, kProducers, /*allow_truncated=*/true)) decoded += n;
  EXPECT_LE(decoded, st.frames_written);
}

TEST(Win32SocketSink, OwnedSocketsAreClosedBorrowedOnesAreNot) {
  win32_test::socket_pair borrowed = make_tcp_pair();
  { win32_socket_sink sink(borrowed.client); }
  int type = 0, len = sizeof type;
  EXPECT_EQ(
      ::getsockopt(borrowed.client, SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&type), &len), 0)
      << "a borrowed socket was closed";
  win32_test::socket_pair owned = make_tcp_pair();
  {
    win32_socket_sink sink(owned.client, {.ownership = socket_ownership::owned});
    win32_socket_sink moved = std::move(sink);
  }
  len = sizeof type;
  EXPECT_NE(::getsockopt(owned.client, SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&type), &len),
            0)
      << "an owned socket stayed open";
  ::closesocket(borrowed.client);
  ::closesocket(borrowed.server);
  ::closesocket(owned.server);
}

TEST(Win32SocketSink, ErrorsNameTheirCause) {
  const absl::Status s = win32::error_status(WSAECONNRESET, "WSASend to socket 0x1");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("WSASend to socket 0x1: WSAECONNRESET (10054): the peer "
                                     "reset the connection: "));
  EXPECT_THAT(s.message(), HasSubstr(win32::error_text(WSAECONNRESET)));
  const absl::Status unknown = win32::error_status(12345678, "WriteFile to handle 0x2");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kUnknown);
  EXPECT_THAT(unknown.message(), HasSubstr("Windows error (12345678)"));
}

}  // namespace
}  // namespace funnel
