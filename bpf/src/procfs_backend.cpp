// The procfs backend: cgroup2 cpu.stat usage_usec per cgroup directory,
// /proc/PID/task/TID/schedstat per thread, /proc/stat per CPU. Files that can
// stay open (cpu.stat, /proc/stat, one thread's schedstat) are kept open and
// re-read with pread at offset 0; a pid's threads are listed with getdents64
// into a preallocated buffer, so read() does not allocate.
//
// Coarseness (why this is only the fallback): cpu.stat and schedstat fold a
// running task's slice in at scheduler ticks (4 ms at HZ=250), /proc/stat
// counts 10 ms ticks, and every subject costs file reads.
#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>

#include "backends.hpp"
#include "cinergy/common/topology.hpp"
#include "proc_parse.hpp"
#include "subjects.hpp"

namespace cinergy::bpf::detail {
namespace fs = std::filesystem;

namespace {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// pread(fd, 0) into buf, NUL-free view of what was read; errno kept on failure.
std::optional<std::string_view> pread_all(int fd, std::span<char> buf) {
  ssize_t n = ::pread(fd, buf.data(), buf.size(), 0);
  if (n < 0) return std::nullopt;
  return std::string_view(buf.data(), static_cast<std::size_t>(n));
}

// Errors that mean "the subject is gone", not "a read failed".
bool gone_errno(int e) { return e == ENODEV || e == ESRCH || e == ENOENT; }

// Per-thread bookkeeping of a pid subject, so that a thread that exits does
// not take its CPU time out of the process total.
struct ThreadEntry {
  std::int32_t tid = 0;
  std::uint32_t seen_gen = 0;
  std::uint64_t last_ns = 0;
};
constexpr std::size_t kMaxThreadsPerPid = 4096;

struct Source {
  enum class Kind { cgroup_dir, thread, process } kind = Kind::cgroup_dir;
  Fd fd;                  // cgroup_dir: cpu.stat; thread: schedstat; process: unused
  std::int32_t tgid = 0;  // thread/process
  std::uint64_t baseline_ns = 0;
  std::uint64_t last_out_ns = 0;  // last published (monotone) value
  // process only:
  std::vector<ThreadEntry> threads;  // capacity kMaxThreadsPerPid, never grows in read()
  std::uint64_t exited_ns = 0;       // last seen runtime of threads that exited
  std::uint32_t gen = 0;
};

Source make_source(Source::Kind kind, int fd, std::int32_t tgid) {
  Source s{};
  s.kind = kind;
  s.fd = Fd(fd);
  s.tgid = tgid;
  return s;
}

struct SubjectState {
  ResolvedSubject resolved;
};

class ProcfsAccounting final : public CpuAccounting {
 public:
  ProcfsAccounting(fs::path cgroup2_root, fs::path proc_root, std::string reason, Fd proc_stat,
                   std::size_t ncpu, std::uint64_t ns_per_tick)
      : cgroup2_root_(std::move(cgroup2_root)),
        proc_root_(std::move(proc_root)),
        reason_(std::move(reason)),
        proc_stat_(std::move(proc_stat)),
        ns_per_tick_(ns_per_tick),
        busy_ticks_(ncpu, 0),
        busy_base_ticks_(ncpu, 0),
        busy_last_ns_(ncpu, 0),
        text_buf_(1 << 16),
        dirent_buf_(1 << 15) {
    if (auto t = pread_all(proc_stat_.get(), text_buf_))
      parse_proc_stat_busy_ticks(*t, busy_base_ticks_);
  }

  std::string_view backend() const override { return "procfs"; }
  std::string_view fallback_reason() const override { return reason_; }
  const std::vector<SeriesInfo>& series() const override { return series_; }
  std::size_t cpu_count() const override { return busy_ticks_.size(); }

