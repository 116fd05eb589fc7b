// cinergy::read_lines on plain, gzip and xz files made by the standard
// encoders (zlib's gz* API, liblzma's easy encoder), several members/streams
// per file, and the same files cut at every byte (a killed writer) or with a
// corrupt byte: complete lines before the cut are returned, the cut is
// reported, nothing crashes.
#include "cinergy/common/line_reader.hpp"

#include <gtest/gtest.h>
#include <lzma.h>
#include <zlib.h>

#include <fstream>
#include <string>
#include <vector>

#include "temp_dir.hpp"

namespace fs = std::filesystem;
using cinergy::Compression;
using cinergy::read_lines;
using cinergy::test::TempDir;

namespace {

struct Read {
  std::vector<std::string> lines;
  cinergy::LineReadStats stats;
};

cinergy::Result<Read> read_all(const fs::path& p) {
  Read r;
  auto s = read_lines(p, [&](std::string_view l) { r.lines.emplace_back(l); });
  if (!s) return std::unexpected(s.error());
  r.stats = *s;
  return r;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

// Lines "i,i*61035,i*7" for i in [from, to), each ending in '\n'.
std::string rows(int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i)
    s += std::to_string(i) + "," + std::to_string(i * 61035LL) + "," + std::to_string(i * 7) + "\n";
  return s;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(text.substr(start, nl - start));
  return out;
}

std::string xz_stream(const std::string& text) {
  std::vector<std::uint8_t> out(lzma_stream_buffer_bound(text.size()));
  std::size_t pos = 0;
  EXPECT_EQ(lzma_easy_buffer_encode(0, LZMA_CHECK_CRC32, nullptr,
                                    reinterpret_cast<const std::uint8_t*>(text.data()), text.size(),
                                    out.data(), &pos, out.size()),
            LZMA_OK);
  return {reinterpret_cast<const char*>(out.data()), pos};
}

std::string gzip_member(const fs::path& scratch, const std::string& text) {
  gzFile f = gzopen(scratch.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
  return slurp(scratch);
}

// Three chunks of rows, each its own member/stream, as the trace writer flushes.
struct Multi {
  std::string bytes;
  std::vector<std::size_t> ends;          // byte offset where each member/stream ends
  std::vector<std::size_t> lines_before;  // complete lines in the chunks before it ends
  std::string text;
};

template <typename Encode>
Multi multi(Encode encode) {
  Multi m;
  const int bounds[] = {0, 40, 90, 150};
  for (int k = 0; k < 3; ++k) {
    const std::string t = (k == 0 ? std::string("t_ns,a_energy_uj,b\n") : std::string()) +
                          rows(bounds[k], bounds[k + 1]);
    m.text += t;
    m.bytes += encode(t);
    m.ends.push_back(m.bytes.size());
    m.lines_before.push_back(lines_of(m.text).size());
  }
  return m;
}

// Cuts the file at every byte: the lines read are always a prefix of the
// text, at least every line of the members/streams complete before the cut,
// and the file is "truncated" exactly when the cut is not at a boundary.
void expect_every_cut_is_handled(const Multi& m, const fs::path& p, std::string_view format,
                                 std::string_view unit) {
  const auto want = lines_of(m.text);
  for (std::size_t cut = 0; cut <= m.bytes.size(); ++cut) {
    spit(p, m.bytes.substr(0, cut));
    auto r = read_all(p);
    ASSERT_TRUE(r) << "cut " << cut << ": " << r.error().what();
    ASSERT_LE(r->lines.size(), want.size()) << "cut " << cut;
    for (std::size_t i = 0; i < r->lines.size(); ++i)
      ASSERT_EQ(r->lines[i], want[i]) << "cut " << cut << " line " << i;
    std::size_t complete = 0;
    bool boundary = cut == 0;
    for (std::size_t k = 0; k < m.ends.size(); ++k) {
      if (m.ends[k] <= cut) complete = m.lines_before[k];
      if (m.ends[k] == cut) boundary = true;
    }
    EXPECT_GE(r->lines.size(), complete) << "cut " << cut;
    EXPECT_EQ(r->stats.lines, r->lines.size());
    EXPECT_EQ(r->stats.truncated, !boundary) << "cut " << cut << ": " << r->stats.problem;
    if (!boundary) {
      EXPECT_EQ(r->stats.compression, format == "xz" ? Compression::xz : Compression::gzip);
      EXPECT_NE(r->stats.problem.find("cut short at byte " + std::to_string(cut)),
                std::string::npos)
          << r->stats.problem;
      EXPECT_NE(r->stats.problem.find(std::string(format) + " " + std::string(unit)),
                std::string::npos)
          << r->stats.problem;
    } else {
      EXPECT_TRUE(r->stats.problem.empty()) << r->stats.problem;
    }
  }
}

}  // namespace

TEST(LineReader, PlainTextAndALastLineWithoutNewline) {
  TempDir t;
  const auto p = t.write("a.csv", "t_ns,x\n1,2\n\n3,4");
  auto r = read_all(p);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->lines, (std::vector<std::string>{"t_ns,x", "1,2", "", "3,4"}));
  EXPECT_EQ(r->stats.compression, Compression::plain);
  EXPECT_FALSE(r->stats.truncated);
  EXPECT_EQ(r->stats.lines, 4u);
}

TEST(LineReader, EmptyFilesHaveNoLines) {
  TempDir t;
  for (const char* name : {"e.csv", "e.csv.gz", "e.csv.xz"}) {
    auto r = read_all(t.write(name, ""));
    ASSERT_TRUE(r) << name << ": " << r.error().what();
    EXPECT_TRUE(r->lines.empty()) << name;
    EXPECT_FALSE(r->stats.truncated) << name;
  }
}

