#include "cinergy/sampler/trace_writer.hpp"

#include <fcntl.h>
#include <lzma.h>
#include <unistd.h>
#include <zlib.h>

#include <charconv>
#include <fstream>

namespace cinergy::sampler {

// The xz encoder, kept from one flush to the next so its match finder's
// memory is allocated once (a new encoder per flush costs page faults: ~15 %
// of the writer's CPU, docs/sampler.md). Every flush is still a complete,
// independent stream.
struct TraceWriter::XzEncoder {
  lzma_stream strm = LZMA_STREAM_INIT;
  XzEncoder() = default;
  XzEncoder(const XzEncoder&) = delete;
  XzEncoder& operator=(const XzEncoder&) = delete;
  ~XzEncoder() { lzma_end(&strm); }

  // One complete xz stream of `in` into `out` (resized to fit).
  bool compress(const std::string& in, std::vector<unsigned char>& out) {
    lzma_options_lzma opt{};
    if (lzma_lzma_preset(&opt, 1) != 0) return false;
    opt.mode = LZMA_MODE_NORMAL;  // the fast mode loses ~25 % on this data
    opt.mf = LZMA_MF_HC3;
    opt.nice_len = 16;
    opt.pb = 0;  // text: no position alignment
    opt.lp = 0;
    opt.dict_size = 1u << 20;
    lzma_filter filters[] = {{LZMA_FILTER_LZMA2, &opt}, {LZMA_VLI_UNKNOWN, nullptr}};
    if (lzma_stream_encoder(&strm, filters, LZMA_CHECK_CRC32) != LZMA_OK) return false;
    out.resize(lzma_stream_buffer_bound(in.size()));
    strm.next_in = reinterpret_cast<const std::uint8_t*>(in.data());
    strm.avail_in = in.size();
    strm.next_out = out.data();
    strm.avail_out = out.size();
    if (lzma_code(&strm, LZMA_FINISH) != LZMA_STREAM_END) return false;
    out.resize(out.size() - strm.avail_out);
    return true;
  }
};

Result<TraceWriter> TraceWriter::open(const std::filesystem::path& path,
                                      const std::vector<std::string>& columns, int level) {
  const auto compression = compression_from_name(path);
  if (!compression)
    return fail("trace " + path.string() + ": the name must end in .csv.xz, .csv.gz or .csv");
  TraceWriter w;
  w.path_ = path;
  w.level_ = level;
  w.compression_ = *compression;
  w.fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w.fd_ < 0) return fail_errno("cannot write trace " + path.string());
  w.text_.reserve(1 << 20);
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (i) w.text_ += ',';
    w.text_ += columns[i];
  }
  w.text_ += '\n';
  return w;
}

TraceWriter::TraceWriter(TraceWriter&& o) noexcept { *this = std::move(o); }
TraceWriter& TraceWriter::operator=(TraceWriter&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = o.fd_;
    o.fd_ = -1;
    level_ = o.level_;
    compression_ = o.compression_;
    xz_ = std::move(o.xz_);
    text_ = std::move(o.text_);
    out_ = std::move(o.out_);
    bytes_written_ = o.bytes_written_;
    rows_ = o.rows_;
    t_first_ns_ = o.t_first_ns_;
    t_last_ns_ = o.t_last_ns_;
    write_failed_ = o.write_failed_;
    closed_ = o.closed_;
  }
  return *this;
}
TraceWriter::~TraceWriter() {
  if (fd_ >= 0) {
    (void)flush();
    ::close(fd_);
  }
}

void TraceWriter::add_row(std::int64_t t_ns, bool simulated,
                          std::span<const std::uint64_t> values) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, t_ns);
  text_.append(buf, r.ptr);
  text_ += simulated ? ",1" : ",0";
  for (auto v : values) {
    buf[0] = ',';
    r = std::to_chars(buf + 1, buf + sizeof buf, v);
    text_.append(buf, r.ptr);
  }
  text_ += '\n';
  if (rows_ == 0) t_first_ns_ = t_ns;
  t_last_ns_ = t_ns;
  ++rows_;
}

Result<void> TraceWriter::flush() {
  auto r = compress_and_write();
  if (!r) write_failed_ = true;
  return r;
}

Result<void> TraceWriter::compress_and_write() {
  if (text_.empty() || fd_ < 0) return ok();
  if (compression_ == Compression::plain) {
    return write_out(reinterpret_cast<const unsigned char*>(text_.data()), text_.size());
  }
  if (compression_ == Compression::xz) {
    if (!xz_) xz_ = std::make_unique<XzEncoder>();
    if (!xz_->compress(text_, out_)) return fail("xz compression failed for " + path_.string());
    return write_out(out_.data(), out_.size());
  }
  z_stream zs{};
  // windowBits 15 + 16: a gzip wrapper, so every flush is one complete member.
  if (deflateInit2(&zs, level_, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    return fail("zlib deflateInit2 failed for " + path_.string());
  out_.resize(deflateBound(&zs, text_.size()) + 64);
  zs.next_in = reinterpret_cast<Bytef*>(text_.data());
  zs.avail_in = static_cast<uInt>(text_.size());
  zs.next_out = out_.data();
  zs.avail_out = static_cast<uInt>(out_.size());
  const int rc = deflate(&zs, Z_FINISH);
  const std::size_t n = out_.size() - zs.avail_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return fail("zlib deflate failed for " + path_.string());
  return write_out(out_.data(), n);
}

Result<void> TraceWriter::write_out(const unsigned char* data, std::size_t n) {
  std::size_t done = 0;
  while (done < n) {
    ssize_t w = ::write(fd_, data + done, n - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail_errno("cannot write trace " + path_.string());
    }
    done += static_cast<std::size_t>(w);
  }
  bytes_written_ += n;
  text_.clear();
  return ok();
}

Result<void> TraceWriter::close() {
  auto r = flush();
  if (fd_ >= 0) {
    if (::close(fd_) != 0 && r) {
      r = fail_errno("cannot close trace " + path_.string());
      write_failed_ = true;
    }
    fd_ = -1;
    closed_ = r.has_value();
  }
  return r;
}

std::optional<nlohmann::json> TraceWriter::closed_figures() const {
  if (!closed_ || write_failed_) return std::nullopt;
  nlohmann::json j = {{"rows", rows_}, {"t_first_ns", nullptr}, {"t_last_ns", nullptr}};
  if (rows_ > 0) {
    j["t_first_ns"] = t_first_ns_;
    j["t_last_ns"] = t_last_ns_;
  }
  return j;
}

Result<void> write_json_file(const std::filesystem::path& path, const nlohmann::json& meta) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return fail_errno("cannot write " + tmp);
    out << meta.dump(2) << '\n';
    if (!out.flush()) return fail_errno("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return fail_errno(ec.value(), "cannot rename " + tmp + " to " + path.string());
  return ok();
}

std::filesystem::path sidecar_path(const std::filesystem::path& trace_path) {
  return trace_path.string() + ".meta.json";
}

}  // namespace cinergy::sampler
