// tests/win32/win32_test_util.h: helpers for the Win32 sink tests: real
// anonymous and named pipes, loopback TCP connections, a reader thread that
// collects what arrives, and a frame pattern whose every byte is checked on
// the reader's side (per producer, in order).
#ifndef FUNNEL_TESTS_WIN32_WIN32_TEST_UTIL_H_
#define FUNNEL_TESTS_WIN32_WIN32_TEST_UTIL_H_

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#include <winsock2.h>  // before windows.h
#include <ws2tcpip.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "funnel/bytes.h"
#include "funnel/procwire/frame.h"
#include "funnel/procwire/frame_decoder.h"
#include "gtest/gtest.h"

namespace funnel::win32_test {

// --- the frames ------------------------------------------------------------------
// Producer p's frame number seq: method p + 1, request id seq, a payload whose
// length varies from 0 to ~300 bytes, and every 16th one 9000 bytes (longer
// than win32_handle_sink's copy_below, so both of its paths carry frames).
inline std::size_t payload_size(std::uint32_t p, std::uint32_t seq) {
  if (seq % 16 == 5) return 9000;
  return (seq * 37 + p * 11) % 300;
}
inline std::string payload_of(std::uint32_t p, std::uint32_t seq) {
  std::string s(payload_size(p, seq), '\0');
  for (std::size_t i = 0; i < s.size(); ++i)
    s[i] = static_cast<char>((p * 131 + seq * 7 + i) & 0xff);
  return s;
}
inline outbound_frame frame_of(std::uint32_t p, std::uint32_t seq) {
  absl::StatusOr<outbound_frame> f = outbound_frame::make(static_cast<std::uint16_t>(p + 1), 0, seq,
                                                          bytes::copy_from(payload_of(p, seq)));
  EXPECT_TRUE(f.ok()) << f.status();
  return *std::move(f);
}

// Decodes `stream` and checks that it holds, for each producer, frames 0, 1,
// ... in order with the exact payloads (frames of different producers may
// interleave). Returns the number of frames per producer. With
// `allow_truncated`, a trailing partial frame is accepted (a reader that
// stopped early).
inline std::vector<std::uint32_t> check_stream(std::string_view stream, std::uint32_t producers,
                                               bool allow_truncated = false) {
  std::vector<std::uint32_t> next(producers, 0);
  frame_decoder d;
  d.push(std::as_bytes(std::span(stream)));
  for (;;) {
    absl::StatusOr<std::optional<decoded_frame>> f = d.next();
    EXPECT_TRUE(f.ok()) << f.status();
    if (!f.ok() || !f->has_value()) break;
    const frame_header& h = (*f)->header;
    const std::uint32_t p = h.method_id - 1u;
    EXPECT_LT(p, producers);
    if (p >= producers) break;
    EXPECT_EQ(h.request_id, next[p]) << "producer " << p << " out of order";
    const std::string expected = payload_of(p, h.request_id);
    const bytes& got = (*f)->payload;
    EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(got.data()), got.size()), expected)
        << "payload of producer " << p << " frame " << h.request_id;
    next[p] = h.request_id + 1;
  }
  if (!allow_truncated) {
    EXPECT_EQ(d.buffered(), 0u) << "trailing bytes that are not a whole frame";
  }
  return next;
}

// --- a reader thread ------------------------------------------------------------------
// Calls `read(buf, n)` (returning bytes read, 0 at end of stream) until the
// end, or until it has `stop_after` bytes, then runs `at_stop` (e.g. closes
// its end). collected() waits for the thread.
class reader_thread {
 public:
  using read_fn = std::function<std::size_t(char*, std::size_t)>;
  explicit reader_thread(read_fn read, std::size_t stop_after = SIZE_MAX,
                         std::function<void()> at_stop = {})
      : thread_([this, read = std::move(read), stop_after, at_stop = std::move(at_stop)] {
          std::vector<char> buf(1 << 16);
          for (;;) {
            std::size_t want = buf.size();
            {
              absl::MutexLock lock(&mu_);
              if (data_.size() >= stop_after) break;
              want = std::min(want, stop_after - data_.size());
            }
            const std::size_t n = read(buf.data(), want);
            if (n == 0) break;
            absl::MutexLock lock(&mu_);
            data_.append(buf.data(), n);
          }
          if (at_stop) at_stop();
        }) {}
  ~reader_thread() {
    if (thread_.joinable()) thread_.join();
  }
  std::string collected() {
    if (thread_.joinable()) thread_.join();
    absl::MutexLock lock(&mu_);
    return data_;
  }