TEST(LineReader, XzOfSeveralStreams) {
  TempDir t;
  const auto m = multi(xz_stream);
  const auto p = t.path() / "t.csv.xz";
  spit(p, m.bytes);
  auto r = read_all(p);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->stats.compression, Compression::xz);
  EXPECT_FALSE(r->stats.truncated) << r->stats.problem;
  EXPECT_EQ(r->lines, lines_of(m.text));
  EXPECT_EQ(r->lines.size(), 151u);
}

TEST(LineReader, GzipOfSeveralMembers) {
  TempDir t;
  const auto m = multi([&](const std::string& s) { return gzip_member(t.path() / "m.gz", s); });
  const auto p = t.path() / "t.csv.gz";
  spit(p, m.bytes);
  auto r = read_all(p);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->stats.compression, Compression::gzip);
  EXPECT_FALSE(r->stats.truncated) << r->stats.problem;
  EXPECT_EQ(r->lines, lines_of(m.text));
}

TEST(LineReader, LargeXzSpansManyReadChunks) {
  TempDir t;
  const std::string text = "t_ns,a_energy_uj,b\n" + rows(0, 200000);  // ~5 MB of text
  const auto p = t.path() / "big.csv.xz";
  spit(p, xz_stream(text.substr(0, text.size() / 2)) + xz_stream(text.substr(text.size() / 2)));
  std::uint64_t n = 0;
  std::string last;
  auto s = read_lines(p, [&](std::string_view l) {
    ++n;
    last = l;
  });
  ASSERT_TRUE(s) << s.error().what();
  EXPECT_FALSE(s->truncated);
  EXPECT_EQ(n, 200001u);
  EXPECT_EQ(last, "199999,12206938965,1399993");
}

TEST(LineReader, XzCutAtEveryByte) {
  TempDir t;
  expect_every_cut_is_handled(multi(xz_stream), t.path() / "cut.csv.xz", "xz", "stream");
}

TEST(LineReader, GzipCutAtEveryByte) {
  TempDir t;
  expect_every_cut_is_handled(
      multi([&](const std::string& s) { return gzip_member(t.path() / "m.gz", s); }),
      t.path() / "cut.csv.gz", "gzip", "member");
}

TEST(LineReader, CorruptXzStopsWithTheLinesBeforeAndSaysWhy) {
  TempDir t;
  auto m = multi(xz_stream);
  const std::size_t at = (m.ends[0] + m.ends[1]) / 2;  // inside the second stream's data
  m.bytes[at] = static_cast<char>(m.bytes[at] ^ 0x55);
  const auto p = t.path() / "bad.csv.xz";
  spit(p, m.bytes);
  auto r = read_all(p);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_TRUE(r->stats.truncated);
  EXPECT_NE(r->stats.problem.find("corrupt xz data"), std::string::npos) << r->stats.problem;
  const auto want = lines_of(m.text);
  ASSERT_GE(r->lines.size(), m.lines_before[0]);
  for (std::size_t i = 0; i < m.lines_before[0]; ++i) EXPECT_EQ(r->lines[i], want[i]);
}

TEST(LineReader, NameAndContentMustAgree) {
  TempDir t;
  for (const char* name : {"t.csv.xz", "t.csv.gz"}) {
    auto r = read_all(t.write(name, "t_ns\n1\n"));
    ASSERT_FALSE(r) << name;
    EXPECT_NE(r.error().message.find(name), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
  }
  const auto gz_as_xz = t.path() / "g.csv.xz";
  spit(gz_as_xz, gzip_member(t.path() / "m.gz", "t_ns\n1\n"));
  auto r = read_all(gz_as_xz);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not xz data"), std::string::npos) << r.error().message;
  // Content decides for other names: gzip data in a .csv is read as gzip.
  const auto gz_as_csv = t.path() / "g.csv";
  spit(gz_as_csv, gzip_member(t.path() / "m.gz", "t_ns\n1\n"));
  auto ok = read_all(gz_as_csv);
  ASSERT_TRUE(ok) << ok.error().what();
  EXPECT_EQ(ok->stats.compression, Compression::gzip);
  EXPECT_EQ(ok->lines, (std::vector<std::string>{"t_ns", "1"}));
}

TEST(LineReader, MissingFileIsAnErrorNamingIt) {
  TempDir t;
  auto r = read_all(t.path() / "nope.csv.xz");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errno_value, ENOENT);
  EXPECT_NE(r.error().message.find("nope.csv.xz"), std::string::npos);
}

TEST(LineReader, CompressionFromName) {
  using cinergy::compression_from_name;
  EXPECT_EQ(compression_from_name("a/trace-x.csv.xz"), Compression::xz);
  EXPECT_EQ(compression_from_name("T.CSV.XZ"), Compression::xz);
  EXPECT_EQ(compression_from_name("t.csv.gz"), Compression::gzip);
  EXPECT_EQ(compression_from_name("t.csv"), Compression::plain);
  EXPECT_EQ(compression_from_name("t.csv.zst"), std::nullopt);
  EXPECT_EQ(compression_from_name("trace"), std::nullopt);
  EXPECT_EQ(cinergy::compression_name(Compression::xz), "xz");
  EXPECT_EQ(cinergy::compression_name(Compression::gzip), "gzip");
  EXPECT_EQ(cinergy::compression_name(Compression::plain), "plain");
}
