"""Support for the failover tests (test_failover.py): a floating IP (VIP) served by one
of two server hosts, clients that reach it through the session host, and moving a
state directory the way shared storage (DRBD, a SAN) carries it.

Topology (every host a harness Peer, linked to the session host nsm-a by its veth):

    client nsm-d ─┐                       ┌─ server A (nsm-b) ─ VIP while A serves
    client nsm-e ─┼── nsm-a (routes) ─────┤
    client nsm-f ─┘                       └─ server B (nsm-c) ─ VIP after the failover

nsm-a forwards IPv4 (its own private network namespace) and routes the VIP's /32 to
the server that holds it; every cluster host routes 198.18.0.0/16 through nsm-a. So
the clients reach the VIP, and whatever the server sends from the VIP comes back to
it, without touching the harness's per-link address plan.
"""
import os
import shutil

from . import daemons, portmap
from .nsm import SM_PROG, SM_VERS

VIP = "198.18.100.100"          # outside every peer link (198.18.1-6.0/24)
CLUSTER_NET = "198.18.0.0/16"
DB_FILES = ("nsm.db", "nsm.db-wal")  # what shared storage carries (-shm is rebuilt)


def our_binary(name):
    """$NSM_BUILD_DIR/<name> if built, else None."""
    build = os.environ.get("NSM_BUILD_DIR")
    path = os.path.join(build, name) if build else None
    return path if path and os.access(path, os.X_OK) else None


class Cluster:
    """Routing for the VIP between the servers `a` and `b` and the `clients` (Peers).
    serve(host) moves the VIP; close() undoes everything (addresses, routes, sysctl)."""

    def __init__(self, session, a, b, clients):
        self.session, self.a, self.b, self.clients = session, a, b, list(clients)
        self.holder = None
        self._forward = None
        self._routes = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def start(self):
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            self._forward = f.read().strip()
        self._sysctl_forward("1")
        for p in [self.a, self.b] + self.clients:
            p.run(["ip", "route", "replace", CLUSTER_NET, "via", p.local4])
            self._routes.append(p)
        return self

    def _sysctl_forward(self, value):
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write(value + "\n")

    def serve(self, host):
        """Move the VIP to `host` (a server Peer): off the old holder, onto host's link
        address, and nsm-a's route to it."""
        if self.holder is not None:
            self.holder.run(["ip", "addr", "del", VIP + "/32", "dev", self.holder.if_peer])
        host.run(["ip", "addr", "add", VIP + "/32", "dev", host.if_peer])
        self.session.run(["ip", "route", "replace", VIP + "/32", "via", host.addr4])
        self.holder = host

    def close(self):
        if self.holder is not None:
            self.holder.run(["ip", "addr", "del", VIP + "/32", "dev", self.holder.if_peer],
                            check=False)
            self.holder = None
        self.session.run(["ip", "route", "del", VIP + "/32"], check=False)
        for p in self._routes:
            p.run(["ip", "route", "del", CLUSTER_NET], check=False)
        self._routes = []
        if self._forward is not None:
            self._sysctl_forward(self._forward)
            self._forward = None


def copy_database(src_dir, dst_dir):
    """Copy the database of a stopped (or crashed) rpc.statd as shared storage would
    carry it: nsm.db and its -wal if present, owner and mode kept. Returns the names
    copied."""
    copied = []
    for name in DB_FILES:
        src = os.path.join(src_dir, name)
        if not os.path.exists(src):
            continue
        dst = os.path.join(dst_dir, name)
        shutil.copy2(src, dst)
        st = os.stat(src)
        os.chown(dst, st.st_uid, st.st_gid)
        copied.append(name)
    return copied


def statd_udp_port(peer):
    """The UDP port of the statd registered with `peer`'s rpcbind (0 if none)."""
    return portmap.getport(SM_PROG, SM_VERS, "udp", netns=peer.netns)


def sm_notify_calls(capture, statd_ports):
    """SM_NOTIFY calls in `capture` as (ip.src, ip.dst, mon_name, state), decoding RPC
    on the given UDP ports (the peers' statd ports)."""
    rows = capture.fields(["ip.src", "ip.dst", "stat.mon_id.name", "stat.state"],
                          display="stat.procedure_v1 == 6 && rpc.msgtyp == 0",
                          decode={"udp": sorted(set(statd_ports))})
    return [(r["ip.src"], r["ip.dst"], r["stat.mon_id.name"], int(r["stat.state"] or -1))
            for r in rows]


def portmap_calls(capture):
    """(ip.src, ip.dst) of every portmap/rpcbind call in `capture`."""
    rows = capture.fields(["ip.src", "ip.dst"], display="portmap && rpc.msgtyp == 0")
    return [(r["ip.src"], r["ip.dst"]) for r in rows]


def pidfile_of(state_dir):
    """The pidfile rpc.statd takes for a state directory given in canonical form
    (docs/statdctl.md: the control socket's name with .pid)."""
    return "/run/rpc.statd" + os.path.realpath(state_dir).replace("/", "_") + ".pid"


def read_pid(path):
    try:
        with open(path) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def forget(host):
    daemons.forget_registration(host)
