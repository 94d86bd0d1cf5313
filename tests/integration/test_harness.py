"""Self-tests of the harness: the session is isolated (own PID/net/mount/UTS
namespaces, private resolver and hosts file, no route off the machine), peers have
their own /run and rpcbind, the DNS stub and the lockd emulator work as processes and
in-process, and the XDR helpers round-trip."""
import json
import os
import socket
import struct
import subprocess
import time

from nsmtest import nsm, portmap, rpc
from nsmtest.dns import NXDOMAIN
from nsmtest.nsm import SM_PROG, SM_VERS, MyId


def test_session_namespaces(host):
    assert os.getpid() == 1                                   # PID 1 of its own PID namespace
    assert host.run(["hostname"]).stdout.strip() == "nsm-a"
    assert open("/etc/resolv.conf").read().split() == ["nameserver", "127.0.0.53"]
    assert "hosts: files dns" in open("/etc/nsswitch.conf").read()
    # No route off the machine: nothing can reach the real resolver or anything else.
    assert host.run(["ip", "-4", "route", "show", "default"]).stdout.strip() == ""
    assert host.run(["ip", "route", "get", "10.255.255.53"], check=False).returncode != 0


def test_names_resolve_from_our_hosts_file_and_stub(session):
    assert socket.getaddrinfo("nsm-b", None, socket.AF_INET)[0][4][0] == "198.18.1.2"
    t = time.monotonic()
    try:
        socket.getaddrinfo("no-such-host.example", None, socket.AF_INET)
        raise AssertionError("resolved a name that exists nowhere")
    except socket.gaierror:
        pass
    assert time.monotonic() - t < 2.0
    assert any(q[0] == "no-such-host.example" for q in session.dns.queries), session.dns.queries


def dns_query(name, timeout=0.5):
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, ("127.0.0.53", 53))
        try:
            return s.recv(512)
        except socket.timeout:
            return None


def test_dns_stub_modes(session):
    answer = dns_query("refused.example")
    assert answer is not None and struct.unpack(">H", answer[:2])[0] == 0x1234
    assert struct.unpack(">H", answer[2:4])[0] & 0xF == NXDOMAIN
    session.dns.set_mode("blackhole")
    try:
        assert dns_query("swallowed.example") is None
    finally:
        session.dns.set_mode("refuse")


def test_peer_is_a_separate_host(host, peer, statd):
    assert peer.run(["hostname"]).stdout.strip() == "nsm-b"
    here = os.stat("/run/rpcbind.sock").st_ino
    there = int(peer.run(["stat", "-c", "%i", "/run/rpcbind.sock"]).stdout)
    assert here != there
    # statd is registered with the session host's rpcbind only.
    assert portmap.getport(SM_PROG, SM_VERS, "tcp") != 0
    assert portmap.getport(SM_PROG, SM_VERS, "tcp", netns=peer.netns) == 0
    # The session host's rpcbind and statd are reachable from the peer over veth (v4, v6).
    assert portmap.getport(SM_PROG, SM_VERS, "udp", host=peer.local4, netns=peer.netns) == statd.ports()[0]
    assert portmap.find_port(SM_PROG, SM_VERS, "udp", host=peer.local6, netns=peer.netns) != 0
    assert rpc.rpc_ping(peer.addr4, 111, portmap.PMAP_PROG, 2, "udp")


def test_lockd_emulator_as_a_process_in_a_peer(peer):
    p = peer.python("lockd", "lockd", stdout=subprocess.PIPE)
    ready = p.popen.stdout.readline().split()
    assert ready[:1] == [b"READY"], p.text()
    udp = int(ready[1])
    assert portmap.getport(100021, 3, "udp", netns=peer.netns) == udp
    assert portmap.getport(100021, 4, "tcp", netns=peer.netns) == int(ready[2])
    arg = nsm.encode_status("nsm-a", 5, b"k" * 16)
    with rpc.RpcClient("127.0.0.1", udp, "udp", reserved=True, netns=peer.netns) as c:
        assert c.call(100021, 3, 16, arg).ok
        assert c.call(100021, 3, 17).accept_stat == rpc.PROC_UNAVAIL
        r = c.call(100021, 2, 16, arg)
        assert (r.accept_stat, r.low, r.high) == (rpc.PROG_MISMATCH, 3, 4)
    cb = json.loads(p.popen.stdout.readline())
    assert (cb["mon_name"], cb["state"], cb["priv"], cb["raw"]) == ("nsm-a", 5, (b"k" * 16).hex(), arg.hex())
    assert cb["src_addr"] == "127.0.0.1" and cb["src_port"] < 1024 and cb["transport"] == "udp"
    assert p.stop() == 0, p.text()
    assert portmap.getport(100021, 3, "udp", netns=peer.netns) == 0


def test_lockd_emulator_away_and_back(lockd):
    arg = nsm.encode_status("x", 7, bytes(16))
    lockd.away()
    assert portmap.getport(100021, 3, "udp") == 0
    with rpc.RpcClient("127.0.0.1", lockd.tcp_port, "tcp", timeout=0.5) as c:
        try:
            c.call(100021, 3, 16, arg)
            raise AssertionError("an away lockd answered")
        except rpc.RpcTimeout:
            pass
    lockd.back()
    assert portmap.getport(100021, 3, "udp") == lockd.udp_port
    with rpc.RpcClient("127.0.0.1", lockd.tcp_port, "tcp") as c:
        assert c.call(100021, 4, 16, arg).ok
    cbs = lockd.wait_callbacks(1)
    assert len(cbs) == 1 and cbs[0].transport == "tcp" and cbs[0].vers == 4 and cbs[0].raw == arg


def test_xdr_round_trips():
    my_id = MyId("nsm-a", 100021, 4, 16)
    priv = bytes(range(16))
    assert nsm.decode_mon(nsm.encode_mon("198.18.1.2", my_id, priv)) == ("198.18.1.2", my_id, priv)
    assert nsm.decode_status(nsm.encode_status("h", 9, priv)) == nsm.Status("h", 9, priv)
    assert nsm.decode_sm_stat_res(struct.pack(">Ii", 1, -1)) == nsm.SmStatRes(1, -1)
    call = rpc.parse_call(rpc.encode_call(7, SM_PROG, SM_VERS, 2, b"abcd", cred=rpc.auth_sys("m", 1, 2, [3])))
    assert (call.xid, call.prog, call.vers, call.proc, call.cred.flavor, call.args) == (7, SM_PROG, 1, 2, 1, b"abcd")
    rec = rpc.record(b"x" * 10, fragment=3)
    assert len(rec) == 10 + 4 * 4 and struct.unpack(">I", rec[-5:-1])[0] == 0x80000001
