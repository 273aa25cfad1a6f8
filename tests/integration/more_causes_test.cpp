// Causes beyond refused/reset/timeouts, and what is reported although the
// client got no gateway error (retried failures, truncated responses).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <regex>

#include "denied_connects.hpp"
#include "netns_host.hpp"
#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

using MoreCauses = RootTest;

TEST_F(MoreCauses, RetriedFailureIsNotAGatewayError) {
  Scenario s;
  const std::string ok = s.start_backend("ok");
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  upstream flaky { server " + refused + " max_fails=0; server " + ok + "; }\n"
                "  server {\n    listen 127.0.0.1:{PORT};\n" +
                location("/flaky", "proxy_pass http://flaky;") + "  }\n");
  s.start_tracer();
  std::vector<std::string> urls(6, "http://127.0.0.1:{PORT}/flaky");
  auto codes = s.curl(urls);                                     // one kept-alive connection
  auto more = s.curl({"http://127.0.0.1:{PORT}/flaky"});         // and a connection of its own
  auto again = s.curl({"http://127.0.0.1:{PORT}/flaky"});
  const auto records = s.stop_tracer();
  for (int c : codes) EXPECT_EQ(c, 200);
  EXPECT_TRUE(of_type(records, "gateway_error").empty());

  // Every request that nginx sent to the refusing peer first has one record.
  const auto retried = of_type(records, "retried");
  std::vector<bool> used(retried.size(), false);
  int expected = 0;
  for (const auto& line : s.access_log()) {
    if (line.upstream_addr.find(", ") == std::string::npos) continue;
    ++expected;
    bool found = false;
    for (size_t i = 0; i < retried.size() && !found; ++i) {
      if (used[i] || retried[i]["client"] != line.client) continue;
      used[i] = found = true;
      EXPECT_EQ(retried[i]["cause"], "refused");
      EXPECT_EQ(retried[i]["upstream"], refused);
      EXPECT_EQ(retried[i]["status"], 200);
    }
    EXPECT_TRUE(found) << "no retried record for " << line.client << " " << line.upstream_addr;
  }
  EXPECT_GE(expected, 3);
  EXPECT_EQ(static_cast<int>(retried.size()), expected) << s.tracer_output();
}

// Many clients at once on one worker, each refused by its first upstream and
// answered by the next: while a retry runs, the worker takes other clients'
// failures, so a failure is seldom the next thing its thread answers. Each
// retried request still has its record, on its own client.
TEST_F(MoreCauses, RetriedFailuresOfConcurrentClientsAreEachReported) {
  constexpr int kRounds = 4;
  constexpr int kConcurrent = 100;
  constexpr int kPerConnection = 3;
  Scenario s;
  const std::string ok = s.start_backend("ok");
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx(retried_upstream(refused, ok) + "  server {\n    listen 127.0.0.1:{PORT} backlog=1024;\n" +
                proxy("/retried", "http://retried") + "  }\n");
  s.start_tracer();
  const std::string concurrent_get = std::string(WHY502_SOURCE_DIR) + "/tests/backends/concurrent_get.py";
  const std::string port = std::to_string(s.nginx_port());
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::string> argv{"python3", concurrent_get, "127.0.0.1", port, "/retried", std::to_string(kConcurrent)};
    int answered = kConcurrent;
    if (round % 2) {  // and keep-alive connections, whose requests share a client socket
      argv.insert(argv.end(), {"--requests-per-connection", std::to_string(kPerConnection)});
      answered *= kPerConnection;
    }
    ASSERT_EQ(run_command(argv), "answered " + std::to_string(answered) + "\n") << s.error_log();
  }
  const auto records = s.stop_tracer();
  EXPECT_TRUE(of_type(records, "gateway_error").empty()) << s.tracer_output();

  std::map<std::string, int> retried_by_client, records_by_client;
  int retried_lines = 0;
  for (const AccessLine& line : s.access_log()) {
    if (line.status != 200 || line.upstream_addr != refused + ", " + ok) continue;
    ++retried_by_client[line.client];
    ++retried_lines;
  }
  EXPECT_EQ(retried_lines, kRounds / 2 * kConcurrent * (1 + kPerConnection));
  for (const auto& r : of_type(records, "retried")) {
    ++records_by_client[r["client"].get<std::string>()];
    EXPECT_EQ(r["cause"], "refused");
    EXPECT_EQ(r["status"], 200);
  }
  EXPECT_EQ(records_by_client, retried_by_client) << s.tracer_output();
}

TEST_F(MoreCauses, TruncatedResponseIsReported) {
  Scenario s;
  const std::string cut = s.start_backend("truncate");
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + location("/cut", "proxy_pass http://" + cut + ";") +
                "  }\n");
  s.start_tracer();
  s.curl({"http://127.0.0.1:{PORT}/cut"});
  const auto records = s.stop_tracer();
  const auto access = s.access_log();
  ASSERT_EQ(access.size(), 1u);
  EXPECT_EQ(access[0].status, 200);
  ASSERT_EQ(records.size(), 1u) << s.tracer_output();
  EXPECT_EQ(records[0]["type"], "truncated");
  EXPECT_EQ(records[0]["cause"], "reset");
  EXPECT_EQ(records[0]["client"], access[0].client);
  EXPECT_EQ(records[0]["upstream"], cut);
}

