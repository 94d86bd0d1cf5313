"""Bad storage: a missing, read-only or corrupt state directory, a full disk. Each is a
clear error, never a silently emptied database; a full disk fails SM_MON with
stat_fail while the daemon keeps serving and loses nothing already stored."""
import hashlib
import os
import subprocess

import pytest

from nsmtest import daemons, store_check
from nsmtest.checks import answering
from nsmtest.nsm import STAT_FAIL, STAT_SUCC, MyId, StatdClient

pytestmark = pytest.mark.nsm_only

MY_ID = MyId("client", 100021, 3, 16)


def run_statd(host, state_dir, timeout=15):
    """Runs the daemon in the foreground expecting it to give up; returns (rc, log)."""
    argv = [daemons.select_statd(), "-F", "-d", "-L", "-P", state_dir]
    p = host.run(argv, check=False, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def test_missing_state_directory_is_a_clear_error(host, session):
    rc, out = run_statd(host, session.path("no", "such", "dir"))
    assert rc == 1, out
    assert "state directory" in out and "missing" in out, out


def test_corrupt_database_is_refused_and_left_alone(host, state_dir):
    path = store_check.db_path(state_dir)
    with open(path, "wb") as f:
        f.write(b"this is not an SQLite database, but it was nsm's" * 100)
    before = hashlib.sha256(open(path, "rb").read()).hexdigest()
    rc, out = run_statd(host, state_dir)
    assert rc == 1, out
    assert "nsm.db" in out and ("corrupt" in out or "not a database" in out), out
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == before
    assert not os.path.exists(path + "-wal")


def test_damaged_page_fails_the_integrity_check(statd_factory, host, state_dir):
    s = statd_factory(state_dir)
    with StatdClient() as c:
        for i in range(200):
            assert c.mon("198.19.0.%d" % i, MY_ID, bytes(16)).res_stat == STAT_SUCC
    s.stop()
    path = store_check.db_path(state_dir)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:  # scribble over the b-tree page headers (pages 2..n)
        for off in range(4096, size, 4096):
            f.seek(off)
            f.write(b"\x0d\xff\xff\xff\xff\xff\xff\xff")
    before = hashlib.sha256(open(path, "rb").read()).hexdigest()
    rc, out = run_statd(host, state_dir)
    assert rc == 1, out
    assert "corrupt" in out or "integrity" in out or "malformed" in out, out
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == before


def test_read_only_state_directory_is_a_clear_error(host, state_dir):
    subprocess.run(["mount", "--bind", state_dir, state_dir], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", state_dir], check=True)
        rc, out = run_statd(host, state_dir)
        assert rc == 1, out
        assert "nsm.db" in out and ("read-only" in out.lower() or "permission" in out.lower()), out
    finally:
        subprocess.run(["umount", state_dir], check=False)


def test_full_disk_fails_sm_mon_keeps_serving_and_loses_nothing(statd_factory, session):
    mnt = session.path("small-disk")
    os.makedirs(mnt, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt], check=True)
    try:
        state_dir = daemons.prepare_state_dir(os.path.join(mnt, "state"))
        statd = statd_factory(state_dir)
        acked = {}
        with StatdClient(per_call=False) as c:
            for i in range(20):
                name = "198.19.1.%d" % i
                assert c.mon(name, MY_ID, bytes([i]) * 16).res_stat == STAT_SUCC
                acked[name] = bytes([i]) * 16
            filler = os.path.join(mnt, "filler")
            with open(filler, "wb") as f:  # fill the disk to the last block
                try:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
                except OSError:
                    pass
            failed = False
            for i in range(3000):  # the WAL has slack; write until it runs out
                name = "full-%d-%s" % (i, "x" * 900)
                r = c.mon(name, MY_ID, bytes(16))
                if r.res_stat == STAT_FAIL:
                    failed = True
                    break
                acked[name] = bytes(16)
            assert failed, "SM_MON never failed on a full disk"
            assert answering(statd), "the daemon stopped answering on a full disk"
            assert c.stat("127.0.0.1").res_stat == STAT_SUCC
            os.unlink(filler)
            r = c.mon("198.19.2.1", MY_ID, b"\x07" * 16)
            assert r.res_stat == STAT_SUCC, "SM_MON still failing after space was freed"
            acked["198.19.2.1"] = b"\x07" * 16
        statd.stop()
        stored = store_check.monitors(state_dir)
        for name, priv in acked.items():
            assert stored.get((name, "client")) == priv, name
        assert store_check.integrity(state_dir) == "ok"
    finally:
        subprocess.run(["umount", "-l", mnt], check=False)
