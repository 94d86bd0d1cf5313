"""Crash loop: rpc.statd is killed with SIGKILL at a random moment while SM_MON,
SM_UNMON and SM_UNMON_ALL stream in over several connections, restarted on the same
state directory, and killed again, cycle after cycle. At the end a clean restart must
show every acknowledged change: each acknowledged SM_MON with its priv (unless its
removal was asked for since), no acknowledged SM_UNMON / SM_UNMON_ALL undone, nothing
that was never asked for, a state number that never went backwards, and a database
that passes SQLite's integrity check. (SM_MON and SM_UNMON are answered only once their
change is durable, docs/design.md.)

Every operation uses a name of its own (cycle, worker, sequence number) and every
SM_UNMON_ALL a my_id of its own, so each acknowledgement promises exactly one outcome.

NSM_CRASH_CYCLES sets the number of cycles (default 50, about a minute); `make soak`
runs 1000."""
import os
import random
import signal
import threading
import time

import pytest

from nsmtest import daemons, store_check
from nsmtest.dns_outage_support import process_alive, sidecar_pids
from nsmtest.nsm import STAT_SUCC, MyId, StatdClient

pytestmark = pytest.mark.nsm_only  # reads nsm's database

CYCLES = int(os.environ.get("NSM_CRASH_CYCLES", "50"))
WORKERS = 4
KILL_AFTER = (0.05, 0.5)  # seconds after the streams start
EARLY_KILL_EVERY = 4       # every 4th cycle also kills a daemon while it starts up
EARLY_KILL_AFTER = (0.0, 0.15)  # seconds after the exec: opening, recovering, binding


class Record:
    """What one worker asked for and what was acknowledged (one thread writes it)."""

    def __init__(self):
        self.mons = {}             # (mon_name, my_name) -> priv, every SM_MON sent
        self.mon_acked = set()
        self.removal_asked = set()  # SM_UNMON or SM_UNMON_ALL sent (answered or not)
        self.removal_acked = set()
        self.counts = {"mon": 0, "unmon": 0, "unmon_all": 0}


def stream(cycle, w, stop, rec, rnd):
    """Sequential SM_MON / SM_UNMON / SM_UNMON_ALL over one TCP connection until the
    daemon dies (the call fails) or `stop` is set."""
    gen, n = 0, 0
    live = {}  # my_name -> acknowledged mon_names not yet asked to be removed
    try:
        with StatdClient(transport="tcp", per_call=False, timeout=2.0) as c:
            while not stop.is_set():
                my_name = "c%d-w%d-g%d" % (cycle, w, gen)
                my_id = MyId(my_name, 100021, 3, 16)
                names = live.setdefault(my_name, [])
                r = rnd.random()
                if r < 0.25 and any(live.values()):
                    # SM_UNMON of a monitor this worker had acknowledged (any my_id).
                    owner = rnd.choice([k for k, v in live.items() if v])
                    name = live[owner].pop(rnd.randrange(len(live[owner])))
                    key = (name, owner)
                    rec.removal_asked.add(key)
                    c.unmon(name, MyId(owner, 100021, 3, 16))
                    rec.removal_acked.add(key)
                    rec.counts["unmon"] += 1
                elif r < 0.30 and len(names) >= 2:
                    # SM_UNMON_ALL of this my_id; later operations use a new one.
                    keys = [(name, my_name) for name in names]
                    rec.removal_asked.update(keys)
                    live[my_name] = []
                    gen += 1
                    c.unmon_all(my_id)
                    rec.removal_acked.update(keys)
                    rec.counts["unmon_all"] += 1
                else:
                    if n % 2 == 0:
                        name = "fd00:%x:%x::%x" % (cycle + 1, w + 1, n + 1)
                    else:
                        name = "c%d-w%d-%d.crash.test" % (cycle, w, n)
                    n += 1
                    priv = bytes(rnd.getrandbits(8) for _ in range(16))
                    key = (name, my_name)
                    rec.mons[key] = priv
                    res = c.mon(name, my_id, priv)
                    if res.res_stat != STAT_SUCC:
                        raise AssertionError("SM_MON %s answered stat_fail" % name)
                    rec.mon_acked.add(key)
                    names.append(name)
                    rec.counts["mon"] += 1
    except AssertionError:
        raise
    except Exception:
        return  # the daemon died: the call in flight is of unknown outcome


