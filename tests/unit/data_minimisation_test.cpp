// --capture-request and --anonymise-clients, on synthetic events.
#include <gtest/gtest.h>

#include "event_builders.hpp"
#include "events/address.hpp"
#include "events/anonymise.hpp"
#include "output/record_sink.hpp"

namespace why502::test {
namespace {

w5_request_line make_line(uint64_t ts, uint64_t request, uint64_t connection, std::string_view text,
                          uint32_t len = UINT32_MAX) {
  w5_request_line e{};
  e.h = header(W5_EV_REQUEST_LINE, sizeof(e), ts, kWorker, 0);
  e.request = request;
  e.connection = connection;
  e.len = len == UINT32_MAX ? static_cast<uint32_t>(text.size()) : len;
  set_str(e.line, text);
  return e;
}

std::string request_of(std::string_view text, uint32_t len = UINT32_MAX) {
  EngineHarness h;
  h.feed(make_line(sec(1), 0x10, 7, text, len));
  h.feed(make_error_page({.ts = sec(1), .request = 0x10, .connection = 7, .status = 502, .has_upstream = false,
                          .client = ipv4("10.0.0.9", 5000)}));
  const std::vector<Record>& records = h.records();
  return records.size() == 1 ? records[0].request : "no record";
}

TEST(CaptureRequest, TheLineGoesIntoTheRecordOfItsRequest) {
  EXPECT_EQ(request_of("GET /a?b=c HTTP/1.1"), "GET /a?b=c HTTP/1.1");
  EXPECT_EQ(request_of("DELETE /x HTTP/2.0"), "DELETE /x HTTP/2.0");
  // Longer than the event holds: cut, and said so.
  const std::string long_line = "GET /" + std::string(200, 'a') + " HTTP/1.1";
  EXPECT_EQ(request_of(long_line.substr(0, W5_REQUEST_LINE_LEN - 1), 210),
            long_line.substr(0, W5_REQUEST_LINE_LEN - 1) + "...");
}

TEST(CaptureRequest, WhatDoesNotLookLikeARequestLineIsDropped) {
  EXPECT_EQ(request_of("\x01\x02garbage"), "");      // a wrong offset reads anything
  EXPECT_EQ(request_of("get / HTTP/1.1"), "");        // methods are upper case
  EXPECT_EQ(request_of("GET"), "");                   // no target
  EXPECT_EQ(request_of("GET /x HTTP/1.1", 40), "");  // the length nginx holds disagrees
  EXPECT_EQ(request_of("GET /\xff HTTP/1.1"), "");   // not printable ASCII
}

TEST(CaptureRequest, AnotherRequestsLineIsNotUsed) {
  EngineHarness h;
  h.feed(make_line(sec(1), 0x99, 7, "GET /other HTTP/1.1"));
  h.feed(make_error_page({.ts = sec(1), .request = 0x10, .connection = 7, .status = 502, .has_upstream = false,
                          .client = ipv4("10.0.0.9", 5000)}));
  ASSERT_EQ(h.records().size(), 1u);
  EXPECT_EQ(h.records()[0].request, "");
}

TEST(AnonymiseClients, CutsIpv4To24AndIpv6To48AndKeepsThePort) {
  w5_addr v4 = ipv4("192.168.7.42", 5000);
  anonymise_address(v4);
  EXPECT_EQ(format_endpoint(v4), "192.168.7.0:5000");
  w5_addr v6 = ipv6("2001:db8:1234:5678::1", 443);
  anonymise_address(v6);
  EXPECT_EQ(format_endpoint(v6), "[2001:db8:1234::]:443");

  Event log = make_log({.ts = sec(1), .upstream = ipv4("10.9.9.9", 8080), .client = ipv4("10.1.2.3", 80)});
  anonymise_clients(log);
  EXPECT_EQ(format_endpoint(std::get<w5_ngx_log>(log).client), "10.1.2.0:80");
  EXPECT_EQ(format_endpoint(std::get<w5_ngx_log>(log).upstream), "10.9.9.9:8080");  // upstreams stay
  // The anonymised event is what a recording gets.
  EXPECT_EQ(event_bytes(log).size(), sizeof(w5_ngx_log));
}

}  // namespace
}  // namespace why502::test
