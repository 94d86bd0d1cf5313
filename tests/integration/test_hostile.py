"""Hostile network (issue: prove it): a flood of SM_NOTIFY datagrams from many sources,
thousands of idle or half-open TCP connections, records sent a byte at a time. The
local lockd's SM_MON and NULL must still be answered promptly, memory must stay
bounded, and the connection limit must never lock lockd out.

In `make test` (sanitizer build, shared machine) the bound asserted is "never starved";
bench/flood.sh runs this file against release binaries with NSM_P99_TARGET_MS=10 (the
target itself) and NSM_HOSTILE_REPORT=FILE (each test's figures as a JSON line), and
against nfs-utils' rpc.statd for comparison (NSM_RUN_NSM_ONLY=1)."""
import json
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from nsmtest.nsm import STAT_SUCC, MyId, StatdClient, encode_stat_chge
from nsmtest import TIME_SCALE, daemons
from nsmtest.checks import answering
from nsmtest.rpc import RpcTimeout

pytestmark = pytest.mark.nsm_only

# AddressSanitizer keeps freed memory in a quarantine (256 MiB by default), which would
# show up as RSS growth here; a small quarantine keeps the memory bound meaningful.
os.environ["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16").lstrip(":")

FLOOD = int(os.environ.get("NSM_FLOOD_COUNT", "200000"))  # make soak: 1,000,000
# The p99 target itself (ms), asserted when set (bench/flood.sh, release binaries).
TARGET = float(os.environ.get("NSM_P99_TARGET_MS", "0")) / 1e3
MY_ID = MyId("client", 100021, 3, 16)
# The "never starved" bound (test_notify_flood_from_many_sources): 50 ms, times
# NSM_TIME_SCALE for slow builds.
STARVED = 0.050 * TIME_SCALE


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def call_notify(xid, name, state):
    args = encode_stat_chge(name, state)
    return struct.pack(">IIIIIIIIII", xid, 0, 2, 100024, 1, 6, 0, 0, 0, 0) + args


CALL_TIMEOUT = 2.0  # a call unanswered this long counts as lost (and as this long)


class Timings(list):
    """Seconds per call; `lost` counts the calls that got no answer in CALL_TIMEOUT."""
    lost = 0


def latencies(statd, n, stop_when=None):
    """n SM_MON over TCP (new connection each, as the kernel) and n NULL over UDP."""
    udp_port, tcp_port = statd.ports()
    mon, null = Timings(), Timings()

    def timed(out, call):
        t = time.monotonic()
        try:
            call()
            out.append(time.monotonic() - t)
        except RpcTimeout:
            out.lost += 1
            out.append(CALL_TIMEOUT)

    def sm_mon(i):
        with StatdClient(transport="tcp", port=tcp_port, timeout=CALL_TIMEOUT) as c:
            assert c.mon("198.19.7.%d" % (i % 250), MY_ID, bytes(16)).res_stat == STAT_SUCC

    with StatdClient(transport="udp", port=udp_port, per_call=False, timeout=CALL_TIMEOUT) as u:
        for i in range(n):
            timed(mon, lambda: sm_mon(i))
            timed(null, u.null)
            if stop_when is not None and stop_when():
                break
    return mon, null