TEST_F(MoreCauses, LimitReqAndNoLiveUpstreamsWithTheirEvidence) {
  Scenario s;
  const std::string ok = s.start_backend("ok");
  const std::string dead = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  const std::string dead2 = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;\n"
                "  upstream down { server " + dead + " max_fails=1 fail_timeout=60s; server " + dead2 +
                " max_fails=1 fail_timeout=60s; }\n"
                "  server {\n    listen 127.0.0.1:{PORT};\n" +
                location("/limited", "limit_req zone=one nodelay; proxy_pass http://" + ok + ";") +
                location("/down", "proxy_pass http://down;") + "  }\n");
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/limited", "http://127.0.0.1:{PORT}/limited",
                       "http://127.0.0.1:{PORT}/down", "http://127.0.0.1:{PORT}/down"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{200, 503, 502, 502}));
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{"", "limited"}, {dead2, "refused"}, {"down", "no_live_upstreams"}}),
            "")
      << s.error_log() << s.tracer_output();
  EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
  for (const auto& r : records) {
    if (r["cause"] == "limited") {
      // nginx's own words, the zone named right (not its format string).
      // (The excess depends on the milliseconds between the requests.)
      const std::regex words(R"(limiting requests, excess: [0-9]+\.[0-9]{3} by zone "one")");
      EXPECT_TRUE(std::regex_match(r["nginx_error"].get<std::string>(), words)) << r.dump();
      EXPECT_EQ(r["evidence"][1], "nginx: " + r["nginx_error"].get<std::string>()) << r.dump();
    }
    if (r["cause"] != "no_live_upstreams") continue;
    const std::string evidence = r["evidence"].dump();
    EXPECT_NE(evidence.find("earlier: " + dead + " failed (refused)"), std::string::npos) << evidence;
    EXPECT_NE(evidence.find("earlier: " + dead2 + " failed (refused)"), std::string::npos) << evidence;
  }
}

TEST_F(MoreCauses, TlsToAPlainTextUpstream) {
  Scenario s;
  const std::string plain = s.start_backend("ok");
  // nginx's own plain listener answers the ClientHello with an HTTP 400:
  // OpenSSL's "wrong version number", which nginx logs as one %*s argument.
  const std::string plain_nginx = "127.0.0.1:" + std::to_string(Scenario::free_port());
  s.start_nginx("  server {\n    listen " + plain_nginx + ";\n  }\n"
                "  server {\n    listen 127.0.0.1:{PORT};\n" +
                location("/tls", "proxy_pass https://" + plain + ";") +
                location("/nginx", "proxy_pass https://" + plain_nginx + ";") + "  }\n");
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/nginx", "http://127.0.0.1:{PORT}/tls"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{502, 502}));
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{plain, "tls_failure"}, {plain_nginx, "tls_failure"}}), "")
      << s.error_log() << s.tracer_output();
  EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
  // In nginx's words whole: OpenSSL's reason comes past 63 bytes of its
  // argument, and each is the worker's first failure of its kind (see
  // host/nginx_format.hpp for why that one can go unread).
  const std::string error_log = s.error_log();
  const std::regex message(R"(\*[0-9]+ (.+), client: )");
  std::vector<std::string> logged;
  for (std::sregex_iterator m(error_log.begin(), error_log.end(), message), end; m != end; ++m)
    logged.push_back((*m)[1].str());
  ASSERT_EQ(logged.size(), 2u) << error_log;
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["nginx_error"], logged[0]) << error_log;
  EXPECT_EQ(records[1]["nginx_error"], logged[1]) << error_log;
  EXPECT_NE(logged[0].find("SSL routines::wrong version number"), std::string::npos) << error_log;
}

// With proxy_ssl_verify on, nginx refuses a certificate it cannot trust or
// that names another host: the backend is up, and the record says what to
// look at. The backend whose certificate is trusted answers (/trusted).
TEST_F(MoreCauses, UpstreamCertificatesNginxRefuses) {
  Scenario s;
  s.make_certificate();  // self-signed, CN=localhost: trusted below
  int status = 0;
  const std::string out = run_command({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                       "-subj", "/CN=localhost", "-keyout", s.dir() + "/other-key.pem", "-out",
                                       s.dir() + "/other-cert.pem"},
                                      &status);
  ASSERT_EQ(status, 0) << out;
  const std::string trusted = "127.0.0.1:{TLS_PORT}";
  const std::string untrusted = "127.0.0.1:" + std::to_string(Scenario::free_port());
  const auto tls_server = [](const std::string& listen, const std::string& cert) {
    return "  server {\n    listen " + listen + " ssl;\n    ssl_certificate {DIR}/" + cert +
           "cert.pem; ssl_certificate_key {DIR}/" + cert + "key.pem;\n"
           "    location / { return 200 \"tls ok\\n\"; }\n  }\n";
  };
  // (One trust for the server: nginx 1.22 takes a server's first location's
  // for all its locations.)
  s.start_nginx(tls_server(trusted, "") + tls_server(untrusted, "other-") +
                "  server {\n    listen 127.0.0.1:{PORT};\n"
                "    proxy_ssl_verify on; proxy_ssl_trusted_certificate {DIR}/cert.pem;\n" +
                location("/untrusted", "proxy_pass https://" + untrusted + "; proxy_ssl_name localhost;") +
                location("/other_name", "proxy_pass https://" + trusted + "; proxy_ssl_name other.example;") +
                location("/trusted", "proxy_pass https://" + trusted + "; proxy_ssl_name localhost;") + "  }\n");
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/untrusted", "http://127.0.0.1:{PORT}/other_name",
                       "http://127.0.0.1:{PORT}/trusted"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{502, 502, 200})) << s.error_log();
  const std::string backend = "127.0.0.1:" + std::to_string(s.tls_port());
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{backend, "tls_failure"}, {untrusted, "tls_failure"}}), "")
      << s.error_log() << s.tracer_output();
  EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
  ASSERT_EQ(records.size(), 2u) << s.tracer_output();
  const std::string not_trusted = records[0]["evidence"].dump(), other_name = records[1]["evidence"].dump();
  EXPECT_NE(not_trusted.find("nginx did not accept the upstream's certificate (proxy_ssl_verify on)"),
            std::string::npos)
      << not_trusted;
  EXPECT_NE(not_trusted.find("self-signed certificate"), std::string::npos) << not_trusted;  // nginx's words
  EXPECT_NE(other_name.find("does not name the host nginx checks (proxy_ssl_name"), std::string::npos) << other_name;
}

