// DomainWatcher (domain_watch.hpp): one thread runs libvirt's default event
// loop; a periodic timer of that loop does everything else on the same
// thread (re-lists, reconnection with back-off), so the connection is only
// ever used from that thread. Lifecycle events and a lost connection only
// set flags and wake the timer. Callers read a copy of the state under a
// mutex.
#include "cinergy/vm/domain_watch.hpp"

#include <fmt/format.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "libvirt_client.hpp"
#include "vm_impl.hpp"
#include "vm_internal.hpp"

namespace cinergy::vm {

namespace {

using Clock = std::chrono::steady_clock;

// libvirt's default event loop has one runner per process.
std::atomic<bool> g_watcher_running{false};

void register_event_loop_once() {
  static std::once_flag once;
  std::call_once(once, [] { virEventRegisterDefaultImpl(); });
}

// The tick of the loop's timer when nothing asks for it sooner.
constexpr int kTickMs = 500;
// A domain that is listed but not located yet (still starting) is tried again soon.
constexpr auto kUnlocatedRetry = std::chrono::milliseconds(500);

bool same_domains(const std::vector<RunningDomain>& a, const std::vector<RunningDomain>& b) {
  return std::ranges::equal(a, b, [](const RunningDomain& x, const RunningDomain& y) {
    return x.uuid == y.uuid && x.id == y.id && x.cgroup == y.cgroup && x.vcpus == y.vcpus &&
           x.started_unix_s == y.started_unix_s;
  });
}

}  // namespace

struct DomainWatcher::Impl {
  DomainWatchOptions opt;
  detail::HostPaths paths;

  mutable std::mutex mu;
  DomainWatchState st;  // guarded by mu

  // Loop-thread state.
  virConnectPtr conn = nullptr;
  int lifecycle_cb = -1;
  int timer = -1;
  bool lost_logged = false;     // one line per outage
  bool ever_connected = false;  // the first connection is not a reconnect
  std::chrono::milliseconds backoff{0};
  Clock::time_point next_connect{}, next_relist{};
  std::thread thread;

  // Set from callbacks and other threads, consumed by the timer.
  std::atomic<bool> stop{false}, relist_pending{true}, conn_lost{false};

  void wake() {
    if (timer >= 0) virEventUpdateTimeout(timer, 0);
  }

  static void on_lifecycle(virConnectPtr, virDomainPtr, int, int, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    {
      std::lock_guard lk(self->mu);
      ++self->st.events;
    }
    self->relist_pending = true;
    self->wake();
  }

  static void on_close(virConnectPtr, int reason, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (reason == VIR_CONNECT_CLOSE_REASON_CLIENT) return;  // our own virConnectClose
    self->conn_lost = true;
    self->wake();
  }

  static void on_timer(int, void* opaque) { static_cast<Impl*>(opaque)->tick(); }

  void tick() {
    if (timer >= 0) virEventUpdateTimeout(timer, kTickMs);
    if (stop) return;
    const auto now = Clock::now();
    if (conn_lost.exchange(false) && conn != nullptr) drop_connection("connection lost");
    if (conn == nullptr && now >= next_connect) connect();
    if (conn != nullptr && (relist_pending.exchange(false) || now >= next_relist)) relist();
  }

  void connect() {
    detail::silence_libvirt();
    virConnectPtr c = virConnectOpenReadOnly(opt.uri.c_str());
    if (c == nullptr) {
      const std::string why = detail::libvirt_error();
      if (!lost_logged) {
        spdlog::warn(
            "libvirt: no answer on {} ({}); retrying with back-off{}", opt.uri, why,
            ever_connected ? "; the VMs already found stay measured through their cgroups" : "");
        lost_logged = true;
      } else {
        spdlog::debug("libvirt: {} still not answering ({})", opt.uri, why);
      }
      backoff = backoff.count() == 0 ? opt.reconnect_min : std::min(2 * backoff, opt.reconnect_max);
      next_connect = Clock::now() + backoff;
      return;
    }
    conn = c;
    lifecycle_cb = virConnectDomainEventRegisterAny(conn, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                    VIR_DOMAIN_EVENT_CALLBACK(&Impl::on_lifecycle),
                                                    this, nullptr);
    if (lifecycle_cb < 0)
      spdlog::warn("libvirt: no lifecycle events from {} ({}); re-listing every {} ms only",
                   opt.uri, detail::libvirt_error(), opt.relist_period.count());
    virConnectRegisterCloseCallback(conn, &Impl::on_close, this, nullptr);
    // Not every driver has keepalive (test:///, local drivers): not an error.
    (void)virConnectSetKeepAlive(conn, opt.keepalive_interval_s,
                                 static_cast<unsigned>(opt.keepalive_count));
    if (ever_connected) {
      spdlog::info("libvirt: connected to {} again", opt.uri);
      std::lock_guard lk(mu);
      ++st.reconnects;
    }
    ever_connected = true;
    lost_logged = false;
    backoff = std::chrono::milliseconds(0);
    {
      std::lock_guard lk(mu);
      st.connected = true;
    }
    relist();
  }

