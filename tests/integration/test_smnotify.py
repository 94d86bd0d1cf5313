"""nsm's sm-notify against real peers: nfs-utils rpc.statd in network namespaces, each
with its own rpcbind and a lockd emulator whose SM_MON made the peer's statd monitor
our host, so the peer calls its lockd back when our notification arrives.

The notify list is made the real way: our rpc.statd records the SM_MONs of the local
lockd emulator (mon_name = each peer's address or name), then it is stopped and
sm-notify runs on its state directory. Legacy (nfs-utils format) directories are made
as HA scripts (CTDB, Pacemaker) make them."""
import os
import signal
import time

import pytest

from nsmtest import daemons
from nsmtest.nsm import STAT_SUCC, priv_bytes
from nsmtest.smnotify_support import (FakeNsmPeer, PeerStatd, SmNotifyRun, fresh_dir,
                                      sm_notify_binary)

pytestmark = pytest.mark.skipif(sm_notify_binary() is None, reason="sm-notify not built")


def our_statd_binary():
    build = os.environ.get("NSM_BUILD_DIR")
    path = os.path.join(build, "rpc.statd") if build else None
    return path if path and os.access(path, os.X_OK) else None


@pytest.fixture(scope="session")
def peers(session):
    """Three peer hosts (nsm-b, nsm-c, nsm-d), for the whole session."""
    while len(session.peers) < 3:
        session.add_peer()
    return session.peers[:3]


@pytest.fixture
def peer_statds(session, peers):
    """nfs-utils rpc.statd + lockd emulator running on each of the three peers."""
    started = []
    try:
        for p in peers:
            started.append(PeerStatd(session, p).start())
        yield started
    finally:
        for ps in started:
            ps.stop()


def make_list(session, statd_factory, lockd, mon_names):
    """A state directory whose monitor list holds `mon_names` (SM_MON by the local
    lockd through our rpc.statd, which is then stopped). Returns the directory."""
    binary = our_statd_binary()
    if binary is None:
        pytest.skip("nsm rpc.statd not built: it makes the notify list")
    d = fresh_dir(session, "host")
    statd = statd_factory(d, binary=binary)
    for name in mon_names:
        assert lockd.mon(name, priv_bytes(name)).res_stat == STAT_SUCC, name
    statd.stop()
    return d


def check_called_back(ps, mon_name, priv, state, timeout=10.0):
    cbs = ps.lockd.wait_callbacks(1, timeout)
    assert cbs, "no callback on %s" % ps.peer.name
    cb = cbs[0]
    assert (cb.mon_name, cb.state, cb.priv) == (mon_name, state, priv), cb
    return cb


def rerun_finds_nothing(host, d):
    r = SmNotifyRun(host, ["-d", "-P", d], name="sm-notify-rerun")
    assert r.wait(15) == 0, r.text()
    assert "No hosts to notify" in r.text(), r.text()


# ------------------------------------------------------------------ basic
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_notifies_nfs_utils_peers(session, host, statd_factory, lockd, peer_statds, family):
    v6 = family == "ipv6"
    privs = [ps.monitor(ps.peer.local6 if v6 else ps.peer.local4) for ps in peer_statds]
    d = make_list(session, statd_factory, lockd,
                  [ps.peer.addr6 if v6 else ps.peer.addr4 for ps in peer_statds])
    run = SmNotifyRun(host, ["-d", "-P", d])
    assert run.wait(20) == 0, run.text()
    state = run.state()
    assert state is not None and state % 2 == 1, run.text()
    for ps, priv in zip(peer_statds, privs):
        check_called_back(ps, ps.peer.local6 if v6 else ps.peer.local4, priv, state)
    assert run.notified()[:2] == (3, 3), run.text()
    assert run.elapsed < 5, run.text()
    # Every peer answered: the notify list is empty now.
    rerun_finds_nothing(host, d)


def test_peer_names_are_resolved(session, host, statd_factory, lockd, peer_statds):
    # Monitored by name (nsm_use_hostnames); the peers know us by address.
    privs = [ps.monitor(ps.peer.local4) for ps in peer_statds]
    d = make_list(session, statd_factory, lockd, [ps.peer.name for ps in peer_statds])
    run = SmNotifyRun(host, ["-d", "-P", d])
    assert run.wait(20) == 0, run.text()
    for ps, priv in zip(peer_statds, privs):
        check_called_back(ps, ps.peer.local4, priv, run.state())


