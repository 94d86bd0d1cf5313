"""Lockd emulator: the NLM side of the kernel, as statd sees it.

Server: registers program 100021 (versions 3 and 4 by default) over UDP and TCP with
the local rpcbind (portmap SET for udp/tcp, rpcbind SET for udp6/tcp6), listens on
reserved ports like lockd, answers NULL and procedure 16 (NLMPROC_NSM_NOTIFY, argument
`status`, void result), and records every callback: raw argument bytes, decoded fields,
source address and port, transport.  away() unregisters and stops answering (to test
statd's retries); back() undoes it.  Client: mon/unmon/unmon_all/stat/null/simu_crash
call statd like the kernel (TCP to 127.0.0.1, one connection per call, my_prog 100021,
my_vers 3, my_proc 16, 16-byte priv).

In-process: LockdEmulator(netns=...).start() runs a daemon thread; stop() cleans up.
As a process: `python3 -m nsmtest.lockd` prints "READY <udp port> <tcp port>" once
registered, then one JSON line per callback on stdout, until SIGTERM or SIGINT
(Host.python("lockd", "lockd", stdout=PIPE) runs it in a host).
"""
import dataclasses
import json
import selectors
import socket
import struct
import sys
import threading
import time

from . import portmap
from .nsm import NLM_PROG, NLMPROC_NSM_NOTIFY, MyId, StatdClient, decode_status
from .nsutil import in_netns
from .rpc import (LAST_FRAGMENT, PROC_UNAVAIL, PROG_MISMATCH, PROG_UNAVAIL, SUCCESS,
                  accepted_reply, bind_reserved, denied_rpc_mismatch, parse_call, record)
from .xdr import XdrError


def _plain(addr):
    return addr[7:] if addr.startswith("::ffff:") else addr


@dataclasses.dataclass
class Callback:
    raw: bytes            # the call's argument bytes, as received
    mon_name: str         # decoded fields (None if the argument did not decode)
    state: int
    priv: bytes
    src_addr: str         # IPv4-mapped addresses shown as plain IPv4
    src_port: int
    transport: str        # "udp" or "tcp"
    prog: int
    vers: int
    proc: int
    xid: int
    cred_flavor: int
    when: float
    error: str = None     # decoding error, if any

    def as_json(self):
        d = dataclasses.asdict(self)
        d["raw"], d["priv"] = self.raw.hex(), self.priv.hex() if self.priv is not None else None
        return json.dumps(d)


class _Conn:
    def __init__(self, sock, peer):
        self.sock, self.peer, self.buf, self.frags = sock, peer, bytearray(), bytearray()