  Result<std::size_t> add_subject(const SubjectSpec& spec) override {
    auto r = resolve_subject(spec, cgroup2_root_, proc_root_);
    if (!r) return std::unexpected(r.error());
    SubjectState st{std::move(*r)};
    std::vector<Source> added;
    if (st.resolved.kind == SubjectKind::cgroup) {
      // The total reads the subject directory itself: cgroup2 usage_usec
      // already covers the whole subtree. Then one source per direct child.
      std::vector<const CgroupNode*> dirs{&st.resolved.nodes[0]};
      for (std::size_t i = 1; i < st.resolved.nodes.size(); ++i)
        if (st.resolved.nodes[i].top_child == static_cast<int>(i))
          dirs.push_back(&st.resolved.nodes[i]);
      for (const auto* n : dirs) {
        auto path = n->dir / "cpu.stat";
        auto s =
            make_source(Source::Kind::cgroup_dir, ::open(path.c_str(), O_RDONLY | O_CLOEXEC), 0);
        if (s.fd.get() < 0) return fail_errno("cannot open " + path.string());
        auto v = read_cgroup(s);
        if (!v) return fail_errno("cannot read usage_usec from " + path.string());
        s.baseline_ns = *v;
        added.push_back(std::move(s));
      }
    } else if (st.resolved.kind == SubjectKind::tid) {
      auto path = proc_root_ / std::to_string(st.resolved.tgid) / "task" /
                  std::to_string(st.resolved.tid) / "schedstat";
      auto s = make_source(Source::Kind::thread, ::open(path.c_str(), O_RDONLY | O_CLOEXEC),
                           st.resolved.tgid);
      if (s.fd.get() < 0) return fail_errno("cannot open " + path.string());
      auto v = read_thread(s);
      if (!v) return fail_errno("cannot read " + path.string());
      s.baseline_ns = *v;
      added.push_back(std::move(s));
    } else {
      auto s = make_source(Source::Kind::process, -1, st.resolved.tgid);
      s.threads.reserve(kMaxThreadsPerPid);
      auto v = read_process(s);
      if (!v) return fail_errno("cannot list threads of pid " + std::to_string(st.resolved.tgid));
      s.baseline_ns = *v;
      added.push_back(std::move(s));
    }
    for (auto& s : added) sources_.push_back(std::move(s));
    const std::size_t index = free_subject_index(subjects_);
    append_series(st.resolved, index, series_);
    spdlog::debug("procfs accounting: subject '{}' with {} series", st.resolved.label,
                  added.size());
    subjects_[index] = std::move(st);
    return index;
  }

  // Its sources (one per series, open files) go with its series.
  Result<void> remove_subject(std::size_t subject_index) override {
    if (subject_index >= subjects_.size() || !subjects_[subject_index])
      return fail("no CPU accounting subject " + std::to_string(subject_index));
    const auto [first, last] = series_range(series_, subject_index);
    sources_.erase(sources_.begin() + static_cast<std::ptrdiff_t>(first),
                   sources_.begin() + static_cast<std::ptrdiff_t>(last));
    series_.erase(series_.begin() + static_cast<std::ptrdiff_t>(first),
                  series_.begin() + static_cast<std::ptrdiff_t>(last));
    spdlog::debug("procfs accounting: subject '{}' removed",
                  subjects_[subject_index]->resolved.label);
    subjects_[subject_index].reset();
    return ok();
  }

  // /proc/stat counts in USER_HZ ticks and cpu.stat folds a running task's
  // time in at scheduler ticks: a value may be a tick off at either end.
  std::int64_t resolution_ns() const override {
    return 2 * static_cast<std::int64_t>(ns_per_tick_);
  }

  std::size_t read(std::span<std::uint64_t> series_cpu_ns, std::span<std::uint64_t> cpu_busy_ns,
                   std::int64_t& values_at_ns) noexcept override {
    std::size_t errors = 0;
    const std::size_t n = std::min(series_cpu_ns.size(), sources_.size());
    for (std::size_t i = 0; i < n; ++i) {
      auto& s = sources_[i];
      std::optional<std::uint64_t> v;
      switch (s.kind) {
        case Source::Kind::cgroup_dir:
          v = read_cgroup(s);
          break;
        case Source::Kind::thread:
          v = read_thread(s);
          break;
        case Source::Kind::process:
          v = read_process(s);
          break;
      }
      if (v) {
        s.last_out_ns = clamp_monotonic(s.last_out_ns, since_baseline(*v, s.baseline_ns));
      } else if (!gone_errno(errno)) {
        ++errors;  // a subject that ended keeps its last value silently
      }
      series_cpu_ns[i] = s.last_out_ns;
    }
    errors += series_cpu_ns.size() < sources_.size() ? sources_.size() - series_cpu_ns.size() : 0;

    if (auto t = pread_all(proc_stat_.get(), text_buf_)) {
      parse_proc_stat_busy_ticks(*t, busy_ticks_);
      for (std::size_t c = 0; c < busy_ticks_.size(); ++c)
        busy_last_ns_[c] = clamp_monotonic(
            busy_last_ns_[c], since_baseline(busy_ticks_[c], busy_base_ticks_[c]) * ns_per_tick_);
    } else {
      ++errors;
    }
    const std::size_t m = std::min(cpu_busy_ns.size(), busy_last_ns_.size());
    for (std::size_t c = 0; c < m; ++c) cpu_busy_ns[c] = busy_last_ns_[c];
    values_at_ns = monotonic_ns();  // every file was read before this
    return errors;
  }

  bool subject_alive(std::size_t subject_index) const override {
    if (subject_index >= subjects_.size() || !subjects_[subject_index]) return false;
    return detail::subject_alive(subjects_[subject_index]->resolved, proc_root_);
  }