TEST_F(MoreCauses, ResolverFailure) {
  Scenario s;
  const std::string dns = s.start_helper({"python3", std::string(WHY502_SOURCE_DIR) + "/tests/backends/dns_fail.py"});
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n    resolver " + dns + " valid=1s;\n" +
                location("/dns", "set $backend \"nosuch.why502.test\"; proxy_pass http://$backend:80;") + "  }\n");
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/dns"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{502}));
  const auto access = s.access_log();
  ASSERT_EQ(access.size(), 1u);
  EXPECT_EQ(match_records(access, records, Causes{{access[0].last_upstream, "dns_failure"}}), "")
      << s.error_log() << s.tracer_output();
  EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["nginx_error"].get<std::string>().rfind("nosuch.why502.test could not be resolved (", 0), 0u)
      << records[0].dump();
}

// A variable in proxy_pass naming a host, and no resolver: nginx cannot look
// it up at request time. No packet is sent anywhere.
TEST_F(MoreCauses, NoResolverConfigured) {
  Scenario s;
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" +
                location("/nores", "set $backend \"nosuch.why502.test\"; proxy_pass http://$backend:80;") + "  }\n");
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/nores", "http://127.0.0.1:{PORT}/nores"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{502, 502}));
  const auto access = s.access_log();
  ASSERT_EQ(access.size(), 2u);
  EXPECT_EQ(match_records(access, records, [](const AccessLine&) { return std::string("dns_failure"); }), "")
      << s.error_log() << s.tracer_output();
  EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
  for (const auto& r : records) {
    const std::string evidence = r["evidence"].dump();
    EXPECT_NE(evidence.find("no resolver is configured"), std::string::npos) << evidence;
    EXPECT_EQ(r["nginx_error"], "no resolver defined to resolve nosuch.why502.test") << r.dump();
  }
}

// `return 502;`: nothing upstream failed, nginx's configuration said so, in
// which location: a prefix, a regex and a named one (reached by error_page).
// Separate connections: each request is its own client in the access log.
TEST_F(MoreCauses, ReturnInTheConfigurationIsNamedWithItsLocation) {
  Scenario s;
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + location("/maintenance", "return 502;") +
                location("~ ^/down/", "return 503;") + location("/missing", "error_page 404 = @fallback; return 404;") +
                location("@fallback", "return 502;") + "  }\n");
  s.start_tracer({"--capture-request"});
  const std::map<std::string, std::string> location_of = {
      {"/maintenance", "/maintenance"}, {"/down/now", "^/down/"}, {"/missing", "@fallback"}};
  std::vector<int> codes;
  for (const char* uri : {"/maintenance", "/down/now", "/missing"})
    codes.push_back(s.curl({std::string("http://127.0.0.1:{PORT}") + uri}).at(0));
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{502, 503, 502}));
  const auto access = s.access_log();
  ASSERT_EQ(access.size(), 3u) << s.error_log();
  EXPECT_EQ(match_records(access, records, [](const AccessLine&) { return std::string("unknown"); }), "")
      << s.error_log() << s.tracer_output();
  for (const auto& line : access) {
    const auto r = std::find_if(records.begin(), records.end(), [&](const nlohmann::json& r) {
      return r["client"] == line.client && r["status"] == line.status;
    });
    ASSERT_NE(r, records.end()) << line.uri << s.tracer_output();
    const std::string status = std::to_string(line.status);
    const std::string where = location_of.at(line.uri);
    EXPECT_EQ((*r)["evidence"][0],
              "nginx's configuration returned " + status + " in location " + where + "; no upstream was involved")
        << r->dump();
    EXPECT_EQ((*r)["evidence"][1], "the request was \"GET " + line.uri + " HTTP/1.1\"") << r->dump();
    EXPECT_EQ((*r)["location"], where) << r->dump();
    EXPECT_TRUE((*r)["upstream"].is_null()) << r->dump();
  }
}

