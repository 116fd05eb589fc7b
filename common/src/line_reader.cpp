#include "cinergy/common/line_reader.hpp"

#include <fcntl.h>
#include <lzma.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

namespace cinergy {
namespace {

constexpr std::size_t kChunk = 1 << 17;
constexpr std::array<unsigned char, 2> kGzipMagic = {0x1f, 0x8b};
constexpr std::array<unsigned char, 6> kXzMagic = {0xfd, '7', 'z', 'X', 'Z', 0x00};

// Raw bytes of the file, read in chunks; closes on destruction.
class RawFile {
 public:
  explicit RawFile(int fd) : fd_(fd) {}
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;
  ~RawFile() { ::close(fd_); }
  // Bytes read into buf (0 at the end of the file), or -1 with errno set.
  ssize_t read(unsigned char* buf, std::size_t n) {
    while (true) {
      const ssize_t r = ::read(fd_, buf, n);
      if (r >= 0 || errno != EINTR) {
        if (r > 0) offset_ += static_cast<std::uint64_t>(r);
        return r;
      }
    }
  }
  [[nodiscard]] std::uint64_t offset() const { return offset_; }

 private:
  int fd_;
  std::uint64_t offset_ = 0;
};

// Cuts decoded text into lines; a line may span chunks.
class LineSplitter {
 public:
  LineSplitter(const std::function<void(std::string_view)>& on_line, LineReadStats& stats)
      : on_line_(on_line), stats_(stats) {}
  void feed(std::string_view chunk) {
    while (!chunk.empty()) {
      const std::size_t nl = chunk.find('\n');
      if (nl == std::string_view::npos) {
        pending_.append(chunk);
        return;
      }
      if (pending_.empty()) {
        on_line_(chunk.substr(0, nl));
      } else {
        pending_.append(chunk.substr(0, nl));
        on_line_(pending_);
        pending_.clear();
      }
      ++stats_.lines;
      chunk.remove_prefix(nl + 1);
    }
  }
  // A last line without '\n' counts only when the data ended cleanly.
  void finish() {
    if (!pending_.empty() && !stats_.truncated) {
      on_line_(pending_);
      ++stats_.lines;
    }
  }

 private:
  const std::function<void(std::string_view)>& on_line_;
  LineReadStats& stats_;
  std::string pending_;
};

std::string_view as_text(const unsigned char* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

void stop(LineReadStats& stats, std::string why) {
  stats.truncated = true;
  stats.problem = std::move(why);
}

// "cut short at byte 1234 inside an xz stream (a killed writer?)"
std::string cut_short(std::string_view article_format_unit, std::uint64_t at) {
  return "cut short at byte " + std::to_string(at) + " inside " + std::string(article_format_unit) +
         " (a killed writer?)";
}

// The bytes already in `in` (the sniffed head) come first, then the rest of the file.
Result<void> read_plain(RawFile& f, std::vector<unsigned char>& in, std::size_t have,
                        LineSplitter& lines, const std::filesystem::path& path) {
  lines.feed(as_text(in.data(), have));
  while (true) {
    const ssize_t n = f.read(in.data(), in.size());
    if (n < 0) return fail_errno("cannot read " + path.string());
    if (n == 0) return ok();
    lines.feed(as_text(in.data(), static_cast<std::size_t>(n)));
  }
}

Result<void> read_gzip(RawFile& f, std::vector<unsigned char>& in, std::size_t have,
                       LineSplitter& lines, LineReadStats& stats,
                       const std::filesystem::path& path) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK)
    return fail("zlib inflateInit2 failed for " + path.string());
  std::vector<unsigned char> out(kChunk);
  zs.next_in = in.data();
  zs.avail_in = static_cast<uInt>(have);
  bool inside_member = false, want_input = false;
  Result<void> result = ok();
  while (true) {
    if (zs.avail_in == 0 && want_input) {
      const ssize_t n = f.read(in.data(), in.size());
      if (n < 0) {
        result = fail_errno("cannot read " + path.string());
        break;
      }
      if (n == 0) {
        if (inside_member) stop(stats, cut_short("a gzip member", f.offset()));
        break;
      }
      zs.next_in = in.data();
      zs.avail_in = static_cast<uInt>(n);
    }
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&zs, Z_NO_FLUSH);
    lines.feed(as_text(out.data(), out.size() - zs.avail_out));
    if (rc == Z_STREAM_END) {  // one member done; another may follow
      inside_member = false;
      inflateReset(&zs);
      want_input = true;
      continue;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      const std::uint64_t at = f.offset() - zs.avail_in;
      stop(stats, "corrupt gzip data at byte " + std::to_string(at) +
                      (zs.msg ? std::string(" (") + zs.msg + ")" : std::string()));
      break;
    }
    inside_member = true;
    want_input = zs.avail_out != 0;  // a full output buffer may hold more: drain it first
  }
  inflateEnd(&zs);
  return result;
}