 private:
  std::optional<std::uint64_t> read_cgroup(Source& s) {
    auto t = pread_all(s.fd.get(), text_buf_);
    if (!t) return std::nullopt;
    auto us = parse_cpu_stat_usage_usec(*t);
    if (!us) {
      errno = EINVAL;
      return std::nullopt;
    }
    return *us * 1000;
  }

  std::optional<std::uint64_t> read_thread(Source& s) {
    auto t = pread_all(s.fd.get(), text_buf_);
    if (!t) return std::nullopt;
    auto v = parse_schedstat_runtime_ns(*t);
    if (!v) errno = EINVAL;
    return v;
  }

  // Sum of the live threads' runtime plus what exited threads had at their
  // last sighting. Threads that start and exit between two reads are missed
  // (a known limit of the fallback).
  std::optional<std::uint64_t> read_process(Source& s) {
    char path[64];
    std::snprintf(path, sizeof path, "%d/task", s.tgid);
    Fd dir_root(::open(proc_root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_root.get() < 0) return std::nullopt;
    Fd dir(::openat(dir_root.get(), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0) return std::nullopt;
    ++s.gen;
    bool any = false;
    for (;;) {
      ssize_t n = ::getdents64(dir.get(), dirent_buf_.data(), dirent_buf_.size());
      if (n < 0) return std::nullopt;
      if (n == 0) break;
      for (ssize_t off = 0; off < n;) {
        auto* d = reinterpret_cast<dirent64*>(dirent_buf_.data() + off);
        off += d->d_reclen;
        std::int32_t tid = 0;
        auto name = std::string_view(d->d_name);
        auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), tid);
        if (ec != std::errc{} || tid <= 0) continue;
        char file[48];
        std::snprintf(file, sizeof file, "%d/schedstat", tid);
        Fd f(::openat(dir.get(), file, O_RDONLY | O_CLOEXEC));
        if (f.get() < 0) continue;  // exited meanwhile
        auto t = pread_all(f.get(), text_buf_);
        if (!t) continue;
        auto v = parse_schedstat_runtime_ns(*t);
        if (!v) continue;
        any = true;
        auto it = std::find_if(s.threads.begin(), s.threads.end(),
                               [tid](const ThreadEntry& e) { return e.tid == tid; });
        if (it != s.threads.end()) {
          it->last_ns = std::max(it->last_ns, *v);
          it->seen_gen = s.gen;
        } else if (s.threads.size() < s.threads.capacity()) {
          s.threads.push_back({tid, s.gen, *v});
        }
      }
    }
    if (!any) {
      errno = ESRCH;
      return std::nullopt;
    }
    std::uint64_t sum = s.exited_ns;
    for (std::size_t i = 0; i < s.threads.size();) {
      if (s.threads[i].seen_gen != s.gen) {
        s.exited_ns += s.threads[i].last_ns;
        sum += s.threads[i].last_ns;
        s.threads[i] = s.threads.back();
        s.threads.pop_back();
      } else {
        sum += s.threads[i].last_ns;
        ++i;
      }
    }
    return sum;
  }

  fs::path cgroup2_root_;
  fs::path proc_root_;
  std::string reason_;
  Fd proc_stat_;
  std::uint64_t ns_per_tick_;
  std::vector<std::uint64_t> busy_ticks_;
  std::vector<std::uint64_t> busy_base_ticks_;
  std::vector<std::uint64_t> busy_last_ns_;
  std::vector<char> text_buf_;
  std::vector<char> dirent_buf_;
  std::vector<Source> sources_;                        // one per series, in series order
  std::vector<std::optional<SubjectState>> subjects_;  // by subject index; empty = free
  std::vector<SeriesInfo> series_;
};

}  // namespace

Result<std::unique_ptr<CpuAccounting>> open_procfs_backend(const fs::path& cgroup2_root,
                                                           const fs::path& proc_root,
                                                           std::string fallback_reason) {
  auto stat_path = proc_root / "stat";
  Fd fd(::open(stat_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return fail_errno("cannot open " + stat_path.string());
  std::vector<char> buf(1 << 16);
  auto t = pread_all(fd.get(), buf);
  if (!t) return fail_errno("cannot read " + stat_path.string());
  std::size_t ncpu = parse_proc_stat_busy_ticks(*t, {});
  if (ncpu == 0) return fail("no cpuN lines in " + stat_path.string());
  long hz = ::sysconf(_SC_CLK_TCK);
  if (hz <= 0) hz = 100;
  return std::make_unique<ProcfsAccounting>(cgroup2_root, proc_root, std::move(fallback_reason),
                                            std::move(fd), ncpu,
                                            static_cast<std::uint64_t>(1'000'000'000 / hz));
}

}  // namespace cinergy::bpf::detail
