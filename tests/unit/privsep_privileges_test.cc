// DropPrivileges (owner of sm/ decides, CAP_NET_BIND_SERVICE kept, nothing else)
// and BindReservedPort. Every privilege change happens in a forked child.
#include "privsep/privileges.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <set>
#include <vector>

#include "privsep_test_util.h"

namespace nsm::privsep {
namespace {

using testing::RunInChild;
using testing::TempDir;

struct Caps {
  uint32_t effective = 0, permitted = 0, inheritable = 0;  // first 32 capabilities
  uint32_t effective_hi = 0, permitted_hi = 0;
};

Caps ReadCaps() {
  __user_cap_header_struct h{};
  h.version = _LINUX_CAPABILITY_VERSION_3;
  __user_cap_data_struct d[2] = {};
  Caps c;
  if (syscall(SYS_capget, &h, d) != 0) return c;
  c.effective = d[0].effective;
  c.permitted = d[0].permitted;
  c.inheritable = d[0].inheritable;
  c.effective_hi = d[1].effective;
  c.permitted_hi = d[1].permitted;
  return c;
}

// Clears the effective set, keeping the permitted one (test's negative control).
bool ClearEffective() {
  __user_cap_header_struct h{};
  h.version = _LINUX_CAPABILITY_VERSION_3;
  __user_cap_data_struct d[2] = {};
  if (syscall(SYS_capget, &h, d) != 0) return false;
  d[0].effective = d[1].effective = 0;
  return syscall(SYS_capset, &h, d) == 0;
}

// False when net.ipv4.ip_unprivileged_port_start lets anyone bind our range, in
// which case the "denied without the capability" checks cannot be made.
bool ReservedPortsNeedCapability() {
  std::ifstream f("/proc/sys/net/ipv4/ip_unprivileged_port_start");
  int start = 1024;
  f >> start;
  return start > kReservedPortHigh;
}

// Binds a TCP socket to 127.0.0.1 on a reserved port and listens; "" or the error.
std::string BindLoopbackReserved(int* port_out) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket failed";
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  Result<int> port = BindReservedPort(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
  if (!port.ok()) {
    close(fd);
    return "BindReservedPort: " + port.status().ToString();
  }
  sockaddr_in got{};
  socklen_t len = sizeof got;
  getsockname(fd, reinterpret_cast<sockaddr*>(&got), &len);
  std::string err;
  if (ntohs(got.sin_port) != *port || *port >= 1024 || *port < kReservedPortLow) {
    err = "bound to the wrong port " + std::to_string(ntohs(got.sin_port));
  } else if (got.sin_addr.s_addr != htonl(INADDR_LOOPBACK)) {
    err = "bound to the wrong address";
  } else if (listen(fd, 1) != 0) {
    err = "listen failed";
  }
  close(fd);
  if (port_out != nullptr) *port_out = *port;
  return err;
}

class DropPrivilegesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    statd_ = testing::StatdUser();
    if (geteuid() != 0 || !statd_) GTEST_SKIP() << "needs root and a statd user";
  }
  std::optional<std::pair<uid_t, gid_t>> statd_;
};

TEST_F(DropPrivilegesTest, BecomesOwnerOfSmAndKeepsOnlyNetBindService) {
  TempDir state;              // owned by root (0700), like Debian's /var/lib/nfs
  const gid_t kGroup = 4242;  // sm/'s group, not statd's primary group
  std::string sm = state.path() + "/sm";
  ASSERT_EQ(mkdir(sm.c_str(), 0755), 0);
  ASSERT_EQ(chown(sm.c_str(), statd_->first, kGroup), 0);
  std::string secret = state.path() + "/root-only";
  std::ofstream(secret) << "x";
  ASSERT_EQ(chmod(secret.c_str(), 0600), 0);

  testing::ChildResult c = RunInChild([&]() -> std::string {
    Result<Identity> id = DropPrivileges(state.path());
    if (!id.ok()) return "DropPrivileges: " + id.status().ToString();
    if (!id->dropped || id->uid != statd_->first || id->gid != kGroup) return "wrong identity";
    if (!id->can_bind_reserved) return "can_bind_reserved is false";
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    if (r != statd_->first || e != statd_->first || s != statd_->first) return "uids not all set";
    gid_t rg, eg, sg;
    getresgid(&rg, &eg, &sg);
    if (rg != kGroup || eg != kGroup || sg != kGroup) return "gids not all set";
    if (getgroups(0, nullptr) != 0) return "supplementary groups left";
    Caps caps = ReadCaps();
    const uint32_t nbs = 1u << CAP_NET_BIND_SERVICE;
    if (caps.effective != nbs || caps.permitted != nbs) {
      return "capabilities: effective " + std::to_string(caps.effective) + " permitted " +
             std::to_string(caps.permitted);
    }
    if (caps.inheritable != 0 || caps.effective_hi != 0 || caps.permitted_hi != 0) {
      return "unexpected capabilities left";
    }
    if (!HasEffectiveCapability(CAP_NET_BIND_SERVICE)) return "HasEffectiveCapability false";
    if (HasEffectiveCapability(CAP_DAC_OVERRIDE)) return "still has CAP_DAC_OVERRIDE";
    if (setuid(0) == 0) return "could become root again";
    if (open(secret.c_str(), O_RDONLY) >= 0) return "read a root-only file";
    mode_t mask = umask(0);
    if (mask != S_IRWXO) return "umask is not 007";
    // The point of keeping the capability: a reserved source port for callbacks.
    std::string err = BindLoopbackReserved(nullptr);
    if (!err.empty()) return "after drop: " + err;
    // Negative control: without the effective capability the same bind fails.
    if (!ClearEffective()) return "capset failed";
    if (!ReservedPortsNeedCapability()) return "";
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    Result<int> denied = BindReservedPort(fd, AF_INET);
    close(fd);
    if (denied.ok()) return "bound a reserved port without the capability";
    if (denied.status().code() != Code::kPermission) return denied.status().ToString();
    // Calling it again as non-root changes nothing.
    Result<Identity> again = DropPrivileges(state.path());
    if (!again.ok() || again->dropped || again->uid != statd_->first) return "second call";
    return "";
  });
  EXPECT_EQ(c.exit_code, 0) << c.report;
}

