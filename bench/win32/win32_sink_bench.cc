// Win32 sink throughput against the plain loop a program would write without
// funnel, measured in the same run (under Wine only ratios mean anything):
//
//   pipe:   one WriteFile per frame (header and payload copied into one
//           buffer first)  vs  procwire_writer's win32_handle_sink (staging
//           small ranges, the default) and the same sink with copy_below = 0
//           (one WriteFile per range);
//   socket: one WSASend per frame (two WSABUFs: header, payload)  vs
//           win32_socket_sink (one WSASend per batch).
//
// One producer thread sends every frame; a reader thread drains the pipe or
// socket and counts the bytes, which must all arrive (else exit 1). The
// variants run interleaved, rep after rep, each on a fresh pipe or
// connection; the ratio (funnel / plain, >1 is faster) is given as median and
// min-max over the reps.
//
//   win32_sink_bench.exe [--quick] [--frames=N] [--payload=BYTES] [--reps=N]
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#include <winsock2.h>
#include <ws2tcpip.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "funnel/policies/sink/win32_handle_sink.h"
#include "funnel/policies/sink/win32_socket_sink.h"
#include "funnel/presets.h"

namespace {

using clock_type = std::chrono::steady_clock;
using socket_writer =
    funnel::writer_for<funnel::with<funnel::procwire_preset, funnel::win32_socket_sink>>;

struct config {
  std::size_t frames = 100000;
  std::size_t payload = 64;
  int reps = 5;
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "win32_sink_bench: %s\n", what.c_str());
  std::exit(1);
}

std::vector<funnel::outbound_frame> make_frames(const config& c) {
  std::vector<funnel::outbound_frame> frames;
  frames.reserve(c.frames);
  const std::string payload(c.payload, 'x');
  const funnel::bytes shared = funnel::bytes::copy_from(payload);
  for (std::size_t i = 0; i < c.frames; ++i) {
    auto f = funnel::outbound_frame::make(1, 0, static_cast<std::uint32_t>(i), shared);
    if (!f.ok()) die(std::string(f.status().message()));
    frames.push_back(*std::move(f));
  }
  return frames;
}

// The wire bytes of one frame, as gather ranges (header, payload).
std::vector<funnel::const_buffer> ranges_of(const funnel::outbound_frame& f) {
  std::vector<funnel::const_buffer> out;
  // outbound_frame's header bytes and payload, as the writer gathers them.
  out.push_back({f.encoded().data(), f.encoded().size()});
  if (f.payload().size() > 0) out.push_back({f.payload().data(), f.payload().size()});
  return out;
}

// A reader that drains `read` until the end and counts bytes.
struct drain {
  std::size_t bytes = 0;
  std::thread t;
  explicit drain(std::function<std::size_t(char*, std::size_t)> read)
      : t([this, read = std::move(read)] {
          std::vector<char> buf(1 << 16);
          for (;;) {
            const std::size_t n = read(buf.data(), buf.size());
            if (n == 0) return;
            bytes += n;
          }
        }) {}
  std::size_t join() {
    t.join();
    return bytes;
  }
};

struct pipe_run {
  HANDLE r = nullptr, w = nullptr;
  pipe_run() {
    if (!::CreatePipe(&r, &w, nullptr, 64 * 1024)) die("CreatePipe failed");
  }
};

struct tcp_run {
  SOCKET client = INVALID_SOCKET, server = INVALID_SOCKET;
  tcp_run() {
    SOCKET l = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int len = sizeof a;
    if (::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len) != 0 || ::listen(l, 1) != 0)
      die("listen failed");
    client = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect failed");
    server = ::accept(l, nullptr, nullptr);
    ::closesocket(l);
  }
};

std::size_t read_pipe(HANDLE h, char* buf, std::size_t n) {
  DWORD got = 0;
  return ::ReadFile(h, buf, static_cast<DWORD>(n), &got, nullptr) ? got : 0;
}
std::size_t read_sock(SOCKET s, char* buf, std::size_t n) {
  const int got = ::recv(s, buf, static_cast<int>(n), 0);
  return got > 0 ? static_cast<std::size_t>(got) : 0;
}

template <class Writer>
void send_all(Writer& w, const std::vector<funnel::outbound_frame>& frames) {
  auto h = w.handle();
  for (const funnel::outbound_frame& f : frames) {
    if (absl::Status s = h.send(f); !s.ok()) die(std::string(s.message()));
  }
  if (absl::Status s = w.close(); !s.ok()) die(std::string(s.message()));
}

// Each returns seconds; checks that every byte arrived.
double pipe_plain(const std::vector<funnel::outbound_frame>& frames, std::size_t total) {
  pipe_run p;
  drain d([h = p.r](char* b, std::size_t n) { return read_pipe(h, b, n); });
  std::vector<char> buf;
  const auto t0 = clock_type::now();
  for (const funnel::outbound_frame& f : frames) {
    buf.clear();
    for (const funnel::const_buffer& r : ranges_of(f))
      buf.insert(buf.end(), reinterpret_cast<const char*>(r.data),
                 reinterpret_cast<const char*>(r.data) + r.size);
    DWORD done = 0;
    if (!::WriteFile(p.w, buf.data(), static_cast<DWORD>(buf.size()), &done, nullptr) ||
        done != buf.size())
      die("WriteFile failed");
  }
  const auto t1 = clock_type::now();
  ::CloseHandle(p.w);
  if (d.join() != total) die("pipe_plain: bytes missing");
  ::CloseHandle(p.r);
  return std::chrono::duration<double>(t1 - t0).count();
}

