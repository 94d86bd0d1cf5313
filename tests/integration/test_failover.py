"""HA with nsm: a floating IP (VIP) moves from server A to server B with the state
directory (docs/ha.md, docs/sm-notify.md "Keeping the list"); rpc.statd's SIGUSR1
(re-notify the notify list); two rpc.statd side by side on one host.

Clients are real peers: nfs-utils rpc.statd + a lockd emulator in a network namespace
(smnotify_support.PeerStatd) whose lockd monitors the VIP, as a client that holds locks
on an NFS export of the VIP. The servers run nsm's rpc.statd with their own rpcbind;
their lockd emulator monitors each client (mon_name = the client's address, as the
kernel does). nsmtest/failover_support.py has the topology.

The state number at failover: B must announce a state the clients have not seen from
the VIP. nfs-utils' statd (and the kernel's lockd, by h_nsmstate) ignore an SM_NOTIFY
whose state equals the last one they recorded for that monitor: it is a replay, not a
reboot (nsm-reference section 1). CTDB and Pacemaker pass -n because their scripts
write a fresh state themselves (CTDB: the time); with nsm the state is in the database
that moved with the directory, so the takeover's first sm-notify must bump it (no -n),
and --keep-list keeps the monitors for the rpc.statd that B starts on the directory
(without it the run turns them into the notify list, as nfs-utils moves sm/ to
sm.bak/). test_failover_with_n_repeats_the_state_and_clients_ignore_it shows the
difference.

SIGUSR1 (nfs-utils: "re-notify"): rpc.statd runs its sibling `statdctl -P DIR notify
--all` (with `--name NAME` under -n NAME) without waiting for it: one SM_NOTIFY round
for the entries of the notify list, each answered one removed, each silent one kept
with attempts + 1. Not sm-notify: on the database even `sm-notify -f -n` would turn
the running daemon's monitor list into the notify list (and notify those peers).

Side by side: each rpc.statd on its own directory has its own pidfile and control
socket (both named after the resolved directory), answers on its own -p port, and a
second daemon on a directory already served is refused however the directory is spelt.
rpcbind holds one registration of 100024 per host: the last instance started has it,
and any instance that stops removes it (a known gap, not asserted here)."""
import os
import signal
import time

import pytest

from nsmtest import daemons
from nsmtest import statdctl as ctl
from nsmtest.capture import Capture
from nsmtest.checks import check_callback, no_callback_within, until
from nsmtest.failover_support import (VIP, Cluster, copy_database, our_binary, pidfile_of,
                                      portmap_calls, read_pid, sm_notify_calls, statd_udp_port)
from nsmtest.lockd import LockdEmulator
from nsmtest.nsm import STAT_SUCC, StatdClient, priv_bytes
from nsmtest.smnotify_support import PeerStatd, SmNotifyRun, fresh_dir

STATD, SM_NOTIFY = our_binary("rpc.statd"), our_binary("sm-notify")
STATDCTL = our_binary("statdctl")
pytestmark = pytest.mark.skipif(None in (STATD, SM_NOTIFY, STATDCTL),
                                reason="nsm's rpc.statd, sm-notify and statdctl must be built")


@pytest.fixture(scope="module")
def hosts(session):
    """Five peer hosts: servers A (nsm-b) and B (nsm-c), clients nsm-d, nsm-e, nsm-f."""
    while len(session.peers) < 5:
        session.add_peer()
    return session.peers[:5]


@pytest.fixture
def clients(session, hosts):
    """nfs-utils rpc.statd + lockd emulator on each client host."""
    started = []
    try:
        for p in hosts[2:5]:
            started.append(PeerStatd(session, p).start())
        yield started
    finally:
        for ps in started:
            ps.stop()


@pytest.fixture
def cluster(session, hosts):
    with Cluster(session, hosts[0], hosts[1], hosts[2:5]) as c:
        c.serve(c.a)
        yield c


@pytest.fixture
def lockds():
    """start(host) -> a lockd emulator on that server host; all stopped after the test."""
    made = []

    def start(host):
        made.append(LockdEmulator(netns=host.netns, my_name=host.name).start())
        return made[-1]
    yield start
    for emu in made:
        emu.stop()


