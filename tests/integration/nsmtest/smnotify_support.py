"""Support for the sm-notify integration tests (test_smnotify.py).

PeerStatd: a reference peer, i.e. nfs-utils rpc.statd with a fresh state directory
plus a lockd emulator in a peer namespace; its lockd monitors our host (SM_MON
through the peer's statd, like a client that holds a lock on our host), so the
peer's statd calls its lockd back when our sm-notify reaches it.

FakeNsmPeer: a minimal NSM server in a peer namespace that registers only the
transports it is given (e.g. TCP only) and records every SM_NOTIFY.

sm_notify_binary() / SmNotifyRun: the sm-notify under test and its runs.
"""
import os
import re
import selectors
import signal
import socket
import struct
import threading
import time

from . import daemons, portmap, procs
from .lockd import LockdEmulator
from .nsm import SM_NOTIFY, SM_PROG, SM_VERS, STAT_SUCC
from .nsutil import in_netns
from .rpc import (LAST_FRAGMENT, PROC_UNAVAIL, PROG_UNAVAIL, SUCCESS, accepted_reply,
                  parse_call, record)
from .xdr import Unpacker, XdrError

_counter = [0]


def sm_notify_binary():
    """$NSM_SM_NOTIFY, else $NSM_BUILD_DIR/sm-notify, else None."""
    env = os.environ.get("NSM_SM_NOTIFY")
    if env:
        return env
    build = os.environ.get("NSM_BUILD_DIR")
    if build:
        path = os.path.join(build, "sm-notify")
        if os.access(path, os.X_OK):
            return path
    return None


def fresh_dir(session, tag):
    """A new, empty state directory owned by `statd` (as Debian's /var/lib/nfs is), with
    sm/ and sm.bak/: the daemons drop to that user and create their files there."""
    _counter[0] += 1
    d = daemons.prepare_state_dir(session.path("state", "%s.%d" % (tag, _counter[0])))
    uid, gid = daemons.statd_user()
    os.chown(d, uid, gid)
    return d


class PeerStatd:
    """nfs-utils rpc.statd + lockd emulator on `peer` (fresh state each time)."""

    def __init__(self, session, peer):
        self.session, self.peer = session, peer
        self.dir = fresh_dir(session, "peer-" + peer.name)
        self.statd = daemons.Statd(peer, self.dir, binary=daemons.NFS_UTILS_STATD, name="peer-statd")
        self.lockd = None

    def start(self):
        self.statd.start()
        self.lockd = LockdEmulator(netns=self.peer.netns, my_name=self.peer.name).start()
        return self

    def monitor(self, mon_name, priv=None):
        """The peer's lockd monitors `mon_name` (our host, as the peer knows it)."""
        priv = priv if priv is not None else os.urandom(16)
        res = self.lockd.mon(mon_name, priv)
        assert res.res_stat == STAT_SUCC, (mon_name, res)
        return priv

    def stop(self):
        if self.lockd:
            self.lockd.stop()
            self.lockd = None
        if self.statd.alive():
            self.statd.stop()
        daemons.forget_registration(self.peer)


