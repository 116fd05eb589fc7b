#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "cinergy/common/line_reader.hpp"
#include "cinergy/sampler/trace_writer.hpp"
#include "temp_dir.hpp"

using namespace cinergy::sampler;
using cinergy::Compression;
using cinergy::test::TempDir;

namespace {
// The whole text as cinergy::read_lines gives it (each line + '\n').
std::string read_text(const std::filesystem::path& p, cinergy::LineReadStats* stats = nullptr) {
  std::string out;
  auto s = cinergy::read_lines(p, [&](std::string_view l) {
    out.append(l);
    out += '\n';
  });
  EXPECT_TRUE(s) << s.error().what();
  if (s && stats) *stats = *s;
  if (s && !stats) {
    EXPECT_FALSE(s->truncated) << s->problem;
  }
  return out;
}
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
// Rows "i*1000000,1,i*61035" for i in [from, to), as add_row writes them.
std::string expected_rows(std::uint64_t from, std::uint64_t to) {
  std::string s;
  for (auto i = from; i < to; ++i)
    s += std::to_string(i * 1000000) + ",1," + std::to_string(i * 61035) + "\n";
  return s;
}
void add_rows(TraceWriter& w, std::uint64_t from, std::uint64_t to) {
  for (auto i = from; i < to; ++i) {
    const std::uint64_t v[] = {i * 61035};
    w.add_row(static_cast<std::int64_t>(i * 1000000), true, v);
  }
}
const std::vector<std::string> kColumns = {"t_ns", "simulated", "a_energy_uj"};
const std::string kHeader = "t_ns,simulated,a_energy_uj\n";
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
  EXPECT_EQ(read_text(p), "t_ns,simulated,package-0_energy_uj\n1000,1,0\n");
  w->add_row(1001000, true, v2);
  ASSERT_TRUE(w->flush());
  ASSERT_TRUE(w->flush());  // nothing buffered: no empty member
  ASSERT_TRUE(w->close());
  const auto all = slurp(p);
  EXPECT_GT(all.size(), first_member.size());
  EXPECT_EQ(static_cast<unsigned char>(all[first_member.size()]), 0x1f);  // second gzip header
  EXPECT_EQ(static_cast<unsigned char>(all[first_member.size() + 1]), 0x8b);
  EXPECT_EQ(read_text(p), "t_ns,simulated,package-0_energy_uj\n1000,1,0\n1001000,1,61035\n");
  EXPECT_EQ(w->compression(), Compression::gzip);
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
  const std::string cmd =
      "python3 -c \"import gzip,csv,sys; r=list(csv.DictReader(gzip.open(sys.argv[1],'rt')));"
      "assert len(r)==3000, len(r); assert r[-1]['cpu_ns:vm']=='1499500'; "
      "assert all(int(b['t_ns'])>int(a['t_ns']) for a,b in zip(r,r[1:]))\" " +
      p.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST(TraceWriter, UnwritablePathIsAnError) {
  auto w = TraceWriter::open("/nonexistent-dir/t.csv.gz", {"t_ns"});
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().message.find("/nonexistent-dir/t.csv.gz"), std::string::npos);
  EXPECT_EQ(sidecar_path("/a/b.csv.gz"), std::filesystem::path("/a/b.csv.gz.meta.json"));
}

