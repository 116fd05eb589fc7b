// Unit tier of the VM control: pure parsing/formatting, fake /proc and cgroup
// trees, readiness waits, and the libvirt client against libvirt's built-in
// mock hypervisor test:///default (no daemon).
#include <gtest/gtest.h>
#include <libvirt/libvirt.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "../../orchestrator/vm/src/libvirt_client.hpp"
#include "../../orchestrator/vm/src/vm_impl.hpp"
#include "../../orchestrator/vm/src/vm_internal.hpp"
#include "cinergy/vm/libvirt_daemon.hpp"
#include "cinergy/vm/vm.hpp"
#include "fake_host.hpp"
#include "temp_dir.hpp"

namespace cinergy::vm::detail {
namespace {

using namespace std::chrono_literals;
using cinergy::test::TempDir;

constexpr const char* kHybridMountinfo =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
TEST(VmParse, Cgroup2LineAndScope) {
  auto line = parse_cgroup2_line(
      "4:memory:/machine/qemu-1-vm.libvirt-qemu\n0::/machine/qemu-1-vm.libvirt-qemu/emulator\n");
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "/machine/qemu-1-vm.libvirt-qemu/emulator");
  EXPECT_FALSE(parse_cgroup2_line("1:cpu:/\n"));

  struct Case {
    const char* in;
    const char* out;
  };
  for (auto c :
       {Case{"/machine/qemu-1-vm.libvirt-qemu/emulator", "/machine/qemu-1-vm.libvirt-qemu"},
        Case{"/machine/qemu-1-vm.libvirt-qemu/vcpu12", "/machine/qemu-1-vm.libvirt-qemu"},
        Case{"/machine.slice/machine-qemu\\x2d1\\x2dvm.scope/libvirt/emulator",
             "/machine.slice/machine-qemu\\x2d1\\x2dvm.scope/libvirt"},
        Case{"/machine/qemu-1-vm.libvirt-qemu", "/machine/qemu-1-vm.libvirt-qemu"},
        Case{"/cinergy-vm/vcpux", "/cinergy-vm/vcpux"}, Case{"/emulator", "/"}, Case{"/", "/"}}) {
    EXPECT_EQ(vm_scope_of(c.in), c.out) << c.in;
  }
}

TEST(VmParse, PidFile) {
  EXPECT_EQ(parse_pid("1234\n", "f").value(), 1234);
  EXPECT_EQ(parse_pid("  77", "f").value(), 77);
  EXPECT_FALSE(parse_pid("", "f"));
  EXPECT_FALSE(parse_pid("abc\n", "f"));
  EXPECT_FALSE(parse_pid("0\n", "f"));
  EXPECT_FALSE(parse_pid("-5\n", "f"));
}

TEST(VmHost, CgroupOfPidOnFakeTree) {
  FakeHost host;
  host.libvirt_domain("vm1", 4242, "/machine/qemu-3-vm1.libvirt-qemu");
  auto cg = vm_cgroup_of_pid(host.paths, 4242);
  ASSERT_TRUE(cg) << cg.error().what();
  EXPECT_EQ(*cg, host.paths.cgroup2_root / "machine/qemu-3-vm1.libvirt-qemu");
  // Missing process, missing cgroup directory: clear errors.
  auto missing = vm_cgroup_of_pid(host.paths, 999);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().what().find("/999/cgroup"), std::string::npos);
  host.process(555, "qemu", 'S', "/machine/gone.libvirt-qemu/emulator");
  auto gone = vm_cgroup_of_pid(host.paths, 555);
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().message.find("does not exist"), std::string::npos);
}

TEST(VmHost, Cgroup2RootFromMountinfo) {
  FakeHost host;
  host.paths.cgroup2_root.clear();
  host.dir.write("mountinfo", kHybridMountinfo);
  EXPECT_EQ(cgroup2_root(host.paths).value(), "/sys/fs/cgroup/unified");
}

