// The recording reader trusts nothing: every prefix of a valid recording and
// random or bit-flipped bytes give either contents or one error naming an
// offset — never a crash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "recording/reader.hpp"
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
  ReadResult r = read_file(p);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.contents.clock_offset_ns, 1234567890);
  ASSERT_EQ(r.contents.events.size(), 3u);
  EXPECT_EQ(r.contents.events[0], (std::vector<uint8_t>{1, 2, 3, 4}));
  EXPECT_EQ(r.contents.events[2], (std::vector<uint8_t>{7}));
  ASSERT_EQ(r.contents.records.size(), 1u);
  EXPECT_EQ(r.contents.records[0], "{\"type\":\"gateway_error\"}");
  EXPECT_FALSE(r.contents.truncated);
  EXPECT_EQ(std::filesystem::status(p).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST_F(RecordingTest, EveryPrefixIsContentsOrAnErrorWithAnOffset) {
  const std::vector<uint8_t> bytes = file_bytes(write_sample());
  size_t cut_reported = 0;
  for (size_t n = 0; n < bytes.size(); ++n) {
    ReadResult r = read_bytes(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(n)), "x");
    if (r.ok) {
      // Past the header: a cut inside a block is said, earlier blocks kept.
      if (r.contents.truncated) {
        ++cut_reported;
        EXPECT_LE(r.contents.truncated_at, n);
      }
    } else {
      EXPECT_NE(r.error.find("offset"), std::string::npos) << r.error;
    }
  }
  EXPECT_GT(cut_reported, 0u);
}

TEST_F(RecordingTest, FlippedBytesAreCaughtByTheChecksum) {
  std::vector<uint8_t> bytes = file_bytes(write_sample());
  bytes[bytes.size() - 3] ^= 0xff;
  ReadResult r = read_bytes(bytes, "flipped");
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.error.find("checksum mismatch"), std::string::npos) << r.error;
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
    ReadResult r = read_bytes(bytes, "random");
    if (!r.ok) {
      EXPECT_FALSE(r.error.empty());
    }
  }
}

TEST_F(RecordingTest, RejectsOtherFormatsAndVersions) {
  ReadResult text = read_bytes(std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o'}, "hello.txt");
  EXPECT_NE(text.error.find("not a why502 recording"), std::string::npos) << text.error;
  std::vector<uint8_t> bytes = file_bytes(write_sample());
  bytes[8] = 9;  // version 9
  ReadResult future = read_bytes(bytes, "future");
  EXPECT_NE(future.error.find("version 9"), std::string::npos) << future.error;
}

// Found by fuzzing (recording_reader): a huge clock offset overflowed event
// time + offset in every wall-clock time of the report (undefined behaviour).
TEST_F(RecordingTest, AnImplausibleClockOffsetIsAnErrorWithAnOffset) {
  for (const int64_t offset : {int64_t{1} << 62, -(int64_t{1} << 62)}) {
    const std::string p = path("offset.w502");
    { Writer w(p, offset, 0); }
    EXPECT_TRUE(read_file(p).ok) << offset;
  }
  for (const int64_t offset : {(int64_t{1} << 62) + 1, INT64_MAX, INT64_MIN}) {
    const std::string p = path("offset.w502");
    { Writer w(p, offset, 0); }
    ReadResult r = read_file(p);
    EXPECT_FALSE(r.ok) << offset;
    EXPECT_NE(r.error.find("clock offset " + std::to_string(offset) + " ns is implausible at offset 16"),
              std::string::npos)
        << r.error;
  }
}

TEST_F(RecordingTest, ReplayNamesTheFileOfAnInvalidEvent) {
  Contents contents;
  contents.events.push_back({1, 2, 3});
  Replay replay;
  const std::optional<std::string> error = replay.add("broken.w502", contents);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("broken.w502: a recorded event is invalid"), std::string::npos) << *error;
}

TEST_F(RecordingTest, ReplaySaysWhereARecordingWasCutOff) {
  Contents contents;
  contents.clock_offset_ns = 1'000'000'000;
  contents.truncated = true;
  contents.truncated_at = 4242;
  Replay replay;
  EXPECT_FALSE(replay.add("cut.w502", contents).has_value());
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
    ReadResult r = read_file(i == 0 ? p : p + "." + std::to_string(i));
    ASSERT_TRUE(r.ok) << r.error;
    events += r.contents.events.size();
  }
  EXPECT_EQ(events, 6u);
}

}  // namespace
}  // namespace why502::recording
