// Smoke test of the Google Benchmark dependency (@benchmark//:benchmark_main).
#include <benchmark/benchmark.h>

#include <vector>

static void BM_VectorPushBack(benchmark::State& state) {
  for (auto _ : state) {
    std::vector<int> v;
    for (int i = 0; i < 64; ++i) v.push_back(i);
    benchmark::DoNotOptimize(v.data());
  }
}
BENCHMARK(BM_VectorPushBack);
