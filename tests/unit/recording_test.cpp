// The recording reader trusts nothing: every prefix of a valid recording and
// random or bit-flipped bytes give either contents or one error naming an
// offset — never a crash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "output/report.hpp"
#include "recording/format.hpp"
#include "recording/reader.hpp"
#include "recording/verify.hpp"
#include "recording/replay.hpp"
#include "recording/writer.hpp"

namespace why502::recording {
namespace {

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class RecordingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("why502-rec-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Two blocks: three events and a record, then one more event.
  std::string write_sample() {
    const std::string p = path("sample.w502");
    Writer w(p, 1234567890, 0);
    const uint8_t e1[] = {1, 2, 3, 4}, e2[] = {5, 6}, e3[] = {7};
    w.add_event(e1);
    w.add_event(e2);
    w.add_record("{\"type\":\"gateway_error\"}");
    w.flush(2'000'000'000, true);
    w.add_event(e3);
    return p;  // the destructor of w flushed the second block
  }

  std::filesystem::path dir_;
};

TEST_F(RecordingTest, RoundTrip) {
  const std::string p = write_sample();
  Result<Contents> r = read_file(p);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->clock_offset_ns, 1234567890);
  ASSERT_EQ(r->events.size(), 3u);
  EXPECT_EQ(r->events[0], (std::vector<uint8_t>{1, 2, 3, 4}));
  EXPECT_EQ(r->events[2], (std::vector<uint8_t>{7}));
  ASSERT_EQ(r->records.size(), 1u);
  EXPECT_EQ(r->records[0], "{\"type\":\"gateway_error\"}");
  EXPECT_FALSE(r->truncated);
  EXPECT_EQ(std::filesystem::status(p).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST_F(RecordingTest, EveryPrefixIsContentsOrAnErrorWithAnOffset) {
  const std::vector<uint8_t> bytes = file_bytes(write_sample());
  size_t cut_reported = 0;
  for (size_t n = 1; n < bytes.size(); ++n) {  // n = 0: AnEmptyFileSaysSo
    Result<Contents> r = read_bytes(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(n)), "x");
    if (r.ok()) {
      // Past the header: a cut inside a block is said, earlier blocks kept.
      if (r->truncated) {
        ++cut_reported;
        EXPECT_LE(r->truncated_at, n);
      }
    } else {
      EXPECT_NE(r.error().find("offset"), std::string::npos) << r.error();
    }
  }
  EXPECT_GT(cut_reported, 0u);
}

TEST_F(RecordingTest, FlippedBytesAreCaughtByTheChecksum) {
  std::vector<uint8_t> bytes = file_bytes(write_sample());
  bytes[bytes.size() - 3] ^= 0xff;
  Result<Contents> strict = read_bytes(bytes, "flipped", {.strict = true});
  ASSERT_FALSE(strict.ok());
  EXPECT_NE(strict.error().find("corrupt block (checksum mismatch) at offset"), std::string::npos) << strict.error();
  // Not strict: the last block is skipped, to the end of the file.
  Result<Contents> r = read_bytes(bytes, "flipped");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->events.size(), 2u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].offset + r->skipped[0].bytes, bytes.size());
  EXPECT_EQ(r->skipped[0].problem, "checksum mismatch");
  EXPECT_FALSE(r->truncated);
}

TEST_F(RecordingTest, RandomBytesNeverCrash) {
  std::mt19937 rng(502);
  const std::vector<uint8_t> valid = file_bytes(write_sample());
  for (int round = 0; round < 2000; ++round) {
    std::vector<uint8_t> bytes = valid;
    // Mostly mutations of a valid file (they reach deeper), some pure noise.
    if (round % 4 == 0) {
      bytes.assign(rng() % 256, 0);
      for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    } else {
      for (int i = 0; i < 3; ++i) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    }
    Result<Contents> r = read_bytes(bytes, "random");
    if (!r.ok()) {
      EXPECT_FALSE(r.error().empty());
    }
  }
}

TEST_F(RecordingTest, RejectsOtherFormatsAndVersions) {
  Result<Contents> text = read_bytes(std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o'}, "hello.txt");
  EXPECT_NE(text.error().find("not a why502 recording"), std::string::npos) << text.error();
  std::vector<uint8_t> bytes = file_bytes(write_sample());
  bytes[8] = 9;  // version 9
  Result<Contents> future = read_bytes(bytes, "future");
  EXPECT_NE(future.error().find("version 9"), std::string::npos) << future.error();
}

// Found by fuzzing (recording_reader): a huge clock offset overflowed event
// time + offset in every wall-clock time of the report (undefined behaviour).
TEST_F(RecordingTest, AnImplausibleClockOffsetIsAnErrorWithAnOffset) {
  for (const int64_t offset : {int64_t{1} << 62, -(int64_t{1} << 62)}) {
    const std::string p = path("offset.w502");
    { Writer w(p, offset, 0); }
    EXPECT_TRUE(read_file(p).ok()) << offset;
  }
  for (const int64_t offset : {(int64_t{1} << 62) + 1, INT64_MAX, INT64_MIN}) {
    const std::string p = path("offset.w502");
    { Writer w(p, offset, 0); }
    Result<Contents> r = read_file(p);
    EXPECT_FALSE(r.ok()) << offset;
    EXPECT_NE(r.error().find("clock offset " + std::to_string(offset) + " ns is implausible at offset 20"),
              std::string::npos)
        << r.error();
  }
}

TEST_F(RecordingTest, ReplayNamesTheFileOfAnInvalidEvent) {
  Contents contents;
  contents.events.push_back({1, 2, 3});
  Replay replay;
  const Result<void> added = replay.add("broken.w502", contents);
  ASSERT_FALSE(added.ok());
  EXPECT_NE(added.error().find("broken.w502: a recorded event is invalid"), std::string::npos) << added.error();
}

TEST_F(RecordingTest, ReplaySaysWhereARecordingWasCutOff) {
  Contents contents;
  contents.clock_offset_ns = 1'000'000'000;
  contents.truncated = true;
  contents.truncated_at = 4242;
  Replay replay;
  EXPECT_TRUE(replay.add("cut.w502", contents).ok());
  const Report report = replay.finish(std::nullopt, std::nullopt);
  EXPECT_TRUE(report.cut_off);
  EXPECT_NE(report.cut_off_note.find("cut.w502 was cut off at offset 4242"), std::string::npos) << report.cut_off_note;
  EXPECT_EQ(report.clock.offset_ns(), 1'000'000'000);
  EXPECT_EQ(report.files, std::vector<std::string>{"cut.w502"});
}

TEST_F(RecordingTest, RotationStartsNumberedFiles) {
  const std::string p = path("rotated.w502");
  {
    Writer w(p, 0, 4096);
    std::mt19937 rng(7);
    std::vector<uint8_t> event(3000);  // random: does not compress below the rotation size
    for (int i = 0; i < 6; ++i) {
      for (auto& b : event) b = static_cast<uint8_t>(rng());
      w.add_event(event);
      w.flush(0, true);
    }
    EXPECT_GE(w.files().size(), 2u);
  }
  size_t events = 0;
  for (int i = 0; std::filesystem::exists(i == 0 ? p : p + "." + std::to_string(i)); ++i) {
    Result<Contents> r = read_file(i == 0 ? p : p + "." + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.error();
    events += r->events.size();
  }
  EXPECT_EQ(events, 6u);
}

}  // namespace
}  // namespace why502::recording

namespace why502::recording {
namespace {

// Three blocks, one event each (the middle one's event and record are what a
// corruption loses); where each block starts.
struct ThreeBlocks {
  std::vector<uint8_t> bytes;
  size_t block[3];
};

ThreeBlocks write_three_blocks(const std::string& p) {
  {
    Writer w(p, 0, 0);
    for (uint8_t i = 1; i <= 3; ++i) {
      const uint8_t event[] = {i, i, i};
      w.add_event(event);
      w.add_record("{\"n\":" + std::to_string(i) + "}");
      w.flush(0, true);
    }
  }
  ThreeBlocks t{file_bytes(p), {}};
  // Each block: a 16-byte header whose compressed size says where the next starts.
  size_t at = encode_header(std::string_view()).size();
  uint32_t header_bytes = 0;
  std::memcpy(&header_bytes, t.bytes.data() + 16, 4);
  at += header_bytes;
  for (size_t& start : t.block) {
    start = at;
    uint32_t compressed = 0;
    std::memcpy(&compressed, t.bytes.data() + at + 4, 4);
    at += sizeof(BlockHeader) + compressed;
  }
  EXPECT_EQ(at, t.bytes.size());
  return t;
}

class CorruptRecording : public RecordingTest {};

TEST_F(CorruptRecording, TheHeaderNamesFormat2AndTheWireVersion) {
  const std::vector<uint8_t> bytes = file_bytes(write_sample());
  uint32_t format = 0, wire = 0;
  std::memcpy(&format, bytes.data() + 8, 4);
  std::memcpy(&wire, bytes.data() + 12, 4);
  EXPECT_EQ(format, 2u);
  EXPECT_EQ(wire, static_cast<uint32_t>(W5_WIRE_VERSION));
  Result<Contents> r = read_bytes(bytes, "x");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->format_version, 2u);
  EXPECT_EQ(r->wire_version, static_cast<uint32_t>(W5_WIRE_VERSION));
}

TEST_F(CorruptRecording, AWireVersionFromTheFutureIsOneErrorLine) {
  std::vector<uint8_t> bytes = file_bytes(write_sample());
  bytes[12] = W5_WIRE_VERSION + 1;
  Result<Contents> r = read_bytes(bytes, "future.w502");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "future.w502: events of wire version " + std::to_string(W5_WIRE_VERSION + 1) +
                         " (this why502 reads 1 to " + std::to_string(W5_WIRE_VERSION) +
                         "; a newer why502 may read them) at offset 12");
}

TEST_F(CorruptRecording, ACorruptMiddleBlockIsSkippedAndWhatFollowsIsRead) {
  ThreeBlocks t = write_three_blocks(path("three.w502"));
  t.bytes[t.block[1] + sizeof(BlockHeader) + 2] ^= 0x40;  // inside the middle block's payload
  Result<Contents> r = read_bytes(t.bytes, "three.w502");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->events, (std::vector<std::vector<uint8_t>>{{1, 1, 1}, {3, 3, 3}}));
  EXPECT_EQ(r->records, (std::vector<std::string>{"{\"n\":1}", "{\"n\":3}"}));
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].offset, t.block[1]);
  EXPECT_EQ(r->skipped[0].bytes, t.block[2] - t.block[1]);
  EXPECT_EQ(r->skipped[0].problem, "checksum mismatch");
  EXPECT_FALSE(r->truncated);

  Result<Contents> strict = read_bytes(t.bytes, "three.w502", {.strict = true});
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.error(), "three.w502: corrupt block (checksum mismatch) at offset " + std::to_string(t.block[1]));
}