 private:
  absl::Mutex mu_;
  std::string data_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

inline reader_thread::read_fn read_handle(HANDLE h) {
  return [h](char* buf, std::size_t n) -> std::size_t {
    DWORD got = 0;
    if (!::ReadFile(h, buf, static_cast<DWORD>(n), &got, nullptr)) return 0;  // EOF / broken
    return got;
  };
}
inline reader_thread::read_fn read_socket(SOCKET s) {
  return [s](char* buf, std::size_t n) -> std::size_t {
    const int got = ::recv(s, buf, static_cast<int>(n), 0);
    return got > 0 ? static_cast<std::size_t>(got) : 0;
  };
}

// --- pipes and sockets -------------------------------------------------------------
struct pipe_pair {
  HANDLE read = nullptr;
  HANDLE write = nullptr;
};
inline pipe_pair make_anonymous_pipe(DWORD buffer_size = 0) {
  pipe_pair p;
  EXPECT_TRUE(::CreatePipe(&p.read, &p.write, nullptr, buffer_size)) << ::GetLastError();
  return p;
}

// A named pipe: the server end (read side) and a client end opened with
// CreateFile for writing.
inline pipe_pair make_named_pipe(DWORD buffer_size = 64 * 1024) {
  static std::atomic<int> counter{0};
  const std::string name = absl::StrCat("\\\\.\\pipe\\funnel-test-", ::GetCurrentProcessId(), "-",
                                        counter.fetch_add(1, std::memory_order_relaxed));
  pipe_pair p;
  p.read = ::CreateNamedPipeA(name.c_str(), PIPE_ACCESS_INBOUND,
                              PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT, 1, buffer_size,
                              buffer_size, 0, nullptr);
  EXPECT_NE(p.read, INVALID_HANDLE_VALUE) << ::GetLastError();
  p.write = ::CreateFileA(name.c_str(), GENERIC_WRITE, 0, nullptr, OPEN_EXISTING, 0, nullptr);
  EXPECT_NE(p.write, INVALID_HANDLE_VALUE) << ::GetLastError();
  if (!::ConnectNamedPipe(p.read, nullptr)) {
    EXPECT_EQ(::GetLastError(), static_cast<DWORD>(ERROR_PIPE_CONNECTED));
  }
  return p;
}

// Winsock, once per test binary.
class wsa_environment : public ::testing::Environment {
 public:
  void SetUp() override {
    WSADATA data;
    ASSERT_EQ(::WSAStartup(MAKEWORD(2, 2), &data), 0);
  }
  void TearDown() override { ::WSACleanup(); }
};

struct socket_pair {
  SOCKET client = INVALID_SOCKET;  // the writer's end
  SOCKET server = INVALID_SOCKET;  // the reader's end (accepted)
};
// A loopback TCP connection on an ephemeral port.
inline socket_pair make_tcp_pair() {
  socket_pair sp;
  SOCKET listener = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  EXPECT_NE(listener, INVALID_SOCKET);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  int len = sizeof addr;
  EXPECT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  EXPECT_EQ(::listen(listener, 1), 0);
  sp.client = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  EXPECT_EQ(::connect(sp.client, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
      << ::WSAGetLastError();
  sp.server = ::accept(listener, nullptr, nullptr);
  EXPECT_NE(sp.server, INVALID_SOCKET);
  ::closesocket(listener);
  return sp;
}

inline void set_nonblocking(SOCKET s) {
  u_long on = 1;
  EXPECT_EQ(::ioctlsocket(s, FIONBIO, &on), 0);
}

}  // namespace funnel::win32_test

#endif  // FUNNEL_TESTS_WIN32_WIN32_TEST_UTIL_H_