def accept_queue(port):
    """Connections waiting in the accept queues of the TCP listeners on `port` (ss Recv-Q)."""
    out = subprocess.run(["ss", "-ltnH", "sport = :%d" % port], capture_output=True,
                         text=True, check=True).stdout
    return sum(int(line.split()[1]) for line in out.splitlines() if line.strip())


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def record(test, **figures):
    """Appends the test's figures to $NSM_HOSTILE_REPORT (bench/flood.sh), if set."""
    path = os.environ.get("NSM_HOSTILE_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(dict(test=test, statd=daemons.select_statd(), **figures)) + "\n")


def ms(xs):
    return {"p50_ms": round(sorted(xs)[len(xs) // 2] * 1e3, 3), "p99_ms": round(p99(xs) * 1e3, 3),
            "max_ms": round(max(xs) * 1e3, 3), "n": len(xs), "lost": xs.lost}


def check_target(*series):
    for xs in series:
        assert xs.lost == 0, "%d of %d calls got no answer in %.0f s" % (
            xs.lost, len(xs), CALL_TIMEOUT)
    if TARGET:
        for xs in series:
            assert p99(xs) < TARGET, "p99 %.2f ms, target %.0f ms" % (p99(xs) * 1e3, TARGET * 1e3)


FLOOD_SCRIPT = r"""
import socket, struct, sys, time
target, port, count, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
least = float(sys.argv[5])  # and for at least this many seconds
def call(xid, name):
    n = name.encode()
    return (struct.pack(">IIIIIIIIII", xid, 0, 2, 100024, 1, 6, 0, 0, 0, 0)
            + struct.pack(">I", len(n)) + n + b"\0" * (-len(n) % 4) + struct.pack(">i", 3))
socks = []
for j in range(32):   # many sources: extra addresses of this host
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.%d.%d" % (first, 10 + j), 0))
    socks.append(s)
i = 0
t0 = time.monotonic()
rate = 40000.0  # datagrams per second, paced so the sender does not starve the daemon
while i < count or time.monotonic() - t0 < least:
    if i % 400 == 0:
        ahead = i / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    try:
        socks[i % 32].sendto(call(i, "10.9.%d.%d" % ((i >> 8) & 255, i & 255)), (target, port))
    except OSError:
        time.sleep(0.0005)
        continue
    i += 1
print("sent", i, ">=", count, "in", round(time.monotonic() - t0, 2), "s", flush=True)
"""


@pytest.fixture
def tmpfs_state(session):
    """A state directory on tmpfs: the latencies measured are the daemon's, not the
    shared disk's fsync (which other work on the machine makes slow)."""
    mnt = session.path("hostile-tmpfs")
    os.makedirs(mnt, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt], check=True)
    yield daemons.prepare_state_dir(os.path.join(mnt, "state"))
    subprocess.run(["umount", "-l", mnt], check=False)


def test_notify_flood_from_many_sources(statd_factory, tmpfs_state, peer):
    statd = statd_factory(tmpfs_state)
    udp_port = statd.ports()[0]
    pid = statd.proc.popen.pid
    rss_before = rss_kib(pid)
    for j in range(32):
        peer.run(["ip", "addr", "add", "198.18.%d.%d/24" % (peer.index, 10 + j), "dev",
                  peer.if_peer], check=False)
    base_mon, base_null = latencies(statd, 100)   # the same machine, no flood
    flood = peer.spawn("flood", ["/usr/bin/python3", "-c", FLOOD_SCRIPT, peer.local4,
                                 str(udp_port), str(FLOOD), str(peer.index), "6"])
    try:
        time.sleep(0.3)
        mon, null = latencies(statd, 300, stop_when=lambda: not flood.alive())
        rss_peak = rss_kib(pid)
        deadline = time.monotonic() + 120
        while flood.alive() and time.monotonic() < deadline:
            rss_peak = max(rss_peak, rss_kib(pid))
            time.sleep(0.2)
    finally:
        flood.stop()
    record("notify_flood", flood=FLOOD, sent=flood.text().strip(), sm_mon=ms(mon),
           null=ms(null), sm_mon_no_flood=ms(base_mon), null_no_flood=ms(base_null),
           rss_before_kib=rss_before, rss_peak_kib=rss_peak, rss_after_kib=rss_kib(pid))
    assert (">= %d in" % FLOOD) in flood.text(), flood.text()
    assert len(mon) >= 100, "the flood ended after %d calls: %s" % (len(mon), flood.text())
    # The target is p99 < 10 ms. This sanitizer build on a shared 2-core machine, with
    # the flood's sender and the kernel's veth path on the same cores, cannot promise
    # it: the bound asserted is "never starved" (50 ms, or 3x the same calls without
    # the flood), and the figures are printed for the record.
    print("SM_MON p99 %.2f ms (no flood %.2f), NULL p99 %.2f ms (no flood %.2f)" % (
        p99(mon) * 1e3, p99(base_mon) * 1e3, p99(null) * 1e3, p99(base_null) * 1e3))
    check_target(base_mon, base_null)
    assert mon.lost == 0 and null.lost == 0, (mon.lost, null.lost)
    assert p99(mon) < max(STARVED, 3 * p99(base_mon)), (p99(mon), p99(base_mon))
    assert p99(null) < max(STARVED, 3 * p99(base_null)), (p99(null), p99(base_null))
    assert answering(statd)
    growth_mib = (rss_kib(pid) - rss_before) / 1024
    assert growth_mib < 64, "RSS grew by %.1f MiB during the flood" % growth_mib
    check_target(mon, null)


IDLE_SCRIPT = r"""
import resource, socket, struct, sys, time
target, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
held = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect((target, port))
    except BlockingIOError:
        pass
    held.append(s)
time.sleep(0.5)
for i, s in enumerate(held):
    if i % 2 == 0:  # half a record: a header promising more than ever comes
        try:
            s.send(struct.pack(">I", 0x80000000 | 200) + b"\0" * 8)
        except OSError:
            pass
print("holding", n, flush=True)
time.sleep(600)
"""


def test_idle_and_half_open_connections_do_not_lock_lockd_out(statd_factory, tmpfs_state,
                                                               session, peer):
    # 2,000 idle or half-open connections from another host against a limit of 500:
    # the longest-idle ones make room, so lockd's connection per SM_MON still gets in.
    conf = session.path("hostile-nfs.conf")
    with open(conf, "w") as f:
        f.write("[statd]\nmax-connections = 500\nidle-timeout = 60\n")
    statd = statd_factory(tmpfs_state, args=["--config", conf])
    tcp_port = statd.ports()[1]
    holder = peer.spawn("idle-conns", ["/usr/bin/python3", "-c", IDLE_SCRIPT, peer.local4,
                                       str(tcp_port), "2000"])
    try:
        deadline = time.monotonic() + 30
        while "holding" not in holder.text() and time.monotonic() < deadline:
            assert holder.alive(), holder.text()
            time.sleep(0.1)
        assert "holding 2000" in holder.text(), holder.text()
        # The holder's connects complete in the kernel before the daemon has accepted
        # them all: under make tsan dozens were still queued, and the first SM_MON
        # then took 100-200 ms. Measure once they are held, not while they come in.
        deadline = time.monotonic() + 10
        while accept_queue(tcp_port) > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        mon, null = latencies(statd, 100)
        print("with 2,000 idle connections: SM_MON p99 %.2f ms, NULL p99 %.2f ms" % (
            p99(mon) * 1e3, p99(null) * 1e3))
        record("idle_connections", held=2000, max_connections=500, sm_mon=ms(mon),
               null=ms(null), rss_kib=rss_kib(statd.proc.popen.pid))
        assert p99(mon) < STARVED, p99(mon)   # each SM_MON is a new connection at the limit
        assert p99(null) < STARVED, p99(null)
        assert statd.alive()
        check_target(mon, null)
    finally:
        holder.stop()


def test_record_sent_a_byte_at_a_time(statd_factory, tmpfs_state):
    statd = statd_factory(tmpfs_state)
    tcp_port = statd.ports()[1]
    from nsmtest.nsm import encode_mon
    body = struct.pack(">IIIIIIIIII", 77, 0, 2, 100024, 1, 2, 0, 0, 0, 0) + \
        encode_mon("198.19.8.1", MY_ID, b"\x05" * 16)
    rec = struct.pack(">I", 0x80000000 | len(body)) + body
    s = socket.create_connection(("127.0.0.1", tcp_port))
    try:
        stop = threading.Event()
        slow_done = []

        def trickle():
            for b in rec:
                s.send(bytes([b]))
                time.sleep(0.005)
            slow_done.append(True)

        t = threading.Thread(target=trickle)
        t.start()
        mon, null = latencies(statd, 50)   # others are served meanwhile
        t.join()
        stop.set()
        assert slow_done
        s.settimeout(5)
        hdr = s.recv(4)
        (n,) = struct.unpack(">I", hdr)
        reply = b""
        while len(reply) < (n & 0x7fffffff):
            reply += s.recv(4096)
        xid, mtype, stat, _vf, _vl, accept, res, _state = struct.unpack(">IIIIIIII", reply[:32])
        assert (xid, mtype, stat, accept, res) == (77, 1, 0, 0, STAT_SUCC)
        record("byte_at_a_time", sm_mon=ms(mon), null=ms(null))
        assert p99(null) < STARVED, p99(null)
        check_target(mon, null)
    finally:
        s.close()