  void drop_connection(std::string_view why) {
    if (lifecycle_cb >= 0) virConnectDomainEventDeregisterAny(conn, lifecycle_cb);
    lifecycle_cb = -1;
    virConnectUnregisterCloseCallback(conn, &Impl::on_close);
    virConnectClose(conn);
    conn = nullptr;
    {
      std::lock_guard lk(mu);
      st.connected = false;
    }
    if (!stop) {
      spdlog::warn(
          "libvirt: {} to {}; reconnecting with back-off (the VMs already found stay measured "
          "through their cgroups)",
          why, opt.uri);
      lost_logged = true;
      backoff = opt.reconnect_min;
      next_connect = Clock::now() + backoff;
    }
  }

  // One domain's name, uuid, vCPUs and where it runs (takes `d` over); an
  // error says why it cannot be located (yet: a domain still starting).
  Result<RunningDomain> describe(virDomainPtr d) const {
    RunningDomain rd;
    if (const char* n = virDomainGetName(d)) rd.name = n;
    char uuid[VIR_UUID_STRING_BUFLEN] = {};
    if (virDomainGetUUIDString(d, uuid) == 0) rd.uuid = uuid;
    const unsigned id = virDomainGetID(d);
    rd.id = id == static_cast<unsigned>(-1) ? -1 : static_cast<int>(id);
    const detail::LibvirtDomain dom(d, rd.name, opt.uri);
    auto rt = detail::locate_libvirt_domain(paths, dom, opt.uri, std::chrono::milliseconds(0));
    if (!rt) return std::unexpected(rt.error());
    rd.vcpus = rt->vcpus;
    rd.qemu_pid = rt->qemu_pid;
    rd.cgroup = rt->cgroup;
    rd.started_unix_s = detail::process_start_unix_s(paths, rd.qemu_pid).value_or(0);
    return rd;
  }

  void relist() {
    next_relist = Clock::now() + opt.relist_period;
    virDomainPtr* list = nullptr;
    const int n = virConnectListAllDomains(conn, &list, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (n < 0) {
      // A dead connection shows here first when its close event is late.
      if (virConnectIsAlive(conn) != 1) drop_connection("connection lost");
      return;
    }
    std::vector<RunningDomain> found;
    std::vector<std::string> unlocated;
    for (int i = 0; i < n; ++i) {
      auto rd = describe(list[i]);
      if (rd)
        found.push_back(std::move(*rd));
      else
        unlocated.push_back(rd.error().message);
    }
    free(list);
    std::ranges::sort(found, {}, &RunningDomain::name);
    if (!unlocated.empty()) next_relist = std::min(next_relist, Clock::now() + kUnlocatedRetry);
    std::lock_guard lk(mu);
    if (!same_domains(found, st.domains)) {
      st.domains = std::move(found);
      ++st.generation;
    }
    st.unlocated = std::move(unlocated);
    ++st.relists;
  }

  void run() {
    while (!stop) {
      if (virEventRunDefaultImpl() < 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (conn != nullptr) drop_connection("stopping");
    if (timer >= 0) virEventRemoveTimeout(timer);
    timer = -1;
  }
};

Result<std::unique_ptr<DomainWatcher>> DomainWatcher::start(const DomainWatchOptions& options) {
  if (options.uri.empty()) return fail("libvirt: empty connection URI");
  if (options.relist_period.count() <= 0 || options.reconnect_min.count() <= 0 ||
      options.reconnect_max < options.reconnect_min)
    return fail("libvirt watcher: re-list period and back-off must be positive");
  bool expected = false;
  if (!g_watcher_running.compare_exchange_strong(expected, true))
    return fail("libvirt watcher: one already runs in this process");
  detail::silence_libvirt();
  register_event_loop_once();
  auto impl = std::make_unique<Impl>();
  impl->opt = options;
  impl->paths.proc_root = options.proc_root;
  impl->paths.libvirt_run_dir = options.libvirt_run_dir;
  impl->paths.cgroup2_root = options.cgroup2_root;
  impl->paths.mountinfo = options.mountinfo;
  impl->timer = virEventAddTimeout(kTickMs, &Impl::on_timer, impl.get(), nullptr);
  if (impl->timer < 0) {
    g_watcher_running = false;
    return fail("libvirt watcher: cannot add a timer to the event loop (" +
                detail::libvirt_error() + ")");
  }
  impl->connect();  // the first list is there before start() returns, when libvirt answers
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->run(); });
  return std::unique_ptr<DomainWatcher>(new DomainWatcher(std::move(impl)));
}

DomainWatcher::DomainWatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DomainWatcher::~DomainWatcher() {
  impl_->stop = true;
  impl_->wake();
  if (impl_->thread.joinable()) impl_->thread.join();
  g_watcher_running = false;
}

DomainWatchState DomainWatcher::state() const {
  std::lock_guard lk(impl_->mu);
  return impl_->st;
}

std::uint64_t DomainWatcher::generation() const {
  std::lock_guard lk(impl_->mu);
  return impl_->st.generation;
}

void DomainWatcher::relist_now() {
  impl_->relist_pending = true;
  impl_->wake();
}

}  // namespace cinergy::vm
