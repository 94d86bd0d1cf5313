"""The daemons under test and the reference peers: which rpc.statd, how to run it in a
host with a temp state directory, the sm/ record format, and nfs-utils sm-notify.

select_statd() is the one place that decides which rpc.statd is tested:
  $NSM_STATD if set, else $NSM_BUILD_DIR/rpc.statd if executable, else /usr/sbin/rpc.statd.
"""
import os
import pwd
import signal
import struct

from . import portmap, procs
from .nsm import NLM_PROG, NLMPROC_NSM_NOTIFY, SM_PROG, SM_VERS
from .rpc import rpc_ping

NFS_UTILS_STATD = "/usr/sbin/rpc.statd"
NFS_UTILS_SM_NOTIFY = "/usr/sbin/sm-notify"


def select_statd():
    """Path of the rpc.statd under test (see module doc)."""
    env = os.environ.get("NSM_STATD")
    if env:
        return env
    build = os.environ.get("NSM_BUILD_DIR")
    if build:
        ours = os.path.join(build, "rpc.statd")
        if os.path.isfile(ours) and os.access(ours, os.X_OK):
            return ours
    return NFS_UTILS_STATD


def is_nfs_utils(path=None):
    """True when the statd under test is nfs-utils' (NSM_STATD_FLAVOR=nsm|nfs-utils overrides)."""
    flavor = os.environ.get("NSM_STATD_FLAVOR")
    if flavor:
        return flavor == "nfs-utils"
    path = path or select_statd()
    return os.path.realpath(path) == os.path.realpath(NFS_UTILS_STATD)


def statd_user():
    """(uid, gid) that nfs-utils daemons drop to: user `statd` if it exists, else root."""
    try:
        pw = pwd.getpwnam("statd")
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        return 0, 0


def prepare_state_dir(path, state=None, owner=None):
    """Create DIR, DIR/sm, DIR/sm.bak (owned by `statd`, as nfs-utils requires);
    write DIR/state (4-byte native int) if `state` is given."""
    uid, gid = owner or statd_user()
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o755)
    for sub in ("sm", "sm.bak"):
        d = os.path.join(path, sub)
        os.makedirs(d, exist_ok=True)
        os.chown(d, uid, gid)
        os.chmod(d, 0o700)
    if state is not None:
        write_state(path, state)
    return path


def read_state(path):
    with open(os.path.join(path, "state"), "rb") as f:
        data = f.read()
    return struct.unpack("=i", data[:4])[0] if len(data) >= 4 else None


def write_state(path, state):
    with open(os.path.join(path, "state"), "wb") as f:
        f.write(struct.pack("=i", state))


def sm_record_line(mon_name, my_name, priv, addr="127.0.0.1", prog=NLM_PROG, vers=3,
                   proc=NLMPROC_NSM_NOTIFY):
    """One line of an sm/ or sm.bak/ file (reference section 3):
    <addr hex> <prog hex> <vers hex> <proc hex> <priv 32 hex> <mon_name> <my_name>"""
    a = struct.unpack("=I", bytes(int(x) for x in addr.split(".")))[0]
    return "%08x %08x %08x %08x %s %s %s\n" % (a, prog, vers, proc, bytes(priv).hex(), mon_name, my_name)


def write_sm_record(state_dir, mon_name, my_name, priv, sub="sm", **kw):
    """Append a record for `mon_name` to DIR/sub/<mon_name>, owned by the statd user."""
    path = os.path.join(state_dir, sub, mon_name)
    with open(path, "a") as f:
        f.write(sm_record_line(mon_name, my_name, priv, **kw))
    uid, gid = statd_user()
    os.chown(path, uid, gid)
    return path


class Statd:
    """An rpc.statd running in `host` with state directory `state_dir`.
    Default options: -F -d -L -P DIR (foreground, stderr log, no notify at start)."""

    def __init__(self, host, state_dir, binary=None, args=(), notify=False, name="statd"):
        self.host, self.state_dir = host, state_dir
        self.binary = binary or select_statd()
        self.args, self.notify, self.name = list(args), notify, name
        self.proc = None
        self.stopped_by = None     # signal of a deliberate stop()
        self.exit_code = None

    def argv(self):
        a = [self.binary, "-F", "-d"]
        if not self.notify:
            a.append("-L")
        return a + ["-P", self.state_dir] + self.args

    def start(self, timeout=10.0):
        forget_registration(self.host)
        self.proc = self.host.spawn(self.name, self.argv())
        try:
            procs.wait_until(lambda: not self.proc.alive() or self.registered(), timeout,
                             what="rpc.statd to register with rpcbind on " + self.host.name)
        except TimeoutError:
            raise RuntimeError("rpc.statd did not register:\n" + self.proc.text())
        if not self.proc.alive():
            raise RuntimeError("rpc.statd exited (%s):\n%s" % (self.proc.popen.returncode, self.proc.text()))
        return self

    def ports(self):
        """(udp port, tcp port) registered with rpcbind (0 if not)."""
        return (portmap.getport(SM_PROG, SM_VERS, "udp", netns=self.host.netns),
                portmap.getport(SM_PROG, SM_VERS, "tcp", netns=self.host.netns))

    def registered(self):
        try:
            udp, tcp = self.ports()
        except Exception:
            return False
        return bool(udp and tcp and rpc_ping("127.0.0.1", udp, SM_PROG, SM_VERS, "udp", 0.5, self.host.netns))

    def alive(self):
        return self.proc is not None and self.proc.alive()

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        if self.proc.alive():
            self.stopped_by = sig
        self.exit_code = self.proc.stop(sig)
        if sig == signal.SIGKILL:
            forget_registration(self.host)
        return self.exit_code

    def problems(self):
        """What went wrong with this daemon, judged after stop(): it died by itself, was
        killed by a signal it was not sent, or a sanitizer reported an error."""
        out = []
        rc = self.exit_code
        if self.stopped_by is None and self.proc is not None:
            out.append("rpc.statd exited by itself during the test (exit code %s)" % rc)
        elif rc == -signal.SIGKILL and self.stopped_by != signal.SIGKILL:
            out.append("rpc.statd did not exit within 5 s of signal %d" % self.stopped_by)
        elif rc is not None and rc < 0 and -rc != self.stopped_by:
            out.append("rpc.statd died of signal %d" % -rc)
        text = self.log()
        for needle in SANITIZER_MARKS:
            if needle in text:
                out.append("sanitizer report in the rpc.statd log: %r" % needle)
                break
        return out

    def log(self):
        return self.proc.text() if self.proc else ""

    def state(self):
        return read_state(self.state_dir)


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer", "ThreadSanitizer")


def forget_registration(host):
    """Remove a stale 100024 v1 registration (a statd killed with -9 leaves one)."""
    try:
        portmap.pmap_unset(SM_PROG, SM_VERS, netns=host.netns)
        portmap.rpcb_unset(SM_PROG, SM_VERS, "", netns=host.netns)
    except Exception:
        pass


def run_sm_notify(host, state_dir, args=(), timeout=30, binary=NFS_UTILS_SM_NOTIFY):
    """Run `sm-notify -d -f -P DIR ARGS...` in `host` to completion; CompletedProcess."""
    argv = [binary, "-d", "-f", "-P", state_dir] + list(args)
    return host.run(argv, check=False, timeout=timeout)