# ------------------------------------------------------------------ failures
def test_peer_with_a_dead_address_is_notified_through_the_live_one(
        session, host, statd_factory, lockd, peer_statds):
    ps = peer_statds[0]
    priv = ps.monitor(ps.peer.local4)
    # Monitored by name: the store keeps both addresses nsm-b had (v4 and v6)...
    d = make_list(session, statd_factory, lockd, [ps.peer.name])
    # ...and now the IPv6 one is dead (a black hole: no neighbour answers).
    ps.peer.run(["ip", "-6", "addr", "del", ps.peer.addr6 + "/64", "dev", ps.peer.if_peer])
    try:
        run = SmNotifyRun(host, ["-d", "-P", d])
        assert run.wait(20) == 0, run.text()
        check_called_back(ps, ps.peer.local4, priv, run.state())
        assert run.elapsed < 3, run.text()  # no waiting for the dead address
    finally:
        ps.peer.run(["ip", "-6", "addr", "add", ps.peer.addr6 + "/64", "dev", ps.peer.if_peer,
                     "nodad"])


def test_black_hole_peer_does_not_delay_live_ones_and_ends_at_the_retry_limit(
        session, host, statd_factory, lockd, peer_statds):
    privs = [ps.monitor(ps.peer.local4) for ps in peer_statds]
    black_hole = "198.18.1.77"  # on nsm-b's link, nobody there
    d = make_list(session, statd_factory, lockd,
                  [black_hole] + [ps.peer.addr4 for ps in peer_statds])
    run = SmNotifyRun(host, ["-d", "-m", "1", "-P", d])
    t0 = time.monotonic()
    for ps in peer_statds:
        assert ps.lockd.wait_callbacks(1, 10), "no callback on %s" % ps.peer.name
    live_done = time.monotonic() - t0
    assert live_done < 5, live_done
    assert run.wait(90) == 1, run.text()  # one peer never answered
    assert 59 <= run.elapsed <= 75, run.elapsed
    for ps, priv in zip(peer_statds, privs):
        check_called_back(ps, ps.peer.local4, priv, run.state())
    assert run.notified() is not None and run.notified()[:2] == (3, 4), run.text()
    assert "Unable to notify \"198.18.1.77\"" in run.text(), run.text()
    # The failed peer stays on the list: a rerun that keeps the list tries it again.
    again = SmNotifyRun(host, ["-d", "--keep-list", "-n", "-P", d], name="sm-notify-again")
    try:
        assert again.proc.wait_log("notifying 1 hosts", 10), again.text()
    finally:
        again.stop()


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_tcp_only_peer_is_notified_over_tcp(session, host, statd_factory, lockd, peers, family):
    p = peers[2]
    fake = FakeNsmPeer(p, transports=("tcp",)).start()
    try:
        d = make_list(session, statd_factory, lockd, [p.addr6 if family == "ipv6" else p.addr4])
        run = SmNotifyRun(host, ["-d", "-P", d])
        assert run.wait(20) == 0, run.text()
        got = fake.wait_notifies(1, 5)
        assert got, run.text()
        mon_name, state, transport, src, _ = got[0]
        assert (mon_name, state, transport) == ("nsm-a", run.state(), "tcp"), got
        assert src == (p.local6 if family == "ipv6" else p.local4), got
        assert run.elapsed < 3, run.text()
    finally:
        fake.stop()


def test_peer_whose_udp_gets_no_answer_is_notified_over_tcp(session, host, statd_factory, lockd,
                                                           peers):
    p = peers[2]
    fake = FakeNsmPeer(p, transports=("udp", "tcp"), mute=("udp",)).start()
    try:
        d = make_list(session, statd_factory, lockd, [p.addr4])
        run = SmNotifyRun(host, ["-d", "-P", d])
        assert run.wait(20) == 0, run.text()
        got = fake.wait_notifies(1, 1)
        assert [n[2] for n in got][0] == "udp", got
        assert "tcp" in [n[2] for n in got], got
        assert 1.5 < run.elapsed < 6, run.text()  # one UDP attempt (~2 s), then TCP too
    finally:
        fake.stop()


def test_short_name_follows_the_full_name(session, host, statd_factory, lockd, peers):
    # nfs-utils sends the first label too, after the peer answered the full name.
    p = peers[2]
    fake = FakeNsmPeer(p, transports=("udp",)).start()
    try:
        binary = our_statd_binary()
        if binary is None:
            pytest.skip("nsm rpc.statd not built: it makes the notify list")
        d = fresh_dir(session, "host")
        statd = statd_factory(d, binary=binary)
        assert lockd.mon(p.addr4, priv_bytes("fqdn"), my_name="nsm-a.example.test").res_stat == \
            STAT_SUCC
        statd.stop()
        run = SmNotifyRun(host, ["-d", "-P", d])
        assert run.wait(20) == 0, run.text()
        got = fake.wait_notifies(2, 5)
        assert [(n[0], n[1]) for n in got] == [("nsm-a.example.test", run.state()),
                                               ("nsm-a", run.state())], got
    finally:
        fake.stop()


