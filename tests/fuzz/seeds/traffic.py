#!/usr/bin/python3
"""Usage: traffic.py STATD_STATE_DIR LEGACY_OUT_DIR | traffic.py --simu-crash

Real NSM traffic for the fuzz seed corpora (run by capture.sh inside a private
network namespace, with rpcbind and nfs-utils' rpc.statd already running).

Plays the kernel's part: a fake lockd registers program 100021 with rpcbind and
answers statd's callbacks; SM_NULL/STAT/MON/UNMON/UNMON_ALL/NOTIFY calls go to statd
over UDP and TCP (one TCP call split into several record fragments), with AUTH_NONE
and AUTH_SYS credentials; a few portmap/rpcbind queries give more reply shapes.
Everything here is loopback only; names are IP literals or "localhost".
"""
import os
import shutil
import socket
import struct
import sys
import threading
import time

PMAP_PROG, SM_PROG, NLM_PROG = 100000, 100024, 100021
xid_counter = [0x5eed0000]


def u32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


def opaque(b):
    return u32(len(b)) + b + b"\0" * ((4 - len(b) % 4) % 4)


def string(s):
    return opaque(s.encode())


def auth_sys(machine="fuzzseed", uid=0, gid=0, gids=()):
    body = u32(int(time.time())) + string(machine) + u32(uid) + u32(gid) + u32(len(gids))
    body += b"".join(u32(g) for g in gids)
    return u32(1) + opaque(body)


AUTH_NONE = u32(0) + u32(0)


def call(prog, vers, proc, args=b"", cred=AUTH_NONE):
    xid_counter[0] += 1
    return xid_counter[0], (u32(xid_counter[0]) + u32(0) + u32(2) + u32(prog) + u32(vers) +
                            u32(proc) + cred + AUTH_NONE + args)


def reply_void(msg):
    xid = msg[:4]
    return xid + u32(1) + u32(0) + AUTH_NONE + u32(0)


def udp_call(port, prog, vers, proc, args=b"", cred=AUTH_NONE, src_port=0):
    xid, msg = call(prog, vers, proc, args, cred)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        if src_port:
            s.bind(("127.0.0.1", src_port))
        s.settimeout(5)
        s.sendto(msg, ("127.0.0.1", port))
        return s.recv(65536)


def recv_record(s):
    out = b""
    while True:
        hdr = b""
        while len(hdr) < 4:
            chunk = s.recv(4 - len(hdr))
            if not chunk:
                raise EOFError("connection closed")
            hdr += chunk
        (h,) = struct.unpack(">I", hdr)
        n = h & 0x7FFFFFFF
        while n:
            chunk = s.recv(n)
            if not chunk:
                raise EOFError("connection closed")
            out += chunk
            n -= len(chunk)
        if h & 0x80000000:
            return out