TEST(VmHost, PidAliveAndZombies) {
  FakeHost host;
  host.process(10, "a (b) c", 'R', "/");
  host.process(11, "zombie", 'Z', "/");
  EXPECT_TRUE(pid_alive(host.paths, 10));
  EXPECT_FALSE(pid_alive(host.paths, 11));
  EXPECT_FALSE(pid_alive(host.paths, 12));
  EXPECT_FALSE(pid_alive(host.paths, 0));
}

TEST(VmHost, FindQemuByName) {
  FakeHost host;
  using namespace std::string_literals;
  host.process(20, "qemu-system-x86", 'S', "/",
               "/usr/bin/qemu-system-x86_64\0-name\0cinergy-testvm,debug-threads=on\0-m\0256\0"s);
  host.process(21, "qemu-system-x86", 'S', "/",
               "qemu-system-x86_64\0-name\0guest=cinergy-testvm,debug-threads=on\0"s);
  host.process(22, "qemu-system-x86", 'S', "/", "qemu-system-x86_64\0-name\0cinergy-testvm-2\0"s);
  host.process(23, "bash", 'S', "/", "bash\0-name\0cinergy-testvm\0"s);
  EXPECT_EQ(find_qemu_by_name(host.paths, "cinergy-testvm"), (std::vector<int>{20, 21}));
  EXPECT_TRUE(find_qemu_by_name(host.paths, "other").empty());
}

TEST(VmTestVm, CmdlineProfileRoundTrip) {
  VmOptions o;
  EXPECT_EQ(
      testvm_cmdline(o),
      "console=ttyS0 panic=-1 quiet cinergy.profile=20,95,60,3 cinergy.step=30 cinergy.cycles=1");
  o.testvm_profile_pct = {50};
  o.testvm_step_seconds = 10;
  o.testvm_cycles = 3;
  auto p = parse_profile_cmdline(testvm_cmdline(o));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->pct, std::vector<int>{50});
  EXPECT_EQ(p->step_seconds, 10);
  EXPECT_EQ(p->cycles, 3);
  EXPECT_FALSE(parse_profile_cmdline("cinergy.profile=20,x"));
  EXPECT_FALSE(parse_profile_cmdline("cinergy.step=ten"));
}

TEST(VmTestVm, ValidateOptions) {
  struct Case {
    void (*edit)(VmOptions&);
    const char* error;
  };
  for (auto c : {Case{[](VmOptions& o) { o.testvm_vcpus = 0; }, "vcpus"},
                 Case{[](VmOptions& o) { o.testvm_memory_mib = 16; }, "memory"},
                 Case{[](VmOptions& o) { o.testvm_profile_pct = {}; }, "empty"},
                 Case{[](VmOptions& o) {
                        o.testvm_profile_pct = {50, 101};
                      },
                      "101"},
                 Case{[](VmOptions& o) { o.testvm_profile_pct = {-1}; }, "-1"},
                 Case{[](VmOptions& o) { o.testvm_step_seconds = 0; }, "step"},
                 Case{[](VmOptions& o) { o.testvm_cycles = 0; }, "cycles"}}) {
    VmOptions o;
    c.edit(o);
    auto r = validate_testvm(o);
    ASSERT_FALSE(r) << c.error;
    EXPECT_NE(r.error().message.find(c.error), std::string::npos) << r.error().message;
    o.kind = VmOptions::Kind::testvm;
    EXPECT_FALSE(make_vm(o)) << c.error;
  }
  EXPECT_TRUE(validate_testvm(VmOptions{}));
}

TEST(VmTestVm, DomainXml) {
  VmOptions o;
  o.testvm_vcpus = 3;
  o.testvm_memory_mib = 300;
  TestVmFiles f{"/c/vmlinuz", "/c/initrd.cpio.gz", "/w/a&b/serial.log", "/w/qemu.pid"};
  auto xml = testvm_domain_xml(o, "vm<1>", f, false);
  for (const char* part :
       {"<domain type='qemu'>", "<name>vm&lt;1&gt;</name>", "<memory unit='MiB'>300</memory>",
        "<vcpu placement='static'>3</vcpu>", "<kernel>/c/vmlinuz</kernel>",
        "<initrd>/c/initrd.cpio.gz</initrd>",
        "<cmdline>console=ttyS0 panic=-1 quiet cinergy.profile=20,95,60,3 cinergy.step=30 "
        "cinergy.cycles=1</cmdline>",
        "<features><acpi/></features>", "<on_poweroff>destroy</on_poweroff>",
        "<source path='/w/a&amp;b/serial.log'/>", "<memballoon model='none'/>"}) {
    EXPECT_NE(xml.find(part), std::string::npos) << part << "\n" << xml;
  }
  EXPECT_NE(testvm_domain_xml(o, "x", f, true).find("<domain type='kvm'>"), std::string::npos);
}