def server_monitors_clients(lockd, clients):
    """The server's lockd monitors each client (mon_name = its address); {addr: priv}."""
    privs = {}
    for ps in clients:
        privs[ps.peer.addr4] = priv_bytes("server-side " + ps.peer.addr4)
        assert lockd.mon(ps.peer.addr4, privs[ps.peer.addr4]).res_stat == STAT_SUCC
    return privs


def notify_as_vip(host, d, args, name):
    run = SmNotifyRun(host, ["-d", "-f", "-m", "1"] + args + ["-P", d, "-v", VIP], name=name)
    assert run.wait(30) == 0, run.text()
    return run


# ------------------------------------------------------------------ the failover
@pytest.mark.parametrize("how", ["stopped", "crashed"])
def test_failover_notifies_clients_from_the_vip_and_b_serves_the_monitors(
        session, statd_factory, lockds, cluster, clients, how):
    a, b = cluster.a, cluster.b
    client_privs = {ps: ps.monitor(VIP) for ps in clients}   # the clients mount the VIP
    dir_a = fresh_dir(session, "server-a")
    statd_a = statd_factory(dir_a, on=a, binary=STATD)
    lockd_a = lockds(a)
    server_privs = server_monitors_clients(lockd_a, clients)
    state_a = lockd_a.stat("127.0.0.1").state
    assert state_a % 2 == 1

    # A goes away: a clean stop leaves one checkpointed file, a crash leaves the WAL.
    statd_a.stop(signal.SIGTERM if how == "stopped" else signal.SIGKILL)
    cluster.serve(b)
    dir_b = fresh_dir(session, "server-b")
    copied = copy_database(dir_a, dir_b)
    assert "nsm.db" in copied
    if how == "crashed":
        assert "nsm.db-wal" in copied, copied

    ports = [statd_udp_port(ps.peer) for ps in clients]
    cap = Capture(b, b.if_peer, "udp or tcp", "failover").start()
    try:
        run = notify_as_vip(b, dir_b, ["--keep-list"], "sm-notify-takeover")
    finally:
        cap.stop()
    new_state = run.state()
    assert new_state == state_a + 2, run.text()
    assert run.notified()[:2] == (3, 3), run.text()
    for ps, priv in client_privs.items():
        cbs = ps.lockd.wait_callbacks(1, 10)
        assert len(cbs) == 1, (ps.peer.name, cbs, run.text())
        assert (cbs[0].mon_name, cbs[0].state, cbs[0].priv) == (VIP, new_state, priv), cbs

    # On the wire: every SM_NOTIFY (and rpcbind look-up) left B from the VIP.
    calls = sm_notify_calls(cap, ports)
    assert {dst for _, dst, _, _ in calls} == {ps.peer.addr4 for ps in clients}, calls
    assert all((src, name, state) == (VIP, VIP, new_state) for src, _, name, state in calls), calls
    lookups = portmap_calls(cap)
    assert lookups and all(src == VIP for src, _ in lookups), lookups

    # rpc.statd on B serves the moved monitors, with the new state.
    statd_b = statd_factory(dir_b, on=b, binary=STATD)
    lockd_b = lockds(b)
    listed = ctl.run_json(dir_b, "list", host=b)
    got = {m["mon_name"]: (bytes.fromhex(m["priv"]), m["my_name"], m["addresses"])
           for m in listed["monitors"]}
    assert got == {addr: (priv, a.name, [addr]) for addr, priv in server_privs.items()}, listed
    assert listed["notify"] == []
    status = ctl.run_json(dir_b, "status", host=b)
    assert status["daemon"]["running"] is True and status["daemon"]["pid"] == statd_b.proc.pid
    assert status["state"] == new_state
    assert lockd_b.stat("127.0.0.1").state == new_state

    # A client reboots: its nfs-utils sm-notify tells the VIP (its name, from its
    # address); B's statd calls B's lockd back with the record A's lockd made.
    rebooted = clients[1]
    r = daemons.run_sm_notify(rebooted.peer, rebooted.dir)
    assert r.returncode == 0, r.stdout + r.stderr
    cbs = lockd_b.wait_callbacks(1, 10)
    assert cbs, statd_b.log()[-3000:]
    addr = rebooted.peer.addr4
    check_callback(cbs[0], addr, daemons.read_state(rebooted.dir), server_privs[addr])
    assert "Sending SM_NOTIFY for %s" % rebooted.peer.name in r.stderr, r.stderr
    assert no_callback_within(lockd_b, 1.0, already=1), lockd_b.callbacks
    assert statd_b.alive()


