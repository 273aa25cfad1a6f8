// The liveness check reads nginx's structs in another process; here that
// process is the test itself, holding structs laid out as a layout says.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "host/request_liveness.hpp"

namespace why502 {
namespace {

w5_nginx_layout test_layout() {
  w5_nginx_layout l{};
  l.r_connection = 0x8;
  l.c_fd = 0x18;
  l.c_log = 0x50;
  l.c_number = 0xc0;
  l.c_requests = 0xd0;
  l.log_connection = 0x10;
  l.log_data = 0x28;
  l.ctx_request = 0x8;
  l.ctx_current_request = 0x10;
  return l;
}

// One live request of one connection, as nginx keeps it.
struct FakeRequest {
  alignas(8) uint8_t r[0x100] = {};
  alignas(8) uint8_t c[0x100] = {};
  alignas(8) uint8_t log[0x50] = {};
  alignas(8) uint8_t ctx[0x20] = {};

  static void put(uint8_t* base, uint32_t offset, uint64_t value) { std::memcpy(base + offset, &value, 8); }
  uint64_t address() const { return reinterpret_cast<uint64_t>(r); }

  FakeRequest(uint64_t number, uint64_t requests) {
    const w5_nginx_layout l = test_layout();
    put(r, l.r_connection, reinterpret_cast<uint64_t>(c));
    put(c, l.c_fd, 12);
    put(c, l.c_log, reinterpret_cast<uint64_t>(log));
    put(c, l.c_number, number);
    put(c, l.c_requests, requests);
    put(log, l.log_connection, number);
    put(log, l.log_data, reinterpret_cast<uint64_t>(ctx));
    put(ctx, 0, reinterpret_cast<uint64_t>(c));
    put(ctx, l.ctx_request, address());
    put(ctx, l.ctx_current_request, address());
  }
  PendingRequestRef ref(uint64_t number, uint32_t requests) const {
    return PendingRequestRef{static_cast<uint32_t>(getpid()), address(), number, requests};
  }
};

std::vector<w5_request_ended> check(std::vector<PendingRequestRef> pending,
                                    std::optional<w5_nginx_layout> layout = test_layout()) {
  RequestLiveness liveness([layout](pid_t) { return layout; });
  return liveness.ended(pending, 77);
}

TEST(RequestLiveness, ALiveRequestIsNotOver) {
  FakeRequest live(41, 3);
  EXPECT_TRUE(check({live.ref(41, 3)}).empty());
  EXPECT_TRUE(check({live.ref(41, 0)}).empty());  // the number of its request unknown
}

TEST(RequestLiveness, EachSignOfAnEndedRequestEndsIt) {
  FakeRequest closed(1, 1), reused(2, 1), next_request(3, 1), freed(4, 1), live(5, 1);
  FakeRequest::put(closed.c, 0x18, 0xffffffff);  // ngx_close_connection: fd -1
  FakeRequest::put(reused.log, 0x10, 99);        // the connection slot went to connection 99
  FakeRequest::put(reused.c, 0xc0, 99);
  FakeRequest::put(next_request.c, 0xd0, 2);  // the keepalive connection's next request
  FakeRequest::put(freed.ctx, 0x8, 0);        // ngx_http_free_request cleared ctx->request
  const auto ended = check({closed.ref(1, 1), reused.ref(2, 1), next_request.ref(3, 1), freed.ref(4, 1),
                            live.ref(5, 1)});
  ASSERT_EQ(ended.size(), 4u);
  for (const w5_request_ended& e : ended) {
    EXPECT_NE(e.request, live.address());
    EXPECT_EQ(e.h.type, static_cast<uint32_t>(W5_EV_REQUEST_ENDED));
    EXPECT_EQ(e.h.size, sizeof(w5_request_ended));
    EXPECT_EQ(e.h.ts_ns, 77u);
    EXPECT_EQ(e.h.tgid, static_cast<uint32_t>(getpid()));
  }
  EXPECT_EQ(ended[2].request, next_request.address());
  EXPECT_EQ(ended[2].connection, 3u);
  EXPECT_EQ(ended[2].requests, 1u);
}

TEST(RequestLiveness, ARequestNumberIsTrustedOnlyWhenTheConnectionNumberReadsBack) {
  FakeRequest request(7, 1);
  // Offsets that do not fit this build: c->number reads as something else,
  // so c->requests proves nothing and the request is not taken to be over.
  FakeRequest::put(request.c, 0xc0, 12345);
  FakeRequest::put(request.c, 0xd0, 9);
  EXPECT_TRUE(check({request.ref(7, 1)}).empty());
}

TEST(RequestLiveness, MemoryThatCannotBeReadMeansTheRequestIsGone) {
  const long page = sysconf(_SC_PAGESIZE);
  void* unmapped = mmap(nullptr, static_cast<size_t>(page), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(unmapped, MAP_FAILED);
  FakeRequest live(8, 1), pointing_away(9, 1);
  FakeRequest::put(pointing_away.r, 0x8, reinterpret_cast<uint64_t>(unmapped));
  const PendingRequestRef gone{static_cast<uint32_t>(getpid()), reinterpret_cast<uint64_t>(unmapped), 10, 1};
  // Unreadable ones among readable ones: each judged on its own.
  const auto ended = check({live.ref(8, 1), gone, pointing_away.ref(9, 1)});
  munmap(unmapped, static_cast<size_t>(page));
  ASSERT_EQ(ended.size(), 2u);
  EXPECT_EQ(ended[0].request, gone.request);
  EXPECT_EQ(ended[1].request, pointing_away.address());
}

TEST(RequestLiveness, AWorkerThatIsGoneHasNoRequestsLeft) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  FakeRequest request(11, 1);
  PendingRequestRef ref = request.ref(11, 1);
  ref.tgid = static_cast<uint32_t>(child);
  const auto ended = check({ref});
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].h.tgid, static_cast<uint32_t>(child));
  // Its binary may be released already (no process runs it): still over.
  const auto without_layout = check({ref}, std::nullopt);
  ASSERT_EQ(without_layout.size(), 1u);
  EXPECT_EQ(without_layout[0].request, ref.request);
}

TEST(RequestLiveness, AWorkerWithoutAnAttachedBinaryIsNotRead) {
  FakeRequest request(12, 1);
  FakeRequest::put(request.c, 0x18, 0xffffffff);
  EXPECT_TRUE(check({request.ref(12, 1)}, std::nullopt).empty());
}

TEST(RequestLiveness, ReadsManyMoreWordsThanOneSystemCallTakes) {
  std::vector<uint64_t> words(3000);
  std::vector<uint64_t> addresses;
  for (size_t i = 0; i < words.size(); ++i) {
    words[i] = i * 7;
    addresses.push_back(reinterpret_cast<uint64_t>(&words[i]));
  }
  bool gone = false;
  int refused = 0;
  const auto read = read_process_words(getpid(), addresses, &gone, &refused);
  ASSERT_EQ(read.size(), words.size());
  for (size_t i = 0; i < words.size(); ++i) ASSERT_EQ(read[i].value_or(1), i * 7) << i;
  EXPECT_FALSE(gone);
  EXPECT_EQ(refused, 0);
}

}  // namespace
}  // namespace why502