def test_kill_9_then_rerun_notifies_the_peers_not_yet_acknowledged(
        session, host, statd_factory, lockd, peer_statds):
    privs = [ps.monitor(ps.peer.local4) for ps in peer_statds]
    late = peer_statds[2]
    late.statd.stop()                       # its statd is down during the first run
    daemons.forget_registration(late.peer)
    d = make_list(session, statd_factory, lockd, [ps.peer.addr4 for ps in peer_statds])
    first = SmNotifyRun(host, ["-d", "-P", d], name="sm-notify-first")
    for ps in peer_statds[:2]:
        assert ps.lockd.wait_callbacks(1, 10), "no callback on %s" % ps.peer.name
    time.sleep(1.0)                          # the durable removal of answered peers
    first.kill9()
    for ps, priv in zip(peer_statds[:2], privs[:2]):
        check_called_back(ps, ps.peer.local4, priv, first.state())
    late.statd.start()
    second = SmNotifyRun(host, ["-d", "-P", d], name="sm-notify-second")
    assert second.wait(20) == 0, second.text()
    assert second.notified()[:2] == (1, 1), second.text()
    check_called_back(late, late.peer.local4, privs[2], second.state())
    # The peers that had answered the first run were not told again.
    for ps in peer_statds[:2]:
        assert len(ps.lockd.callbacks) == 1, ps.lockd.callbacks


def test_sigterm_stops_a_run_and_leaves_unanswered_peers_listed(session, host, statd_factory,
                                                                 lockd):
    d = make_list(session, statd_factory, lockd, ["198.18.1.78"])  # a black hole
    run = SmNotifyRun(host, ["-d", "-m", "0", "-P", d])
    assert run.proc.wait_log("notifying 1 hosts", 10), run.text()
    time.sleep(1)
    run.proc.send_signal(signal.SIGTERM)
    assert run.wait(5) == 1, run.text()
    assert "interrupted" in run.text(), run.text()
    again = SmNotifyRun(host, ["-d", "--keep-list", "-n", "-P", d], name="sm-notify-again")
    try:
        assert again.proc.wait_log("notifying 1 hosts", 10), again.text()
    finally:
        again.stop()


def test_source_port_is_reserved_by_default_or_the_one_given(session, host, statd_factory, lockd,
                                                             peers):
    p = peers[2]
    fake = FakeNsmPeer(p, transports=("udp",)).start()
    try:
        for args, check in (([], lambda port: port < 1024),
                            (["-p", "32700"], lambda port: port == 32700)):
            d = make_list(session, statd_factory, lockd, [p.addr4])
            run = SmNotifyRun(host, ["-d", "-P", d] + args)
            assert run.wait(20) == 0, run.text()
            got = fake.wait_notifies(1, 5)
            assert got and check(got[-1][4]), (args, got)
            fake.notifies.clear()
    finally:
        fake.stop()


def test_daemonizes_after_taking_the_list(session, host, statd_factory, lockd, peer_statds):
    privs = [ps.monitor(ps.peer.local4) for ps in peer_statds]
    d = make_list(session, statd_factory, lockd, [ps.peer.addr4 for ps in peer_statds])
    run = SmNotifyRun(host, ["-P", d])  # no -d: backgrounds itself
    assert run.wait(10) == 0, run.text()
    # The parent is gone; the daemon it left notifies.
    for ps, priv in zip(peer_statds, privs):
        cb = ps.lockd.wait_callbacks(1, 10)
        assert cb and cb[0].priv == priv and cb[0].mon_name == ps.peer.local4, cb


# ------------------------------------------------------------------ once per boot
@pytest.fixture
def default_state_dir(session, host):
    """A fresh directory bind-mounted over the built-in default state directory, in
    the session's private mount namespace only (never the machine's)."""
    default = "/var/lib/nfs"
    if not session.entered or not os.path.isdir(default):
        pytest.skip("no private mount namespace or no %s to mount over" % default)
    d = fresh_dir(session, "default")
    host.run(["mount", "--bind", d, default])
    try:
        yield d, default
    finally:
        host.run(["umount", default], check=False)
        if os.path.exists("/run/sm-notify.pid"):
            os.unlink("/run/sm-notify.pid")   # the session's private /run


