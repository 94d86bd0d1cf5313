"""rpc.statd registers program 100024 v1 with rpcbind and answers NULL on every
transport it registers (rpcinfo, the tool an admin and mount.nfs's start-statd use)."""
import re

from nsmtest import portmap
from nsmtest.nsm import SM_PROG, SM_VERS


def rpcinfo_p(host):
    """Parse `rpcinfo -p` into a set of (prog, vers, proto, port)."""
    out = host.run(["rpcinfo", "-p"]).stdout
    rows = set()
    for line in out.splitlines():
        m = re.match(r"\s*(\d+)\s+(\d+)\s+(\w+)\s+(\d+)", line)
        if m:
            rows.add((int(m[1]), int(m[2]), m[3], int(m[4])))
    return rows


def test_rpcinfo_p_lists_status_udp_and_tcp(host, statd):
    rows = rpcinfo_p(host)
    status = {(proto, port) for prog, vers, proto, port in rows if prog == SM_PROG and vers == SM_VERS}
    protos = {proto for proto, _ in status}
    assert protos == {"udp", "tcp"}, rows
    udp, tcp = statd.ports()
    assert ("udp", udp) in status and ("tcp", tcp) in status
    assert all(0 < port < 65536 for _, port in status)


def test_rpcinfo_null_over_udp_and_tcp(host, statd):
    for netid in ("udp", "tcp"):
        r = host.run(["rpcinfo", "-T", netid, "127.0.0.1", str(SM_PROG), str(SM_VERS)], check=False)
        assert r.returncode == 0, (netid, r.stdout, r.stderr)
        assert "program 100024 version 1 ready and waiting" in r.stdout


def test_rpcinfo_null_over_udp6_and_tcp6(host, statd):
    # nfs-utils 2.6 registers udp6/tcp6 too (checked), so this runs against both daemons.
    out = host.run(["rpcinfo", "-s"]).stdout
    line = next(l for l in out.splitlines() if l.split()[:1] == [str(SM_PROG)])
    assert set(line.split()[2].split(",")) >= {"udp", "tcp", "udp6", "tcp6"}, line
    for netid in ("udp6", "tcp6"):
        r = host.run(["rpcinfo", "-T", netid, "::1", str(SM_PROG), str(SM_VERS)], check=False)
        assert r.returncode == 0, (netid, r.stdout, r.stderr)
        assert "program 100024 version 1 ready and waiting" in r.stdout


def test_getport_matches_rpcinfo_and_unregisters_on_sigterm(host, statd):
    udp, tcp = statd.ports()
    assert udp and tcp
    assert portmap.getport(SM_PROG, SM_VERS, "udp", transport="udp") == udp
    statd.stop()
    assert not any(prog == SM_PROG for prog, _, _, _ in rpcinfo_p(host))
    assert portmap.getaddr(SM_PROG, SM_VERS, "tcp6", "::1") == ""
    assert portmap.getaddr(SM_PROG, SM_VERS, "udp6", "::1") == ""


def test_port_option_fixes_both_ports(host, statd_factory, state_dir):
    statd = statd_factory(state_dir, args=["-p", "4000"])
    assert statd.ports() == (4000, 4000)
    assert {(proto, port) for prog, _, proto, port in rpcinfo_p(host) if prog == SM_PROG} == \
        {("udp", 4000), ("tcp", 4000)}
