"""ONC RPC (RFC 5531) over UDP and TCP, client and server halves, for the tests.

Client: RpcClient(host, port, "udp"|"tcp") sends calls with AUTH_NONE or AUTH_SYS,
matches replies by xid, can bind a reserved source port, can live in another network
namespace (netns=path), and can send raw bytes for malformed-input tests.  Hosts are IP
literals only (never resolved).  Server half: parse_call / accepted_reply / denied_reply
and the TCP record-marking reader, used by the lockd emulator.
"""
import dataclasses
import errno
import ipaddress
import random
import select
import socket
import struct
import time

from .nsutil import in_netns
from .xdr import Packer, Unpacker, XdrError

CALL, REPLY = 0, 1
MSG_ACCEPTED, MSG_DENIED = 0, 1
SUCCESS, PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, GARBAGE_ARGS, SYSTEM_ERR = range(6)
RPC_MISMATCH, AUTH_ERROR = 0, 1
AUTH_NONE, AUTH_SYS = 0, 1
ACCEPT_NAMES = {0: "SUCCESS", 1: "PROG_UNAVAIL", 2: "PROG_MISMATCH", 3: "PROC_UNAVAIL",
                4: "GARBAGE_ARGS", 5: "SYSTEM_ERR"}
LAST_FRAGMENT = 0x80000000


class RpcError(Exception):
    """Base of the RPC errors below."""


class RpcTimeout(RpcError):
    pass


class RpcConnectionClosed(RpcError):
    pass


class RpcReplyError(RpcError):
    """A reply that is not MSG_ACCEPTED/SUCCESS; .reply holds it."""

    def __init__(self, reply):
        super().__init__(str(reply))
        self.reply = reply


@dataclasses.dataclass
class Auth:
    flavor: int = AUTH_NONE
    body: bytes = b""


AUTH_NONE_CRED = Auth()


def auth_sys(machinename="nsm-test", uid=0, gid=0, gids=(), stamp=None):
    p = Packer().uint(int(time.time()) if stamp is None else stamp).string(machinename)
    p.uint(uid).uint(gid).array(list(gids), lambda pk, g: pk.uint(g))
    return Auth(AUTH_SYS, p.bytes())


_next_xid = random.randrange(1, 1 << 31)


def new_xid():
    global _next_xid
    _next_xid = (_next_xid + 1) & 0xFFFFFFFF
    return _next_xid


def encode_call(xid, prog, vers, proc, args=b"", cred=None, verf=None, rpcvers=2):
    cred = cred or AUTH_NONE_CRED
    verf = verf or AUTH_NONE_CRED
    p = Packer().uint(xid).uint(CALL).uint(rpcvers).uint(prog).uint(vers).uint(proc)
    p.uint(cred.flavor).opaque(cred.body).uint(verf.flavor).opaque(verf.body)
    return p.bytes() + bytes(args)


@dataclasses.dataclass
class Reply:
    xid: int
    reply_stat: int
    accept_stat: int = None
    results: bytes = b""
    low: int = None            # PROG_MISMATCH / RPC_MISMATCH range
    high: int = None
    reject_stat: int = None
    auth_stat: int = None
    verf: Auth = None

    @property
    def ok(self):
        return self.reply_stat == MSG_ACCEPTED and self.accept_stat == SUCCESS

    def unpacker(self):
        return Unpacker(self.results)

    def __str__(self):
        if self.reply_stat == MSG_ACCEPTED:
            s = "accepted %s" % ACCEPT_NAMES.get(self.accept_stat, self.accept_stat)
            if self.accept_stat == PROG_MISMATCH:
                s += " (%d..%d)" % (self.low, self.high)
            return "RPC reply xid=%#x %s" % (self.xid, s)
        return "RPC reply xid=%#x denied reject_stat=%s auth_stat=%s low=%s high=%s" % (
            self.xid, self.reject_stat, self.auth_stat, self.low, self.high)


def parse_reply(data):
    u = Unpacker(data)
    xid = u.uint()
    if u.uint() != REPLY:
        raise XdrError("not a reply")
    r = Reply(xid=xid, reply_stat=u.uint())
    if r.reply_stat == MSG_ACCEPTED:
        r.verf = Auth(u.uint(), u.opaque(400))
        r.accept_stat = u.uint()
        if r.accept_stat == SUCCESS:
            r.results = u.rest()
        elif r.accept_stat == PROG_MISMATCH:
            r.low, r.high = u.uint(), u.uint()
    elif r.reply_stat == MSG_DENIED:
        r.reject_stat = u.uint()
        if r.reject_stat == RPC_MISMATCH:
            r.low, r.high = u.uint(), u.uint()
        else:
            r.auth_stat = u.uint()
    else:
        raise XdrError("bad reply_stat %d" % r.reply_stat)
    return r