TEST(VmTestVm, QemuArgv) {
  VmOptions o;
  o.testvm_profile_pct = {50};
  TestVmFiles f{"/c/vmlinuz", "/c/initrd.cpio.gz", "/w/serial.log", "/w/qemu.pid"};
  auto argv = testvm_qemu_argv(o, "tvm", f, false);
  auto at = [&](const std::string& flag) {
    auto it = std::ranges::find(argv, flag);
    return it == argv.end() || it + 1 == argv.end() ? std::string("<missing>") : *(it + 1);
  };
  EXPECT_EQ(argv.front(), "qemu-system-x86_64");
  EXPECT_EQ(at("-name"), "tvm,debug-threads=on");
  EXPECT_EQ(at("-machine"), "pc,accel=tcg");
  EXPECT_EQ(at("-smp"), "2");
  EXPECT_EQ(at("-m"), "256");
  EXPECT_EQ(at("-serial"), "file:/w/serial.log");
  EXPECT_EQ(at("-append"),
            "console=ttyS0 panic=-1 quiet cinergy.profile=50 cinergy.step=30 cinergy.cycles=1");
  EXPECT_EQ(at("-pidfile"), "/w/qemu.pid");
  EXPECT_NE(std::ranges::find(argv, "-no-reboot"), argv.end());
  EXPECT_EQ(testvm_qemu_argv(o, "tvm", f, true)[4], "pc,accel=kvm");
}

// --- readiness and processes ---------------------------------------------------

// --- libvirt against test:///default ---------------------------------------------

constexpr const char* kTestDomainXml =
    "<domain type='test'><name>cinergy-unit</name><memory unit='MiB'>128</memory><vcpu>3</vcpu>"
    "<os><type arch='x86_64'>hvm</type></os></domain>";

// Holds a test:///default connection open so every connection of the process
// shares one mock state, and defines an inactive domain "cinergy-unit".
class VmLibvirtMock : public ::testing::Test {
 protected:
  void SetUp() override {
    auto conn = LibvirtConnection::open("test:///default");
    ASSERT_TRUE(conn) << conn.error().what();
    conn_ = std::move(*conn);
    virDomainPtr dom = virDomainDefineXML(conn_->get(), kTestDomainXml);
    ASSERT_NE(dom, nullptr) << libvirt_error();
    virDomainFree(dom);
    options_.kind = VmOptions::Kind::libvirt_domain;
    options_.connect_uri = "test:///default";
    options_.name = "cinergy-unit";
    options_.ready_timeout = 5s;
    options_.ready_file = host_.dir.path() / "ready";
    host_.dir.write("ready", "");
    host_.libvirt_domain("cinergy-unit", 4321, "/machine/qemu-7-cinergy-unit.libvirt-qemu");
  }
  void TearDown() override {
    if (auto dom = conn_->find("cinergy-unit")) {
      if (dom.active()) (void)dom.destroy();
      virDomainUndefine(dom.get());
    }
  }
  std::optional<LibvirtConnection> conn_;
  FakeHost host_;
  VmOptions options_;
};