// Two 5xx without an error page or a failure logged. A body of nginx's own
// (`return 503 "text"`): the record says what sends a 5xx that way. An
// upstream over TLS answering 503 itself: its answer is encrypted, but nginx
// sends the client that status right after reading it, and the record is
// the upstream's own status (the TLS server's 503 to nginx's proxy is
// encrypted too: no record of its own).
TEST_F(MoreCauses, ReturnWithATextAndATlsUpstreamsOwn503) {
  Scenario s;
  s.make_certificate();
  const std::string tls = "127.0.0.1:{TLS_PORT}";
  s.start_nginx("  server {\n    listen " + tls + " ssl;\n"
                "    ssl_certificate {DIR}/cert.pem; ssl_certificate_key {DIR}/key.pem;\n" +
                location("/", "return 503 \"busy\\n\";") + "  }\n  server {\n    listen 127.0.0.1:{PORT};\n" +
                location("/text", "return 503 \"maintenance\\n\";") +
                location("/over_tls", "proxy_pass https://" + tls + ";") + "  }\n");
  s.start_tracer();
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/text", "http://127.0.0.1:{PORT}/over_tls",
                    "http://127.0.0.1:{PORT}/text", "http://127.0.0.1:{PORT}/over_tls"}),
            (std::vector<int>{503, 503, 503, 503}));
  const auto records = s.stop_tracer();
  const std::string upstream = "127.0.0.1:" + std::to_string(s.tls_port());
  std::vector<AccessLine> to_clients;
  for (const auto& line : s.access_log())
    if (line.uri != "/over_tls" || !line.last_upstream.empty()) to_clients.push_back(line);
  ASSERT_EQ(to_clients.size(), 4u) << s.error_log();
  EXPECT_EQ(match_records(to_clients, records,
                          [&](const AccessLine& line) {
                            return std::string(line.uri == "/text" ? "unknown" : "upstream_status");
                          }),
            "")
      << s.tracer_output();
  for (const auto& r : records) {
    const bool over_tls = r["cause"] == "upstream_status";
    EXPECT_NE(evidence_of(r).find(over_tls ? "the upstream answered over TLS, which is encrypted: nginx sent this "
                                             "status right after reading that answer"
                                           : "nginx built no error page and logged no upstream failure: a `return "
                                             "503 "),
              std::string::npos)
        << r.dump();
    if (over_tls) {
      EXPECT_EQ(r["upstream"], upstream) << r.dump();
    }
  }
}

// A build whose r->loc_conf offset is unknown (0, set here through
// WHY502_LAYOUT_OVERRIDE) reads no location: the record says what it knows.
TEST_F(MoreCauses, ReturnWithoutTheLocationOffsetNamesNoLocation) {
  Scenario s;
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + location("/maintenance", "return 502;") + "  }\n");
  setenv("WHY502_LAYOUT_OVERRIDE", (nginx_under_test() + ":r_loc_conf=0").c_str(), 1);
  s.start_tracer();
  unsetenv("WHY502_LAYOUT_OVERRIDE");
  auto codes = s.curl({"http://127.0.0.1:{PORT}/maintenance"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{502}));
  EXPECT_EQ(match_records(s.access_log(), records, [](const AccessLine&) { return std::string("unknown"); }), "")
      << s.error_log() << s.tracer_output();
  ASSERT_EQ(records.size(), 1u) << s.tracer_output();
  EXPECT_EQ(records[0]["evidence"][0],
            "nginx's configuration produced the 502 itself (e.g. `return 502;`): no upstream was involved")
      << records[0].dump();
  EXPECT_FALSE(records[0].contains("location")) << records[0].dump();
}

// connect() finds no free local port toward the upstream: nginx in a
// namespace with four ephemeral ports, every one held by a connection to its
// backend.
TEST_F(MoreCauses, PortsExhaustedTowardTheUpstream) {
  OwnNetns ns;
  ns.run({"sysctl", "-qw", "net.ipv4.ip_local_port_range=61000 61003"});
  Scenario s;
  s.use_netns(ns.name());
  // A fixed port: one bound to port 0 would take one of the four.
  const std::string backend = s.start_backend("ok", "127.0.0.1:" + std::to_string(Scenario::free_port()));
  const std::string held =
      s.start_helper({"python3", std::string(WHY502_SOURCE_DIR) + "/tests/backends/hold_ports.py", backend, "16"});
  ASSERT_EQ(held, "4");
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" +
                location("/churn", "proxy_pass http://" + backend + ";") + "  }\n");
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/churn", "http://127.0.0.1:{PORT}/churn"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{502, 502})) << s.error_log();
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{backend, "ports_exhausted"}}), "")
      << s.error_log() << s.tracer_output();
  EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
  ASSERT_EQ(records.size(), 2u);
  for (const auto& r : records) {
    EXPECT_EQ(r["evidence"][0], "no free local port to connect to " + backend + " (EADDRNOTAVAIL)") << r.dump();
    EXPECT_EQ(r["nginx_error"],
              "connect() to " + backend + " failed (99: Cannot assign requested address) while connecting to upstream");
  }
  // Read once a second at most: the first record has what was read.
  const std::string evidence = records[0]["evidence"].dump();
  EXPECT_NE(evidence.find("nginx's network namespace has local ports 61000-61003 (4) for outgoing connections"),
            std::string::npos)
      << evidence;
  EXPECT_NE(evidence.find("4 connections to " + backend + " hold a local port: 4 established, 0 in TIME_WAIT, 0 in "
                          "other states"),
            std::string::npos)
      << evidence;
}