@dataclasses.dataclass
class Call:
    xid: int
    rpcvers: int
    prog: int
    vers: int
    proc: int
    cred: Auth
    verf: Auth
    args: bytes


def parse_call(data):
    """Decode a call message; raises XdrError if it is not a well-formed call header."""
    u = Unpacker(data)
    xid = u.uint()
    if u.uint() != CALL:
        raise XdrError("not a call")
    rpcvers, prog, vers, proc = u.uint(), u.uint(), u.uint(), u.uint()
    cred = Auth(u.uint(), u.opaque(400))
    verf = Auth(u.uint(), u.opaque(400))
    return Call(xid, rpcvers, prog, vers, proc, cred, verf, u.rest())


def accepted_reply(xid, accept_stat=SUCCESS, results=b"", low=0, high=0):
    p = Packer().uint(xid).uint(REPLY).uint(MSG_ACCEPTED).uint(AUTH_NONE).opaque(b"")
    p.uint(accept_stat)
    if accept_stat == PROG_MISMATCH:
        p.uint(low).uint(high)
    return p.bytes() + (bytes(results) if accept_stat == SUCCESS else b"")


def denied_rpc_mismatch(xid, low=2, high=2):
    return Packer().uint(xid).uint(REPLY).uint(MSG_DENIED).uint(RPC_MISMATCH).uint(low).uint(high).bytes()


def record(payload, fragment=None):
    """TCP record marking: payload split in fragments of at most `fragment` bytes."""
    payload = bytes(payload)
    if not fragment or len(payload) <= fragment:
        return struct.pack(">I", LAST_FRAGMENT | len(payload)) + payload
    out = []
    for i in range(0, len(payload), fragment):
        chunk = payload[i:i + fragment]
        last = LAST_FRAGMENT if i + fragment >= len(payload) else 0
        out.append(struct.pack(">I", last | len(chunk)) + chunk)
    return b"".join(out)