TEST_F(VmLibvirtMock, StartLocateStopLeavesDomainDefined) {
  {
    LibvirtDomainVm vm(options_, host_.paths);
    auto rt = vm.start();
    ASSERT_TRUE(rt) << rt.error().what();
    EXPECT_EQ(rt->cgroup, host_.paths.cgroup2_root / "machine/qemu-7-cinergy-unit.libvirt-qemu");
    EXPECT_EQ(rt->qemu_pid, 4321);
    EXPECT_EQ(rt->vcpus, 3);
    EXPECT_EQ(rt->how, "libvirt test:///default");
    EXPECT_TRUE(conn_->find("cinergy-unit").active());
    EXPECT_FALSE(vm.finished());
    auto d = vm.describe();
    EXPECT_EQ(d["kind"], "libvirt_domain");
    EXPECT_EQ(d["name"], "cinergy-unit");
    EXPECT_EQ(d["uri"], "test:///default");
    EXPECT_EQ(d["vcpus"], 3);
    EXPECT_EQ(d["persistent"], true);
    EXPECT_EQ(d["qemu_pid"], 4321);
    vm.stop();
    EXPECT_TRUE(vm.finished());
    vm.stop();  // idempotent
  }
  auto dom = conn_->find("cinergy-unit");
  ASSERT_TRUE(dom) << "a defined domain stays defined";
  EXPECT_FALSE(dom.active());
}

TEST_F(VmLibvirtMock, FinishedWhenTheDomainStopsByItself) {
  LibvirtDomainVm vm(options_, host_.paths);
  ASSERT_TRUE(vm.start());
  EXPECT_FALSE(vm.finished());
  ASSERT_TRUE(conn_->find("cinergy-unit").destroy());  // the guest powered off
  EXPECT_TRUE(vm.finished());
}

TEST_F(VmLibvirtMock, RefusesADomainAlreadyRunning) {
  auto dom = conn_->find("cinergy-unit");
  ASSERT_TRUE(dom.create());
  {
    LibvirtDomainVm vm(options_, host_.paths);
    auto rt = vm.start();
    ASSERT_FALSE(rt);
    EXPECT_EQ(rt.error().message,
              "libvirt domain 'cinergy-unit' already runs on test:///default: shut it down first "
              "(the run must "
              "start it itself to measure it alone)");
  }
  EXPECT_TRUE(conn_->find("cinergy-unit").active()) << "a domain found running is never touched";
}

TEST_F(VmLibvirtMock, UnknownDomainAndBadUri) {
  options_.name = "no-such-domain";
  auto vm = make_vm(options_);
  ASSERT_TRUE(vm);
  auto rt = (*vm)->start();
  ASSERT_FALSE(rt);
  EXPECT_NE(rt.error().message.find("libvirt domain 'no-such-domain' not found on test:///default"),
            std::string::npos);
  options_.connect_uri = "test:///nonexistent-file.xml";
  auto bad = make_vm(options_).value()->start();
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("cannot connect to libvirt at test:///nonexistent-file.xml"),
            std::string::npos);
  options_.name.clear();
  EXPECT_FALSE(make_vm(options_));
}

TEST_F(VmLibvirtMock, ReadinessTimeoutStopsWhatItStarted) {
  options_.ready_file = host_.dir.path() / "never";
  options_.ready_timeout = 1s;
  {
    LibvirtDomainVm vm(options_, host_.paths);
    auto rt = vm.start();
    ASSERT_FALSE(rt);
    EXPECT_EQ(rt.error().message,
              "libvirt domain 'cinergy-unit' not ready after 1 s (waiting for file " +
                  options_.ready_file.string() + " to appear)");
  }
  EXPECT_FALSE(conn_->find("cinergy-unit").active()) << "destroyed by the destructor";
}

TEST_F(VmLibvirtMock, MissingQemuProcessIsAClearError) {
  std::filesystem::remove(host_.paths.libvirt_run_dir / "cinergy-unit.pid");
  LibvirtDomainVm vm(options_, host_.paths);
  vm.locate_timeout = 200ms;
  // The mock domain never gets a pid file; locate gives up after its timeout.
  auto rt = vm.start();
  ASSERT_FALSE(rt);
  EXPECT_NE(rt.error().message.find("cannot find its qemu process"), std::string::npos)
      << rt.error().message;
  vm.stop();
  EXPECT_FALSE(conn_->find("cinergy-unit").active());
}