// proxy_bind to an address the host does not have: bind() fails, nginx
// answers 500, and the record says what it tried to bind.
// A container with IPv6 disabled and an upstream named by ::1 (what
// `localhost` gives too): connect() fails with EADDRNOTAVAIL though no local
// port ran out. That is no port exhaustion.
TEST_F(MoreCauses, AnIpv6UpstreamWhereIpv6IsDisabledIsUnreachable) {
  OwnNetns ns;
  ns.run({"sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"});
  ns.run({"sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=1"});
  Scenario s;
  s.use_netns(ns.name());
  const std::string v6 = "[::1]:" + std::to_string(Scenario::free_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/v6", "http://" + v6) + "  }\n");
  s.start_tracer();
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/v6", "http://127.0.0.1:{PORT}/v6"}), (std::vector<int>{502, 502}));
  const auto records = s.stop_tracer();
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{v6, "unreachable"}}), "")
      << s.error_log() << s.tracer_output();
  for (const auto& r : records)
    EXPECT_NE(evidence_of(r).find("has no IPv6 address to connect to it from (IPv6 is disabled there)"),
              std::string::npos)
        << r.dump();
}

// nginx in a network namespace whose routes lead nowhere: connect() itself
// fails and no packet leaves. The record says to look at the routes, not at
// the network or the backend: no route at all (IPv4 and IPv6), an
// `unreachable` route, and a `prohibit` one (EACCES, as a security policy's).
TEST_F(MoreCauses, NoRouteFromNginxsNamespace) {
  OwnNetns ns;  // only its loopback
  ns.run({"ip", "route", "add", "unreachable", "198.51.100.7/32"});
  ns.run({"ip", "route", "add", "prohibit", "198.51.100.8/32"});
  Scenario s;
  s.use_netns(ns.name());
  const std::string no_route = "192.0.2.7:80", no_route6 = "[2001:db8::7]:80";
  const std::string unreachable = "198.51.100.7:80", prohibited = "198.51.100.8:80";
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/no_route", "http://" + no_route) +
                proxy("/no_route6", "http://" + no_route6) + proxy("/unreachable", "http://" + unreachable) +
                proxy("/prohibited", "http://" + prohibited) + "  }\n");
  s.start_tracer();
  const std::string base = "http://127.0.0.1:{PORT}";
  EXPECT_EQ(s.curl({base + "/no_route", base + "/no_route6", base + "/unreachable", base + "/prohibited"}),
            (std::vector<int>{502, 502, 502, 502}))
      << s.error_log();
  const auto records = s.stop_tracer();
  EXPECT_EQ(match_records(s.access_log(), records,
                          Causes{{no_route, "unreachable"},
                                 {no_route6, "unreachable"},
                                 {unreachable, "unreachable"},
                                 {prohibited, "refused"}}),
            "")
      << s.error_log() << s.tracer_output();
  EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
  for (const auto& r : records) {
    const std::string upstream = r.value("upstream", "");
    const std::string evidence = evidence_of(r);
    if (upstream == prohibited)
      EXPECT_NE(evidence.find("a `prohibit` route to the address"), std::string::npos) << r.dump();
    else
      EXPECT_NE(evidence.find("the kernel has no route to it from nginx's network namespace, so no packet left"),
                std::string::npos)
          << r.dump();
  }
}

TEST_F(MoreCauses, ProxyBindToAnAbsentAddressIsAConfigurationError) {
  OwnNetns ns;
  Scenario s;
  s.use_netns(ns.name());
  const std::string backend = s.start_backend("ok");
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" +
                location("/bound", "proxy_bind 192.0.2.77; proxy_pass http://" + backend + ";") + "  }\n");
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/bound"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{500})) << s.error_log();
  const auto access = s.access_log();
  ASSERT_EQ(access.size(), 1u);
  ASSERT_EQ(records.size(), 1u) << s.tracer_output();
  const auto& r = records[0];
  EXPECT_EQ(r["client"], access[0].client);
  EXPECT_EQ(r["status"], 500);
  EXPECT_EQ(r["cause"], "unknown");
  EXPECT_EQ(r["evidence"][0], "a configuration error: proxy_bind names an address this host does not have, so nginx "
                              "cannot bind its end of the upstream connection to it")
      << r.dump();
  EXPECT_EQ(r["nginx_error"], "bind(192.0.2.77) failed (99: Cannot assign requested address) while connecting to upstream")
      << r.dump();
  EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
}

