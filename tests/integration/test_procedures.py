"""The SM procedures as a local lockd (and remote hosts) call them: results, state
numbers, who may call what, mon_name and callback validation, one record per SM_MON.
docs/nsm-reference.md sections 1-4."""
import os

import pytest

from nsmtest import daemons
from nsmtest.checks import answering, check_callback, no_callback_within, notify_from
from nsmtest.nsm import STAT_FAIL, STAT_SUCC, MyId, StatdClient, priv_bytes
from nsmtest.rpc import auth_sys


def local_state(lockd):
    r = lockd.stat("127.0.0.1")
    assert r.res_stat == STAT_SUCC
    return r.state


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_null(statd, transport):
    for reserved in (True, False):
        with StatdClient(transport=transport, reserved=reserved) as c:
            c.null()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sm_stat_succeeds_with_odd_state(statd, transport):
    with StatdClient(transport=transport) as c:
        r1 = c.stat("127.0.0.1")
        r2 = c.stat("localhost")
    with StatdClient(transport=transport, reserved=False, cred=auth_sys("elsewhere", 1000, 1000)) as c:
        r3 = c.stat("nsm-b")
    for r in (r1, r2, r3):
        assert r.res_stat == STAT_SUCC, r
        assert r.state % 2 == 1 and r.state > 0, r
    assert r1.state == r2.state == r3.state


@pytest.mark.parametrize("stored,expected", [(40, 41), (41, 41), (1001, 1001)])
def test_state_number_read_from_state_file(statd_factory, state_dir, lockd, stored, expected):
    # nfs-utils semantics: an even stored value becomes the next odd one; no bump at start.
    daemons.write_state(state_dir, stored)
    statd_factory(state_dir)
    assert local_state(lockd) == expected


def test_mon_unmon_unmon_all_flow(statd, lockd, peer, peer2):
    state = local_state(lockd)
    pb, pc = priv_bytes("flow-b"), priv_bytes("flow-c")
    for name, priv in ((peer.addr4, pb), (peer2.addr4, pc)):
        r = lockd.mon(name, priv)
        assert (r.res_stat, r.state) == (STAT_SUCC, state)

    notify_from(peer, peer.addr4, 11)
    cbs = lockd.wait_callbacks(1)
    assert len(cbs) == 1
    check_callback(cbs[0], peer.addr4, 11, pb)

    assert lockd.unmon(peer.addr4) == state
    notify_from(peer, peer.addr4, 13)
    assert no_callback_within(lockd, 1.5, already=1), lockd.callbacks

    notify_from(peer2, peer2.addr4, 21)
    cbs = lockd.wait_callbacks(2)
    assert len(cbs) == 2
    check_callback(cbs[1], peer2.addr4, 21, pc)

    assert lockd.unmon_all() == state
    notify_from(peer2, peer2.addr4, 23)
    assert no_callback_within(lockd, 1.5, already=2), lockd.callbacks
    assert local_state(lockd) == state


def test_mon_over_udp_is_accepted(statd, lockd, peer):
    # Older kernels sent SM_MON over UDP.
    priv = priv_bytes("udp-mon")
    r = lockd.mon(peer.addr4, priv, transport="udp")
    assert r.res_stat == STAT_SUCC
    notify_from(peer, peer.addr4, 31)
    cbs = lockd.wait_callbacks(1)
    check_callback(cbs[0], peer.addr4, 31, priv)


def test_repeated_mon_is_one_record(statd, lockd, peer):
    priv = priv_bytes("twice")
    for _ in range(2):
        assert lockd.mon(peer.addr4, priv).res_stat == STAT_SUCC
    notify_from(peer, peer.addr4, 41)
    cbs = lockd.wait_callbacks(1)
    check_callback(cbs[0], peer.addr4, 41, priv)
    assert no_callback_within(lockd, 1.0, already=1), lockd.callbacks


def test_two_callers_of_one_peer_each_called_back(statd, lockd, peer):
    # The kernel (v3) and, say, NFS-Ganesha (v4, its own my_name) monitor the same peer.
    pk, pg = priv_bytes("kernel"), priv_bytes("ganesha")
    assert lockd.mon(peer.addr4, pk).res_stat == STAT_SUCC
    assert lockd.mon(peer.addr4, pg, vers=4, my_name="ganesha").res_stat == STAT_SUCC
    notify_from(peer, peer.addr4, 51)
    cbs = lockd.wait_callbacks(2)
    assert len(cbs) == 2, cbs
    by_vers = {cb.vers: cb for cb in cbs}
    check_callback(by_vers[3], peer.addr4, 51, pk, vers=3)
    check_callback(by_vers[4], peer.addr4, 51, pg, vers=4)


def test_sm_stat_is_open_but_mon_refused_from_remote_host(statd, lockd, peer):
    state = local_state(lockd)
    with StatdClient(peer.local4, "tcp", netns=peer.netns) as remote:
        r = remote.stat("127.0.0.1")
        assert (r.res_stat, r.state) == (STAT_SUCC, state)
        r = remote.mon(peer.addr4, MyId("nsm-a"), priv_bytes("remote"))
        assert r.res_stat == STAT_FAIL, r
    notify_from(peer, peer.addr4, 61)
    assert no_callback_within(lockd, 1.5), lockd.callbacks