def recv_exact(sock, n):
    """Read exactly n bytes; None on EOF before the first byte, RpcConnectionClosed after."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            if not buf:
                return None
            raise RpcConnectionClosed("EOF inside a record")
        buf += chunk
    return bytes(buf)


def read_record(sock, limit=1 << 20):
    """One whole record from a stream socket; None on clean EOF."""
    payload = bytearray()
    while True:
        hdr = recv_exact(sock, 4)
        if hdr is None:
            if payload:
                raise RpcConnectionClosed("EOF inside a record")
            return None
        word = struct.unpack(">I", hdr)[0]
        n = word & ~LAST_FRAGMENT
        if len(payload) + n > limit:
            raise RpcError("record of %d bytes exceeds %d" % (len(payload) + n, limit))
        frag = recv_exact(sock, n) if n else b""
        if frag is None:
            raise RpcConnectionClosed("EOF inside a record")
        payload += frag
        if word & LAST_FRAGMENT:
            return bytes(payload)


def family_of(host):
    """AF_INET or AF_INET6 for an IP literal; anything else is refused (no DNS here)."""
    return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET


def bind_reserved(sock, family, low=600, high=1023):
    """Bind `sock` to a free port in [low, high]; returns the port."""
    ports = list(range(low, high + 1))
    random.shuffle(ports)
    addr = "::" if family == socket.AF_INET6 else "0.0.0.0"
    for port in ports:
        try:
            sock.bind((addr, port))
            return port
        except OSError as e:
            if e.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
    raise OSError(errno.EADDRINUSE, "no free reserved port")


def make_socket(family, kind, reserved=False, src_port=None, netns=None):
    with in_netns(netns):
        s = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if src_port is not None:
            s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", src_port))
        elif reserved:
            bind_reserved(s, family)
        return s
    except BaseException:
        s.close()
        raise


class RpcClient:
    """One RPC endpoint (host, port, transport).  TCP keeps one connection open until
    close(); reconnect() opens a fresh one.  Not thread-safe."""

    def __init__(self, host, port, transport="udp", reserved=False, src_port=None,
                 netns=None, timeout=5.0, retransmit=1.0):
        if transport not in ("udp", "tcp"):
            raise ValueError(transport)
        self.host, self.port, self.transport = host, port, transport
        self.family = family_of(host)
        self.reserved, self.src_port, self.netns = reserved, src_port, netns
        self.timeout, self.retransmit = timeout, retransmit
        self.sock = None

    # -- connection management
    def _ensure(self):
        if self.sock is None:
            kind = socket.SOCK_STREAM if self.transport == "tcp" else socket.SOCK_DGRAM
            for attempt in range(10):
                s = make_socket(self.family, kind, self.reserved, self.src_port, self.netns)
                try:
                    s.settimeout(self.timeout)
                    s.connect((self.host, self.port))
                    break
                except OSError as e:
                    s.close()
                    # A random reserved port may still be in TIME_WAIT towards this peer.
                    if not (self.reserved and self.src_port is None and attempt < 9
                            and e.errno in (errno.EADDRNOTAVAIL, errno.EADDRINUSE)):
                        raise
                except BaseException:
                    s.close()
                    raise
            self.sock = s
        return self.sock

    def local_port(self):
        return self._ensure().getsockname()[1]

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def reconnect(self):
        self.close()
        return self._ensure()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sending
    def send_raw(self, data):
        """Bytes as they are: one datagram (UDP) or a stream write without marking (TCP)."""
        s = self._ensure()
        if self.transport == "udp":
            s.send(bytes(data))
        else:
            s.sendall(bytes(data))

    def send_message(self, payload, fragment=None):
        """One RPC message: a datagram, or a marked record on TCP."""
        if self.transport == "udp":
            self.send_raw(payload)
        else:
            self.send_raw(record(payload, fragment))

    def recv_message(self, timeout=None):
        """Next message from the peer; RpcTimeout / RpcConnectionClosed."""
        s = self._ensure()
        timeout = self.timeout if timeout is None else timeout
        r, _, _ = select.select([s], [], [], max(0.0, timeout))
        if not r:
            raise RpcTimeout("no reply from %s:%d/%s in %.1fs" % (self.host, self.port, self.transport, timeout))
        if self.transport == "udp":
            try:
                return s.recv(65536)
            except ConnectionRefusedError as e:
                raise RpcConnectionClosed("ICMP port unreachable") from e
        s.settimeout(timeout)
        try:
            rec = read_record(s)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise RpcConnectionClosed(str(e)) from e
        except socket.timeout as e:
            raise RpcTimeout("partial record from %s:%d" % (self.host, self.port)) from e
        if rec is None:
            raise RpcConnectionClosed("connection closed by %s:%d" % (self.host, self.port))
        return rec

    def recv_reply(self, xid, timeout=None, resend=None):
        """Wait for the reply whose xid is `xid`, skipping others; UDP resends `resend`."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        next_resend = time.monotonic() + self.retransmit if resend and self.retransmit else None
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise RpcTimeout("no reply with xid %#x from %s:%d/%s" % (xid, self.host, self.port, self.transport))
            wait = deadline - now
            if next_resend is not None:
                wait = min(wait, max(0.0, next_resend - now))
            try:
                data = self.recv_message(wait)
            except RpcTimeout:
                if next_resend is not None and time.monotonic() >= next_resend:
                    self.send_message(resend)
                    next_resend = time.monotonic() + self.retransmit
                continue
            try:
                reply = parse_reply(data)
            except XdrError:
                continue
            if reply.xid == xid:
                return reply

    def call(self, prog, vers, proc, args=b"", cred=None, verf=None, timeout=None, rpcvers=2):
        """Send a call and return its Reply (any accept/reject status)."""
        xid = new_xid()
        msg = encode_call(xid, prog, vers, proc, args, cred, verf, rpcvers)
        self.send_message(msg)
        return self.recv_reply(xid, timeout, resend=msg if self.transport == "udp" else None)

    def call_ok(self, prog, vers, proc, args=b"", **kw):
        """call(), raising RpcReplyError unless accepted with SUCCESS; returns an Unpacker."""
        reply = self.call(prog, vers, proc, args, **kw)
        if not reply.ok:
            raise RpcReplyError(reply)
        return reply.unpacker()


def rpc_ping(host, port, prog, vers, transport="udp", timeout=2.0, netns=None):
    """True if NULL (proc 0) is answered with SUCCESS."""
    try:
        with RpcClient(host, port, transport, timeout=timeout, netns=netns) as c:
            return c.call(prog, vers, 0).ok
    except (RpcError, OSError):
        return False