TEST_F(MoreCauses, UnreachableHost) {
  FirewalledHost host;
  Scenario s;
  const std::string absent = host.absent_address() + ":80";
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n    proxy_connect_timeout 15s;\n" +
                location("/gone", "proxy_pass http://" + absent + ";") + "  }\n");
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/gone"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{502}));
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{absent, "unreachable"}}), "")
      << s.error_log() << s.tracer_output();
  EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
  ASSERT_EQ(records.size(), 1u);
  // No one has the address: seconds of SYNs, then no ARP answer.
  EXPECT_EQ(records[0]["evidence"][0], absent + " is unreachable: no host answered at that address (a host that is "
                                                "down, or an address no host has: nothing answered ARP on its network)")
      << records[0].dump();
  EXPECT_NE(evidence_of(records[0]).find("retransmitted"), std::string::npos) << records[0].dump();
}

// What a firewall's answer to nginx's SYN should make of a record, in nginx's
// location `path`.
struct FirewallAnswer {
  std::string path;
  std::string upstream;
  std::string cause;
  std::string first_line;   // the evidence's first line begins so
  std::string kernel_line;  // and the evidence has this
};

// The tracers a firewall's answers are checked with: the default hooks,
// --lean, and the kernel-only view (which has no nginx errno at all), also
// as run without CAP_SYS_ADMIN.
struct TracerVariant {
  std::vector<std::string> args;
  std::string name;
  bool without_cap_sys_admin = false;
};
const TracerVariant kFirewallTracers[] = {{{}, "default hooks"},
                                          {{"--lean"}, "--lean"},
                                          {{"--no-uprobes"}, "--no-uprobes"},
                                          {{"--no-uprobes"}, "--no-uprobes without CAP_SYS_ADMIN", true}};

// nginx proxies each answer's path to its upstream; one request to each is
// traced by each of kFirewallTracers, where no cgroup hierarchy is mounted:
// an ICMP error the kernel handles outside nginx's processes must be told by
// the socket, where nginx's cgroup cannot be read.
void expect_records_of_firewall_answers(Scenario& s, const std::vector<FirewallAnswer>& answers) {
  s.trace_without_cgroup_mounts();
  std::string locations;
  Causes causes;
  std::vector<std::string> urls;
  for (const FirewallAnswer& a : answers) {
    locations += location(a.path, "proxy_pass http://" + a.upstream + ";");
    causes[a.upstream] = a.cause;
    urls.push_back("http://127.0.0.1:{PORT}" + a.path);
  }
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + locations + "  }\n");
  for (const TracerVariant& tracer : kFirewallTracers) {
    const bool kernel_only = !tracer.args.empty() && tracer.args[0] == "--no-uprobes";
    SCOPED_TRACE(tracer.name);
    s.trace_without_cap_sys_admin(tracer.without_cap_sys_admin);
    const size_t logged_before = s.access_log().size();
    s.start_tracer(tracer.args);
    const auto codes = s.curl(urls);
    const auto records = s.stop_tracer();
    EXPECT_EQ(codes, std::vector<int>(urls.size(), 502)) << s.error_log();
    const std::vector<AccessLine> all = s.access_log();
    const std::vector<AccessLine> access(all.begin() + static_cast<std::ptrdiff_t>(logged_before), all.end());
    EXPECT_EQ(match_records(access, records, causes), "") << s.error_log() << s.tracer_output();
    if (!kernel_only) {
      EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
    }
    for (const nlohmann::json& r : records) {
      for (const FirewallAnswer& a : answers) {
        if (r.value("upstream", "") != a.upstream) continue;
        const std::string evidence = r["evidence"].dump();
        EXPECT_EQ(r["evidence"][0].get<std::string>().rfind(a.first_line, 0), 0u) << r.dump();
        EXPECT_NE(evidence.find(a.kernel_line), std::string::npos) << r.dump();
        EXPECT_EQ(evidence.find("SELinux"), std::string::npos) << r.dump();
      }
    }
  }
}

// A firewall's reject rule answers the SYN with ICMP, not a RST: the record
// says a firewall rejected the connection, where a host with nothing
// listening says so. IPv6's "administratively prohibited" comes to nginx as
// EACCES, which alone would read as a local policy.
TEST_F(MoreCauses, AFirewallsRejectIsToldFromNothingListening) {
  FirewalledHost host;
  Scenario s;
  const std::string rejecting = host.address() + ":" + std::to_string(FirewalledHost::kRejectingPort);
  const std::string prohibiting = host.address() + ":" + std::to_string(FirewalledHost::kProhibitingPort);
  const std::string prohibiting6 = "[" + host.address6() + "]:" + std::to_string(FirewalledHost::kProhibitingPort);
  const std::string closed = host.address() + ":" + std::to_string(FirewalledHost::kClosedPort);
  expect_records_of_firewall_answers(
      s, {{"/rejecting", rejecting, "refused",
           "connect() to " + rejecting + " rejected by a firewall: ICMP answered the SYN, not a RST",
           "kernel: ICMP port unreachable in reply to SYN to " + rejecting},
          {"/prohibiting", prohibiting, "unreachable",
           prohibiting + " is unreachable: the first SYN was rejected at once by ICMP",
           "kernel: ICMP host unreachable in reply to the first SYN to " + prohibiting + ", at once"},
          {"/prohibiting6", prohibiting6, "refused",
           "connect() to " + prohibiting6 + " rejected by a firewall: ICMP answered the SYN, not a RST",
           "kernel: ICMPv6 administratively prohibited in reply to SYN to " + prohibiting6},
          {"/closed", closed, "refused", "connect() to " + closed + " refused: nothing accepted the connection",
           "kernel: RST in reply to SYN from " + closed}});
}