TEST_F(VmLibvirtMock, WaitsForTheVcpuCgroups) {
  std::filesystem::remove(host_.paths.cgroup2_root /
                          "machine/qemu-7-cinergy-unit.libvirt-qemu/vcpu2");
  LibvirtDomainVm vm(options_, host_.paths);
  vm.locate_timeout = 200ms;
  auto rt = vm.start();
  ASSERT_FALSE(rt);
  EXPECT_NE(rt.error().message.find("has no vcpu2 yet"), std::string::npos) << rt.error().message;
}

// --- the test VM's accelerator (KVM only when a guest boots) -------------------

TEST(VmAccel, ParseAndName) {
  EXPECT_EQ(parse_testvm_accel("auto", "--testvm-accel").value(), TestVmAccel::automatic);
  EXPECT_EQ(parse_testvm_accel("kvm", "--testvm-accel").value(), TestVmAccel::kvm);
  EXPECT_EQ(parse_testvm_accel("tcg", "--testvm-accel").value(), TestVmAccel::tcg);
  auto bad = parse_testvm_accel("bogus", "--testvm-accel");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().what(), "--testvm-accel: 'bogus' is not one of auto, kvm, tcg");
  EXPECT_FALSE(parse_testvm_accel("KVM", "--testvm-accel"));
  for (auto a : {TestVmAccel::automatic, TestVmAccel::kvm, TestVmAccel::tcg})
    EXPECT_EQ(parse_testvm_accel(to_string(a), "f").value(), a);
}

TEST(VmAccel, KvmOpenErrno) {
  TempDir dir;
  EXPECT_EQ(kvm_open_errno(dir.path() / "kvm"), ENOENT);
  EXPECT_EQ(kvm_open_errno(dir.write("kvm", "")), 0);
  EXPECT_EQ(kvm_open_errno(dir.path()), EISDIR);
}

// Without a device node the probe tries no guest and says why; an
// unopenable one is told apart from an absent one.
TEST(VmAccel, ProbeWithoutADeviceTriesNoGuest) {
  TempDir dir;
  HostPaths paths;
  paths.dev_kvm = dir.path() / "dev/kvm";
  const auto t0 = std::chrono::steady_clock::now();
  const KvmProbe absent = probe_kvm(VmOptions{}, paths);
  EXPECT_EQ(absent.state, KvmProbe::State::absent);
  EXPECT_EQ(absent.detail, paths.dev_kvm.string() + ": No such file or directory");
  EXPECT_EQ(to_string(absent.state), "absent");
  paths.dev_kvm = dir.path();
  const KvmProbe dir_node = probe_kvm(VmOptions{}, paths);
  EXPECT_EQ(dir_node.state, KvmProbe::State::cannot_open);
  EXPECT_EQ(dir_node.detail, dir.path().string() + ": Is a directory");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s) << "no guest was started";
}

