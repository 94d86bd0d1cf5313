"""Portmap v2 (RFC 1833) and rpcbind v3/v4 client calls: GETPORT, SET, UNSET, DUMP,
GETADDR.  Talk to rpcbind at HOST:111 over UDP or TCP, optionally from another netns."""
import ipaddress

from .rpc import RpcClient
from .xdr import Packer

PMAP_PROG, PMAP_PORT = 100000, 111
PMAPPROC_NULL, PMAPPROC_SET, PMAPPROC_UNSET, PMAPPROC_GETPORT, PMAPPROC_DUMP = 0, 1, 2, 3, 4
RPCBPROC_SET, RPCBPROC_UNSET, RPCBPROC_GETADDR = 1, 2, 3
IPPROTO = {"tcp": 6, "udp": 17}
PROTO_NAMES = {6: "tcp", 17: "udp"}


def _client(host, transport, netns, reserved=False, timeout=3.0):
    return RpcClient(host, PMAP_PORT, transport, reserved=reserved, netns=netns, timeout=timeout)


def _mapping(prog, vers, proto, port):
    return Packer().uint(prog).uint(vers).uint(IPPROTO[proto]).uint(port).bytes()


def getport(prog, vers, proto, host="127.0.0.1", transport="tcp", netns=None):
    """Portmap v2 GETPORT: the port of (prog, vers, proto) or 0 if not registered."""
    with _client(host, transport, netns) as c:
        return c.call_ok(PMAP_PROG, 2, PMAPPROC_GETPORT, _mapping(prog, vers, proto, 0)).uint()


def pmap_set(prog, vers, proto, port, host="127.0.0.1", netns=None):
    with _client(host, "udp", netns, reserved=True) as c:
        return c.call_ok(PMAP_PROG, 2, PMAPPROC_SET, _mapping(prog, vers, proto, port)).bool()


def pmap_unset(prog, vers, host="127.0.0.1", netns=None):
    with _client(host, "udp", netns, reserved=True) as c:
        return c.call_ok(PMAP_PROG, 2, PMAPPROC_UNSET, _mapping(prog, vers, "udp", 0)).bool()


def dump(host="127.0.0.1", transport="tcp", netns=None):
    """Portmap v2 DUMP: list of (prog, vers, proto name, port)."""
    with _client(host, transport, netns) as c:
        u = c.call_ok(PMAP_PROG, 2, PMAPPROC_DUMP)
        out = []
        while u.bool():
            prog, vers, prot, port = u.uint(), u.uint(), u.uint(), u.uint()
            out.append((prog, vers, PROTO_NAMES.get(prot, str(prot)), port))
        return out


def _rpcb(prog, vers, netid, addr="", owner=""):
    return Packer().uint(prog).uint(vers).string(netid).string(addr).string(owner).bytes()


def getaddr(prog, vers, netid, host="127.0.0.1", netns=None, rpcbvers=4):
    """rpcbind GETADDR: universal address string ('' if not registered).  rpcbind
    answers for the netid of the transport the call came on (r_netid is ignored), so
    the call goes over that transport: netid "udp6" needs an IPv6 host, etc."""
    transport = netid[:3]
    if (netid.endswith("6")) != (ipaddress.ip_address(host).version == 6):
        raise ValueError("netid %s cannot be asked for at %s" % (netid, host))
    with _client(host, transport, netns) as c:
        return c.call_ok(PMAP_PROG, rpcbvers, RPCBPROC_GETADDR, _rpcb(prog, vers, netid)).string()


def rpcb_set(prog, vers, netid, uaddr, owner="0", host="127.0.0.1", netns=None):
    with _client(host, "udp", netns, reserved=True) as c:
        return c.call_ok(PMAP_PROG, 4, RPCBPROC_SET, _rpcb(prog, vers, netid, uaddr, owner)).bool()


def rpcb_unset(prog, vers, netid="", host="127.0.0.1", netns=None):
    with _client(host, "udp", netns, reserved=True) as c:
        return c.call_ok(PMAP_PROG, 4, RPCBPROC_UNSET, _rpcb(prog, vers, netid, "", "0")).bool()


def uaddr(host, port):
    """Universal address of (host, port): 'h.p1.p2' form of RFC 5665."""
    return "%s.%d.%d" % (host, port >> 8, port & 0xFF)


def parse_uaddr(u):
    """(host, port) from a universal address; ValueError if malformed."""
    host, hi, lo = u.rsplit(".", 2)
    ipaddress.ip_address(host)
    return host, int(hi) * 256 + int(lo)


def find_port(prog, vers, transport, host="127.0.0.1", netns=None):
    """Port of a service on `host` as a client would find it: portmap GETPORT over TCP
    for IPv4 (like the kernel), rpcbind GETADDR with netid udp6/tcp6 for IPv6. 0 = none."""
    if ipaddress.ip_address(host).version == 4:
        return getport(prog, vers, transport, host, "tcp", netns)
    u = getaddr(prog, vers, transport + "6", host, netns)
    return parse_uaddr(u)[1] if u else 0