TEST_F(DropPrivilegesTest, WithoutSmTheStateDirectoryOwnerDecides) {
  TempDir state;
  ASSERT_EQ(chown(state.path().c_str(), statd_->first, statd_->second), 0);
  testing::ChildResult c = RunInChild([&]() -> std::string {
    Result<Identity> id = DropPrivileges(state.path());
    if (!id.ok()) return id.status().ToString();
    if (!id->dropped || getuid() != statd_->first || getgid() != statd_->second) return "ids";
    return BindLoopbackReserved(nullptr);
  });
  EXPECT_EQ(c.exit_code, 0) << c.report;
}

TEST_F(DropPrivilegesTest, RootOwnedSmMeansStayRoot) {
  // CVE-2019-3689: the state directory belonging to statd must not matter when sm/
  // is root's.
  TempDir state;
  ASSERT_EQ(chown(state.path().c_str(), statd_->first, statd_->second), 0);
  ASSERT_EQ(mkdir((state.path() + "/sm").c_str(), 0755), 0);
  testing::ChildResult c = RunInChild([&]() -> std::string {
    Result<Identity> id = DropPrivileges(state.path());
    if (!id.ok()) return id.status().ToString();
    if (id->dropped || id->uid != 0 || geteuid() != 0) return "dropped although sm/ is root's";
    return "";
  });
  EXPECT_EQ(c.exit_code, 0) << c.report;
}

TEST_F(DropPrivilegesTest, MissingStateDirectoryIsAnError) {
  TempDir state;
  testing::ChildResult c = RunInChild([&]() -> std::string {
    Result<Identity> id = DropPrivileges(state.path() + "/absent");
    if (id.ok()) return "no error";
    if (id.status().code() != Code::kNotFound) return id.status().ToString();
    if (geteuid() != 0) return "changed ids anyway";
    return "";
  });
  EXPECT_EQ(c.exit_code, 0) << c.report;
}

TEST(BindReservedPort, BindsWildcardAndLoopbackInRange) {
  if (!HasEffectiveCapability(CAP_NET_BIND_SERVICE)) GTEST_SKIP() << "needs the capability";
  int port = 0;
  EXPECT_EQ(BindLoopbackReserved(&port), "");
  for (int family : {AF_INET, AF_INET6}) {
    int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    Result<int> p = BindReservedPort(fd, family);
    if (family == AF_INET6 && !p.ok() &&
        p.status().message().find("Address family") != std::string::npos) {
      close(fd);
      continue;  // no IPv6 here
    }
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_GE(*p, kReservedPortLow);
    EXPECT_LE(*p, kReservedPortHigh);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len), 0);
    int got = family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                                : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    EXPECT_EQ(got, *p);
    close(fd);
  }
}

TEST(BindReservedPort, SkipsPortsInUse) {
  if (!HasEffectiveCapability(CAP_NET_BIND_SERVICE)) GTEST_SKIP() << "needs the capability";
  // Hold 20 reserved ports; each further bind must find a different, free one.
  std::vector<int> fds;
  std::set<int> ports;
  for (int i = 0; i < 20; ++i) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    Result<int> p = BindReservedPort(fd, AF_INET);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_TRUE(ports.insert(*p).second) << "port " << *p << " given twice";
    fds.push_back(fd);
  }
  for (int fd : fds) close(fd);
}

TEST(BindReservedPort, RejectsMismatchedFamilies) {
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) GTEST_SKIP() << "no IPv6";
  Result<int> p = BindReservedPort(fd, AF_INET);
  EXPECT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(BindReservedPort(fd, AF_UNIX).status().code(), Code::kInvalidArgument);
  close(fd);
  int unix_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(BindReservedPort(unix_fd, AF_INET).status().code(), Code::kInvalidArgument);
  close(unix_fd);
}

TEST(BindReservedPort, WithoutCapabilityIsPermissionDenied) {
  if (!ReservedPortsNeedCapability()) GTEST_SKIP() << "reserved ports open to everyone here";
  testing::ChildResult c = RunInChild([]() -> std::string {
    if (!ClearEffective()) return "capset failed";
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    Result<int> p = BindReservedPort(fd, AF_INET);
    close(fd);
    if (p.ok()) return "bound without CAP_NET_BIND_SERVICE";
    if (p.status().code() != Code::kPermission) return p.status().ToString();
    return "";
  });
  EXPECT_EQ(c.exit_code, 0) << c.report;
}

}  // namespace
}  // namespace nsm::privsep
