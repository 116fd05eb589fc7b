// A small HTTP GET client (libcurl) for what checks `cinergy serve` from
// the outside: `cinergy bench serve` (scrape latency) and the tests (serve's
// /metrics, Prometheus's HTTP API). Not used by the daemon itself.
#pragma once

#include <chrono>
#include <string>

#include "cinergy/common/error.hpp"

namespace cinergy::serve {

struct HttpResponse {
  long status = 0;     // HTTP status code
  std::string body;    // decoded (gzip accepted)
  double seconds = 0;  // from the request to the last byte
};

// Errors: no connection, a timeout (the message names the URL).
Result<HttpResponse> http_get(const std::string& url, std::chrono::milliseconds timeout);

// `text` escaped for a URL query value (Prometheus queries).
std::string url_escape(const std::string& text);

}  // namespace cinergy::serve
