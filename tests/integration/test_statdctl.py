"""statdctl against real daemons: every command and its error paths, the control
channel of a running rpc.statd, moving a state directory (JSON export | import), the
nfs-utils format both ways against nfs-utils' own rpc.statd, and the HA callout
(docs/statdctl.md, docs/ha.md; nsm-reference.md section 3)."""
import json
import os
import signal
import time

import pytest

from nsmtest import daemons
from nsmtest import statdctl as ctl
from nsmtest.checks import check_callback, no_callback_within, notify_from, until
from nsmtest.nsm import STAT_SUCC, priv_bytes

pytestmark = pytest.mark.skipif(not ctl.available(), reason="statdctl not built")


@pytest.fixture
def nsm_dir(session, request):
    """A fresh state directory usable by nsm's rpc.statd and by nfs-utils'."""
    base = session.path("ctl", request.node.name.replace("/", "_")[:80])
    path, n = base, 0
    while os.path.exists(path):
        n += 1
        path = "%s.%d" % (base, n)
    return ctl.nsm_state_dir(path)


@pytest.fixture
def make_dir(session, request):
    made = []

    def make(tag, nfs_utils=False):
        path = session.path("ctl", "%s-%s-%d" % (request.node.name[:60], tag, len(made)))
        made.append(path)
        return daemons.prepare_state_dir(path) if nfs_utils else ctl.nsm_state_dir(path)
    return make


def nsm_statd():
    """The nsm rpc.statd binary, or skip."""
    if daemons.is_nfs_utils():
        pytest.skip("needs nsm's rpc.statd (the daemon under test is nfs-utils')")
    return daemons.select_statd()


# ------------------------------------------------------------------ read commands
def test_errors_without_store_or_daemon(session, nsm_dir):
    r = ctl.run(session.path("no-such-dir"), "status")
    assert r.returncode == ctl.NO_STORE, r
    assert "does not exist" in r.stderr
    for args in (["status"], ["list"], ["export"], ["forget", "x"], ["stats"]):
        r = ctl.run(nsm_dir, *args)
        expected = ctl.NO_DAEMON if args == ["stats"] else ctl.NO_STORE
        assert r.returncode == expected, (args, r.returncode, r.stderr)
    assert not os.path.exists(os.path.join(nsm_dir, "nsm.db"))  # reading never creates it
    r = ctl.run(nsm_dir, "stats")
    assert "not running" in r.stderr
    r = ctl.run(nsm_dir, "bogus-command")
    assert r.returncode == ctl.USAGE


def test_status_list_export_with_and_without_daemon(statd_factory, nsm_dir, lockd, peer):
    statd = statd_factory(nsm_dir, binary=nsm_statd())
    pb, pg = priv_bytes("ctl-kernel"), priv_bytes("ctl-ganesha")
    assert lockd.mon(peer.addr4, pb).res_stat == STAT_SUCC
    assert lockd.mon(peer.addr4, pg, vers=4, my_name="ganesha").res_stat == STAT_SUCC
    state = lockd.stat("127.0.0.1").state

    st = ctl.run_json(nsm_dir, "status")
    assert st["state"] == state and st["up"] is True
    assert st["monitors"] == 2
    assert st["daemon"]["running"] is True, st
    assert st["daemon"]["pid"] == statd.proc.pid
    assert st["daemon"]["port"] == statd.ports()[0]
    text = ctl.run(nsm_dir, "status")
    assert text.returncode == ctl.OK
    assert "running, pid %d" % statd.proc.pid in text.stdout, text.stdout

    lst = ctl.run_json(nsm_dir, "list")
    by_vers = {m["my_vers"]: m for m in lst["monitors"]}
    assert bytes.fromhex(by_vers[3]["priv"]) == pb
    assert bytes.fromhex(by_vers[4]["priv"]) == pg
    assert by_vers[4]["my_name"] == "ganesha"
    assert by_vers[3]["addresses"] == [peer.addr4]
    assert lst["notify"] == []
    text = ctl.run(nsm_dir, "list").stdout
    assert "Monitors (2):" in text and "100021/4/16" in text and peer.addr4 in text, text

    # The same from the database alone once the daemon is gone.
    statd.stop()
    st = ctl.run_json(nsm_dir, "status")
    assert st["daemon"]["running"] is False and st["monitors"] == 2
    assert ctl.run_json(nsm_dir, "list")["monitors"] == lst["monitors"]
    exp = json.loads(ctl.run(nsm_dir, "export").stdout)
    assert exp["format"] == "nsm-state" and exp["state"] == state
    assert len(exp["monitors"]) == 2


