"""kill -9 while SM_MONs stream in, then restart: every acknowledged monitor is there
(issue: SM_MON is answered only once its change is durable)."""
import random
import signal
import threading
import time

import pytest

from nsmtest import store_check
from nsmtest.nsm import STAT_SUCC, MyId, StatdClient

pytestmark = pytest.mark.nsm_only  # reads nsm's database


def stream_mons(worker, acked, stop, my_name):
    """SM_MON with fresh names until the daemon dies; records what was acknowledged."""
    n = 0
    my_id = MyId(my_name, 100021, 3, 16)
    with StatdClient(transport="tcp", per_call=False, timeout=2.0) as c:
        while not stop.is_set():
            name = "198.19.%d.%d" % (worker, n) if n < 256 else "w%d-host-%d" % (worker, n)
            priv = bytes([worker, n % 256]) + bytes(14)
            try:
                r = c.mon(name, my_id, priv)
            except Exception:
                return
            if r.res_stat == STAT_SUCC:
                acked[(name, my_name)] = priv
            n += 1


@pytest.mark.parametrize("cycle", range(5))
def test_kill9_during_sm_mon_stream_loses_nothing_acknowledged(statd_factory, state_dir, cycle):
    rnd = random.Random(cycle)
    acked = {}
    for round_ in range(2):  # the second round starts from the recovered database
        statd = statd_factory(state_dir)
        stop = threading.Event()
        workers = [threading.Thread(target=stream_mons,
                                    args=(w, acked, stop, "client-%d-%d" % (round_, w)))
                   for w in range(4)]
        for t in workers:
            t.start()
        time.sleep(0.2 + rnd.random() * 0.8)
        statd.stop(signal.SIGKILL)
        stop.set()
        for t in workers:
            t.join(10)
        assert acked, "no SM_MON was acknowledged before the kill"
    # Recover once more and stop cleanly, then read the database.
    statd = statd_factory(state_dir)
    statd.stop()
    stored = store_check.monitors(state_dir)
    missing = [k for k in acked if k not in stored]
    assert not missing, "%d acknowledged monitors lost, e.g. %s" % (len(missing), missing[:5])
    for k, priv in acked.items():
        assert stored[k] == priv, k
    assert store_check.integrity(state_dir) == "ok"