// Whatever byte of the middle block is broken (magic, sizes, checksum or
// payload), the blocks around it are read and the skipped region covers it.
TEST_F(CorruptRecording, EveryBrokenByteOfTheMiddleBlockLosesOnlyThatBlock) {
  const ThreeBlocks t = write_three_blocks(path("three.w502"));
  for (size_t at = t.block[1]; at < t.block[2]; ++at) {
    std::vector<uint8_t> bytes = t.bytes;
    bytes[at] ^= 0xa5;
    Result<Contents> r = read_bytes(bytes, "x");
    ASSERT_TRUE(r.ok()) << at << ": " << r.error();
    EXPECT_EQ(r->events, (std::vector<std::vector<uint8_t>>{{1, 1, 1}, {3, 3, 3}})) << at;
    ASSERT_EQ(r->skipped.size(), 1u) << at;
    EXPECT_EQ(r->skipped[0].offset, t.block[1]) << at;
    EXPECT_EQ(r->skipped[0].bytes, t.block[2] - t.block[1]) << at;
  }
}

TEST_F(CorruptRecording, GarbageBetweenBlocksIsSkippedByItsLength) {
  const ThreeBlocks t = write_three_blocks(path("three.w502"));
  std::vector<uint8_t> bytes(t.bytes.begin(), t.bytes.begin() + static_cast<long>(t.block[2]));
  const std::vector<uint8_t> garbage(37, 0xee);
  bytes.insert(bytes.end(), garbage.begin(), garbage.end());
  bytes.insert(bytes.end(), t.bytes.begin() + static_cast<long>(t.block[2]), t.bytes.end());
  Result<Contents> r = read_bytes(bytes, "x");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->events.size(), 3u);
  ASSERT_EQ(r->skipped.size(), 1u);
  EXPECT_EQ(r->skipped[0].offset, t.block[2]);
  EXPECT_EQ(r->skipped[0].bytes, 37u);
  EXPECT_EQ(r->skipped[0].problem, "bad block magic");
}

