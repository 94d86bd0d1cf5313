// Privilege drop (setgroups/setgid/setuid with PR_SET_KEEPCAPS, then capset(2) to
// keep CAP_NET_BIND_SERVICE only) and reserved-port binding.
#include "privsep/privileges.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <ctime>

namespace nsm::privsep {
namespace {

struct CapSets {
  __user_cap_header_struct header;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
};

Status GetCaps(CapSets* c) {
  std::memset(c, 0, sizeof *c);
  c->header.version = _LINUX_CAPABILITY_VERSION_3;
  c->header.pid = 0;
  if (syscall(SYS_capget, &c->header, c->data) != 0) return ErrnoStatus("capget", errno);
  return Status::Ok();
}

// Sets permitted = effective = {cap}, inheritable = {} for the calling thread.
Status KeepOnly(int cap) {
  CapSets c;
  std::memset(&c, 0, sizeof c);
  c.header.version = _LINUX_CAPABILITY_VERSION_3;
  c.header.pid = 0;
  const uint32_t bit = 1u << (cap % 32);
  c.data[cap / 32].permitted = bit;
  c.data[cap / 32].effective = bit;
  if (syscall(SYS_capset, &c.header, c.data) != 0) return ErrnoStatus("capset", errno);
  return Status::Ok();
}

uint32_t RandomStart() {
  uint32_t v = 0;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof v)) {
    v = static_cast<uint32_t>(getpid()) ^ static_cast<uint32_t>(time(nullptr));
  }
  return v;
}

}  // namespace

bool HasEffectiveCapability(int cap) {
  if (cap < 0 || cap >= 32 * _LINUX_CAPABILITY_U32S_3) return false;
  CapSets c;
  if (!GetCaps(&c).ok()) return false;
  return (c.data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

Result<Identity> DaemonIdentity(const std::string& state_dir) {
  Identity id;
  id.uid = geteuid();
  id.gid = getegid();
  if (id.uid != 0) return id;
  struct stat st;
  std::string sm = state_dir + "/sm";
  if (stat(sm.c_str(), &st) != 0) {
    if (errno != ENOENT) return ErrnoStatus("stat " + sm, errno);
    if (stat(state_dir.c_str(), &st) != 0) return ErrnoStatus("stat " + state_dir, errno);
  }
  id.uid = st.st_uid;
  id.gid = st.st_uid == 0 ? getgid() : st.st_gid;
  return id;
}

Status HandOver(const std::string& path, const Identity& id) {
  if (chown(path.c_str(), id.uid, id.gid) != 0 && errno != ENOENT) {
    return ErrnoStatus("chown " + path, errno);
  }
  return Status::Ok();
}

Result<Identity> DropPrivileges(const std::string& state_dir) {
  (void)umask(S_IRWXO);  // as nfs-utils' nsm_drop_privileges

  Identity id;
  if (geteuid() != 0) {
    id.uid = getuid();
    id.gid = getgid();
    id.can_bind_reserved = HasEffectiveCapability(CAP_NET_BIND_SERVICE);
    return id;
  }

  // CVE-2019-3689: the owner of sm/, not of the state directory, decides.
  struct stat st;
  std::string sm = state_dir + "/sm";
  if (stat(sm.c_str(), &st) != 0) {
    if (errno != ENOENT) return ErrnoStatus("stat " + sm, errno);
    if (stat(state_dir.c_str(), &st) != 0) return ErrnoStatus("stat " + state_dir, errno);
  }
  if (st.st_uid == 0) {
    id.uid = 0;
    id.gid = getgid();
    id.can_bind_reserved = HasEffectiveCapability(CAP_NET_BIND_SERVICE);
    return id;
  }

  // ORDER: setgroups before setgid (which may take away the right to call it);
  // KEEPCAPS before setuid, or setuid clears the permitted set; capset last.
  if (setgroups(0, nullptr) != 0) return ErrnoStatus("setgroups", errno);
  if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0) return ErrnoStatus("PR_SET_KEEPCAPS", errno);
  if (setgid(st.st_gid) != 0) {
    return ErrnoStatus("setgid " + std::to_string(st.st_gid), errno);
  }
  if (setuid(st.st_uid) != 0) {
    return ErrnoStatus("setuid " + std::to_string(st.st_uid), errno);
  }
  Status s = KeepOnly(CAP_NET_BIND_SERVICE);
  if (!s.ok()) return s;
  if (prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) != 0) return ErrnoStatus("PR_SET_KEEPCAPS", errno);

  // Paranoia: all three uids and gids moved, and root cannot be had back.
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0) {
    return ErrnoStatus("getresuid", errno);
  }
  if (ru != st.st_uid || eu != st.st_uid || su != st.st_uid || rg != st.st_gid || eg != st.st_gid ||
      sg != st.st_gid || getgroups(0, nullptr) != 0) {
    return Status(Code::kInternal, "privilege drop left other ids behind");
  }
  if (setuid(0) == 0) return Status(Code::kInternal, "privilege drop: root is still reachable");

  id.uid = st.st_uid;
  id.gid = st.st_gid;
  id.dropped = true;
  id.can_bind_reserved = HasEffectiveCapability(CAP_NET_BIND_SERVICE);
  if (!id.can_bind_reserved) {
    return Status(Code::kInternal, "privilege drop lost CAP_NET_BIND_SERVICE");
  }
  return id;
}

Result<int> BindReservedPort(int fd, const sockaddr* local, socklen_t local_len) {
  if (local == nullptr) return Status(Code::kInvalidArgument, "no local address");
  int family = local->sa_family;
  if (family != AF_INET && family != AF_INET6) {
    return Status(Code::kInvalidArgument, "reserved port: not an IP address family");
  }
  int domain = 0;
  socklen_t dlen = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) != 0) {
    return ErrnoStatus("reserved port: getsockopt(SO_DOMAIN)", errno);
  }
  if (domain != family) {
    return Status(Code::kInvalidArgument, "reserved port: socket family does not match");
  }
  sockaddr_storage ss;
  std::memset(&ss, 0, sizeof ss);
  socklen_t need = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  if (local_len < need) return Status(Code::kInvalidArgument, "reserved port: short address");
  std::memcpy(&ss, local, need);

  const int count = kReservedPortHigh - kReservedPortLow + 1;
  const int start = static_cast<int>(RandomStart() % count);
  for (int i = 0; i < count; ++i) {
    const int port = kReservedPortLow + (start + i) % count;
    if (family == AF_INET) {
      reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(static_cast<uint16_t>(port));
    } else {
      reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(static_cast<uint16_t>(port));
    }
    if (bind(fd, reinterpret_cast<const sockaddr*>(&ss), need) == 0) return port;
    int err = errno;
    if (err == EADDRINUSE) continue;
    if (err == EACCES || err == EPERM) {
      return Status(Code::kPermission, "binding a reserved port needs CAP_NET_BIND_SERVICE: " +
                                           std::string(std::strerror(err)));
    }
    return ErrnoStatus("bind to reserved port " + std::to_string(port), err);
  }
  return Status(Code::kBusy, "no free reserved port in " + std::to_string(kReservedPortLow) + "-" +
                                 std::to_string(kReservedPortHigh));
}

Result<int> BindReservedPort(int fd, int family) {
  if (family == AF_INET) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    return BindReservedPort(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
  }
  if (family == AF_INET6) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_addr = in6addr_any;
    return BindReservedPort(fd, reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6);
  }
  return Status(Code::kInvalidArgument, "reserved port: family must be AF_INET or AF_INET6");
}

}  // namespace nsm::privsep