def test_unmon_unmon_all_simu_crash_from_remote_host_ignored(statd, lockd, peer):
    state = local_state(lockd)
    priv = priv_bytes("stays")
    assert lockd.mon(peer.addr4, priv).res_stat == STAT_SUCC
    with StatdClient(peer.local4, "udp", netns=peer.netns) as remote:
        remote.unmon(peer.addr4, lockd.my_id())
        remote.unmon_all(lockd.my_id())
        remote.call(5)  # SM_SIMU_CRASH: whatever the reply, nothing may change
    assert answering(statd)
    assert local_state(lockd) == state
    notify_from(peer, peer.addr4, 71)
    cbs = lockd.wait_callbacks(1)
    assert len(cbs) == 1, "the remote SM_UNMON/SM_UNMON_ALL removed a monitor"
    check_callback(cbs[0], peer.addr4, 71, priv)


@pytest.mark.parametrize("name", ["a/b", "../../etc/passwd", "/tmp/x", ".hidden", ".", ".."])
def test_mon_name_with_slash_or_leading_dot_refused(statd, lockd, name):
    r = lockd.mon(name, priv_bytes("bad-name"))
    assert r.res_stat == STAT_FAIL, r
    assert os.listdir(os.path.join(statd.state_dir, "sm")) == []
    assert answering(statd)


@pytest.mark.parametrize("prog,proc", [(100003, 16), (100024, 16), (100005, 16), (100021, 17), (100021, 0)])
def test_mon_with_callback_other_than_lockd_refused(statd, lockd, peer, prog, proc):
    r = lockd.mon(peer.addr4, priv_bytes("not-lockd"), prog=prog, proc=proc)
    assert r.res_stat == STAT_FAIL, r
    notify_from(peer, peer.addr4, 81)
    assert no_callback_within(lockd, 1.0), lockd.callbacks


# --------------------------------------------------------------------- nsm only
@pytest.mark.nsm_only
def test_mon_over_ipv6_loopback_accepted(statd, lockd, peer):
    # nfs-utils refuses SM_MON over ::1 (reference section 3 "Who may call").
    state = local_state(lockd)
    priv = priv_bytes("over-v6")
    r = lockd.mon(peer.addr4, priv, host="::1")
    assert (r.res_stat, r.state) == (STAT_SUCC, state)
    notify_from(peer, peer.addr4, 91)
    check_callback(lockd.wait_callbacks(1)[0], peer.addr4, 91, priv)
    assert lockd.unmon(peer.addr4, host="::1") == state
    notify_from(peer, peer.addr4, 93)
    assert no_callback_within(lockd, 1.5, already=1), lockd.callbacks


def distinct_pairs(cbs, state):
    for cb in cbs:
        assert cb.error is None and cb.state == state and cb.src_port < 1024, cb
    return {(cb.mon_name, cb.priv) for cb in cbs}


@pytest.mark.nsm_only
def test_ipv4_and_ipv6_names_of_one_peer_keep_their_own_priv(statd, lockd, peer):
    # A client mounting one server over IPv4 and IPv6: two SM_MONs, two privs.  nfs-utils
    # merges them and calls back once with one priv (reference section 4).
    p4, p6 = priv_bytes("mount-v4"), priv_bytes("mount-v6")
    assert lockd.mon(peer.addr4, p4).res_stat == STAT_SUCC
    assert lockd.mon(peer.addr6, p6).res_stat == STAT_SUCC
    # The rebooted server notifies each of our addresses, from its matching address.
    notify_from(peer, peer.name, 101, to=peer.local4)
    notify_from(peer, peer.name, 101, to=peer.local6)
    cbs = lockd.wait_callbacks(2)
    no_callback_within(lockd, 1.0, already=len(cbs))
    assert distinct_pairs(lockd.callbacks, 101) == {(peer.addr4, p4), (peer.addr6, p6)}, lockd.callbacks


@pytest.mark.nsm_only
def test_ipv4_mapped_name_is_its_own_record(statd, lockd, peer):
    # NFS-Ganesha uses ::ffff:a.b.c.d as mon_name (reference section 5).
    mapped = "::ffff:" + peer.addr4
    p4, pm = priv_bytes("plain-v4"), priv_bytes("mapped-v4")
    assert lockd.mon(peer.addr4, p4).res_stat == STAT_SUCC
    assert lockd.mon(mapped, pm, vers=4, my_name="ganesha").res_stat == STAT_SUCC
    notify_from(peer, peer.addr4, 111)
    cbs = lockd.wait_callbacks(2)
    no_callback_within(lockd, 1.0, already=len(cbs))
    assert distinct_pairs(lockd.callbacks, 111) == {(peer.addr4, p4), (mapped, pm)}, lockd.callbacks


@pytest.mark.nsm_only
def test_unmon_removes_only_the_record_it_names(statd, lockd, peer):
    p4, p6 = priv_bytes("gone-v4"), priv_bytes("kept-v6")
    assert lockd.mon(peer.addr4, p4).res_stat == STAT_SUCC
    assert lockd.mon(peer.addr6, p6).res_stat == STAT_SUCC
    lockd.unmon(peer.addr4)
    notify_from(peer, peer.name, 121, to=peer.local4)
    notify_from(peer, peer.name, 121, to=peer.local6)
    cbs = lockd.wait_callbacks(1)
    no_callback_within(lockd, 1.0, already=len(cbs))
    assert distinct_pairs(lockd.callbacks, 121) == {(peer.addr6, p6)}, lockd.callbacks