double pipe_funnel(const std::vector<funnel::outbound_frame>& frames, std::size_t total,
                   std::size_t copy_below) {
  pipe_run p;
  drain d([h = p.r](char* b, std::size_t n) { return read_pipe(h, b, n); });
  const auto t0 = clock_type::now();
  {
    funnel::procwire_writer w{funnel::win32_handle_sink(
        p.w, {.copy_below = copy_below, .ownership = funnel::handle_ownership::owned})};
    send_all(w, frames);
  }
  const auto t1 = clock_type::now();
  if (d.join() != total) die("pipe_funnel: bytes missing");
  ::CloseHandle(p.r);
  return std::chrono::duration<double>(t1 - t0).count();
}

double socket_plain(const std::vector<funnel::outbound_frame>& frames, std::size_t total) {
  tcp_run s;
  drain d([h = s.server](char* b, std::size_t n) { return read_sock(h, b, n); });
  const auto t0 = clock_type::now();
  for (const funnel::outbound_frame& f : frames) {
    WSABUF bufs[2];
    DWORD count = 0, want = 0;
    for (const funnel::const_buffer& r : ranges_of(f)) {
      bufs[count].buf = reinterpret_cast<char*>(const_cast<std::byte*>(r.data));
      bufs[count].len = static_cast<ULONG>(r.size);
      want += bufs[count].len;
      ++count;
    }
    DWORD sent = 0;
    if (::WSASend(s.client, bufs, count, &sent, 0, nullptr, nullptr) != 0 || sent != want)
      die("WSASend failed or was short");
  }
  const auto t1 = clock_type::now();
  ::shutdown(s.client, SD_SEND);
  if (d.join() != total) die("socket_plain: bytes missing");
  ::closesocket(s.client);
  ::closesocket(s.server);
  return std::chrono::duration<double>(t1 - t0).count();
}

double socket_funnel(const std::vector<funnel::outbound_frame>& frames, std::size_t total) {
  tcp_run s;
  drain d([h = s.server](char* b, std::size_t n) { return read_sock(h, b, n); });
  const auto t0 = clock_type::now();
  {
    socket_writer w{
        funnel::win32_socket_sink(s.client, {.ownership = funnel::socket_ownership::owned})};
    send_all(w, frames);
  }
  const auto t1 = clock_type::now();
  if (d.join() != total) die("socket_funnel: bytes missing");
  ::closesocket(s.server);
  return std::chrono::duration<double>(t1 - t0).count();
}

struct series {
  std::vector<double> v;
  double median() const {
    std::vector<double> s = v;
    std::sort(s.begin(), s.end());
    return s[s.size() / 2];
  }
  double min() const { return *std::min_element(v.begin(), v.end()); }
  double max() const { return *std::max_element(v.begin(), v.end()); }
};

void report(const char* what, const series& plain_s, const series& funnel_s, std::size_t total) {
  series ratio;
  for (std::size_t i = 0; i < plain_s.v.size(); ++i)
    ratio.v.push_back(plain_s.v[i] / funnel_s.v[i]);
  std::printf("%-44s plain %8.1f MB/s  funnel %8.1f MB/s  ratio %.2fx (min %.2f, max %.2f)\n", what,
              total / plain_s.median() / 1e6, total / funnel_s.median() / 1e6, ratio.median(),
              ratio.min(), ratio.max());
}

}  // namespace

int main(int argc, char** argv) {
  config c;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--quick") {
      c.frames = 2000;
      c.reps = 1;
    } else if (a.rfind("--frames=", 0) == 0) {
      c.frames = std::strtoull(argv[i] + 9, nullptr, 10);
    } else if (a.rfind("--payload=", 0) == 0) {
      c.payload = std::strtoull(argv[i] + 10, nullptr, 10);
    } else if (a.rfind("--reps=", 0) == 0) {
      c.reps = std::atoi(argv[i] + 7);
    } else {
      die("usage: win32_sink_bench [--quick] [--frames=N] [--payload=BYTES] [--reps=N]");
    }
  }
  WSADATA wsa;
  if (::WSAStartup(MAKEWORD(2, 2), &wsa) != 0) die("WSAStartup failed");
  const std::vector<funnel::outbound_frame> frames = make_frames(c);
  std::size_t total = 0;
  for (const funnel::outbound_frame& f : frames) total += f.size();

  series pp, pf, pf0, sp, sf;
  for (int rep = 0; rep < c.reps; ++rep) {  // interleaved: drift hits every variant alike
    pp.v.push_back(pipe_plain(frames, total));
    pf.v.push_back(pipe_funnel(frames, total, 4096));
    pf0.v.push_back(pipe_funnel(frames, total, 0));
    sp.v.push_back(socket_plain(frames, total));
    sf.v.push_back(socket_funnel(frames, total));
  }
  std::printf("%zu frames of %zu payload bytes, %d rep(s), 1 producer; ratio = funnel/plain\n",
              c.frames, c.payload, c.reps);
  report("pipe: win32_handle_sink (staging) vs WriteFile", pp, pf, total);
  report("pipe: win32_handle_sink copy_below=0 vs WriteFile", pp, pf0, total);
  report("socket: win32_socket_sink vs WSASend", sp, sf, total);
  ::WSACleanup();
  return 0;
}
