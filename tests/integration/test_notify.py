"""SM_NOTIFY from a rebooted peer reaches the local lockd: the callback carries the
exact priv, the mon_name as given in SM_MON and the new state, and comes from a
reserved port (reference sections 1, 2, 3a).  Peers are network namespaces over veth;
some notifications are hand-crafted, others come from the real nfs-utils sm-notify."""
import os
import signal

import pytest

from nsmtest import daemons
from nsmtest.checks import answering, check_callback, no_callback_within, notify_from, until
from nsmtest.nsm import STAT_SUCC, StatdClient, priv_bytes


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_handcrafted_notify_calls_back_lockd(statd, lockd, peer, transport):
    priv = os.urandom(16)
    assert lockd.mon(peer.addr4, priv).res_stat == STAT_SUCC
    notify_from(peer, peer.addr4, 7, transport=transport)
    cbs = lockd.wait_callbacks(1)
    assert len(cbs) == 1, cbs
    check_callback(cbs[0], peer.addr4, 7, priv)
    assert no_callback_within(lockd, 1.0, already=1), lockd.callbacks


def test_notify_over_ipv6(statd, lockd, peer):
    priv = os.urandom(16)
    assert lockd.mon(peer.addr6, priv).res_stat == STAT_SUCC
    notify_from(peer, peer.addr6, 9, to=peer.local6)
    check_callback(lockd.wait_callbacks(1)[0], peer.addr6, 9, priv)


def test_callback_uses_the_version_given_in_sm_mon(statd, lockd, peer):
    # NFS-Ganesha monitors with my_vers 4 (reference section 3a).
    priv = bytes(16)
    assert lockd.mon(peer.addr4, priv, vers=4, my_name="ganesha").res_stat == STAT_SUCC
    notify_from(peer, peer.addr4, 15)
    check_callback(lockd.wait_callbacks(1)[0], peer.addr4, 15, priv, vers=4)


def test_mon_name_returned_as_given(statd, lockd, peer):
    # With nsm_use_hostnames the kernel monitors the peer's name, not its address.
    priv = priv_bytes("by-name")
    assert lockd.mon(peer.name, priv).res_stat == STAT_SUCC
    notify_from(peer, peer.name, 17)
    check_callback(lockd.wait_callbacks(1)[0], peer.name, 17, priv)


def test_only_the_notified_peer_is_called_back(statd, lockd, peer, peer2):
    pb, pc = priv_bytes("peer-b"), priv_bytes("peer-c")
    assert lockd.mon(peer.addr4, pb).res_stat == STAT_SUCC
    assert lockd.mon(peer2.addr4, pc).res_stat == STAT_SUCC
    notify_from(peer2, peer2.addr4, 19)
    cbs = lockd.wait_callbacks(1)
    check_callback(cbs[0], peer2.addr4, 19, pc)
    assert no_callback_within(lockd, 1.0, already=1), lockd.callbacks


def test_notify_for_unmonitored_host_is_ignored(statd, lockd, peer, peer2):
    priv = priv_bytes("monitored")
    assert lockd.mon(peer.addr4, priv).res_stat == STAT_SUCC
    notify_from(peer2, peer2.addr4, 25)
    notify_from(peer2, "not-monitored.example", 25)
    assert no_callback_within(lockd, 1.5), lockd.callbacks
    assert answering(statd)
    notify_from(peer, peer.addr4, 27)
    check_callback(lockd.wait_callbacks(1)[0], peer.addr4, 27, priv)


def peer_state_dir(session, peer, name):
    d = daemons.prepare_state_dir(session.path("state", "%s-%s" % (peer.name, name)))
    # The record sm-notify works from: our host, as the peer's statd would have stored it.
    daemons.write_sm_record(d, peer.local4, peer.name, priv_bytes("peer-side"))
    return d


def test_real_sm_notify_reaches_lockd(session, statd, lockd, peer):
    priv = os.urandom(16)
    assert lockd.mon(peer.addr4, priv).res_stat == STAT_SUCC
    d = peer_state_dir(session, peer, "sm-notify-v")
    # HA style: sm-notify -d -f -P DIR -v PEERADDR (reference section 3).
    r = daemons.run_sm_notify(peer, d, ["-v", peer.addr4])
    assert r.returncode == 0, r.stderr
    assert "notified successfully" in r.stderr, r.stderr
    new_state = daemons.read_state(d)
    assert new_state % 2 == 1
    cbs = lockd.wait_callbacks(1)
    check_callback(cbs[0], peer.addr4, new_state, priv)
    assert os.listdir(os.path.join(d, "sm")) == [] and os.listdir(os.path.join(d, "sm.bak")) == []

    # A second reboot of the peer: state grows by 2, statd calls back again.
    lockd.clear()
    daemons.write_sm_record(d, peer.local4, peer.name, priv_bytes("peer-side"))
    r = daemons.run_sm_notify(peer, d, ["-v", peer.addr4])
    assert r.returncode == 0, r.stderr
    assert daemons.read_state(d) == new_state + 2
    check_callback(lockd.wait_callbacks(1)[0], peer.addr4, new_state + 2, priv)