@pytest.mark.nsm_only
def test_stats_json_and_prometheus(statd_factory, nsm_dir, lockd, peer):
    statd = statd_factory(nsm_dir, binary=nsm_statd())
    for i in range(3):
        assert lockd.mon("198.18.7.%d" % (i + 1), priv_bytes(i)).res_stat == STAT_SUCC
    lockd.unmon("198.18.7.1")
    notify_from(peer, peer.addr4, 5)

    def stats():
        return ctl.run_json(nsm_dir, "stats")
    s = until(lambda: (lambda j: j if j["stats"]["sm"]["calls"]["SM_NOTIFY"] >= 1 else None)(stats()))
    assert s, "SM_NOTIFY never counted"
    calls = s["stats"]["sm"]["calls"]
    assert calls["SM_MON"] == 3 and calls["SM_UNMON"] == 1, calls
    assert s["stats"]["sm"]["notify_unmatched"] == 1
    assert s["stats"]["rpc"]["calls"] >= 5
    assert s["stats"]["store"]["commits"] >= 1
    assert "lookups" in s["stats"]["resolver"] and "sent" in s["stats"]["callbacks"]
    assert s["pid"] == statd.proc.pid
    assert s["database"]["monitors"] == 2

    r = ctl.run(nsm_dir, "stats", "--prometheus")
    assert r.returncode == ctl.OK, r.stderr
    lines = r.stdout.splitlines()
    assert "nsm_up 1" in lines
    assert 'nsm_sm_calls_total{proc="SM_MON"} 3' in lines
    assert "nsm_monitors 2" in lines
    for line in lines:  # the node_exporter textfile syntax
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or \
            len(line.split(" ")) == 2 and line.split(" ")[1].replace(".", "").isdigit(), line
    assert "COUNTER" in ctl.run(nsm_dir, "stats").stdout

    statd.stop()
    r = ctl.run(nsm_dir, "stats", "--prometheus")
    assert r.returncode == ctl.NO_DAEMON
    assert "nsm_up 0" in r.stdout.splitlines()


@pytest.mark.nsm_only
def test_permission_denied_for_other_users(statd_factory, nsm_dir, lockd):
    other = ctl.OTHER_UID
    statd_factory(nsm_dir, binary=nsm_statd())
    assert lockd.mon("198.18.7.1", priv_bytes(1)).res_stat == STAT_SUCC
    for args in (["list"], ["status"], ["export"], ["add", "198.18.7.9"], ["stats"]):
        r = ctl.run(nsm_dir, *args, user=other)
        assert r.returncode == ctl.PERMISSION, (args, r.returncode, r.stdout, r.stderr)
        assert "ermission denied" in r.stderr, r.stderr
    # The daemon's own user may (it owns the database and is allowed on the socket).
    assert ctl.run(nsm_dir, "list", user="statd").returncode == ctl.OK
    assert ctl.run(nsm_dir, "stats", user="statd").returncode == ctl.OK


