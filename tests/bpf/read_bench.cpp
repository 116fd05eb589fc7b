// Cost of one read() of N subjects: the BPF backend (mmapped counters) vs the
// procfs backend vs bare pread() of the same N cpu.stat files. Root only.
// Run: sudo build/tests/bpf/bpf_read_bench
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "cinergy/bpf/cpu_accounting.hpp"
#include "kernel_support.hpp"

namespace {
using namespace cinergy;

struct Cgroups {
  explicit Cgroups(int n) {
    auto root = test::cgroup2_root_or_empty();
    for (int i = 0; i < n; ++i)
      dirs.push_back(std::make_unique<test::TestCgroup>(root, "bench" + std::to_string(i)));
  }
  std::vector<std::unique_ptr<test::TestCgroup>> dirs;
};

void read_backend(benchmark::State& state, const char* backend) {
  if (::geteuid() != 0) {
    state.SkipWithError("needs root");
    return;
  }
  Cgroups cg(static_cast<int>(state.range(0)));
  bpf::Options o;
  o.backend = backend;
  auto acct = bpf::open_cpu_accounting(o);
  if (!acct) {
    state.SkipWithError(acct.error().what().c_str());
    return;
  }
  for (const auto& d : cg.dirs)
    if (!(*acct)->add_subject({bpf::SubjectKind::cgroup, d->path().string(), ""})) {
      state.SkipWithError("add_subject failed");
      return;
    }
  std::vector<std::uint64_t> series((*acct)->series().size()), busy((*acct)->cpu_count());
  for (auto _ : state) {
    benchmark::DoNotOptimize((*acct)->read(series, busy));
    benchmark::ClobberMemory();
  }
  state.counters["subjects"] = static_cast<double>(state.range(0));
}

void BM_BpfRead(benchmark::State& state) { read_backend(state, "bpf"); }
void BM_ProcfsRead(benchmark::State& state) { read_backend(state, "procfs"); }

// The floor of any file-based approach: pread + parse of N open cpu.stat files.
void BM_CpuStatPread(benchmark::State& state) {
  if (::geteuid() != 0) {
    state.SkipWithError("needs root");
    return;
  }
  Cgroups cg(static_cast<int>(state.range(0)));
  std::vector<int> fds;
  for (const auto& d : cg.dirs) fds.push_back(::open((d->path() / "cpu.stat").c_str(), O_RDONLY));
  char buf[4096];
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (int fd : fds) {
      ssize_t n = ::pread(fd, buf, sizeof buf, 0);
      if (n > 11) sum += std::strtoull(buf + 11, nullptr, 10);  // "usage_usec N"
    }
    benchmark::DoNotOptimize(sum);
  }
  for (int fd : fds) ::close(fd);
}

BENCHMARK(BM_BpfRead)->Arg(1)->Arg(10)->Arg(100);
BENCHMARK(BM_ProcfsRead)->Arg(1)->Arg(10)->Arg(100);
BENCHMARK(BM_CpuStatPread)->Arg(1)->Arg(10)->Arg(100);

}  // namespace

BENCHMARK_MAIN();