TEST(VmAccel, FirstOutputWaitsForOneByte) {
  TempDir dir;
  const auto log = dir.path() / "serial.log";
  EXPECT_FALSE(wait_first_output(log, 300ms, {})) << "no file";
  dir.write("serial.log", "");
  EXPECT_FALSE(wait_first_output(log, 300ms, {})) << "an empty file is no output";
  std::thread writer([&] {
    std::this_thread::sleep_for(200ms);
    dir.write("serial.log", "x");
  });
  auto first = wait_first_output(log, 5s, {});
  writer.join();
  ASSERT_TRUE(first);
  EXPECT_GE(*first, 0.15);
  EXPECT_LT(*first, 5.0);
  dir.write("serial.log", "");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(wait_first_output(log, 10s, [] { return true; })) << "the VM is gone";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

// The test VM on libvirt's mock hypervisor with a fake /dev/kvm: the mock
// writes no console output, so this test plays the guest: it writes the
// /init marker to the serial log once the domain of the accelerator it
// expects to boot has been created (domain.xml written just before).
class VmTestVmAccel : public ::testing::Test {
 protected:
  void SetUp() override {
    // No build script: the (fake) cached kernel and initramfs are used as is.
    const char* old = std::getenv("CINERGY_SCRIPTS_DIR");
    old_scripts_ = old ? old : "";
    ::setenv("CINERGY_SCRIPTS_DIR", (host_.dir.path() / "no-scripts").c_str(), 1);
    host_.dir.write("cache/vmlinuz", "k");
    host_.dir.write("cache/initrd.cpio.gz", "i");
    host_.paths.dev_kvm = host_.dir.write("dev/kvm", "");
    host_.libvirt_domain(kName, 4321, "/machine/qemu-9-cinergy-accel.libvirt-qemu");
    o_.kind = VmOptions::Kind::testvm;
    o_.name = kName;
    o_.connect_uri = "test:///default";
    o_.testvm_cache_dir = host_.dir.path() / "cache";
    o_.work_dir = host_.dir.path() / "work";
    o_.ready_timeout = 3s;
    o_.kvm_boot_deadline = 1s;
  }
  void TearDown() override {
    if (old_scripts_.empty())
      ::unsetenv("CINERGY_SCRIPTS_DIR");
    else
      ::setenv("CINERGY_SCRIPTS_DIR", old_scripts_.c_str(), 1);
  }
  // Plays a guest that boots only under `boots_under` ("kvm" or "qemu").
  std::thread guest(const std::string& boots_under) {
    return std::thread([this, boots_under] {
      const auto xml = o_.work_dir / "domain.xml";
      const auto want = "<domain type='" + boots_under + "'>";
      const auto deadline = std::chrono::steady_clock::now() + 8s;
      while (std::chrono::steady_clock::now() < deadline) {
        if (read_file(xml).value_or("").find(want) != std::string::npos) {
          std::this_thread::sleep_for(100ms);  // after boot() removed the old log
          std::ofstream(o_.work_dir / "serial.log", std::ios::app)
              << kTestVmInitMarker << "uptime_s=1.00\n";
          return;
        }
        std::this_thread::sleep_for(20ms);
      }
    });
  }
  // vm.start() with the guest played for `boots_under`.
  Result<VmRuntime> start_with_guest(TestVm& vm, const std::string& boots_under) {
    auto g = guest(boots_under);
    auto rt = vm.start();
    g.join();
    return rt;
  }
  static constexpr const char* kName = "cinergy-accel";
  FakeHost host_;
  VmOptions o_;
  std::string old_scripts_;
};

TEST_F(VmTestVmAccel, AutoKeepsKvmWhenTheGuestBoots) {
  TestVm vm(o_, host_.paths);
  auto rt = start_with_guest(vm, "kvm");
  ASSERT_TRUE(rt) << rt.error().what();
  EXPECT_EQ(rt->how, "libvirt test:///default (KVM)");
  const auto d = vm.describe();
  EXPECT_EQ(d["accel_requested"], "auto");
  EXPECT_EQ(d["accel"], "kvm");
  EXPECT_NE(d["accel_reason"].get<std::string>().find("booted under KVM"), std::string::npos)
      << d["accel_reason"];
  EXPECT_TRUE(vm.kvm_failure().empty());
  vm.stop();
}

TEST_F(VmTestVmAccel, AutoFallsBackToTcgWhenKvmShowsNoOutput) {
  TestVm vm(o_, host_.paths);
  auto rt = start_with_guest(vm, "qemu");
  ASSERT_TRUE(rt) << rt.error().what();
  EXPECT_EQ(rt->how, "libvirt test:///default (TCG)");
  const auto d = vm.describe();
  EXPECT_EQ(d["accel"], "tcg");
  EXPECT_EQ(d["accel_reason"],
            "/dev/kvm is present but the guest did not boot under KVM in 1 s: using TCG");
  EXPECT_EQ(vm.kvm_failure(), "/dev/kvm is present but the guest did not boot under KVM in 1 s");
  // One domain of that name runs: the KVM attempt was destroyed first.
  auto conn = LibvirtConnection::open("test:///default");
  ASSERT_TRUE(conn);
  EXPECT_TRUE(conn->find(kName).active());
  vm.stop();
  EXPECT_FALSE(conn->find(kName)) << "transient: gone once destroyed";
}

TEST_F(VmTestVmAccel, AutoUsesTcgAtOnceWhenKvmFailedEarlier) {
  o_.testvm_kvm_failed = "/dev/kvm is present but the guest did not boot under KVM in 20 s";
  TestVm vm(o_, host_.paths);
  const auto t0 = std::chrono::steady_clock::now();
  auto rt = start_with_guest(vm, "qemu");
  ASSERT_TRUE(rt) << rt.error().what();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s) << "no new KVM attempt";
  EXPECT_EQ(vm.describe()["accel"], "tcg");
  EXPECT_EQ(vm.describe()["accel_reason"],
            "/dev/kvm is present but the guest did not boot under KVM in 20 s (seen earlier in "
            "this run): using TCG");
  vm.stop();
  // An explicit kvm request still tries (and here fails).
  o_.testvm_accel = TestVmAccel::kvm;
  TestVm forced(o_, host_.paths);
  EXPECT_FALSE(forced.start());
  EXPECT_FALSE(forced.kvm_failure().empty());
}