# ------------------------------------------------------------------ write commands
def test_add_remove_forget_while_daemon_runs(statd_factory, nsm_dir, lockd, peer):
    statd_factory(nsm_dir, binary=nsm_statd())
    priv = priv_bytes("added-by-ctl")
    r = ctl.run(nsm_dir, "add", peer.addr4, "--my-name", lockd.my_name, "--priv", priv.hex())
    assert r.returncode == ctl.OK, r.stderr
    # The daemon calls back the record statdctl wrote.
    notify_from(peer, peer.addr4, 7)
    cbs = lockd.wait_callbacks(1)
    assert len(cbs) == 1
    check_callback(cbs[0], peer.addr4, 7, priv)

    assert lockd.mon("198.18.7.7", priv_bytes(2)).res_stat == STAT_SUCC
    r = ctl.run(nsm_dir, "remove", "198.18.7.7", "--my-name", "someone-else")
    assert r.returncode == ctl.NOT_FOUND
    assert ctl.run(nsm_dir, "remove", "198.18.7.7").returncode == ctl.OK
    assert [m["mon_name"] for m in ctl.run_json(nsm_dir, "list")["monitors"]] == [peer.addr4]

    assert ctl.run(nsm_dir, "forget", peer.addr4).returncode == ctl.OK
    assert ctl.run_json(nsm_dir, "list")["monitors"] == []
    notify_from(peer, peer.addr4, 9)
    assert no_callback_within(lockd, 1.5, already=1), lockd.callbacks
    assert ctl.run(nsm_dir, "forget", peer.addr4).returncode == ctl.NOT_FOUND


def test_import_rejects_bad_json(nsm_dir):
    for bad in ("", "{", '{"format": "nsm-state", "version": 1, "monitors": [{"mon_name": "a/b"}]}'):
        r = ctl.run(nsm_dir, "import", input=bad)
        assert r.returncode == ctl.BAD_INPUT, (bad, r.stderr)
    assert not os.path.exists(os.path.join(nsm_dir, "nsm.db"))


@pytest.mark.nsm_only
def test_json_export_import_moves_everything(statd_factory, make_dir, lockd, peer, peer2):
    a, b = make_dir("a"), make_dir("b")
    statd = statd_factory(a, binary=nsm_statd())
    pb, pc = priv_bytes("move-b"), priv_bytes("move-c")
    assert lockd.mon(peer.addr4, pb).res_stat == STAT_SUCC
    lockd.simu_crash()  # state bumped, monitors -> notify list
    assert lockd.mon(peer2.addr4, pc).res_stat == STAT_SUCC
    state = lockd.stat("127.0.0.1").state
    statd.stop()
    before = ctl.run_json(a, "list")
    assert len(before["monitors"]) == 1 and len(before["notify"]) == 1, before

    exported = ctl.run(a, "export")
    assert exported.returncode == ctl.OK
    r = ctl.run(b, "import", "-", input=exported.stdout)
    assert r.returncode == ctl.OK, r.stderr
    assert ctl.run_json(b, "list") == before
    assert ctl.run_json(b, "status")["state"] == state
    st = os.stat(os.path.join(b, "nsm.db"))
    assert st.st_uid == daemons.statd_user()[0], "imported database not owned by statd's user"

    # rpc.statd on the new directory answers with the moved state and calls back.
    statd_factory(b, binary=nsm_statd())
    assert lockd.stat("127.0.0.1").state == state
    notify_from(peer2, peer2.addr4, 31)
    cbs = lockd.wait_callbacks(1)
    check_callback(cbs[0], peer2.addr4, 31, pc)