def test_runs_once_per_boot_in_the_default_state_directory(host, peer_statds, default_state_dir):
    d, default = default_state_dir
    ps = peer_statds[0]
    priv = ps.monitor(ps.peer.local4)
    assert not os.path.exists("/run/sm-notify.pid")

    def owed():
        daemons.write_sm_record(d, ps.peer.addr4, "nsm-a", priv_bytes("boot"), sub="sm.bak")
    owed()
    first = SmNotifyRun(host, ["-d"], name="sm-notify-boot")   # no -P: the default
    assert first.wait(20) == 0, first.text()
    check_called_back(ps, ps.peer.local4, priv, first.state())
    assert open("/run/sm-notify.pid").read().strip().isdigit()
    owed()
    again = SmNotifyRun(host, ["-d"], name="sm-notify-again")
    assert again.wait(20) == 0, again.text()
    assert "Already notifying clients; Exiting!" in again.text(), again.text()
    assert os.listdir(os.path.join(d, "sm.bak")) == [ps.peer.addr4]
    forced = SmNotifyRun(host, ["-d", "-f"], name="sm-notify-forced")
    assert forced.wait(20) == 0, forced.text()
    assert forced.state() == first.state() + 2
    cbs = ps.lockd.wait_callbacks(2, 10)
    assert [c.state for c in cbs] == [first.state(), forced.state()], cbs


# ------------------------------------------------------------------ legacy (HA)
def ctdb_dir(session, peer, floating):
    """A state directory the way CTDB/Pacemaker keep one: nfs-utils statd's sm/ records
    of the clients (copied from the server that held the IPs), an even state number
    (CTDB derives it from the time: date +%s / 2 * 2) and an empty sm.bak/."""
    d = fresh_dir(session, "ctdb")
    daemons.write_sm_record(d, peer.addr4, "cluster1", priv_bytes("ctdb"))
    even = int(time.time()) // 2 * 2
    daemons.write_state(d, even)
    return d, even


@pytest.fixture
def hosts_entries(session):
    """add(line): appends to the session's hosts file (bind-mounted on /etc/hosts in
    the session and the peers); restored after the test."""
    path = session.path("etc", "hosts")
    with open(path) as f:
        original = f.read()

    def add(line):
        with open(path, "a") as f:   # in place: the bind mounts keep the same inode
            f.write(line + "\n")
    yield add
    with open(path, "r+") as f:
        f.write(original)
        f.truncate()


@pytest.mark.parametrize("by", ["address", "name"])
def test_legacy_ctdb_directory_is_notified_per_floating_ip_without_consuming_it(
        session, host, peer_statds, hosts_entries, by):
    ps = peer_statds[0]
    floats = ["198.18.1.101", "198.18.1.102"]
    for n, ip in enumerate(floats, start=1):
        host.run(["ip", "addr", "add", ip + "/32", "dev", ps.peer.if_local])
        hosts_entries("%s float%d.test" % (ip, n))
    try:
        privs = {ip: ps.monitor(ip) for ip in floats}  # the client mounted both IPs
        d, even = ctdb_dir(session, ps.peer, floats)
        before = sorted(os.listdir(os.path.join(d, "sm")))
        for n, ip in enumerate(floats, start=1):
            v = ip if by == "address" else "float%d.test" % n
            run = SmNotifyRun(host, ["-d", "-f", "-m", "0", "-n", "-P", d, "-v", v],
                              name="sm-notify-" + ip)
            assert run.wait(20) == 0, run.text()
            assert run.state() == even + 1, run.text()
            cbs = ps.lockd.wait_callbacks(n, 10)
            assert len(cbs) == n, (ip, cbs, run.text())
            assert (cbs[-1].mon_name, cbs[-1].state, cbs[-1].priv) == (ip, even + 1, privs[ip])
            # The list is still whole for the next IP; nothing was written.
            assert sorted(os.listdir(os.path.join(d, "sm"))) == before
            assert daemons.read_state(d) == even
            assert not os.path.exists(os.path.join(d, "nsm.db"))
    finally:
        for ip in floats:
            host.run(["ip", "addr", "del", ip + "/32", "dev", ps.peer.if_local], check=False)