def kill9(statd):
    """SIGKILL the daemon; its resolver sidecar must die with it (PDEATHSIG). Reaps the
    sidecar, which became a child of the harness (PID 1 of its namespace)."""
    sidecars = sidecar_pids(statd.proc.pid) if statd.alive() else []
    statd.stop(signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(process_alive(p) for p in sidecars) and time.monotonic() < deadline:
        time.sleep(0.01)
    survivors = [p for p in sidecars if process_alive(p)]
    for p in sidecars:
        try:
            os.waitpid(p, os.WNOHANG)
        except ChildProcessError:
            pass
    assert not survivors, "resolver sidecar %s outlived its killed daemon" % survivors
    return len(sidecars)


def early_kill(host, state_dir, binary, delay):
    """Start rpc.statd and SIGKILL it `delay` seconds later, ready or not."""
    s = daemons.Statd(host, state_dir, binary=binary)
    daemons.forget_registration(host)
    s.proc = host.spawn(s.name, s.argv())
    time.sleep(delay)
    kill9(s)
    assert not s.problems(), s.problems() + [s.log()[-3000:]]


def test_kill9_cycles_lose_nothing_acknowledged(statd_factory, state_dir, host):
    rnd = random.Random(int(os.environ.get("NSM_CRASH_SEED", "1")))
    # One binary for every cycle, even if the build directory is rebuilt meanwhile
    # (select_statd would then fall back to nfs-utils' rpc.statd).
    binary = daemons.select_statd()
    records = []
    failures = []
    cycles_with_acks = early_kills = sidecars_killed = 0
    state = 0
    for cycle in range(CYCLES):
        if cycle % EARLY_KILL_EVERY == EARLY_KILL_EVERY - 1:
            early_kill(host, state_dir, binary, rnd.uniform(*EARLY_KILL_AFTER))
            early_kills += 1
        statd = statd_factory(state_dir, binary=binary)
        with StatdClient(transport="udp") as c:
            now = c.stat("127.0.0.1").state
        assert now % 2 == 1 and now >= state, "cycle %d: state %d after %d" % (cycle, now, state)
        state = now
        stop = threading.Event()
        recs = [Record() for _ in range(WORKERS)]
        seeds = [rnd.random() for _ in range(WORKERS)]
        errors = []

        def run(w):
            try:
                stream(cycle, w, stop, recs[w], random.Random(seeds[w]))
            except AssertionError as e:
                errors.append(str(e))
        workers = [threading.Thread(target=run, args=(w,)) for w in range(WORKERS)]
        for t in workers:
            t.start()
        time.sleep(rnd.uniform(*KILL_AFTER))
        sidecars_killed += kill9(statd)
        stop.set()
        for t in workers:
            t.join(10)
        assert not any(t.is_alive() for t in workers), "a stream hung after the kill"
        failures += ["cycle %d: %s" % (cycle, e) for e in errors]
        records += recs
        if any(r.mon_acked or r.removal_acked for r in recs):
            cycles_with_acks += 1
    assert not failures, failures[:5]

    # Recover once more, stop cleanly, and read the database.
    statd = statd_factory(state_dir, binary=binary)
    statd.stop()
    stored = store_check.monitors(state_dir)
    asked = {}
    mon_acked, removal_asked, removal_acked = set(), set(), set()
    totals = {"mon": 0, "unmon": 0, "unmon_all": 0}
    for r in records:
        asked.update(r.mons)
        mon_acked |= r.mon_acked
        removal_asked |= r.removal_asked
        removal_acked |= r.removal_acked
        for k, v in r.counts.items():
            totals[k] += v
    lost = [k for k in mon_acked - removal_asked if k not in stored]
    undone = [k for k in removal_acked if k in stored]
    phantom = [k for k in stored if k not in asked]
    wrong = [k for k in stored if k in asked and stored[k] != asked[k]]
    print("crash loop: %d cycles (%d with acknowledged operations) + %d kills during start-up, "
          "acknowledged: %d SM_MON, %d SM_UNMON, %d SM_UNMON_ALL; %d monitors stored; "
          "%d sidecars died with their daemon"
          % (CYCLES, cycles_with_acks, early_kills, totals["mon"], totals["unmon"],
             totals["unmon_all"], len(stored), sidecars_killed))
    assert not lost, "%d acknowledged monitors lost, e.g. %s" % (len(lost), lost[:5])
    assert not undone, "%d acknowledged removals undone, e.g. %s" % (len(undone), undone[:5])
    assert not phantom, "%d monitors never asked for, e.g. %s" % (len(phantom), phantom[:5])
    assert not wrong, "%d monitors with the wrong priv, e.g. %s" % (len(wrong), wrong[:5])
    assert store_check.integrity(state_dir) == "ok"
    # The loop must have exercised what it claims to (not vacuous).
    assert cycles_with_acks >= CYCLES // 2, "only %d of %d cycles acknowledged anything" % (
        cycles_with_acks, CYCLES)
    assert totals["mon"] and totals["unmon"], totals
    assert sidecars_killed >= CYCLES // 2, "sidecars found at only %d kills" % sidecars_killed
    if CYCLES >= 20:
        assert totals["unmon_all"], totals