# ------------------------------------------------------------------ nfs-utils format
def test_legacy_round_trip_with_nfs_utils(statd_factory, make_dir, lockd, peer, peer2):
    legacy = make_dir("nfs-utils", nfs_utils=True)
    daemons.write_state(legacy, 40)
    old = statd_factory(legacy, binary=ctl.NFS_UTILS_STATD)
    privs = {"v4": priv_bytes("legacy-v4"), "g": priv_bytes("legacy-g"), "name": priv_bytes("legacy-n")}
    assert lockd.mon(peer.addr4, privs["v4"]).res_stat == STAT_SUCC
    assert lockd.mon(peer.addr4, privs["g"], vers=4, my_name="ganesha").res_stat == STAT_SUCC
    assert lockd.mon("nsm-c", privs["name"]).res_stat == STAT_SUCC
    state = lockd.stat("127.0.0.1").state
    old.stop()
    written = ctl.read_sm_lines(legacy)
    assert sum(len(v) for v in written.values()) == 3, written
    stored = daemons.read_state(legacy)  # nfs-utils keeps the even number on disk

    # nfs-utils -> nsm
    ours = make_dir("nsm")
    r = ctl.run(ours, "import", "--legacy", legacy)
    assert r.returncode == ctl.OK, r.stderr
    assert ctl.run_json(ours, "status")["state"] == stored
    mons = {(m["mon_name"], m["my_name"], m["my_vers"]): m for m in ctl.run_json(ours, "list")["monitors"]}
    assert bytes.fromhex(mons[(peer.addr4, lockd.my_name, 3)]["priv"]) == privs["v4"]
    assert bytes.fromhex(mons[(peer.addr4, "ganesha", 4)]["priv"]) == privs["g"]
    assert bytes.fromhex(mons[("nsm-c", lockd.my_name, 3)]["priv"]) == privs["name"]
    if not daemons.is_nfs_utils():
        # nsm's rpc.statd on the imported directory: same state, each record called back.
        new = statd_factory(ours, binary=daemons.select_statd())
        assert lockd.stat("127.0.0.1").state == state
        notify_from(peer, peer.addr4, 61)
        cbs = sorted(lockd.wait_callbacks(2), key=lambda cb: cb.vers)
        assert len(cbs) == 2, cbs
        check_callback(cbs[0], peer.addr4, 61, privs["v4"], vers=3)
        check_callback(cbs[1], peer.addr4, 61, privs["g"], vers=4)
        new.stop()
        lockd.clear()

    # nsm -> nfs-utils: the same lines nfs-utils wrote (files named by mon_name).
    down = make_dir("downgrade", nfs_utils=True)
    ours_state = ctl.run_json(ours, "status")["state"]
    r = ctl.run(ours, "export", "--legacy", down)
    assert r.returncode == ctl.OK, r.stderr
    exported = ctl.read_sm_lines(down)
    assert sorted(sum(exported.values(), [])) == sorted(sum(written.values(), []))
    assert daemons.read_state(down) == ours_state
    uid = daemons.statd_user()[0]
    for name in exported:
        assert os.stat(os.path.join(down, "sm", name)).st_uid == uid

    # nfs-utils' rpc.statd loads the exported directory and calls the records back.
    statd_factory(down, binary=ctl.NFS_UTILS_STATD)
    assert lockd.stat("127.0.0.1").state == state
    notify_from(peer2, "nsm-c", 51)
    cbs = lockd.wait_callbacks(1)
    check_callback(cbs[0], "nsm-c", 51, privs["name"])


# ------------------------------------------------------------------ notify
def test_notify_now(statd_factory, make_dir, lockd, peer, peer2):
    ours = make_dir("ours")
    # peer runs nfs-utils' rpc.statd: the receiver of our SM_NOTIFY.
    remote = statd_factory(make_dir("peer", nfs_utils=True), on=peer, binary=ctl.NFS_UTILS_STATD)
    dump = {"format": "nsm-state", "version": 1, "state": 21, "monitors": [], "notify": [
        # No stored address: statdctl resolves the name (resolver sidecar, /etc/hosts).
        {"mon_name": "nsm-b", "my_name": "nsm-a"},
        {"mon_name": "nsm-c", "my_name": "nsm-a", "addresses": [peer2.addr4]},
    ]}
    assert ctl.run(ours, "import", input=json.dumps(dump)).returncode == ctl.OK

    r = ctl.run(ours, "notify", "NSM-B", "--timeout", "3")
    assert r.returncode == ctl.OK, (r.stdout, r.stderr)
    assert "notified" in r.stdout
    assert remote.proc.wait_log("Received SM_NOTIFY from nsm-a, state: 21", 5), remote.log()
    left = ctl.run_json(ours, "list", "--notify")["notify"]
    assert [e["mon_name"] for e in left] == ["nsm-c"]

    # nsm-c has no statd (its rpcbind has no 100024): a failed attempt is recorded.
    r = ctl.run(ours, "--json", "notify", "--all", "--timeout", "1")
    assert r.returncode == ctl.PARTIAL, (r.stdout, r.stderr)
    out = json.loads(r.stdout)
    assert out["notified"][0]["ok"] is False
    left = ctl.run_json(ours, "list", "--notify")["notify"]
    assert left[0]["attempts"] == 1 and left[0]["last_error"], left
    assert ctl.run(ours, "notify", "nsm-z").returncode == ctl.NOT_FOUND