def tcp_call(port, prog, vers, proc, args=b"", cred=AUTH_NONE, fragments=1, src_port=0):
    xid, msg = call(prog, vers, proc, args, cred)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        if src_port:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", src_port))
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        step = max(1, -(-len(msg) // fragments))
        parts = [msg[i:i + step] for i in range(0, len(msg), step)]
        # All fragments in one write: nfs-utils' statd (libtirpc) drops a connection
        # whose record arrives in pieces over time.
        s.sendall(b"".join(u32((0x80000000 if i == len(parts) - 1 else 0) | len(p)) + p
                           for i, p in enumerate(parts)))
        return recv_record(s)


def getport(prog, vers, prot):
    r = udp_call(111, PMAP_PROG, 2, 3, u32(prog) + u32(vers) + u32(prot) + u32(0))
    return struct.unpack(">I", r[-4:])[0]


class FakeLockd:
    """Answers NULL and the SM callback (procedure 16) with a void reply."""

    def __init__(self):
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.callbacks = 0
        self.udp_port = self.udp.getsockname()[1]
        self.tcp_port = self.tcp.getsockname()[1]
        threading.Thread(target=self._udp_loop, daemon=True).start()
        threading.Thread(target=self._tcp_loop, daemon=True).start()

    def _udp_loop(self):
        while True:
            msg, peer = self.udp.recvfrom(65536)
            self.callbacks += 1
            self.udp.sendto(reply_void(msg), peer)

    def _tcp_loop(self):
        while True:
            conn, _ = self.tcp.accept()
            with conn:
                try:
                    while True:
                        msg = recv_record(conn)
                        self.callbacks += 1
                        r = reply_void(msg)
                        conn.sendall(u32(0x80000000 | len(r)) + r)
                except (EOFError, OSError):
                    pass

    def register(self):
        for vers in (1, 3, 4):
            for prot, port in ((17, self.udp_port), (6, self.tcp_port)):
                # PMAPPROC_SET from a reserved port (rpcbind insists for SET).
                udp_call(111, PMAP_PROG, 2, 1, u32(NLM_PROG) + u32(vers) + u32(prot) + u32(port),
                         src_port=700 + vers * 2 + (prot == 6))


def mon_args(mon_name, my_name="localhost", proc=16, vers=4, priv=None):
    priv = priv if priv is not None else bytes(range(16))
    return string(mon_name) + string(my_name) + u32(NLM_PROG) + u32(vers) + u32(proc) + priv


def save_sm_files(state_dir, out_dir, tag):
    """Copies statd's legacy sm/ files (one per monitored host) for the legacy_sm corpus."""
    sm = os.path.join(state_dir, "sm")
    for name in sorted(os.listdir(sm)):
        shutil.copyfile(os.path.join(sm, name), os.path.join(out_dir, "statd-%s-%s" % (tag, name)))


def simu_crash():
    try:  # nfs-utils 2.6 answers SM_SIMU_CRASH by exiting; a reply may not come
        udp_call(getport(SM_PROG, 1, 17), SM_PROG, 1, 5)
    except OSError:
        pass


def main():
    if sys.argv[1:] == ["--simu-crash"]:
        return simu_crash()
    state_dir, legacy_out = sys.argv[1], sys.argv[2]
    lockd = FakeLockd()
    lockd.register()
    sm_udp, sm_tcp = getport(SM_PROG, 1, 17), getport(SM_PROG, 1, 6)
    if not sm_udp or not sm_tcp:
        sys.exit("statd is not registered with rpcbind")
    sys_cred = auth_sys(gids=(0, 1, 2))

    # Portmap v2 and rpcbind v3/v4 shapes (DUMP is a long list).
    tcp_call(111, PMAP_PROG, 2, 4)
    udp_call(111, PMAP_PROG, 2, 0)
    udp_call(111, PMAP_PROG, 3, 3, u32(SM_PROG) + u32(1) + string("udp") + string("") +
             string(""))
    tcp_call(111, PMAP_PROG, 4, 3, u32(SM_PROG) + u32(1) + string("tcp") + string("") +
             string(""))

    for tag, send in (("udp", lambda *a, **k: udp_call(sm_udp, *a, **k)),
                      ("tcp", lambda *a, **k: tcp_call(sm_tcp, *a, **k))):
        send(SM_PROG, 1, 0)
        send(SM_PROG, 1, 1, string("127.0.0.1"))
        send(SM_PROG, 1, 1, string("localhost"), cred=sys_cred)
        send(SM_PROG, 1, 2, mon_args("127.0.0.1"))
        send(SM_PROG, 1, 2, mon_args("127.0.0.2", priv=b"\xff" * 16), cred=sys_cred)
        send(SM_PROG, 1, 2, mon_args("localhost", proc=24, vers=3))
        send(SM_PROG, 1, 2, mon_args("::1", my_name="127.0.0.1"))
        send(SM_PROG, 1, 2, mon_args("bad/name"))            # refused by statd
        send(SM_PROG, 1, 2, mon_args("127.0.0.3", proc=99))  # refused: callback proc
        save_sm_files(state_dir, legacy_out, tag)
        send(SM_PROG, 1, 3, string("127.0.0.2") + string("localhost") + u32(NLM_PROG) +
             u32(4) + u32(16))
        send(SM_PROG, 1, 6, string("127.0.0.1") + u32(7))    # statd calls lockd back
        send(SM_PROG, 1, 6, string("localhost") + u32(0xFFFFFFFF))
        send(SM_PROG, 1, 7)                                  # PROC_UNAVAIL
        send(SM_PROG, 2, 0)                                  # PROG_MISMATCH
        send(SM_PROG, 1, 2, b"\0\0\0\x09abc")                # GARBAGE_ARGS
        time.sleep(0.5)  # the callbacks of the SM_NOTIFYs above
        send(SM_PROG, 1, 4, string("localhost") + u32(NLM_PROG) + u32(4) + u32(16))
    # A call in four record fragments, and a denied call (rpcvers 3).
    # nfs-utils 2.6's statd takes 2 fragments but resets the connection on 4 (seen with
    # libtirpc 1.3.3); the client's stream is what the seeds need either way.
    for n in (2, 4):
        try:
            tcp_call(sm_tcp, SM_PROG, 1, 2, mon_args("127.0.0.4", priv=b"fragment4record!"),
                     fragments=n)
        except OSError as e:
            print("statd refused a call in %d fragments: %s" % (n, e))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(u32(0x777) + u32(0) + u32(3) + u32(SM_PROG) + u32(1) + u32(0) + AUTH_NONE * 2,
                 ("127.0.0.1", sm_udp))
        try:
            s.recv(65536)
        except OSError:
            print("statd did not answer an RPC version 3 call")
    time.sleep(1.0)  # let statd's callbacks reach the fake lockd
    print("traffic done: %d lockd calls" % lockd.callbacks)


if __name__ == "__main__":
    main()
