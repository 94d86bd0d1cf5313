"""Privileges, seen from outside (issue 6, "prove it"). The state directory's sm/
belongs to user statd (nsmtest.daemons.prepare_state_dir), so once started:

- rpc.statd runs as statd: uid and gid (real, effective, saved, filesystem) of every
  thread are statd's, no supplementary groups; of all capabilities the main thread has
  only CAP_NET_BIND_SERVICE (bit 10) permitted and effective, the other threads at most
  that, and nothing is inheritable or ambient. It is not dumpable (its /proc files belong to root), so nothing running as
  statd can read its memory. docs/design.md, src/lib/privsep/privileges.h.
- The database and its -wal/-shm are statd's, mode 0600.
- The resolver sidecar (docs/resolver.md) is not root, has no capabilities, has
  no_new_privs and a seccomp filter, holds no descriptor but /dev/null, stderr and its
  socket, and cannot write the store: under another uid (nobody) the 0600 mode forbids
  it (checked by trying with that identity); under the daemon's own uid, Landlock does
  (the kernel offers it and the sidecar did not report running without it).
"""
import ctypes
import os
import platform
import pwd
import stat

import pytest

from nsmtest import daemons, procs
from nsmtest.dns_outage_support import sidecar_pids

pytestmark = pytest.mark.nsm_only  # nfs-utils has no sidecar and keeps other capabilities

CAP_NET_BIND_SERVICE = 10
DB_FILES = ("nsm.db", "nsm.db-wal", "nsm.db-shm")


def status(path):
    """/proc/.../status as {field: [values]}."""
    out = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.split()
    return out


def caps(st, field):
    return int(st[field][0], 16)


def statd_identity():
    uid, gid = daemons.statd_user()
    if uid == 0:
        pytest.skip("no user statd on this machine")
    return uid, gid


def landlock_abi():
    """The kernel's Landlock ABI version (0: none)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): 444 on x86_64
    # and on the generic syscall table (arm64, riscv).
    v = libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(v), 0)


def can_write_as(uid, gid, groups, path):
    """Whether a process with exactly these ids (no capabilities) can open `path` for
    writing, or create a file beside it. Forks; the child never returns."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        verdict = b"no"
        try:
            os.setgroups(groups)
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            for attempt in (lambda: os.open(path, os.O_WRONLY),
                            lambda: os.open(path + ".probe", os.O_WRONLY | os.O_CREAT, 0o600)):
                try:
                    os.close(attempt())
                    verdict = b"yes"
                except PermissionError:
                    pass
            if os.path.exists(path + ".probe"):
                os.unlink(path + ".probe")
        except Exception as e:  # noqa: BLE001 - reported to the parent
            verdict = ("error " + repr(e)).encode()
        os.write(w, verdict)
        os._exit(0)
    os.close(w)
    verdict = os.read(r, 200).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert not verdict.startswith("error"), verdict
    return verdict == "yes"


def test_daemon_runs_as_state_directory_owner_with_only_net_bind_service(statd):
    uid, gid = statd_identity()
    pid = statd.proc.pid
    tasks = os.listdir("/proc/%d/task" % pid)
    assert str(pid) in tasks
    bind = 1 << CAP_NET_BIND_SERVICE
    for tid in tasks:
        st = status("/proc/%d/task/%s/status" % (pid, tid))
        where = "thread %s of rpc.statd" % tid
        assert st["Uid"] == [str(uid)] * 4, where + ": Uid " + " ".join(st["Uid"])
        assert st["Gid"] == [str(gid)] * 4, where + ": Gid " + " ".join(st["Gid"])
        assert st.get("Groups", []) == [], where + ": supplementary groups %s" % st["Groups"]
        assert caps(st, "CapInh") == 0, where + ": CapInh " + st["CapInh"][0]
        assert caps(st, "CapAmb") == 0, where + ": CapAmb " + st["CapAmb"][0]
        if tid == str(pid):
            # The main thread (the io thread: sockets, reserved source ports).
            assert caps(st, "CapEff") == bind, where + ": CapEff " + st["CapEff"][0]
            assert caps(st, "CapPrm") == bind, where + ": CapPrm " + st["CapPrm"][0]
        else:
            # Capabilities are per thread. A thread started before the drop (the store's
            # committer: the database is opened as root) lost all of them with the uid
            # change, which glibc applies to every thread; none may have more.
            assert caps(st, "CapEff") & ~bind == 0, where + ": CapEff " + st["CapEff"][0]
            assert caps(st, "CapPrm") & ~bind == 0, where + ": CapPrm " + st["CapPrm"][0]
    # Not dumpable: the kernel then gives the process's /proc files to root.
    assert os.stat("/proc/%d/status" % pid).st_uid == 0, "rpc.statd is dumpable after the uid change"
    assert os.stat("/proc/%d/mem" % pid).st_uid == 0


