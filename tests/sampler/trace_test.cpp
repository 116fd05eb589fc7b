#include <zlib.h>

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "cinergy/sampler/trace_writer.hpp"
#include "temp_dir.hpp"

using namespace cinergy::sampler;
using cinergy::test::TempDir;

namespace {
std::string gunzip(const std::filesystem::path& p) {
  gzFile f = gzopen(p.c_str(), "rb");
  std::string out;
  char buf[4096];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  gzclose(f);
  return out;
}
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
}  // namespace

TEST(TraceWriter, EachFlushIsACompleteGzipMember) {
  TempDir t;
  const auto p = t.path() / "t.csv.gz";
  auto w = TraceWriter::open(p, {"t_ns", "simulated", "package-0_energy_uj"});
  ASSERT_TRUE(w);
  const std::uint64_t v1[] = {0}, v2[] = {61035};
  w->add_row(1000, true, v1);
  ASSERT_TRUE(w->flush());
  const auto first_member = slurp(p);
  // What a killed run leaves after one flush is already a valid file.
  EXPECT_EQ(gunzip(p), "t_ns,simulated,package-0_energy_uj\n1000,1,0\n");
  w->add_row(1001000, true, v2);
  ASSERT_TRUE(w->flush());
  ASSERT_TRUE(w->flush());  // nothing buffered: no empty member
  ASSERT_TRUE(w->close());
  const auto all = slurp(p);
  EXPECT_GT(all.size(), first_member.size());
  EXPECT_EQ(static_cast<unsigned char>(all[first_member.size()]), 0x1f);  // second gzip header
  EXPECT_EQ(static_cast<unsigned char>(all[first_member.size() + 1]), 0x8b);
  EXPECT_EQ(gunzip(p), "t_ns,simulated,package-0_energy_uj\n1000,1,0\n1001000,1,61035\n");
  EXPECT_EQ(w->rows(), 2u);
}

TEST(TraceWriter, PythonGzipCsvReadsMultiMemberFile) {
  if (std::system("python3 -c 'import gzip,csv' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 with gzip/csv not available";
  TempDir t;
  const auto p = t.path() / "t.csv.gz";
  {
    auto w = TraceWriter::open(p, {"t_ns", "simulated", "a_energy_uj", "cpu_ns:vm"});
    ASSERT_TRUE(w);
    for (std::uint64_t i = 0; i < 3000; ++i) {
      const std::uint64_t v[] = {i * 1000, i * 500};
      w->add_row(static_cast<std::int64_t>(i * 1000000), false, v);
      if (i % 1000 == 999) {
        ASSERT_TRUE(w->flush());
      }
    }
  }
  const std::string cmd = "python3 -c \"import gzip,csv,sys; r=list(csv.DictReader(gzip.open(sys.argv[1],'rt')));"
                          "assert len(r)==3000, len(r); assert r[-1]['cpu_ns:vm']=='1499500'; "
                          "assert all(int(b['t_ns'])>int(a['t_ns']) for a,b in zip(r,r[1:]))\" " + p.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST(TraceWriter, UnwritablePathIsAnError) {
  auto w = TraceWriter::open("/nonexistent-dir/t.csv.gz", {"t_ns"});
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("/nonexistent-dir/t.csv.gz"), std::string::npos);
  EXPECT_EQ(sidecar_path("/a/b.csv.gz"), std::filesystem::path("/a/b.csv.gz.meta.json"));
}