// On a real network the firewall's ICMP comes back after nginx's connect()
// returned, and the kernel handles it outside any nginx process, closing the
// socket before it reports the error: the same records as from the host's
// own.
TEST_F(MoreCauses, AFirewallsRejectFromAfarIsToldToo) {
  FirewalledHost host;
  DistantFirewall firewall(host);
  Scenario s;
  const std::string rejecting = host.address() + ":" + std::to_string(FirewalledHost::kDistantRejectingPort);
  const std::string prohibiting6 =
      "[" + host.address6() + "]:" + std::to_string(FirewalledHost::kDistantProhibitingPort);
  expect_records_of_firewall_answers(
      s, {{"/rejecting", rejecting, "refused",
           "connect() to " + rejecting + " rejected by a firewall: ICMP answered the SYN, not a RST",
           "kernel: ICMP port unreachable in reply to SYN to " + rejecting},
          {"/prohibiting6", prohibiting6, "refused",
           "connect() to " + prohibiting6 + " rejected by a firewall: ICMP answered the SYN, not a RST",
           "kernel: ICMPv6 administratively prohibited in reply to SYN to " + prohibiting6}});
}

// A security policy (a cgroup BPF program here; seccomp or SELinux alike)
// denies nginx's worker the connect(): EPERM at once, no packet sent. The
// record says so first, not that the backend is unreachable on the network.
TEST_F(MoreCauses, ConnectDeniedByAPolicy) {
  Scenario s;
  const std::string ok = s.start_backend("ok");
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + location("/denied", "proxy_pass http://" + ok + ";") +
                "  }\n");
  DeniedConnects policy;
  for (pid_t worker : s.nginx_workers()) policy.add(worker);
  s.start_tracer();
  auto codes = s.curl({"http://127.0.0.1:{PORT}/denied"});
  const auto records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{502})) << s.error_log();
  EXPECT_NE(s.error_log().find("(1: Operation not permitted) while connecting to upstream"), std::string::npos)
      << s.error_log();
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{ok, "unreachable"}}), "")
      << s.error_log() << s.tracer_output();
  EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["evidence"][0].get<std::string>().rfind("the kernel denied nginx's connect() (EPERM) before "
                                                                "any packet left: ", 0),
            0u)
      << records[0].dump();
}

}  // namespace
}  // namespace why502::testing

namespace why502::testing {
namespace {

// error_page can change the status: the record says what the client got, and
// a failure answered with a success page is no gateway error.
// Why the nginx under test cannot proxy over HTTP/2 (proxy_http_version 2
// came with 1.29.4, in builds with the HTTP/2 module; others refuse the
// directive); "" when it can.
std::string without_proxy_http_version_2() {
  const std::string& version = nginx_under_test_build();
  if (version.find("--with-http_v2_module") == std::string::npos)
    return nginx_under_test() + " is built without --with-http_v2_module";
  int major = 0, minor = 0, patch = 0;
  const size_t slash = version.find("nginx/");
  if (slash == std::string::npos || std::sscanf(version.c_str() + slash, "nginx/%d.%d.%d", &major, &minor, &patch) != 3)
    return "cannot read the version of " + nginx_under_test() + ": " + version;
  if (major * 1000000 + minor * 1000 + patch >= 1029004) return "";
  return version.substr(slash, version.find_first_of("\n ", slash) - slash) +
         " has no proxy_http_version 2 (1.29.4 and later do; the matrix builds run this)";
}

// An HTTP/2 upstream that fails the request by a frame: a gRPC backend
// resetting the stream (grpc_pass, in every nginx with HTTP/2), and one that
// sends GOAWAY to proxy_http_version 2 (nginx 1.29.4 and later).
std::vector<nlohmann::json> fail_over_http2(Scenario& s, const std::string& mode, int code,
                                            const std::string& pass /* H2 stands for its address */) {
  const std::string h2 = s.start_helper({"python3", std::string(WHY502_SOURCE_DIR) + "/tests/backends/h2_misbehave.py",
                                         "--listen", "127.0.0.1:0", "--mode", mode, "--code", std::to_string(code)});
  std::string directives = pass;
  directives.replace(directives.find("H2"), 2, h2);
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + location("/h2", directives) + "  }\n");
  s.start_tracer();
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/h2", "http://127.0.0.1:{PORT}/h2"}), (std::vector<int>{502, 502}));
  const auto records = s.stop_tracer();
  const std::string cause = mode == "rst_stream" ? "h2_stream_reset" : "h2_goaway";
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{h2, cause}}), "") << s.error_log() << s.tracer_output();
  EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
  return records;
}

TEST_F(MoreCauses, GrpcBackendResetsTheStream) {
  Scenario s;
  const auto records = fail_over_http2(s, "rst_stream", 7, "grpc_pass grpc://H2;");
  ASSERT_EQ(records.size(), 2u);
  for (const auto& r : records) {
    EXPECT_EQ(r["nginx_error"], "upstream rejected request with error 7 while reading response header from upstream")
        << r.dump();
    EXPECT_NE(r["evidence"].dump().find("RST_STREAM error 7, REFUSED_STREAM: the backend refused the stream"),
              std::string::npos)
        << r.dump();
  }
}

