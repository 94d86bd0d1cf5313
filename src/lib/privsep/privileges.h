// Dropping root the way nfs-utils does since CVE-2019-3689, and binding reserved
// source ports, which the kernel's lockd demands of statd's callbacks (a callback
// from an unreserved port is ignored).
//
// DropPrivileges(state_dir): when running as root, become the owner of
// <state_dir>/sm (or of state_dir itself when sm/ does not exist), with that
// directory's group and no supplementary groups, but keep CAP_NET_BIND_SERVICE in
// the permitted and effective sets (PR_SET_KEEPCAPS across setuid, then capset(2)
// through the raw syscall; no libcap). Every other capability is gone, and the
// saved uid is the new one, so root cannot be regained. When the owner is root,
// stays root (nfs-utils logs "chown <dir> to choose different user"). Not root:
// nothing changes. Like nfs-utils it also sets the umask to 007 (files the daemon
// creates are not world-readable).
//
// Threading: capabilities are per thread; call before starting any thread.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <string>

#include "base/status.h"

namespace nsm::privsep {

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  bool dropped = false;            // true iff this call switched from root
  bool can_bind_reserved = false;  // CAP_NET_BIND_SERVICE is effective
};

// Errors: stat of the directory, or a failed set*id/capset/prctl; after the latter
// the process may be half-way through the switch and must exit.
Result<Identity> DropPrivileges(const std::string& state_dir);

// The identity DropPrivileges(state_dir) would switch to (uid 0: it would stay root),
// without switching.
Result<Identity> DaemonIdentity(const std::string& state_dir);

// Gives `path` (if it exists) to id.uid/id.gid. Used by rpc.statd for files it creates
// as root before dropping privileges (the database in a root-owned state directory,
// as Debian ships /var/lib/nfs). A missing path is not an error.
Status HandOver(const std::string& path, const Identity& id);

// Whether capability `cap` (e.g. CAP_NET_BIND_SERVICE) is in this thread's
// effective set.
bool HasEffectiveCapability(int cap);

// Reserved source ports are picked from this range (below 665 lie well-known
// services that bindresvport-style pickers traditionally avoid).
inline constexpr int kReservedPortLow = 665;
inline constexpr int kReservedPortHigh = 1023;

// Binds the unbound socket fd (of address family `family`, AF_INET or AF_INET6) to
// the wildcard address and a free port in [kReservedPortLow, kReservedPortHigh],
// starting at a random one. Returns the port. kPermission without
// CAP_NET_BIND_SERVICE, kBusy when every port is taken, kInvalidArgument when fd's
// family is not `family`.
Result<int> BindReservedPort(int fd, int family);
// The same, bound to the address in `local` (its port is ignored).
Result<int> BindReservedPort(int fd, const sockaddr* local, socklen_t local_len);

}  // namespace nsm::privsep