def test_failover_with_n_repeats_the_state_and_clients_ignore_it(
        session, statd_factory, lockds, cluster, clients):
    a, b = cluster.a, cluster.b
    client_privs = {ps: ps.monitor(VIP) for ps in clients}
    dir_a = fresh_dir(session, "server-a")
    statd_a = statd_factory(dir_a, on=a, binary=STATD)
    lockd_a = lockds(a)
    server_monitors_clients(lockd_a, clients)
    statd_a.stop()
    # A reboots (rpc.statd runs sm-notify, as the VIP): the clients learn state S...
    statd_a = statd_factory(dir_a, on=a, binary=STATD, notify=True, args=["-n", VIP])
    s = lockd_a.stat("127.0.0.1").state
    for ps, priv in client_privs.items():
        cbs = ps.lockd.wait_callbacks(1, 10)
        assert [(c.mon_name, c.state, c.priv) for c in cbs] == [(VIP, s, priv)], statd_a.log()
    # ...and their locks are reclaimed: A's lockd monitors them again.
    server_monitors_clients(lockd_a, clients)
    statd_a.stop()

    cluster.serve(b)
    dir_b = fresh_dir(session, "server-b")
    copy_database(dir_a, dir_b)
    # With -n the takeover announces S again: every client statd answers, and drops it.
    run = notify_as_vip(b, dir_b, ["-n", "--keep-list"], "sm-notify-n")
    assert run.state() == s and run.notified()[:2] == (3, 3), run.text()
    for ps in clients:
        assert no_callback_within(ps.lockd, 1.5, already=1), ps.lockd.callbacks
    # Bumped (no -n): S + 2 is a reboot to them.
    run = notify_as_vip(b, dir_b, ["--keep-list"], "sm-notify-bump")
    assert run.state() == s + 2, run.text()
    for ps, priv in client_privs.items():
        cbs = ps.lockd.wait_callbacks(2, 10)
        assert [(c.mon_name, c.state, c.priv) for c in cbs[1:]] == [(VIP, s + 2, priv)], cbs


# ------------------------------------------------------------------ SIGUSR1
def test_sigusr1_notifies_the_pending_notify_list_and_leaves_monitors_alone(
        host, statd_factory, lockd, clients):
    late, other = clients[0], clients[1]
    priv_late, priv_other = late.monitor(late.peer.local4), other.monitor(other.peer.local4)
    d = fresh_dir(host, "usr1")
    statd = statd_factory(d, binary=STATD)
    for ps in (late, other):
        assert lockd.mon(ps.peer.addr4, priv_bytes(ps.peer.name)).res_stat == STAT_SUCC
    statd.stop()
    # The boot notification: `late` is down; the run is stopped before it gives up,
    # so `late` stays on the notify list.
    late.statd.stop()
    daemons.forget_registration(late.peer)
    boot = SmNotifyRun(host, ["-d", "-m", "0", "-P", d], name="sm-notify-boot")
    assert other.lockd.wait_callbacks(1, 10), boot.text()
    time.sleep(0.5)                                   # its removal is recorded
    boot.proc.send_signal(signal.SIGTERM)
    assert boot.wait(5) == 1, boot.text()
    state = boot.state()
    assert [e["mon_name"] for e in ctl.run_json(d, "list")["notify"]] == [late.peer.addr4]
    # rpc.statd starts again without notifying (-L); a reclaim re-monitors `other`.
    statd = statd_factory(d, binary=STATD)
    assert lockd.mon(other.peer.addr4, priv_bytes("again")).res_stat == STAT_SUCC

    # SIGUSR1 while `late` is still down: one round, which fails; the entry stays.
    statd.proc.send_signal(signal.SIGUSR1)
    assert statd.proc.wait_log("re-notify round ended", 15), statd.log()
    notify = ctl.run_json(d, "list")["notify"]
    assert [(e["mon_name"], e["attempts"]) for e in notify] == [(late.peer.addr4, 1)], notify
    # `late` is back: SIGUSR1 notifies it now (no sm-notify retry is running).
    late.statd.start()
    statd.proc.send_signal(signal.SIGUSR1)
    cbs = late.lockd.wait_callbacks(1, 15)
    assert cbs, statd.log()[-3000:]
    assert (cbs[0].mon_name, cbs[0].state, cbs[0].priv) == (late.peer.local4, state, priv_late)
    assert until(lambda: ctl.run_json(d, "list")["notify"] == [], 10), ctl.run_json(d, "list")
    # The monitor list was not touched and its peers were not told anything.
    mons = ctl.run_json(d, "list")["monitors"]
    assert sorted(m["mon_name"] for m in mons) == [other.peer.addr4], mons
    assert no_callback_within(other.lockd, 1.0, already=1), other.lockd.callbacks
    assert [c.priv for c in other.lockd.callbacks] == [priv_other]
    # With nothing pending SIGUSR1 is harmless; the daemon keeps serving.
    statd.proc.send_signal(signal.SIGUSR1)
    assert until(lambda: statd.log().count("re-notify round ended") >= 3, 15), statd.log()
    assert lockd.stat("127.0.0.1").state == state and statd.alive()