# ------------------------------------------------------------------ HA callout
def _callout(session, name, body=""):
    path = session.path("ctl", name + ".sh")
    log = path + ".log"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho \"$@\" >> %s\n%s\n" % (log, body))
    os.chmod(path, 0o755)
    with open(log, "w"):
        pass
    os.chmod(log, 0o666)  # the daemons run it as the statd user
    os.chmod(os.path.dirname(path), 0o755)
    return path, log


def _lines(log):
    with open(log) as f:
        return f.read().splitlines()


@pytest.mark.parametrize("flavor", ["nsm", "nfs-utils"])
def test_ha_callout_arguments_match_nfs_utils(session, statd_factory, make_dir, lockd, peer, flavor):
    binary = ctl.NFS_UTILS_STATD if flavor == "nfs-utils" else nsm_statd()
    script, log = _callout(session, "ha-" + flavor)
    statd_factory(make_dir(flavor, nfs_utils=flavor == "nfs-utils"), binary=binary, args=["-H", script])
    assert lockd.mon(peer.addr4, priv_bytes(1)).res_stat == STAT_SUCC
    assert until(lambda: len(_lines(log)) >= 1)
    assert lockd.mon("198.18.7.2", priv_bytes(2)).res_stat == STAT_SUCC
    assert until(lambda: len(_lines(log)) >= 2)
    lockd.unmon(peer.addr4)
    assert until(lambda: len(_lines(log)) >= 3)
    notify_from(peer, "nsm-b", 13)
    assert until(lambda: len(_lines(log)) >= 4)
    lockd.unmon_all()
    assert until(lambda: len(_lines(log)) >= 5), _lines(log)
    me = lockd.my_name
    lines = _lines(log)
    assert lines[:3] == ["add-client %s %s" % (peer.addr4, me),
                         "add-client 198.18.7.2 %s" % me,
                         "del-client %s %s" % (peer.addr4, me)], lines
    assert lines[4] == "del-client 198.18.7.2 %s" % me, lines
    # PROG sm-notify MON_NAME CALLER_IP STATE
    parts = lines[3].split()
    assert parts[:2] == ["sm-notify", "nsm-b"] and parts[3] == "13", lines
    assert parts[2] == peer.addr4, lines


@pytest.mark.nsm_only
def test_hung_ha_callout_blocks_nothing(session, statd_factory, nsm_dir, lockd):
    script, log = _callout(session, "ha-hung", "sleep 60")
    statd = statd_factory(nsm_dir, binary=nsm_statd(), args=["-H", script])
    t0 = time.monotonic()
    for i in range(6):
        assert lockd.mon("198.18.7.%d" % (i + 1), priv_bytes(i)).res_stat == STAT_SUCC
    assert time.monotonic() - t0 < 5, "SM_MON waited for the callout"
    lockd.null()
    s = ctl.run_json(nsm_dir, "stats")["stats"]["ha_callout"]
    assert s["running"] <= 4 and s["running"] + s["queued"] + s["dropped"] == 6, s
    statd.stop(signal.SIGTERM)
    assert not statd.alive()


@pytest.mark.nsm_only
def test_control_socket_of_a_long_state_directory(session, statd_factory, lockd):
    # /run/rpc.statd<dir>.ctl would not fit in a Unix socket address: a digest is used.
    path = ctl.nsm_state_dir(session.path("ctl", "long-" + "x" * 120))
    statd = statd_factory(path, binary=nsm_statd())
    assert lockd.mon("198.18.7.1", priv_bytes(1)).res_stat == STAT_SUCC
    s = ctl.run_json(path, "stats")
    assert s["pid"] == statd.proc.pid and s["stats"]["sm"]["calls"]["SM_MON"] == 1
