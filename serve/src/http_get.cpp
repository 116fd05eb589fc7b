#include "cinergy/serve/http_get.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <mutex>

namespace cinergy::serve {
namespace {

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t append(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace

Result<HttpResponse> http_get(const std::string& url, std::chrono::milliseconds timeout) {
  init_curl_once();
  CURL* c = curl_easy_init();
  if (c == nullptr) return fail("cannot start a libcurl handle");
  HttpResponse r;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // what Prometheus does: gzip
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r.seconds);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) return fail(fmt::format("GET {}: {}", url, curl_easy_strerror(rc)));
  return r;
}

std::string url_escape(const std::string& text) {
  init_curl_once();
  char* e = curl_easy_escape(nullptr, text.c_str(), static_cast<int>(text.size()));
  std::string out = e != nullptr ? e : "";
  curl_free(e);
  return out;
}

}  // namespace cinergy::serve
