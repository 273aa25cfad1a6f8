// Why a worker may not open a unix socket: the parsers of /proc/PID/status
// and /etc/passwd, the mode rules, and the walk down a real directory tree
// (under a temporary root standing for nginx's "/").
#include "host/socket_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "attribution/socket_file_evidence.hpp"

namespace why502::test {
namespace {

TEST(SocketFile, CredentialsAreTheEffectiveOnesWithTheGroups) {
  std::istringstream status("Name:\tnginx\nUid:\t0\t101\t101\t101\nGid:\t0\t102\t102\t102\nGroups:\t33 102 \n");
  const auto c = credentials_in(status);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->uid, 101u);
  EXPECT_EQ(c->gid, 102u);
  EXPECT_EQ(c->groups, (std::vector<uint32_t>{33, 102}));
  std::istringstream no_gid("Uid:\t1\t1\t1\t1\n");
  EXPECT_FALSE(credentials_in(no_gid).has_value());
}

TEST(SocketFile, NamesComeFromTheThirdField) {
  std::istringstream passwd("root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
                            "broken line\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n");
  EXPECT_EQ(name_of_id(passwd, 33), "www-data");
  passwd.clear();
  passwd.seekg(0);
  EXPECT_EQ(name_of_id(passwd, 3), "");  // (not 33's)
}

TEST(SocketFile, ModeBitsOfOwnerGroupOrOthersDecide) {
  const Credentials nginx{.uid = 101, .gid = 101, .groups = {33}};
  EXPECT_TRUE(mode_allows(S_IFSOCK | 0660, 33, 33, nginx, 'w'));   // in the group by a supplementary group
  EXPECT_FALSE(mode_allows(S_IFSOCK | 0600, 33, 33, nginx, 'w'));  // the owner's only
  EXPECT_TRUE(mode_allows(S_IFSOCK | 0606, 33, 7, nginx, 'w'));    // neither owner nor group: others may
  EXPECT_FALSE(mode_allows(S_IFSOCK | 0606, 33, 33, nginx, 'w'));  // in the group, whose bits say no
  EXPECT_FALSE(mode_allows(S_IFSOCK | 0060, 101, 5, nginx, 'w'));  // its owner, whose bits say no
  EXPECT_FALSE(mode_allows(S_IFDIR | 0750, 0, 0, nginx, 'x'));
  EXPECT_TRUE(mode_allows(S_IFDIR | 0751, 0, 0, nginx, 'x'));
  EXPECT_TRUE(mode_allows(S_IFSOCK | 0000, 33, 33, Credentials{}, 'w'));  // root
}

class SocketFileTree : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/why502-socket-file-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    root_ = dir;
    std::filesystem::create_directories(root_ + "/run/php");
    // Passable by anyone, whatever the umask: each test sets what it judges.
    chmod((root_ + "/run").c_str(), 0755);
    chmod((root_ + "/run/php").c_str(), 0755);
    std::ofstream(root_ + "/run/php/fpm.sock").put('x');  // (its mode is what is judged)
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string root_;
  // Someone who is not this file's owner, nor in its group.
  const Credentials other_{.uid = getuid() + 4242, .gid = getgid() + 4242, .groups = {}};
};

TEST_F(SocketFileTree, TheSocketFileItselfWhenItsModeKeepsTheWorkerOut) {
  chmod((root_ + "/run/php/fpm.sock").c_str(), 0660);
  const auto e = SocketFileProber::judge(root_, "/run/php/fpm.sock", other_);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(std::string(e->path), "/run/php/fpm.sock");
  EXPECT_EQ(e->mode & 07777, 0660u);
  EXPECT_EQ(e->uid, getuid());
  EXPECT_EQ(e->denied, 1u);
  EXPECT_EQ(e->worker_uid, other_.uid);
}

TEST_F(SocketFileTree, TheFirstDirectoryTheWorkerMayNotSearch) {
  chmod((root_ + "/run/php").c_str(), 0700);
  chmod((root_ + "/run/php/fpm.sock").c_str(), 0666);
  const auto e = SocketFileProber::judge(root_, "/run/php/fpm.sock", other_);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(std::string(e->path), "/run/php");
  EXPECT_TRUE(S_ISDIR(e->mode));
  EXPECT_EQ(e->denied, 1u);
}

TEST_F(SocketFileTree, AModeThatLetsTheWorkerInSaysSoAndAMissingPathIsNothing) {
  chmod((root_ + "/run/php/fpm.sock").c_str(), 0666);
  const auto e = SocketFileProber::judge(root_, "/run/php/fpm.sock", other_);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(std::string(e->path), "/run/php/fpm.sock");
  EXPECT_EQ(e->denied, 0u);
  EXPECT_FALSE(SocketFileProber::judge(root_, "/run/php/gone.sock", other_).has_value());
  EXPECT_FALSE(SocketFileProber::judge(root_, "relative.sock", other_).has_value());
}

TEST(SocketFileEvidence, SaysWhoOwnsItAndWhoTheWorkerIs) {
  w5_socket_file f{};
  f.worker_uid = 101;
  f.worker_gid = 101;
  f.uid = 33;
  f.gid = 33;
  f.mode = S_IFSOCK | 0660;
  f.denied = 1;
  std::snprintf(f.worker_user, sizeof(f.worker_user), "nginx");
  std::snprintf(f.user, sizeof(f.user), "www-data");
  std::snprintf(f.path, sizeof(f.path), "/run/php/php8.2-fpm.sock");
  EXPECT_EQ(describe_socket_file(f),
            "the socket file /run/php/php8.2-fpm.sock is www-data:33, mode 0660; nginx's worker runs as nginx (uid "
            "101, gid 101) and may not connect to it (no write permission)");
  f.mode = S_IFDIR | 0750;
  f.worker_user[0] = '\0';
  std::snprintf(f.path, sizeof(f.path), "/run/php");
  EXPECT_EQ(describe_socket_file(f),
            "the directory /run/php is www-data:33, mode 0750; nginx's worker runs as uid 101, gid 101 and may not "
            "pass through it (no search permission)");
  f.denied = 0;
  EXPECT_EQ(describe_socket_file(f),
            "the directory /run/php is www-data:33, mode 0750, which lets nginx's worker (uid 101, gid 101) in: "
            "something else denies it (an ACL, AppArmor or SELinux)");
}

}  // namespace
}  // namespace why502::test
