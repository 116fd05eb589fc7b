// Unit tier: the DomainWatcher against libvirt's mock hypervisor (test:///,
// in this process, no daemon) on a fake host: domains listed with their
// cgroups, followed by lifecycle events, a domain still starting retried, a
// URI that does not answer at first retried with back-off.
#include "cinergy/vm/domain_watch.hpp"

#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "../../orchestrator/vm/src/libvirt_client.hpp"
#include "fake_host.hpp"

namespace cinergy::vm::detail {
namespace {

using namespace std::chrono_literals;

constexpr const char* kUri = "test:///default";

DomainWatchOptions options_for(const FakeHost& host, const std::string& uri = kUri) {
  DomainWatchOptions o;
  o.uri = uri;
  o.proc_root = host.paths.proc_root;
  o.libvirt_run_dir = host.paths.libvirt_run_dir;
  o.cgroup2_root = host.paths.cgroup2_root;
  o.relist_period = 60s;  // only events (or explicit re-lists) make changes show in these tests
  o.reconnect_min = 100ms;
  o.reconnect_max = 400ms;
  return o;
}

const RunningDomain* find(const DomainWatchState& s, const std::string& name) {
  auto it = std::ranges::find(s.domains, name, &RunningDomain::name);
  return it == s.domains.end() ? nullptr : &*it;
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 3s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// Holds a test:///default connection open so that every connection of the
// process shares one mock state (the watcher's included).
class DomainWatch : public ::testing::Test {
 protected:
  void SetUp() override {
    auto conn = LibvirtConnection::open(kUri);
    ASSERT_TRUE(conn) << conn.error().what();
    conn_ = std::move(*conn);
  }
  void TearDown() override {
    for (const char* name : {"cinergy-watch", "cinergy-watch2"}) {
      if (auto dom = conn_->find(name)) {
        if (dom.active()) (void)dom.destroy();
        virDomainUndefine(dom.get());
      }
    }
  }
  void define(const std::string& name, int vcpus) {
    const std::string xml = "<domain type='test'><name>" + name +
                            "</name><memory unit='MiB'>64</memory><vcpu>" + std::to_string(vcpus) +
                            "</vcpu><os><type arch='x86_64'>hvm</type></os></domain>";
    virDomainPtr dom = virDomainDefineXML(conn_->get(), xml.c_str());
    ASSERT_NE(dom, nullptr) << libvirt_error();
    virDomainFree(dom);
  }
  std::optional<LibvirtConnection> conn_;
  FakeHost host_;
};

TEST_F(DomainWatch, ListsRunningDomainsWithTheirCgroupAndStartTime) {
  host_.libvirt_domain("test", 4000, "/machine/qemu-1-test.libvirt-qemu", 250);
  auto w = DomainWatcher::start(options_for(host_));
  ASSERT_TRUE(w) << w.error().what();
  const auto s = (*w)->state();
  EXPECT_TRUE(s.connected);
  EXPECT_GE(s.relists, 1u);
  const auto* d = find(s, "test");
  ASSERT_NE(d, nullptr) << "the mock's running domain 'test'";
  EXPECT_EQ(d->uuid.size(), 36u) << d->uuid;
  EXPECT_EQ(d->vcpus, 2);
  EXPECT_GT(d->id, 0);
  EXPECT_EQ(d->qemu_pid, 4000);
  EXPECT_EQ(d->cgroup, host_.paths.cgroup2_root / "machine/qemu-1-test.libvirt-qemu");
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  EXPECT_NEAR(d->started_unix_s, FakeHost::kBootTime + 250 / hz, 1e-6);
}

TEST_F(DomainWatch, FollowsDomainsAsTheyStartAndStopByEvents) {
  host_.libvirt_domain("cinergy-watch", 4100, "/machine/qemu-9-cinergy-watch.libvirt-qemu");
  define("cinergy-watch", 3);
  auto w = DomainWatcher::start(options_for(host_));
  ASSERT_TRUE(w) << w.error().what();
  EXPECT_EQ(find((*w)->state(), "cinergy-watch"), nullptr) << "defined, not running";
  const auto gen0 = (*w)->generation();
  const auto events0 = (*w)->state().events;

  ASSERT_TRUE(conn_->find("cinergy-watch").create());
  ASSERT_TRUE(eventually([&] { return find((*w)->state(), "cinergy-watch") != nullptr; }))
      << "a started domain shows without waiting for the 60 s re-list";
  const auto s = (*w)->state();
  EXPECT_GT(s.events, events0);
  EXPECT_GT(s.generation, gen0);
  EXPECT_EQ(find(s, "cinergy-watch")->vcpus, 3);

  ASSERT_TRUE(conn_->find("cinergy-watch").destroy());
  EXPECT_TRUE(eventually([&] { return find((*w)->state(), "cinergy-watch") == nullptr; }));
}

// libvirt reports a domain running before its qemu process and cgroups can
// be found: it is listed as unlocated, with the reason, and retried soon.
TEST_F(DomainWatch, ADomainNotLocatedYetIsRetried) {
  define("cinergy-watch2", 1);
  ASSERT_TRUE(conn_->find("cinergy-watch2").create());
  auto w = DomainWatcher::start(options_for(host_));
  ASSERT_TRUE(w) << w.error().what();
  auto s = (*w)->state();
  EXPECT_EQ(find(s, "cinergy-watch2"), nullptr);
  const auto why = std::ranges::find_if(
      s.unlocated, [](const std::string& u) { return u.find("cinergy-watch2") != u.npos; });
  ASSERT_NE(why, s.unlocated.end());
  EXPECT_NE(why->find("cinergy-watch2.pid"), std::string::npos) << *why;

  host_.libvirt_domain("cinergy-watch2", 4200, "/machine/qemu-10-cinergy-watch2.libvirt-qemu");
  EXPECT_TRUE(eventually([&] { return find((*w)->state(), "cinergy-watch2") != nullptr; }))
      << "retried without an event";
}

// A URI that does not answer at first (here a mock whose state file does not
// exist yet, as a daemon not started yet) is retried with back-off.
TEST_F(DomainWatch, RetriesAUriThatDoesNotAnswerYet) {
  const auto file = host_.dir.path() / "node.xml";
  auto w = DomainWatcher::start(options_for(host_, "test://" + file.string()));
  ASSERT_TRUE(w) << w.error().what();
  EXPECT_FALSE((*w)->state().connected);
  host_.libvirt_domain("filevm", 4300, "/machine/qemu-2-filevm.libvirt-qemu");
  host_.dir.write("node.xml",
                  "<node><domain type='test'><name>filevm</name><memory>65536</memory>"
                  "<vcpu>1</vcpu><os><type>hvm</type></os></domain></node>");
  ASSERT_TRUE(eventually([&] { return (*w)->state().connected; }, 5s));
  EXPECT_TRUE(eventually([&] { return find((*w)->state(), "filevm") != nullptr; }));
  EXPECT_EQ((*w)->state().reconnects, 0u) << "a first connection is not a reconnection";
}

TEST_F(DomainWatch, OneWatcherPerProcessAndBadOptionsRefused) {
  auto w = DomainWatcher::start(options_for(host_));
  ASSERT_TRUE(w) << w.error().what();
  auto second = DomainWatcher::start(options_for(host_));
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("already runs"), std::string::npos);
  w->reset();
  auto o = options_for(host_);
  o.relist_period = 0ms;
  EXPECT_FALSE(DomainWatcher::start(o));
  o = options_for(host_, "");
  EXPECT_FALSE(DomainWatcher::start(o));
  EXPECT_TRUE(DomainWatcher::start(options_for(host_))) << "free again once the first is gone";
}

}  // namespace
}  // namespace cinergy::vm::detail