def test_database_files_belong_to_statd_mode_0600(statd):
    uid, _ = statd_identity()
    seen = []
    for name in DB_FILES:
        path = os.path.join(statd.state_dir, name)
        if not os.path.exists(path):
            continue
        st = os.stat(path)
        seen.append(name)
        assert st.st_uid == uid, "%s belongs to uid %d" % (name, st.st_uid)
        assert stat.S_IMODE(st.st_mode) == 0o600, "%s has mode %o" % (name, stat.S_IMODE(st.st_mode))
    assert "nsm.db" in seen


def test_resolver_sidecar_is_unprivileged_and_cannot_write_the_store(statd):
    uid, gid = statd_identity()
    nobody = pwd.getpwnam("nobody")
    pid = statd.proc.pid
    found = procs.wait_until(lambda: sidecar_pids(pid), 5, what="the resolver sidecar")
    assert len(found) == 1, found
    sc = found[0]
    statd.proc.wait_log("sidecar pid %d ready" % sc, 5)
    tasks = os.listdir("/proc/%d/task" % sc)
    st = status("/proc/%d/status" % sc)
    sc_uid, sc_gid = int(st["Uid"][0]), int(st["Gid"][0])
    groups = [int(g) for g in st.get("Groups", [])]
    # Either the daemon's identity (so the daemon can kill it) or nobody's (older wiring).
    assert (sc_uid, sc_gid) in ((uid, gid), (nobody.pw_uid, nobody.pw_gid)), (sc_uid, sc_gid)
    assert sc_uid != 0 and sc_gid != 0 and 0 not in groups
    for tid in tasks:
        t = status("/proc/%d/task/%s/status" % (sc, tid))
        where = "sidecar thread %s" % tid
        assert t["Uid"] == [str(sc_uid)] * 4 and t["Gid"] == [str(sc_gid)] * 4, where
        assert t["NoNewPrivs"] == ["1"], where + ": NoNewPrivs " + " ".join(t["NoNewPrivs"])
        for field in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
            assert caps(t, field) == 0, "%s: %s %s" % (where, field, t[field][0])
        if platform.machine() in ("x86_64", "aarch64"):
            assert t["Seccomp"] == ["2"], where + ": Seccomp " + " ".join(t["Seccomp"])
    # Descriptors: stdin/stdout on /dev/null, stderr, the socket to the daemon; nothing
    # of the state directory.
    fds = {int(fd): os.readlink("/proc/%d/fd/%s" % (sc, fd)) for fd in os.listdir("/proc/%d/fd" % sc)}
    assert sorted(fds) == [0, 1, 2, 3], fds
    assert fds[0] == fds[1] == "/dev/null" and fds[3].startswith("socket:"), fds
    assert not any(t.startswith(statd.state_dir) for t in fds.values()), fds

    db = os.path.join(statd.state_dir, "nsm.db")
    owner = os.stat(db).st_uid
    log = statd.log()
    if sc_uid != owner:
        # The 0600 mode is the barrier: that identity can neither write nor create.
        assert not can_write_as(sc_uid, sc_gid, groups, db), \
            "uid %d (the sidecar's) can write %s" % (sc_uid, db)
    else:
        # Same uid as the database: only Landlock stands between the sidecar and it.
        assert landlock_abi() >= 1, \
            "the sidecar has the database owner's uid and the kernel has no Landlock"
        assert "no filesystem sandbox" not in log, "the sidecar runs without Landlock"
    assert "no signal sandbox" not in log