def test_real_sm_notify_with_hostname(session, statd, lockd, peer):
    # Default sm-notify (no -v) names itself by its hostname; lockd monitored that name.
    priv = os.urandom(16)
    assert lockd.mon(peer.name, priv).res_stat == STAT_SUCC
    d = peer_state_dir(session, peer, "sm-notify-hostname")
    r = daemons.run_sm_notify(peer, d)
    assert r.returncode == 0, r.stderr
    check_callback(lockd.wait_callbacks(1)[0], peer.name, daemons.read_state(d), priv)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_monitors_survive_a_restart(statd_factory, state_dir, lockd, peer, sig):
    # A replied SM_MON is durable: even SIGKILL right after the reply loses nothing,
    # and a restart (without sm-notify) keeps the state number.
    statd = statd_factory(state_dir)
    state = lockd.stat("127.0.0.1").state
    priv = os.urandom(16)
    assert lockd.mon(peer.addr4, priv).res_stat == STAT_SUCC
    statd.stop(sig)
    statd_factory(state_dir)
    assert lockd.stat("127.0.0.1").state == state
    notify_from(peer, peer.addr4, 29)
    check_callback(lockd.wait_callbacks(1)[0], peer.addr4, 29, priv)


def test_legacy_sm_records_are_read(statd_factory, state_dir, lockd, peer):
    # sm/ files written by nfs-utils, CTDB or Pacemaker (reference section 3).
    pk, pg = priv_bytes("legacy-kernel"), priv_bytes("legacy-ganesha")
    daemons.write_sm_record(state_dir, peer.addr4, lockd.my_name, pk)
    daemons.write_sm_record(state_dir, peer.addr4, "ganesha", pg, vers=4)
    statd_factory(state_dir)
    notify_from(peer, peer.addr4, 37)
    cbs = lockd.wait_callbacks(2)
    assert len(cbs) == 2, cbs
    by_vers = {cb.vers: cb for cb in cbs}
    check_callback(by_vers[3], peer.addr4, 37, pk, vers=3)
    check_callback(by_vers[4], peer.addr4, 37, pg, vers=4)


def test_callback_retransmitted_while_lockd_silent(statd, lockd, peer):
    # lockd registered but not answering (busy): statd must retransmit the callback.
    priv = os.urandom(16)
    assert lockd.mon(peer.addr4, priv).res_stat == STAT_SUCC
    lockd.away(unregister=False)
    notify_from(peer, peer.addr4, 33)
    assert no_callback_within(lockd, 1.0)
    lockd.back()
    cbs = lockd.wait_callbacks(1, 20)
    assert cbs, "callback not retransmitted within 20 s"
    for cb in cbs:
        check_callback(cb, peer.addr4, 33, priv)


@pytest.mark.nsm_only
def test_callback_retried_when_lockd_not_registered(statd, lockd, peer):
    # nfs-utils gives up at once when lockd is not registered with rpcbind (lockd
    # restarting); the callback, and so the lock reclaim, is lost.
    priv = os.urandom(16)
    assert lockd.mon(peer.addr4, priv).res_stat == STAT_SUCC
    lockd.away(unregister=True)
    notify_from(peer, peer.addr4, 35)
    assert no_callback_within(lockd, 2.0)
    lockd.back()
    cbs = lockd.wait_callbacks(1, 30)
    assert cbs, "callback not retried within 30 s after lockd came back"
    for cb in cbs:
        check_callback(cb, peer.addr4, 35, priv)


@pytest.mark.nsm_only
def test_hung_dns_does_not_stall_statd(session, statd, lockd, peer):
    # nfs-utils resolves inline: with a hung resolver even NULL waits ~60 s (section 4).
    priv = os.urandom(16)
    assert lockd.mon(peer.addr4, priv).res_stat == STAT_SUCC
    session.dns.set_mode("blackhole")
    try:
        notify_from(peer, "unresolvable.example", 41)
        assert answering(statd, timeout=1.0), "NULL not answered while DNS hangs"
        with StatdClient(transport="udp", timeout=2.0) as c:
            assert c.stat("127.0.0.1").res_stat == STAT_SUCC
        notify_from(peer, peer.addr4, 43)
        cbs = lockd.wait_callbacks(1, 5)
        assert cbs, "callback for an IP-literal peer waited on the hung resolver"
        check_callback(cbs[0], peer.addr4, 43, priv)
    finally:
        session.dns.set_mode("refuse")
    assert until(lambda: answering(statd), 5)