TEST_F(CorruptRecording, ACutInTheLastBlockIsStillACutNotACorruption) {
  const ThreeBlocks t = write_three_blocks(path("three.w502"));
  const std::vector<uint8_t> bytes(t.bytes.begin(), t.bytes.end() - 5);
  Result<Contents> r = read_bytes(bytes, "x");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->truncated_at, t.block[2]);
  EXPECT_TRUE(r->skipped.empty());
  EXPECT_EQ(r->events.size(), 2u);
}

TEST_F(CorruptRecording, TheReportSaysWhatWasSkippedAndWhere) {
  ThreeBlocks t = write_three_blocks(path("three.w502"));
  t.bytes[t.block[1]] ^= 0xff;  // the middle block's magic
  Result<Contents> r = read_bytes(t.bytes, "three.w502");
  ASSERT_TRUE(r.ok()) << r.error();
  r->events.clear();  // not real wire events: the summary is what is tested
  Replay replay;
  ASSERT_TRUE(replay.add("three.w502", r.value()).ok());
  const Report report = replay.finish(std::nullopt, std::nullopt);
  const std::string note = "three.w502: skipped " + std::to_string(t.block[2] - t.block[1]) + " bytes at offset " +
                           std::to_string(t.block[1]) + " (bad block magic)";
  EXPECT_NE(report_text(report).find("warning: " + std::to_string(t.block[2] - t.block[1]) +
                                     " corrupt bytes skipped in 1 region; what came after is reported:\n  " + note + "\n"),
            std::string::npos)
      << report_text(report);
  EXPECT_NE(report_json(report).find("\"skipped\":[{\"file\":\"three.w502\",\"offset\":" + std::to_string(t.block[1])),
            std::string::npos)
      << report_json(report);
  EXPECT_NE(report_html(report).find(note), std::string::npos);
  EXPECT_EQ(replay.live_records(), (std::vector<std::string>{"{\"n\":1}", "{\"n\":3}"}));
}