TEST_F(MoreCauses, GrpcBackendThatIsDown) {
  Scenario s;
  const std::string down = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + location("/h2", "grpc_pass grpc://" + down + ";") +
                "  }\n");
  s.start_tracer();
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/h2"}), (std::vector<int>{502}));
  const auto records = s.stop_tracer();
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{down, "refused"}}), "") << s.error_log() << s.tracer_output();
  EXPECT_EQ(errors_as_nginx_wrote(records, s.error_log()), "") << s.error_log();
}

TEST_F(MoreCauses, Http2ProxyBackendSendsGoaway) {
  if (std::string why = without_proxy_http_version_2(); !why.empty()) GTEST_SKIP() << why;
  Scenario s;
  const auto records = fail_over_http2(s, "goaway", 0, "proxy_http_version 2; proxy_pass http://H2;");
  ASSERT_EQ(records.size(), 2u);
  for (const auto& r : records)
    EXPECT_NE(r["evidence"].dump().find("GOAWAY error 0, NO_ERROR: no error: the backend is shutting down"),
              std::string::npos)
        << r.dump();
}

// proxy_http_version 2 to a second nginx, an h2c backend answering
// `return 502;`: the front nginx passes the backend's own 502 on, read from
// the :status of its HEADERS frame (HPACK). Each nginx's records are matched
// against its own access log: the backend's 502 is its configuration's.
TEST_F(MoreCauses, Http2BackendNginxAnswers502Itself) {
  if (std::string why = without_proxy_http_version_2(); !why.empty()) GTEST_SKIP() << why;
  Scenario back;
  back.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n    http2 on;\n" +
                   location("/h2", "return 502;") + "  }\n");
  const std::string backend = "127.0.0.1:" + std::to_string(back.nginx_port());
  Scenario front;
  front.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" +
                    location("/h2", "proxy_http_version 2; proxy_pass http://" + backend + ";") + "  }\n");
  back.start_tracer();   // each tracer follows its own nginx (--pid)
  front.start_tracer();
  EXPECT_EQ(front.curl({"http://127.0.0.1:{PORT}/h2", "http://127.0.0.1:{PORT}/h2"}), (std::vector<int>{502, 502}));
  const auto front_records = front.stop_tracer();
  const auto back_records = back.stop_tracer();
  EXPECT_EQ(match_records(front.access_log(), front_records, Causes{{backend, "upstream_status"}}), "")
      << front.error_log() << front.tracer_output();
  for (const auto& r : front_records)
    EXPECT_NE(r["evidence"].dump().find("the status came in the upstream's HTTP/2 :status header"),
              std::string::npos)
        << r.dump();
  ASSERT_EQ(back.access_log().size(), 2u);
  ASSERT_EQ(back_records.size(), 2u) << back.tracer_output();
  for (const auto& r : back_records) {
    EXPECT_EQ(r["cause"], "unknown") << r.dump();
    EXPECT_EQ(r["evidence"][0], "nginx's configuration returned 502 in location /h2; no upstream was involved")
        << r.dump();
  }
}

// Without --lean the status line nginx writes says so; under --lean (which
// reads no status line) the location's error_page does, read from nginx's
// configuration in its memory.
TEST_F(MoreCauses, ErrorPageChangesTheStatusTheClientGets) {
  for (const bool lean : {false, true}) {
    SCOPED_TRACE(lean ? "--lean" : "trace");
    Scenario s;
    const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
    s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" +
                  location("/as503", "proxy_pass http://" + refused + "; error_page 502 =503 /sorry;") +
                  location("/as200", "proxy_pass http://" + refused + "; error_page 502 =200 /sorry;") +
                  location("/plain", "proxy_pass http://" + refused + "; error_page 502 /sorry;") +
                  location("/moved", "proxy_pass http://" + refused + "; error_page 502 http://status.invalid/;") +
                  location("/moved301", "proxy_pass http://" + refused +
                                            "; error_page 500 502 503 =301 http://status.invalid/;") +
                  // 502 as the twentieth status of one error_page line
                  location("/listed", "proxy_pass http://" + refused +
                                          "; error_page 400 401 403 404 405 406 408 409 410 411 412 413 414 415 "
                                          "416 421 429 500 501 502 =200 /sorry;") +
                  location("= /sorry", "return 200 \"sorry\\n\";") + "  }\n");
    s.start_tracer(lean ? std::vector<std::string>{"--lean"} : std::vector<std::string>{});
    auto codes = s.curl({"http://127.0.0.1:{PORT}/as503", "http://127.0.0.1:{PORT}/as200",
                         "http://127.0.0.1:{PORT}/plain", "http://127.0.0.1:{PORT}/moved",
                         "http://127.0.0.1:{PORT}/moved301", "http://127.0.0.1:{PORT}/listed"});
    const auto records = s.stop_tracer();
    EXPECT_EQ(codes, (std::vector<int>{503, 200, 502, 302, 301, 200})) << s.error_log();
    EXPECT_EQ(match_records(s.access_log(), of_type(records, "gateway_error"), Causes{{refused, "refused"}}), "")
        << s.error_log() << s.tracer_output();
  }
}

}  // namespace
}  // namespace why502::testing