def test_legacy_directory_without_v_consumes_sm_bak_like_nfs_utils(session, host, peer_statds):
    ps = peer_statds[0]
    priv = ps.monitor(ps.peer.local4)
    d = fresh_dir(session, "legacy")
    daemons.write_sm_record(d, ps.peer.addr4, "nsm-a", priv_bytes("x"), sub="sm.bak")
    daemons.write_state(d, 40)
    run = SmNotifyRun(host, ["-d", "-P", d])
    assert run.wait(20) == 0, run.text()
    assert run.state() == 43  # even -> odd, then bumped by 2, as nfs-utils does
    assert daemons.read_state(d) == 43
    check_called_back(ps, ps.peer.local4, priv, 43)
    assert os.listdir(os.path.join(d, "sm.bak")) == []
    assert not os.path.exists(os.path.join(d, "nsm.db"))


# ------------------------------------------------------------------ scale
@pytest.fixture
def many_addresses(host, peers):
    """make(n): n extra addresses spread over the three peers (peer j gets
    198.19.64j.0/18), routed from the session host; all removed after the test."""
    made = []

    def batch(peer, verb, addrs):
        path = host.path("ip-batch-%s-%s-%d" % (peer.name, verb, len(addrs)))
        with open(path, "w") as f:
            f.write("".join("addr %s %s/32 dev %s\n" % (verb, a, peer.if_peer) for a in addrs))
        peer.run(["ip", "-force", "-batch", path], check=verb != "del", timeout=300)

    def make(n):
        per_peer = [[] for _ in peers]
        for k in range(n):
            j, i = k % len(peers), k // len(peers)
            per_peer[j].append("198.19.%d.%d" % (64 * j + i // 250, i % 250 + 1))
        for j, (peer, addrs) in enumerate(zip(peers, per_peer)):
            made.append((peer, addrs, "198.19.%d.0/18" % (64 * j)))
            batch(peer, "replace", addrs)
            host.run(["ip", "route", "replace", made[-1][2], "via", peer.addr4])
        return [a for addrs in per_peer for a in addrs]
    yield make
    for peer, addrs, route in made:
        host.run(["ip", "route", "del", route], check=False)
        batch(peer, "del", addrs)


@pytest.mark.parametrize("source", ["files", "database"])
def test_many_peers_are_notified_quickly(session, host, statd_factory, lockd, peer_statds,
                                        many_addresses, source):
    # Every address is a peer to notify (they are spread over the three peer hosts, as
    # rpcbind's cost per GETADDR grows with the number of addresses of its host).
    n = int(os.environ.get("NSM_SMNOTIFY_PEERS", "1000"))
    addrs = many_addresses(n)
    if source == "files":
        d = fresh_dir(session, "many")
        for a in addrs:
            daemons.write_sm_record(d, a, "nsm-a", priv_bytes(a), sub="sm.bak")
    else:
        t = time.monotonic()
        d = make_list(session, statd_factory, lockd, addrs)
        print("\n%d SM_MON through rpc.statd in %.1f s" % (n, time.monotonic() - t))
    run = SmNotifyRun(host, ["-d", "-m", "2", "-P", d])
    assert run.wait(150) == 0, run.text()[-3000:]
    done, total, ms, failed = run.notified()
    assert (done, total, failed) == (n, n, 0), run.text()[-3000:]
    print("sm-notify (%s): %d peers notified in %d ms, run took %.1f s"
          % (source, n, ms, run.elapsed))
    if source == "files":
        assert os.listdir(os.path.join(d, "sm.bak")) == []
    else:
        rerun_finds_nothing(host, d)


# ------------------------------------------------------------------ rpc.statd at boot
def test_statd_runs_sm_notify_at_start_and_serves_the_new_state(session, host, statd_factory,
                                                               lockd, peer_statds):
    # rpc.statd without -L starts sm-notify, waits until the monitor list has become the
    # notify list and the state is bumped, then serves the new state while sm-notify's
    # daemon tells the peers.
    privs = [ps.monitor(ps.peer.local4) for ps in peer_statds]
    d = make_list(session, statd_factory, lockd, [ps.peer.addr4 for ps in peer_statds])
    statd = statd_factory(d, binary=our_statd_binary(), notify=True)
    r = lockd.stat("127.0.0.1")
    assert r.res_stat == STAT_SUCC
    lockd_state = r.state
    assert lockd_state % 2 == 1 and lockd_state >= 3, lockd_state
    for ps, priv in zip(peer_statds, privs):
        check_called_back(ps, ps.peer.local4, priv, lockd_state)
    # New monitors made after the start stay monitors: they are not in this boot's list.
    assert lockd.mon("198.18.9.9", priv_bytes("late")).res_stat == STAT_SUCC
    assert statd.alive()
