"""NSM (program 100024 v1) XDR types and a client that calls statd like the kernel.

Types follow the X/Open XNFS definitions (see docs/nsm-reference.md section 1).
StatdClient finds statd through rpcbind and makes SM_* calls; by default it behaves
like Linux lockd: TCP to 127.0.0.1, one connection per call, reserved source port,
AUTH_NULL.  Strings may be given as str or bytes (bytes go on the wire unchanged).
"""
import dataclasses
import os

from . import portmap
from .rpc import RpcClient, RpcReplyError
from .xdr import Packer, Unpacker

SM_PROG, SM_VERS = 100024, 1
SM_NULL, SM_STAT, SM_MON, SM_UNMON, SM_UNMON_ALL, SM_SIMU_CRASH, SM_NOTIFY = range(7)
SM_MAXSTRLEN = 1024
SM_PRIV_SIZE = 16
STAT_SUCC, STAT_FAIL = 0, 1
NLM_PROG = 100021
NLMPROC_NSM_NOTIFY = 16


@dataclasses.dataclass(frozen=True)
class MyId:
    my_name: str
    my_prog: int = NLM_PROG
    my_vers: int = 3
    my_proc: int = NLMPROC_NSM_NOTIFY


@dataclasses.dataclass
class SmStatRes:
    res_stat: int
    state: int

    @property
    def ok(self):
        return self.res_stat == STAT_SUCC


@dataclasses.dataclass
class Status:
    """Argument of the callback (NLMPROC_NSM_NOTIFY)."""
    mon_name: str
    state: int
    priv: bytes


def pack_my_id(p, my_id):
    return p.string(my_id.my_name).int(my_id.my_prog).int(my_id.my_vers).int(my_id.my_proc)


def encode_sm_name(mon_name):
    return Packer().string(mon_name).bytes()


def encode_my_id(my_id):
    return pack_my_id(Packer(), my_id).bytes()


def encode_mon_id(mon_name, my_id):
    return pack_my_id(Packer().string(mon_name), my_id).bytes()


def encode_mon(mon_name, my_id, priv):
    return encode_mon_id(mon_name, my_id) + Packer().fopaque(priv, SM_PRIV_SIZE).bytes()


def encode_stat_chge(mon_name, state):
    return Packer().string(mon_name).int(state).bytes()


def encode_status(mon_name, state, priv):
    return Packer().string(mon_name).int(state).fopaque(priv, SM_PRIV_SIZE).bytes()


def decode_sm_stat_res(data):
    u = Unpacker(data)
    r = SmStatRes(u.uint(), u.int())
    u.done()
    return r


def decode_sm_stat(data):
    u = Unpacker(data)
    s = u.int()
    u.done()
    return s


def decode_status(data):
    """Decode a callback argument; XdrError if malformed or not exactly consumed."""
    u = Unpacker(data)
    s = Status(u.string(SM_MAXSTRLEN), u.int(), u.fopaque(SM_PRIV_SIZE))
    u.done()
    return s


def decode_mon(data):
    u = Unpacker(data)
    mon_name = u.string(SM_MAXSTRLEN)
    my_id = MyId(u.string(SM_MAXSTRLEN), u.int(), u.int(), u.int())
    priv = u.fopaque(SM_PRIV_SIZE)
    u.done()
    return mon_name, my_id, priv


def priv_bytes(tag):
    """A 16-byte priv derived from a small int or str, for readable tests."""
    if isinstance(tag, int):
        return tag.to_bytes(4, "big") + os.urandom(12)
    return tag.encode()[:16].ljust(16, b"\0")


class StatdClient:
    """SM_* calls to a statd.  transport "tcp" or "udp"; per_call opens a new TCP
    connection for each call (like the 6.1 kernel); port None = ask rpcbind on `host`
    (portmap GETPORT over TCP for IPv4, rpcbind GETADDR tcp6/udp6 for IPv6)."""

    def __init__(self, host="127.0.0.1", transport="tcp", port=None, reserved=True,
                 per_call=True, netns=None, timeout=5.0, cred=None):
        self.host, self.transport, self.port = host, transport, port
        self.reserved, self.per_call, self.netns = reserved, per_call, netns
        self.timeout, self.cred = timeout, cred
        self._rpc = None

    def _client(self):
        if self._rpc is None:
            port = self.port or portmap.find_port(SM_PROG, SM_VERS, self.transport, self.host, self.netns)
            if not port:
                raise RuntimeError("statd (100024/1/%s) is not registered on %s" % (self.transport, self.host))
            self._rpc = RpcClient(self.host, port, self.transport, reserved=self.reserved,
                                  netns=self.netns, timeout=self.timeout)
        return self._rpc

    def close(self):
        if self._rpc is not None:
            self._rpc.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, proc, args=b"", **kw):
        """Raw Reply of any SM procedure (no status check)."""
        c = self._client()
        try:
            kw.setdefault("cred", self.cred)
            return c.call(SM_PROG, SM_VERS, proc, args, **kw)
        finally:
            if self.per_call:
                c.close()

    def _ok(self, proc, args=b""):
        reply = self.call(proc, args)
        if not reply.ok:
            raise RpcReplyError(reply)
        return reply.results

    def null(self):
        self._ok(SM_NULL)

    def stat(self, mon_name):
        return decode_sm_stat_res(self._ok(SM_STAT, encode_sm_name(mon_name)))

    def mon(self, mon_name, my_id, priv):
        return decode_sm_stat_res(self._ok(SM_MON, encode_mon(mon_name, my_id, priv)))

    def unmon(self, mon_name, my_id):
        return decode_sm_stat(self._ok(SM_UNMON, encode_mon_id(mon_name, my_id)))

    def unmon_all(self, my_id):
        return decode_sm_stat(self._ok(SM_UNMON_ALL, encode_my_id(my_id)))

    def simu_crash(self):
        self._ok(SM_SIMU_CRASH)

    def notify(self, mon_name, state):
        self._ok(SM_NOTIFY, encode_stat_chge(mon_name, state))
