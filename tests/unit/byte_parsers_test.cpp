// The BPF programs' pure parsers (bpf/include/byte_parsers.h), compiled here
// as the BPF object compiles them.
#include <linux/types.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "byte_parsers.h"

namespace why502::test {
namespace {

// The bytes a program copied in: the text, zero-padded to n.
std::string copied(std::string text, size_t n) {
  text.resize(std::max(n, text.size()), '\0');
  return text;
}

__u32 status_line(const std::string& text) { return w5_http_status_line(copied(text, 16).data()); }
__u32 protocol(const std::string& text) { return w5_request_protocol(copied(text, 16).data()); }
__u32 fastcgi(const std::string& record) {
  return w5_fastcgi_status(copied(record, W5_FCGI_SCAN_LEN).data(), static_cast<int>(record.size()));
}

__u32 uwsgi(const std::string& text) { return w5_uwsgi_request(copied(text, 16).data()); }
__u32 cgi_response(const std::string& text) {
  return w5_cgi_response_status(copied(text, W5_CGI_SCAN_LEN).data(), static_cast<int>(text.size()));
}

// A uwsgi packet as nginx's uwsgi module builds it: modifier1, the
// variables' size (little-endian), modifier2, then each variable as a
// little-endian length and its bytes.
std::string uwsgi_packet(const std::vector<std::pair<std::string, std::string>>& vars, char modifier1 = 0) {
  std::string body;
  auto put = [&body](const std::string& text) {
    body += static_cast<char>(text.size() & 0xff);
    body += static_cast<char>(text.size() >> 8);
    body += text;
  };
  for (const auto& [key, value] : vars) {
    put(key);
    put(value);
  }
  return std::string{modifier1, static_cast<char>(body.size() & 0xff), static_cast<char>(body.size() >> 8), 0} + body;
}

// A FastCGI STDOUT record (version 1, type 6) carrying body.
std::string stdout_record(const std::string& body) {
  std::string r = {1, 6, 0, 1, static_cast<char>(body.size() >> 8), static_cast<char>(body.size() & 0xff), 0, 0};
  return r + body;
}

TEST(ByteParsers, HttpStatusLine) {
  EXPECT_EQ(status_line("HTTP/1.1 502 Bad Gateway\r\n"), 502u);
  EXPECT_EQ(status_line("HTTP/1.0 200 OK\r\n"), 200u);
  EXPECT_EQ(status_line("HTTP/2 502\r\n"), 0u);  // not HTTP/1.x
  EXPECT_EQ(status_line("HTTP/1.1 5x2 Bad\r\n"), 0u);
  EXPECT_EQ(status_line("HTTP/1.1  502\r\n"), 0u);
  EXPECT_EQ(status_line("GET / HTTP/1.1\r\n"), 0u);
  EXPECT_EQ(status_line(""), 0u);
}

TEST(ByteParsers, RequestProtocol) {
  EXPECT_EQ(protocol("GET / HTTP/1.1\r\n"), static_cast<__u32>(W5_PROTO_HTTP));
  EXPECT_EQ(protocol("OPTIONS /x HTTP/1.1"), static_cast<__u32>(W5_PROTO_HTTP));
  EXPECT_EQ(protocol("POST http://a/ HTTP/1.1"), static_cast<__u32>(W5_PROTO_HTTP));
  EXPECT_EQ(protocol("GE / HTTP/1.1"), 0u);         // too short a method
  EXPECT_EQ(protocol("PROPPATCHX / HTTP"), 0u);     // too long a method
  EXPECT_EQ(protocol("get / HTTP/1.1"), 0u);        // methods are upper case
  EXPECT_EQ(protocol("GET x HTTP/1.1"), 0u);        // neither a path nor an absolute URI
  EXPECT_EQ(protocol("HTTP/1.1 200 OK"), 0u);       // a response
  // FCGI_BEGIN_REQUEST: version 1, type 1, content length 8.
  EXPECT_EQ(protocol(std::string{1, 1, 0, 1, 0, 8, 0, 0}), static_cast<__u32>(W5_PROTO_FASTCGI));
  EXPECT_EQ(protocol(std::string{1, 6, 0, 1, 0, 8, 0, 0}), 0u);  // STDOUT, not a request
}

TEST(ByteParsers, FastcgiStatusHeader) {
  EXPECT_EQ(fastcgi(stdout_record("Status: 503 Service Unavailable\r\nContent-type: text/html\r\n\r\n")), 503u);
  EXPECT_EQ(fastcgi(stdout_record("Content-type: text/html\r\nStatus: 502 Bad Gateway\r\n\r\n")), 502u);
  // "Status" inside another header's value is no header.
  EXPECT_EQ(fastcgi(stdout_record("X-Note: Status: 500\r\n\r\n")), 0u);
  EXPECT_EQ(fastcgi(stdout_record("Content-type: text/html\r\n\r\nhello")), 0u);
  // Not a STDOUT record, or too short to hold a header.
  std::string stderr_record = stdout_record("Status: 500 Internal\r\n");
  stderr_record[1] = 7;
  EXPECT_EQ(fastcgi(stderr_record), 0u);
  EXPECT_EQ(fastcgi(stdout_record("Stat")), 0u);
  // Only the bytes received count: the header must end within len.
  const std::string whole = stdout_record("Status: 504 Gateway Timeout\r\n");
  EXPECT_EQ(w5_fastcgi_status(copied(whole, W5_FCGI_SCAN_LEN).data(), 18), 0u);
}

TEST(ByteParsers, ScgiRequest) {
  using namespace std::string_literals;
  // nginx's scgi module: "<length>:CONTENT_LENGTH\0<n>\0...".
  EXPECT_EQ(protocol("215:CONTENT_LENGTH\0"s + "0\0SCGI\0" + "1\0"), static_cast<__u32>(W5_PROTO_SCGI));
  EXPECT_EQ(protocol("7:CONTENT_LENGTH\0"s), static_cast<__u32>(W5_PROTO_SCGI));
  EXPECT_EQ(protocol("1234567:CONTENT_"s), static_cast<__u32>(W5_PROTO_SCGI));
  EXPECT_EQ(protocol("12345678:CONTENT"s), 0u);  // no netstring of nginx's is that long
  EXPECT_EQ(protocol(":CONTENT_LENGTH\0"s), 0u);  // no length
  EXPECT_EQ(protocol("215:REQUEST_METHOD"s), 0u);  // SCGI puts CONTENT_LENGTH first
  EXPECT_EQ(protocol("215 CONTENT_LENGTH"s), 0u);
}

TEST(ByteParsers, UwsgiRequest) {
  // What nginx sends with uwsgi_params (QUERY_STRING first), with uwsgi_param
  // lines of its own, with none (the request's headers first), and with a
  // modifier1 other than WSGI's 0 (PSGI's 5).
  EXPECT_TRUE(uwsgi(uwsgi_packet({{"QUERY_STRING", ""}, {"REQUEST_METHOD", "GET"}})));
  EXPECT_TRUE(uwsgi(uwsgi_packet({{"UWSGI_SCRIPT", "app"}})));
  EXPECT_TRUE(uwsgi(uwsgi_packet({{"HTTP_HOST", "localhost"}})));
  EXPECT_TRUE(uwsgi(uwsgi_packet({{"QUERY_STRING", ""}}, 5)));
  // A uwsgi packet is no HTTP, FastCGI or SCGI request.
  EXPECT_EQ(protocol(uwsgi_packet({{"QUERY_STRING", ""}})), 0u);
  // Other binary bytes nginx sends: an HTTP/2 HEADERS frame to a client
  // (stream 1), a TLS record, a FastCGI BEGIN_REQUEST.
  EXPECT_FALSE(uwsgi(std::string{0, 0, 0x20, 1, 4, 0, 0, 0, 1, static_cast<char>(0x88)}));
  EXPECT_FALSE(uwsgi(std::string{0x17, 3, 3, 0, 0x40, 0, 0x5a, static_cast<char>(0xc1), 0x13}));
  EXPECT_FALSE(uwsgi(std::string{1, 1, 0, 1, 0, 8, 0, 0}));
  // A first name of one byte, of bytes no CGI name has, or longer than the
  // variables it is said to be among.
  EXPECT_FALSE(uwsgi(uwsgi_packet({{"Q", ""}})));
  EXPECT_FALSE(uwsgi(uwsgi_packet({{"QUERY STRING", ""}})));
  std::string short_size = uwsgi_packet({{"QUERY_STRING", ""}});
  short_size[1] = 8;
  EXPECT_FALSE(uwsgi(short_size));
}

TEST(ByteParsers, UwsgiAndScgiResponseStatus) {
  // uWSGI answers with a status line; CGI-minded servers with a Status header,
  // its name in any case and the space after its colon optional, as nginx
  // takes it.
  EXPECT_EQ(cgi_response("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\n"), 503u);
  EXPECT_EQ(cgi_response("Status: 502 Bad Gateway\r\nContent-Type: text/html\r\n\r\n"), 502u);
  EXPECT_EQ(cgi_response("Content-Type: text/html\r\nstatus:504\r\n\r\n"), 504u);
  EXPECT_EQ(cgi_response("Content-Type: text/html\r\n\r\n"), 0u);
  EXPECT_EQ(cgi_response("X-Note: Status: 500\r\n\r\n"), 0u);
  // Only the bytes received count, whatever follows in nginx's buffer.
  const std::string whole = "Status: 504 Gateway Timeout\r\n";
  EXPECT_EQ(w5_cgi_response_status(copied(whole, W5_CGI_SCAN_LEN).data(), 10), 0u);
  const std::string padding(W5_CGI_SCAN_LEN, 'x');
  EXPECT_EQ(cgi_response("X-Pad: " + padding + "\r\nStatus: 502 Bad\r\n"), 0u);
}

TEST(ByteParsers, FastcgiRecordSize) {
  // Header, content (big-endian length), padding: where the next record starts.
  EXPECT_EQ(w5_fastcgi_record_size(std::string{1, 7, 0, 1, 0, 0x2a, 6, 0}.data()), 8u + 42 + 6);
  EXPECT_EQ(w5_fastcgi_record_size(std::string{1, 7, 0, 1, 0x01, 0x02, 0, 0}.data()), 8u + 258);
  EXPECT_EQ(w5_fastcgi_record_size(stdout_record("Status: 503\r\n").data()), 8u + 13);
}

TEST(ByteParsers, FastcgiStatusPastTheScannedBytesIsUnseen) {
  const std::string padding(W5_FCGI_SCAN_LEN, 'x');
  EXPECT_EQ(fastcgi(stdout_record("X-Pad: " + padding + "\r\nStatus: 502 Bad\r\n")), 0u);
}


// An HPACK header block's first bytes as the parser gets them: W5_HPACK_PEEK
// bytes, of which the block's are counted.
__u32 hpack(std::vector<uint8_t> block) {
  const int len = static_cast<int>(block.size());
  block.resize(W5_HPACK_PEEK, 0);
  return w5_hpack_status(block.data(), len);
}

TEST(ByteParsers, Http2StatusFromTheStaticTable) {
  EXPECT_EQ(hpack({0x88}), 200u);
  EXPECT_EQ(hpack({0x8e}), 500u);
  EXPECT_EQ(hpack({0x8d}), 404u);
  EXPECT_EQ(hpack({0x87}), 0u);  // :scheme https, no status
  EXPECT_EQ(hpack({0x3f, 0xe1, 0x1f, 0x88}), 0u);  // a size update of several bytes: not read
  EXPECT_EQ(hpack({0x20, 0x88}), 200u);  // a size update to 0 first
}

TEST(ByteParsers, Http2StatusAsALiteralWithAnIndexedName) {
  // nginx writes a status outside the static table so: incremental indexing,
  // name :status (8), raw "502".
  EXPECT_EQ(hpack({0x48, 0x03, '5', '0', '2'}), 502u);
  EXPECT_EQ(hpack({0x08, 0x03, '5', '0', '3'}), 503u);  // without indexing
  EXPECT_EQ(hpack({0x18, 0x03, '5', '0', '4'}), 504u);  // never indexed
  EXPECT_EQ(hpack({0x4e, 0x03, '5', '0', '2'}), 502u);  // the name of entry 14 (":status: 500")
  EXPECT_EQ(hpack({0x44, 0x03, '5', '0', '2'}), 0u);    // name :path
  EXPECT_EQ(hpack({0x48, 0x03, '5', '0'}), 0u);         // cut short
  EXPECT_EQ(hpack({0x48, 0x04, '5', '0', '2', '0'}), 0u);
}

TEST(ByteParsers, Http2StatusHuffmanCoded) {
  // RFC 7541 appendix B: '5' 011011, '0' 00000, '2' 00010, '3' 011001,
  // '4' 011010, padded with ones.
  EXPECT_EQ(hpack({0x48, 0x82, 0x6c, 0x02}), 502u);        // 16 bits, no padding
  EXPECT_EQ(hpack({0x48, 0x83, 0x6c, 0x0c, 0xff}), 503u);  // 17 bits + 7 of padding
  EXPECT_EQ(hpack({0x48, 0x83, 0x6c, 0x0d, 0x7f}), 504u);
  EXPECT_EQ(hpack({0x48, 0x82, 0x10, 0x01}), 200u);        // '2' '0' '0' in 15 bits + 1
  EXPECT_EQ(hpack({0x48, 0x82, 0x1f, 0xff}), 0u);          // 'a' (00011) is no digit
}

TEST(ByteParsers, Http2RequestFrames) {
  EXPECT_TRUE(w5_h2_preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  EXPECT_FALSE(w5_h2_preface("PRI * HTTP/1.1\r\n\r\n"));
  // HEADERS (type 1), END_HEADERS, stream 1 or 3; not stream 2 (the server's).
  EXPECT_TRUE(w5_h2_request_headers(std::string{0, 0, 10, 1, 4, 0, 0, 0, 1}.c_str()));
  EXPECT_TRUE(w5_h2_request_headers(std::string{0, 0, 10, 1, 5, 0, 0, 0, 3}.data()));
  EXPECT_FALSE(w5_h2_request_headers(std::string{0, 0, 10, 1, 4, 0, 0, 0, 2}.data()));
  EXPECT_FALSE(w5_h2_request_headers(std::string{0, 0, 10, 0, 4, 0, 0, 0, 1}.data()));  // DATA
}

}  // namespace
}  // namespace why502::test