Result<void> read_xz(RawFile& f, std::vector<unsigned char>& in, std::size_t have,
                     LineSplitter& lines, LineReadStats& stats, const std::filesystem::path& path) {
  lzma_stream xs = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&xs, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
    return fail("liblzma decoder init failed for " + path.string());
  std::vector<unsigned char> out(kChunk);
  xs.next_in = in.data();
  xs.avail_in = have;
  lzma_action action = LZMA_RUN;
  bool want_input = false;
  Result<void> result = ok();
  while (true) {
    if (xs.avail_in == 0 && want_input && action == LZMA_RUN) {
      const ssize_t n = f.read(in.data(), in.size());
      if (n < 0) {
        result = fail_errno("cannot read " + path.string());
        break;
      }
      if (n == 0) action = LZMA_FINISH;  // the decoder says whether the data ended cleanly
      xs.next_in = in.data();
      xs.avail_in = static_cast<std::size_t>(n);
    }
    xs.next_out = out.data();
    xs.avail_out = out.size();
    const lzma_ret rc = lzma_code(&xs, action);
    lines.feed(as_text(out.data(), out.size() - xs.avail_out));
    if (rc == LZMA_STREAM_END) break;
    if (rc == LZMA_OK) {
      want_input = xs.avail_out != 0;
      continue;
    }
    const std::uint64_t at = f.offset() - xs.avail_in;
    if (rc == LZMA_BUF_ERROR && action == LZMA_FINISH)
      stop(stats, cut_short("an xz stream", at));
    else if (rc == LZMA_MEM_ERROR || rc == LZMA_MEMLIMIT_ERROR)
      result = fail("out of memory decoding xz " + path.string());
    else
      stop(stats, "corrupt xz data at byte " + std::to_string(at) + " (liblzma error " +
                      std::to_string(static_cast<int>(rc)) + ")");
    break;
  }
  lzma_end(&xs);
  return result;
}

std::string lower_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

}  // namespace

std::string_view compression_name(Compression c) {
  switch (c) {
    case Compression::gzip:
      return "gzip";
    case Compression::xz:
      return "xz";
    case Compression::plain:
      break;
  }
  return "plain";
}

std::optional<Compression> compression_from_name(const std::filesystem::path& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".xz") return Compression::xz;
  if (ext == ".gz") return Compression::gzip;
  if (ext == ".csv") return Compression::plain;
  return std::nullopt;
}

Result<LineReadStats> read_lines(const std::filesystem::path& path,
                                 const std::function<void(std::string_view)>& on_line) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno("cannot open " + path.string());
  RawFile f(fd);
  std::vector<unsigned char> in(kChunk);
  // Sniff the head: read until kXzMagic.size() bytes or the end of the file.
  std::size_t have = 0;
  while (have < kXzMagic.size()) {
    const ssize_t n = f.read(in.data() + have, in.size() - have);
    if (n < 0) return fail_errno("cannot read " + path.string());
    if (n == 0) break;
    have += static_cast<std::size_t>(n);
  }
  const auto starts_with = [&](const auto& magic) {
    return have >= magic.size() && std::equal(magic.begin(), magic.end(), in.begin());
  };
  // A file cut inside its very first header: the bytes there are the start of the magic.
  const auto cut_magic = [&](const auto& magic) {
    return have > 0 && have < magic.size() &&
           std::equal(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(have), magic.begin());
  };
  const auto named = compression_from_name(path);
  LineReadStats stats;
  if (starts_with(kXzMagic) || (named == Compression::xz && cut_magic(kXzMagic)))
    stats.compression = Compression::xz;
  else if (starts_with(kGzipMagic) || (named == Compression::gzip && cut_magic(kGzipMagic)))
    stats.compression = Compression::gzip;
  if (have > 0 && named && *named != Compression::plain && *named != stats.compression)
    return fail(path.string() + ": not " + std::string(compression_name(*named)) +
                " data although the name ends in " + path.extension().string());

  LineSplitter lines(on_line, stats);
  Result<void> r = ok();
  switch (stats.compression) {
    case Compression::plain:
      r = read_plain(f, in, have, lines, path);
      break;
    case Compression::gzip:
      r = read_gzip(f, in, have, lines, stats, path);
      break;
    case Compression::xz:
      r = read_xz(f, in, have, lines, stats, path);
      break;
  }
  if (!r) return std::unexpected(r.error());
  lines.finish();
  return stats;
}

}  // namespace cinergy