# ------------------------------------------------------------------ side by side
PORTS = (40011, 40012)


def sm_client(port, transport="udp"):
    return StatdClient("127.0.0.1", transport, port=port)


def test_two_instances_side_by_side(host, statd_factory, lockd):
    dirs = [fresh_dir(host, "side-%d" % i) for i in (1, 2)]
    statds = [statd_factory(d, binary=STATD, args=["-p", str(p)]) for d, p in zip(dirs, PORTS)]
    privs = []
    for i, (port, st) in enumerate(zip(PORTS, statds)):
        for t in ("udp", "tcp"):
            with sm_client(port, t) as c:
                c.null()
        privs.append(priv_bytes("instance %d" % i))
        with sm_client(port, "tcp") as c:
            assert c.mon("198.18.%d.2" % (i + 1), lockd.my_id(), privs[i]).res_stat == STAT_SUCC

    for i, (d, port, st) in enumerate(zip(dirs, PORTS, statds)):
        assert read_pid(pidfile_of(d)) == st.proc.pid
        status = ctl.run_json(d, "status")
        assert (status["daemon"]["pid"], status["daemon"]["port"]) == (st.proc.pid, port), status
        mons = ctl.run_json(d, "list")["monitors"]
        assert [(m["mon_name"], bytes.fromhex(m["priv"])) for m in mons] == \
            [("198.18.%d.2" % (i + 1), privs[i])], mons

    # Each instance calls back only for its own records.
    with sm_client(PORTS[1]) as c:
        c.notify("198.18.2.2", 7)
    cbs = lockd.wait_callbacks(1, 10)
    assert [(c.mon_name, c.priv) for c in cbs] == [("198.18.2.2", privs[1])], cbs
    assert no_callback_within(lockd, 1.0, already=1)

    # A second daemon on a directory already served is refused, however it is spelt.
    link = host.path("state", "side-link")
    os.symlink(dirs[0], link)
    for spelling in (dirs[0], dirs[0] + "/", dirs[0] + "/.", link):
        r = host.run([STATD, "-F", "-d", "-L", "-p", "40013", "-P", spelling], check=False,
                     timeout=20)
        assert r.returncode != 0 and "pidfile" in r.stderr, (spelling, r.stdout, r.stderr)
    for port, st in zip(PORTS, statds):
        with sm_client(port) as c:
            c.null()
    assert ctl.run_json(dirs[0], "status")["daemon"]["pid"] == statds[0].proc.pid

    # Stopping one leaves the other serving.
    statds[0].stop()
    assert read_pid(pidfile_of(dirs[0])) is None
    with sm_client(PORTS[1], "tcp") as c:
        assert c.stat("x").res_stat == STAT_SUCC
    assert ctl.run_json(dirs[1], "status")["daemon"]["pid"] == statds[1].proc.pid
    assert ctl.run_json(dirs[0], "status")["daemon"]["running"] is False

