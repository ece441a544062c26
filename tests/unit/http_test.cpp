// The HTTP endpoint's pure parts: CORS decisions, the bearer check, the
// Prometheus text and the console's result sets as JSON.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "admin/result_set.h"
#include "http/bearer.h"
#include "http/cors.h"
#include "http/json_result.h"
#include "http/prometheus.h"
#include "pool/latency.h"

namespace usher::http {
namespace {

std::string header(const Headers& h, std::string_view name) {
  for (const auto& [n, v] : h)
    if (n == name) return v;
  return "<none>";
}

bool any_cors(const Headers& h) {
  return std::any_of(h.begin(), h.end(),
                     [](const auto& kv) { return kv.first.starts_with("Access-Control-"); });
}

TEST(HttpCors, ListedOriginGetsItselfBackAndVary) {
  const std::vector<std::string> origins{"https://app.example.com"};
  Headers h;
  add_cors_headers({origins, false}, "https://app.example.com", h);
  EXPECT_EQ(header(h, "Access-Control-Allow-Origin"), "https://app.example.com");
  EXPECT_EQ(header(h, "Vary"), "Origin");
  EXPECT_EQ(header(h, "Access-Control-Allow-Credentials"), "<none>");
  Headers with;
  add_cors_headers({origins, true}, "https://app.example.com", with);
  EXPECT_EQ(header(with, "Access-Control-Allow-Credentials"), "true");
}

TEST(HttpCors, ExactMatchOnly) {
  const std::vector<std::string> origins{"https://app.example.com"};
  for (std::string_view o :
       {"https://app.example.com.evil.net", "http://app.example.com", "https://evilapp.example.com",
        "https://app.example.com:443", "https://APP.example.com", "null", ""}) {
    Headers h;
    add_cors_headers({origins, true}, o, h);
    EXPECT_FALSE(any_cors(h)) << o;
  }
}

TEST(HttpCors, AnyOriginIsStarWithoutCredentials) {
  const std::vector<std::string> origins{"*"};
  Headers h;
  add_cors_headers({origins, false}, "https://whoever.example", h);
  EXPECT_EQ(header(h, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(header(h, "Access-Control-Allow-Credentials"), "<none>");
}

TEST(HttpCors, Preflight) {
  const std::vector<std::string> origins{"https://app.example.com"};
  Request r;
  r.method = "OPTIONS";
  r.origin = "https://app.example.com";
  r.cors_method = "POST";
  r.cors_headers = "authorization, content-type";
  ASSERT_TRUE(is_preflight(r));
  Response ok = answer_preflight({origins, false}, r);
  EXPECT_EQ(ok.status, 204);
  EXPECT_EQ(header(ok.headers, "Access-Control-Allow-Origin"), "https://app.example.com");
  EXPECT_EQ(header(ok.headers, "Access-Control-Allow-Methods"), kCorsMethods);
  EXPECT_EQ(header(ok.headers, "Access-Control-Max-Age"), kCorsMaxAge);

  Request put = r;
  put.cors_method = "PUT";
  EXPECT_FALSE(any_cors(answer_preflight({origins, false}, put).headers));
  Request odd_header = r;
  odd_header.cors_headers = "authorization, x-evil";
  EXPECT_FALSE(any_cors(answer_preflight({origins, false}, odd_header).headers));
  Request stranger = r;
  stranger.origin = "https://evil.example";
  EXPECT_FALSE(any_cors(answer_preflight({origins, false}, stranger).headers));
  Request plain_options = r;
  plain_options.cors_method.clear();
  EXPECT_FALSE(is_preflight(plain_options));
}

TEST(HttpBearer, MatchesOnlyTheToken) {
  EXPECT_TRUE(bearer_matches("Bearer tok-1", "tok-1"));
  EXPECT_TRUE(bearer_matches("bearer   tok-1 ", "tok-1"));
  EXPECT_FALSE(bearer_matches("Bearer tok-2", "tok-1"));
  EXPECT_FALSE(bearer_matches("Bearer tok-1x", "tok-1"));
  EXPECT_FALSE(bearer_matches("Bearer tok-", "tok-1"));
  EXPECT_FALSE(bearer_matches("Basic dG9rLTE=", "tok-1"));
  EXPECT_FALSE(bearer_matches("Bearertok-1", "tok-1"));
  EXPECT_FALSE(bearer_matches("tok-1", "tok-1"));
  EXPECT_FALSE(bearer_matches("", "tok-1"));
  // No token configured: nothing matches, not even an empty one.
  EXPECT_FALSE(bearer_matches("Bearer ", ""));
  EXPECT_FALSE(bearer_matches("Bearer x", ""));
}

TEST(HttpPrometheus, FamiliesSamplesAndEscaping) {
  PromWriter w;
  w.family("usher_x_total", PromWriter::Type::kCounter, "An x.");
  w.sample({{"database", "a\"b\\c\nd"}, {"user", "u"}}, 3);
  w.sample({}, 0.5);
  EXPECT_EQ(w.take(),
            "# HELP usher_x_total An x.\n"
            "# TYPE usher_x_total counter\n"
            "usher_x_total{database=\"a\\\"b\\\\c\\nd\",user=\"u\"} 3\n"
            "usher_x_total 0.5\n");
}

TEST(HttpPrometheus, HistogramIsCumulativeInSeconds) {
  pool::LatencyHistogram h;
  h.record(50);          // first bucket
  h.record(100);         // still the first: le is inclusive
  h.record(101);         // second
  h.record(20'000'000);  // above the last bound
  pool::LatencySnapshot s;
  s.add(h);
  PromWriter w;
  w.family("usher_q_seconds", PromWriter::Type::kHistogram, "Q.");
  w.histogram({{"database", "d"}}, s);
  const std::string text = w.take();
  EXPECT_NE(text.find("usher_q_seconds_bucket{database=\"d\",le=\"0.0001\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("usher_q_seconds_bucket{database=\"d\",le=\"0.00025\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("usher_q_seconds_bucket{database=\"d\",le=\"10\"} 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("usher_q_seconds_bucket{database=\"d\",le=\"+Inf\"} 4\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("usher_q_seconds_sum{database=\"d\"} 20.000251\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("usher_q_seconds_count{database=\"d\"} 4\n"), std::string::npos) << text;
}

TEST(HttpPrometheus, Values) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(12345678901234.0), "12345678901234");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
}

TEST(HttpJson, TypedValuesAndNull) {
  admin::ResultSet rs({{"database", admin::kText},
                       {"cl_active", admin::kInt4},
                       {"total", admin::kInt8},
                       {"ratio", admin::kNumeric},
                       {"host", admin::kText}});
  rs.add({"appdb", "3", "12345678901", "0.75", std::nullopt});
  rs.add({"x\"y", "not a number", "0", "1", "h"});
  EXPECT_EQ(boost::json::serialize(to_json(rs)),
            "[{\"database\":\"appdb\",\"cl_active\":3,\"total\":12345678901,\"ratio\":7.5E-1,"
            "\"host\":null},{\"database\":\"x\\\"y\",\"cl_active\":\"not a number\",\"total\":0,"
            "\"ratio\":1,\"host\":\"h\"}]");
}

}  // namespace
}  // namespace usher::http