TEST_F(VmTestVmAccel, KvmRequestedFailsWhenTheGuestDoesNotBoot) {
  o_.testvm_accel = TestVmAccel::kvm;
  TestVm vm(o_, host_.paths);
  auto rt = vm.start();
  ASSERT_FALSE(rt);
  EXPECT_EQ(rt.error().what(),
            "test VM 'cinergy-accel': /dev/kvm is present but the guest did not boot under KVM in "
            "1 s (--testvm-accel kvm; auto falls back to TCG)");
  auto conn = LibvirtConnection::open("test:///default");
  ASSERT_TRUE(conn);
  EXPECT_FALSE(conn->find(kName)) << "the failed KVM domain is destroyed";
}

TEST_F(VmTestVmAccel, NoDevKvm) {
  host_.paths.dev_kvm = host_.dir.path() / "dev/none";
  {
    TestVm vm(o_, host_.paths);
    auto rt = start_with_guest(vm, "qemu");
    ASSERT_TRUE(rt) << rt.error().what();
    EXPECT_EQ(vm.describe()["accel"], "tcg");
    EXPECT_EQ(vm.describe()["accel_reason"],
              (host_.paths.dev_kvm.string() + " is absent: using TCG"));
    EXPECT_TRUE(vm.kvm_failure().empty()) << "no KVM attempt";
  }
  o_.testvm_accel = TestVmAccel::kvm;
  TestVm vm(o_, host_.paths);
  auto rt = vm.start();
  ASSERT_FALSE(rt);
  EXPECT_EQ(rt.error().message,
            "--testvm-accel kvm: " + host_.paths.dev_kvm.string() + " is absent");
}

TEST_F(VmTestVmAccel, TcgRequestedNeverTriesKvm) {
  o_.testvm_accel = TestVmAccel::tcg;
  TestVm vm(o_, host_.paths);
  auto rt = start_with_guest(vm, "qemu");
  ASSERT_TRUE(rt) << rt.error().what();
  EXPECT_EQ(vm.describe()["accel"], "tcg");
  EXPECT_EQ(vm.describe()["accel_reason"], "--testvm-accel tcg");
}

TEST(VmLibvirt, AnswersOnTheMockOnly) {
  EXPECT_TRUE(libvirt_daemon_answers("test:///default"));
  EXPECT_FALSE(libvirt_daemon_answers("test:///nonexistent-file.xml"));
}

TEST(VmMake, LaunchScriptMustBeExecutable) {
  TempDir dir;
  VmOptions o;
  o.kind = VmOptions::Kind::launch_script;
  o.launch_script = dir.path() / "missing.sh";
  auto r = make_vm(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "--vm-launch: " + o.launch_script.string() + " is not a file");
  o.launch_script = dir.write("launch.sh", "#!/bin/sh\n");
  auto noexec = make_vm(o);
  ASSERT_FALSE(noexec);
  EXPECT_NE(noexec.error().message.find("is not executable"), std::string::npos);
}

}  // namespace
}  // namespace cinergy::vm::detail
