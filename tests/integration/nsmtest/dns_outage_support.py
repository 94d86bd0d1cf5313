"""Building blocks of test_dns_outage.py: the harness DNS stub in blackhole mode and its
query counts, latency sampling of a running statd, calls left pending in a background
thread, and the resolver sidecar of nsm's rpc.statd (docs/resolver.md).

Nothing here starts a process; every socket is closed before a function returns.
"""
import contextlib
import gc
import os
import threading
import time

from .nsm import (SM_MON, SM_PROG, SM_STAT, SM_VERS, MyId, decode_sm_stat_res, encode_mon,
                  encode_sm_name)
from .rpc import RpcClient

SIDECAR_FLAG = b"--nsm-resolver-sidecar"


# ------------------------------------------------------------------ the DNS stub
@contextlib.contextmanager
def dns_blackhole(dns):
    """Run the block with the session's DNS stub swallowing every query; the stub is
    put back in "refuse" mode afterwards (it is shared by the whole pytest session)."""
    dns.set_mode("blackhole")
    try:
        yield dns
    finally:
        dns.set_mode("refuse")


def queries_for(dns, name):
    """Queries the stub received so far for `name` (any type, any transport)."""
    name = name.lower().rstrip(".")
    with dns._lock:
        return [q for q in dns.queries if q[0] is not None and q[0].lower() == name]


def wait_for_query(dns, name, timeout=5.0):
    """True once the stub has seen a query for `name` (a look-up is in progress)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queries_for(dns, name):
            return True
        time.sleep(0.02)
    return bool(queries_for(dns, name))


# ------------------------------------------------------------ latency sampling
def percentile(samples, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(samples)
    k = max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))
    return s[int(k)]


def summary_ms(samples):
    """'n=200 p50=0.21 p99=0.80 max=1.10 ms' for a list of seconds."""
    return "n=%d p50=%.2f p99=%.2f max=%.2f ms" % (
        len(samples), 1e3 * percentile(samples, 50), 1e3 * percentile(samples, 99),
        1e3 * max(samples))


def sample_calls(port, transport, proc, args_for, count, check=None, netns=None):
    """Send `count` calls of SM procedure `proc` one after the other over one UDP socket
    or one TCP connection to 127.0.0.1:port; args_for(i) gives the i-th argument.
    Every reply must be accepted with SUCCESS (and pass check(results, i) if given).
    Returns the per-call latencies in seconds (send to verified reply)."""
    out = []
    gc_was = gc.isenabled()
    gc.disable()  # a collection in the middle would be charged to the daemon
    try:
        _sample(out, port, transport, proc, args_for, count, check, netns)
    finally:
        if gc_was:
            gc.enable()
    return out


def _sample(out, port, transport, proc, args_for, count, check, netns):
    with RpcClient("127.0.0.1", port, transport, netns=netns, timeout=5.0,
                   retransmit=5.0) as c:
        c.local_port()  # connect before timing
        for i in range(count):
            args = args_for(i)
            t0 = time.perf_counter()
            reply = c.call(SM_PROG, SM_VERS, proc, args)
            dt = time.perf_counter() - t0
            assert reply.ok, "call %d of proc %d over %s: %s" % (i, proc, transport, reply)
            if check:
                check(reply.results, i)
            out.append(dt)


def _stat_succ(results, i):
    r = decode_sm_stat_res(results)
    assert r.ok and r.state % 2 == 1, "reply %d: %s" % (i, r)


def sample_null(port, transport, count):
    return sample_calls(port, transport, 0, lambda i: b"", count)


def sample_stat(port, transport, count, name="nsm-b"):
    return sample_calls(port, transport, SM_STAT, lambda i: encode_sm_name(name), count,
                        _stat_succ)


def sample_mon_literal(port, transport, count, net, my_name="other-client"):
    """SM_MON of distinct IPv4 literals `net % i` (e.g. "198.18.100.%d") for my_name:
    each one is a new monitor, answered only once durable."""
    my_id = MyId(my_name)
    return sample_calls(
        port, transport, SM_MON,
        lambda i: encode_mon(net % (i + 1), my_id, i.to_bytes(4, "big") + bytes(12)), count,
        _stat_succ)


# ------------------------------------------------------------ a pending call
class Pending:
    """Runs fn() in a thread; .done, .result, .error, .elapsed (seconds) once it ends."""

    def __init__(self, fn, name="pending-call"):
        self.result = self.error = self.elapsed = None
        self._fn = fn
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            self.result = self._fn()
        except BaseException as e:  # reported by wait()
            self.error = e
        self.elapsed = time.monotonic() - self._t0

    @property
    def done(self):
        return not self._thread.is_alive()

    def wait(self, timeout):
        """The call's result; raises its exception, or TimeoutError if still running."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("call still pending after %.1f s" % (time.monotonic() - self._t0))
        if self.error is not None:
            raise self.error
        return self.result


# ---------------------------------------------------------- the resolver sidecar
def _ppid(pid):
    with open("/proc/%d/stat" % pid, "rb") as f:
        data = f.read()
    return int(data[data.rindex(b")") + 2:].split()[1])


def _cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().split(b"\0")


def sidecar_pids(statd_pid):
    """Pids of the children of `statd_pid` whose command line has --nsm-resolver-sidecar
    (zombies included: their cmdline is empty, so they are not listed)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if _ppid(pid) == statd_pid and SIDECAR_FLAG in _cmdline(pid):
                out.append(pid)
        except (OSError, ValueError, IndexError):
            continue
    return sorted(out)


def process_alive(pid):
    """True if `pid` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(b")") + 2:data.rindex(b")") + 3] != b"Z"