TEST(CompareRecords, NamesRecordsOnlyOneSideHasAndFieldsThatDiffer) {
  const std::string a = R"({"type":"gateway_error","ts":"T1","pid":7,"status":502,"cause":"refused","client":"c:1"})";
  const std::string b = R"({"type":"gateway_error","ts":"T2","pid":7,"status":502,"cause":"reset","client":"c:2"})";
  const std::string b2 = R"({"type":"gateway_error","ts":"T2","pid":7,"status":504,"cause":"reset","client":"c:2","x":[1,{"y":","}]})";
  const std::string c = R"({"type":"retried","ts":"T3","pid":8,"status":200,"cause":"refused","client":"c:3"})";
  const Verification same = compare_records({a, b}, {b, a});
  EXPECT_EQ(same.same, 2u);
  EXPECT_TRUE(same.differences.empty());
  const Verification v = compare_records({a, b}, {b2, c});
  EXPECT_EQ(v.live, 2u);
  EXPECT_EQ(v.replayed, 2u);
  EXPECT_EQ(v.same, 0u);
  EXPECT_EQ(v.differences, (std::vector<std::string>{
                               R"(differs: "T2" pid 7 client "c:2": status live 502, replayed 504; x live absent, replayed [1,{"y":","}])",
                               R"(only replayed: "T3" pid 8 client "c:3" "retried" 200 "refused")",
                               R"(only live: "T1" pid 7 client "c:1" "gateway_error" 502 "refused")"}));
}

TEST_F(CorruptRecording, AnEmptyFileSaysSo) {
  Result<Contents> r = read_bytes({}, "empty.w502");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "empty.w502: empty file, not a why502 recording (record wrote nothing into it)");
}

TEST_F(CorruptRecording, ADirectoryIsNamedAsOne) {
  Result<Contents> r = read_file(dir_.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), dir_.string() + " is a directory: give the recording file itself (the -o FILE of record)");
}

TEST_F(CorruptRecording, AFileThatCannotBeOpenedSaysWhy) {
  Result<Contents> r = read_file(path("missing.w502"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "cannot open " + path("missing.w502") + ": No such file or directory");
}

}  // namespace
}  // namespace why502::recording