class FakeNsmPeer:
    """NSM server in `peer`'s namespace, registered with the peer's rpcbind for the
    given transports only ("tcp", "udp"); answers NULL and SM_NOTIFY and records
    (mon_name, state, transport, source address, source port) of each SM_NOTIFY.
    Calls arriving over a transport in `mute` are recorded but never answered."""

    def __init__(self, peer, transports=("tcp",), mute=()):
        self.peer, self.transports, self.mute = peer, tuple(transports), tuple(mute)
        self.notifies = []
        self._cv = threading.Condition()
        self._sel = selectors.DefaultSelector()
        self._stop = False
        self._thread = None
        self._socks = []
        self.ports = {}

    def start(self):
        with in_netns(self.peer.netns):
            for t in self.transports:
                s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM if t == "tcp" else socket.SOCK_DGRAM)
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                if t == "tcp":
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("::", 0))
                if t == "tcp":
                    s.listen(16)
                s.setblocking(False)
                self.ports[t] = s.getsockname()[1]
                self._socks.append(s)
                self._sel.register(s, selectors.EVENT_READ, ("listen" if t == "tcp" else "udp", None))
        self._thread = threading.Thread(target=self._loop, daemon=True, name="fake-nsm")
        self._thread.start()
        daemons.forget_registration(self.peer)
        for t, port in self.ports.items():
            assert portmap.pmap_set(SM_PROG, SM_VERS, t, port, netns=self.peer.netns)
            portmap.rpcb_set(SM_PROG, SM_VERS, t + "6", portmap.uaddr("::", port), "0",
                             netns=self.peer.netns)
        return self

    def stop(self):
        daemons.forget_registration(self.peer)
        self._stop = True
        if self._thread:
            self._thread.join(5)
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()
        self._sel.close()

    def wait_notifies(self, n=1, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self.notifies) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            return list(self.notifies)

    def _loop(self):
        while not self._stop:
            for key, _ in self._sel.select(0.1):
                kind, buf = key.data
                try:
                    if kind == "udp":
                        data, src = key.fileobj.recvfrom(65536)
                        reply = self._handle(data, src, "udp")
                        if reply:
                            key.fileobj.sendto(reply, src)
                    elif kind == "listen":
                        conn, src = key.fileobj.accept()
                        conn.setblocking(False)
                        self._sel.register(conn, selectors.EVENT_READ, ("conn", [bytearray(), src]))
                    else:
                        self._on_conn(key.fileobj, buf)
                except OSError:
                    pass

    def _on_conn(self, conn, state):
        data = conn.recv(65536)
        if not data:
            self._sel.unregister(conn)
            conn.close()
            return
        state[0] += data
        while len(state[0]) >= 4:
            word = struct.unpack(">I", state[0][:4])[0]
            n = word & ~LAST_FRAGMENT
            if len(state[0]) < 4 + n:
                return
            msg = bytes(state[0][4:4 + n])
            del state[0][:4 + n]
            reply = self._handle(msg, state[1], "tcp")
            if reply:
                conn.setblocking(True)
                conn.sendall(record(reply))
                conn.setblocking(False)

    def _handle(self, data, src, transport):
        try:
            call = parse_call(data)
        except XdrError:
            return None
        if call.prog != SM_PROG:
            return accepted_reply(call.xid, PROG_UNAVAIL)
        if call.proc == 0:
            return accepted_reply(call.xid, SUCCESS)
        if call.proc != SM_NOTIFY:
            return accepted_reply(call.xid, PROC_UNAVAIL)
        u = Unpacker(call.args)
        mon_name, state = u.string(1024), u.int()
        addr = src[0][7:] if src[0].startswith("::ffff:") else src[0]
        with self._cv:
            self.notifies.append((mon_name, state, transport, addr, src[1]))
            self._cv.notify_all()
        if transport in self.mute:
            return None
        return accepted_reply(call.xid, SUCCESS)


SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ThreadSanitizer")


class SmNotifyRun:
    """One sm-notify process on `host`: foreground (-d) unless asked otherwise."""

    def __init__(self, host, args, name="sm-notify"):
        self.host, self.args = host, list(args)
        self.proc = host.spawn(name, [sm_notify_binary()] + self.args)
        self.started = time.monotonic()

    def wait(self, timeout):
        """Exit code; fails the test if the run takes longer or wrote a sanitizer report."""
        try:
            rc = self.proc.popen.wait(timeout)
        except Exception:
            raise AssertionError("sm-notify %s still running after %ss:\n%s"
                                 % (self.args, timeout, self.proc.text()))
        self.elapsed = time.monotonic() - self.started
        for bad in SANITIZER_REPORTS:
            assert bad not in self.text(), self.text()
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.popen.wait(5)

    def text(self):
        return self.proc.text()

    def state(self):
        """The state number announced (from the log line 'notifying N hosts ... state S')."""
        m = re.search(r"notifying \d+ hosts .* state (\d+)", self.text())
        return int(m.group(1)) if m else None

    def notified(self):
        m = re.search(r"notified (\d+) of (\d+) hosts in (\d+) ms; (\d+) failed", self.text())
        return tuple(int(x) for x in m.groups()) if m else None

    def stop(self):
        if self.proc.alive():
            self.proc.stop()


def wait_for(pred, timeout, what):
    return procs.wait_until(pred, timeout, what=what)