TEST(TraceWriter, XzWhenThePathEndsInXzAndPythonReadsIt) {
  if (std::system("python3 -c 'import lzma,csv' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 with lzma/csv not available";
  TempDir t;
  const auto p = t.path() / "t.csv.xz";
  {
    auto w = TraceWriter::open(p, {"t_ns", "simulated", "a_energy_uj"});
    ASSERT_TRUE(w);
    EXPECT_EQ(w->compression(), Compression::xz);
    for (std::uint64_t i = 0; i < 2000; ++i) {
      const std::uint64_t v[] = {i * 61035};
      w->add_row(static_cast<std::int64_t>(i * 1000000), true, v);
      if (i % 500 == 499) {
        ASSERT_TRUE(w->flush());  // four complete xz streams
      }
    }
    ASSERT_TRUE(w->close());
  }
  const auto bytes = slurp(p);
  ASSERT_GT(bytes.size(), 6u);
  EXPECT_EQ(bytes.substr(1, 4), "7zXZ");
  const std::string cmd =
      "python3 -c \"import lzma,csv,sys; r=list(csv.DictReader(lzma.open(sys.argv[1],'rt')));"
      "assert len(r)==2000, len(r); assert r[-1]['a_energy_uj']=='122008965'; "
      "assert r[0]['simulated']=='1'\" " +
      p.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

// The promise of the trace format: one line of pandas loads it, multi-stream
// xz (one stream per flush) included, with integer columns named by the header.
TEST(TraceWriter, PandasLoadsTheXzTraceInOneLine) {
  // Debian's interpreter, where python3-pandas (scripts/install-deps.sh) lives.
  if (std::system("/usr/bin/python3 -c 'import pandas' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3-pandas is not installed (scripts/install-deps.sh installs it)";
  TempDir t;
  const auto p = t.path() / "t.csv.xz";
  {
    auto w = TraceWriter::open(p, kColumns);
    ASSERT_TRUE(w);
    for (std::uint64_t k = 0; k < 3; ++k) {
      add_rows(*w, k * 700, (k + 1) * 700);
      ASSERT_TRUE(w->flush());  // three complete xz streams
    }
    ASSERT_TRUE(w->close());
  }
  const std::string cmd =
      "/usr/bin/python3 -c \"import pandas,sys; df=pandas.read_csv(sys.argv[1]); "
      "assert df.shape==(2100,3), df.shape; "
      "assert list(df.columns)==['t_ns','simulated','a_energy_uj'], list(df.columns); "
      "assert str(df['a_energy_uj'].dtype)=='int64', df.dtypes; "
      "assert int(df['a_energy_uj'].iloc[-1])==2099*61035; "
      "assert int(df['t_ns'].diff().max())==1000000\" " +
      p.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST(TraceWriter, XzRoundTripThroughTheReader) {
  TempDir t;
  const auto p = t.path() / "t.csv.xz";
  auto w = TraceWriter::open(p, kColumns);
  ASSERT_TRUE(w) << w.error().what();
  std::size_t after_first = 0;
  for (std::uint64_t k = 0; k < 3; ++k) {
    add_rows(*w, k * 1000, (k + 1) * 1000);
    ASSERT_TRUE(w->flush());
    if (k == 0) {
      after_first = slurp(p).size();
      // A killed run keeps what was flushed: one complete xz stream already.
      EXPECT_EQ(read_text(p), kHeader + expected_rows(0, 1000));
    }
  }
  ASSERT_TRUE(w->close());
  const auto all = slurp(p);
  EXPECT_EQ(all.substr(after_first + 1, 4), "7zXZ") << "the second flush starts a new stream";
  cinergy::LineReadStats stats;
  EXPECT_EQ(read_text(p, &stats), kHeader + expected_rows(0, 3000));
  EXPECT_EQ(stats.compression, Compression::xz);
  EXPECT_FALSE(stats.truncated);
  EXPECT_EQ(stats.lines, 3001u);
  EXPECT_EQ(w->bytes_written(), all.size());
}

TEST(TraceWriter, XzCutInsideAFlushKeepsTheRowsBeforeAndSaysSo) {
  TempDir t;
  const auto p = t.path() / "t.csv.xz";
  std::size_t four = 0, five = 0;
  {
    auto w = TraceWriter::open(p, kColumns);
    ASSERT_TRUE(w);
    for (std::uint64_t k = 0; k < 5; ++k) {
      add_rows(*w, k * 500, (k + 1) * 500);
      ASSERT_TRUE(w->flush());
      if (k == 3) four = slurp(p).size();
      if (k == 4) five = slurp(p).size();
    }
  }
  // A writer killed in the middle of writing its fifth stream.
  std::filesystem::resize_file(p, (four + five) / 2);
  cinergy::LineReadStats stats;
  const std::string text = read_text(p, &stats);
  const std::string all = kHeader + expected_rows(0, 2500);
  EXPECT_TRUE(stats.truncated);
  EXPECT_NE(stats.problem.find("cut short at byte " + std::to_string((four + five) / 2)),
            std::string::npos)
      << stats.problem;
  EXPECT_NE(stats.problem.find("xz stream"), std::string::npos) << stats.problem;
  // Every row of the four complete streams, then only complete rows of the cut one.
  ASSERT_GE(text.size(), (kHeader + expected_rows(0, 2000)).size());
  EXPECT_EQ(all.substr(0, text.size()), text);
  EXPECT_EQ(text.back(), '\n');
}

TEST(TraceWriter, KilledWriterLosesOnlyTheUnflushedRows) {
  TempDir t;
  const auto p = t.path() / "killed.csv.xz";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto w = TraceWriter::open(p, kColumns);
    if (!w) _exit(2);
    add_rows(*w, 0, 1000);
    if (!w->flush()) _exit(3);
    add_rows(*w, 1000, 2000);
    if (!w->flush()) _exit(3);
    add_rows(*w, 2000, 2700);  // buffered, never flushed
    raise(SIGKILL);
    _exit(4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  EXPECT_EQ(read_text(p), kHeader + expected_rows(0, 2000));
}

TEST(TraceWriter, GzipAndPlainStillChosenByTheName) {
  TempDir t;
  for (const char* name : {"t.csv.gz", "t.csv"}) {
    const auto p = t.path() / name;
    {
      auto w = TraceWriter::open(p, kColumns);
      ASSERT_TRUE(w) << w.error().what();
      add_rows(*w, 0, 700);
      ASSERT_TRUE(w->flush());
      add_rows(*w, 700, 1500);
      ASSERT_TRUE(w->close());
      EXPECT_EQ(w->compression(),
                std::string(name) == "t.csv" ? Compression::plain : Compression::gzip);
    }
    cinergy::LineReadStats stats;
    EXPECT_EQ(read_text(p, &stats), kHeader + expected_rows(0, 1500)) << name;
    EXPECT_FALSE(stats.truncated) << name;
  }
  EXPECT_EQ(slurp(t.path() / "t.csv"), kHeader + expected_rows(0, 1500));
}

TEST(TraceWriter, AnUnknownNameIsAnError) {
  TempDir t;
  for (const char* name : {"trace.dat", "trace", "trace.csv.zst"}) {
    auto w = TraceWriter::open(t.path() / name, kColumns);
    ASSERT_FALSE(w) << name;
    EXPECT_NE(w.error().message.find(name), std::string::npos) << w.error().message;
    EXPECT_NE(w.error().message.find(".csv.xz"), std::string::npos) << w.error().message;
    EXPECT_FALSE(std::filesystem::exists(t.path() / name)) << "nothing created";
  }
}

// The sidecar's "trace" figures: only after a clean close, exact for the file.
TEST(TraceWriter, ClosedFiguresOnlyAfterACleanClose) {
  TempDir t;
  const auto p = t.path() / "t.csv.xz";
  auto w = TraceWriter::open(p, kColumns);
  ASSERT_TRUE(w) << w.error().what();
  add_rows(*w, 3, 1000);
  ASSERT_TRUE(w->flush());
  add_rows(*w, 1000, 1700);
  EXPECT_FALSE(w->closed_figures()) << "still writing: no final figures";
  ASSERT_TRUE(w->close());
  const auto figures = w->closed_figures();
  ASSERT_TRUE(figures);
  EXPECT_EQ(*figures,
            (nlohmann::json{{"rows", 1697}, {"t_first_ns", 3000000}, {"t_last_ns", 1699000000}}));
  // The same figures as the file, counted by its reader.
  EXPECT_EQ(read_text(p), kHeader + expected_rows(3, 1700));
}

TEST(TraceWriter, ClosedFiguresOfAnEmptyTraceHaveNoTimes) {
  TempDir t;
  auto w = TraceWriter::open(t.path() / "t.csv.xz", kColumns);
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->close());
  EXPECT_EQ(w->closed_figures(),
            (nlohmann::json{{"rows", 0}, {"t_first_ns", nullptr}, {"t_last_ns", nullptr}}));
}

// A write that fails (a full disk: /dev/full) loses rows: no figures, even
// if a later close had nothing left to fail on.
TEST(TraceWriter, NoClosedFiguresAfterAFailedWrite) {
  TempDir t;
  const auto p = t.path() / "full.csv";
  std::filesystem::create_symlink("/dev/full", p);
  auto w = TraceWriter::open(p, kColumns);
  ASSERT_TRUE(w) << w.error().what();
  add_rows(*w, 0, 10);
  EXPECT_FALSE(w->flush()) << "/dev/full must refuse the write";
  (void)w->close();
  EXPECT_FALSE(w->closed_figures());
}
