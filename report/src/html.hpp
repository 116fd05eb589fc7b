// The page around the sections: HTML and JSON helpers every section uses,
// and the assembly of the one self-contained file (uPlot, its licence, the
// style and the glue script embedded, the figures' data as JSON scripts).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cinergy/common/error.hpp"

namespace cinergy::report::detail {

// Text for HTML content and attribute values (< > & " escaped).
std::string esc(std::string_view s);

// JSON safe inside <script>: no "</" sequence.
std::string script_json(const nlohmann::json& j);

// One value in a table cell, escaped: "–" for null, numbers in plain digits
// for the magnitudes met here (no 1.07e+04), booleans as yes/no.
std::string cell(const nlohmann::json& v);

// What the page shows, each part built by its section (sections.hpp).
struct Page {
  std::string host;                       // in the title and header
  bool simulated = false;                 // the red banner and "(SIMULATED power)"
  std::filesystem::path dir;              // the run directory, shown absolute
  std::vector<std::string> missing;       // "Missing from this directory"
  std::vector<std::string> problems;      // listed there as "unreadable: ..."
  std::string health_html, metrics_html;  // the run-health and metrics sections
  nlohmann::json data;                    // the figures' data (small), id cinergy-data
  std::vector<std::string> level_blobs;   // the traces' levels (big), id cinergy-levels-<i>
};

// The whole HTML document, sections in their fixed order.
std::string page_html(const Page& page);

// The parts every page shares (the report, the compare page): up to <body>
// (title, uPlot's licence, the styles, the error hook), and from the data
// scripts (id cinergy-data, then cinergy-levels-<i>) to the end (uPlot, the
// glue script report.js).
std::string html_head(const std::string& title);
std::string html_scripts(const nlohmann::json& data, const std::vector<std::string>& level_blobs);

// Writes a page to <out>.tmp and renames it: a reader never sees half a page.
Result<void> write_page(const std::filesystem::path& out_html, const std::string& html);

}  // namespace cinergy::report::detail
