#include "http/assets.h"

#include <array>

namespace usher::http {

// Defined in the generated http_assets.cpp.
extern const std::string_view kAsset_index_html;
extern const std::string_view kAsset_dashboard_js;
extern const std::string_view kAsset_dashboard_css;
extern const std::string_view kAsset_chart_min_js;

const Asset* find_asset(std::string_view path) {
  static const std::array<Asset, 4> kAssets = {{
      {"/", "text/html; charset=utf-8", kAsset_index_html},
      {"/assets/dashboard.js", "text/javascript; charset=utf-8", kAsset_dashboard_js},
      {"/assets/dashboard.css", "text/css; charset=utf-8", kAsset_dashboard_css},
      {"/assets/chart.min.js", "text/javascript; charset=utf-8", kAsset_chart_min_js},
  }};
  for (const Asset& a : kAssets) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

}  // namespace usher::http