class LockdEmulator:
    def __init__(self, netns=None, versions=(3, 4), my_name="nsm-client", rpcbind_host="127.0.0.1",
                 register=True, statd_host="127.0.0.1", statd_transport="tcp"):
        self.netns, self.versions, self.my_name = netns, tuple(versions), my_name
        self.rpcbind_host, self.auto_register = rpcbind_host, register
        self.statd_host, self.statd_transport = statd_host, statd_transport
        self.callbacks, self.calls = [], []
        self.answering = True
        self.registered = False
        self.on_callback = None   # optional fn(Callback) run in the server thread before replying
        self._cv = threading.Condition()
        self._sel = selectors.DefaultSelector()
        self._stop = False
        self._thread = None
        self.udp = self.tcp = None
        self.udp_port = self.tcp_port = None
        self.family = None

    # ---------------------------------------------------------------- lifecycle
    def start(self):
        with in_netns(self.netns):
            try:
                udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
                self.family = socket.AF_INET6
            except OSError:
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self.family = socket.AF_INET
            tcp = socket.socket(self.family, socket.SOCK_STREAM)
        for s in (udp, tcp):
            if self.family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.udp_port = bind_reserved(udp, self.family)
        self.tcp_port = bind_reserved(tcp, self.family)
        tcp.listen(64)
        udp.setblocking(False)
        tcp.setblocking(False)
        self.udp, self.tcp = udp, tcp
        self._sel.register(udp, selectors.EVENT_READ, "udp")
        self._sel.register(tcp, selectors.EVENT_READ, "listen")
        self._thread = threading.Thread(target=self._loop, name="lockd-emulator", daemon=True)
        self._thread.start()
        if self.auto_register:
            self.register()
        return self

    def stop(self):
        if self.registered:
            try:
                self.unregister()
            except Exception:
                pass
        self._stop = True
        if self._thread:
            self._thread.join(5)
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()
        self._sel.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------- registration
    def register(self):
        h = self.rpcbind_host
        for v in self.versions:
            assert portmap.pmap_set(NLM_PROG, v, "udp", self.udp_port, h, self.netns), "portmap SET udp refused"
            assert portmap.pmap_set(NLM_PROG, v, "tcp", self.tcp_port, h, self.netns), "portmap SET tcp refused"
            if self.family == socket.AF_INET6:
                portmap.rpcb_set(NLM_PROG, v, "udp6", portmap.uaddr("::", self.udp_port), "0", h, self.netns)
                portmap.rpcb_set(NLM_PROG, v, "tcp6", portmap.uaddr("::", self.tcp_port), "0", h, self.netns)
        self.registered = True

    def unregister(self):
        for v in self.versions:
            portmap.pmap_unset(NLM_PROG, v, self.rpcbind_host, self.netns)
            portmap.rpcb_unset(NLM_PROG, v, "", self.rpcbind_host, self.netns)
        self.registered = False

    def away(self, unregister=True):
        """Stop answering (calls are dropped unrecorded); optionally unregister too."""
        self.answering = False
        if unregister and self.registered:
            self.unregister()

    def back(self):
        if not self.registered:
            self.register()
        self.answering = True

    # ---------------------------------------------------------------- recording
    def wait_callbacks(self, n=1, timeout=10.0):
        """Block until at least n callbacks were recorded; returns a copy of the list."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self.callbacks) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            return list(self.callbacks)

    def clear(self):
        with self._cv:
            self.callbacks.clear()
            self.calls.clear()

    # ------------------------------------------------------------- server loop
    def _loop(self):
        while not self._stop:
            for key, _ in self._sel.select(0.1):
                try:
                    if key.data == "udp":
                        self._on_udp()
                    elif key.data == "listen":
                        self._on_accept()
                    else:
                        self._on_tcp(key.data)
                except OSError:
                    pass

    def _on_udp(self):
        data, peer = self.udp.recvfrom(65536)
        reply = self._handle(data, peer, "udp")
        if reply is not None:
            self.udp.sendto(reply, peer)

    def _on_accept(self):
        sock, peer = self.tcp.accept()
        sock.setblocking(False)
        self._sel.register(sock, selectors.EVENT_READ, _Conn(sock, peer))

    def _drop(self, conn):
        self._sel.unregister(conn.sock)
        conn.sock.close()

    def _on_tcp(self, conn):
        data = conn.sock.recv(65536)
        if not data:
            self._drop(conn)
            return
        conn.buf += data
        while len(conn.buf) >= 4:
            word = struct.unpack(">I", conn.buf[:4])[0]
            n = word & ~LAST_FRAGMENT
            if n > 1 << 20:
                self._drop(conn)
                return
            if len(conn.buf) < 4 + n:
                return
            conn.frags += conn.buf[4:4 + n]
            del conn.buf[:4 + n]
            if word & LAST_FRAGMENT:
                msg, conn.frags = bytes(conn.frags), bytearray()
                reply = self._handle(msg, conn.peer, "tcp")
                if reply is not None:
                    conn.sock.setblocking(True)
                    conn.sock.sendall(record(reply))
                    conn.sock.setblocking(False)

    def _handle(self, data, peer, transport):
        if not self.answering:
            return None
        try:
            call = parse_call(data)
        except XdrError:
            return None
        with self._cv:
            self.calls.append((call, peer, transport))
        if call.rpcvers != 2:
            return denied_rpc_mismatch(call.xid)
        if call.prog != NLM_PROG:
            return accepted_reply(call.xid, PROG_UNAVAIL)
        if call.vers not in self.versions:
            return accepted_reply(call.xid, PROG_MISMATCH, low=min(self.versions), high=max(self.versions))
        if call.proc == 0:
            return accepted_reply(call.xid, SUCCESS)
        if call.proc != NLMPROC_NSM_NOTIFY:
            return accepted_reply(call.xid, PROC_UNAVAIL)
        try:
            st, err = decode_status(call.args), None
        except XdrError as e:
            st, err = None, str(e)
        cb = Callback(raw=call.args, mon_name=st and st.mon_name, state=st and st.state,
                      priv=st and st.priv, src_addr=_plain(peer[0]), src_port=peer[1],
                      transport=transport, prog=call.prog, vers=call.vers, proc=call.proc,
                      xid=call.xid, cred_flavor=call.cred.flavor, when=time.time(), error=err)
        if self.on_callback:
            self.on_callback(cb)
        with self._cv:
            self.callbacks.append(cb)
            self._cv.notify_all()
        return accepted_reply(call.xid, SUCCESS)

    # ----------------------------------------------------- kernel-client side
    def my_id(self, vers=3, proc=NLMPROC_NSM_NOTIFY, prog=NLM_PROG, my_name=None):
        return MyId(my_name or self.my_name, prog, vers, proc)

    def statd(self, transport=None, host=None, **kw):
        return StatdClient(host or self.statd_host, transport or self.statd_transport,
                           netns=self.netns, **kw)

    def mon(self, mon_name, priv, transport=None, host=None, **my_id_kw):
        with self.statd(transport, host) as c:
            return c.mon(mon_name, self.my_id(**my_id_kw), priv)

    def unmon(self, mon_name, transport=None, host=None, **my_id_kw):
        with self.statd(transport, host) as c:
            return c.unmon(mon_name, self.my_id(**my_id_kw))

    def unmon_all(self, transport=None, host=None, **my_id_kw):
        with self.statd(transport, host) as c:
            return c.unmon_all(self.my_id(**my_id_kw))

    def stat(self, mon_name, transport=None, host=None):
        with self.statd(transport, host) as c:
            return c.stat(mon_name)

    def null(self, transport=None, host=None):
        with self.statd(transport, host) as c:
            c.null()

    def simu_crash(self, transport=None, host=None):
        with self.statd(transport, host) as c:
            c.simu_crash()


def main(argv=None):
    import argparse
    import queue
    import signal
    ap = argparse.ArgumentParser(prog="python3 -m nsmtest.lockd", description=__doc__.split("\n")[0])
    ap.add_argument("--versions", default="3,4")
    ap.add_argument("--no-register", action="store_true")
    args = ap.parse_args(argv)
    emu = LockdEmulator(versions=[int(v) for v in args.versions.split(",")], register=not args.no_register)
    pending = queue.Queue()
    emu.on_callback = pending.put        # printed by the main thread only

    def term(*_):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, term)
    try:
        emu.start()
        print("READY %d %d" % (emu.udp_port, emu.tcp_port), flush=True)
        while True:
            try:
                cb = pending.get(timeout=0.2)
            except queue.Empty:
                continue
            print(cb.as_json(), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
