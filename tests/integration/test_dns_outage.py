"""A hung DNS must not stall rpc.statd (docs/nsm-reference.md section 4, docs/resolver.md).

The harness's DNS stub (127.0.0.53, the only nameserver in the session's resolv.conf,
nsswitch `hosts: files dns`) is put in blackhole mode: it reads every query and never
answers, so each getaddrinfo of a name that is not in /etc/hosts waits for glibc's
timeouts (one nameserver: 5 s x 2 attempts = 10 s, then EAI_AGAIN).  nfs-utils resolves
inline in its single thread, several lookups per request: it stalls every caller, NULL
included, for 60 s on one SM_NOTIFY with three monitors, and refuses an SM_MON of a
name that does not resolve (bench/DNS_OUTAGE.md).  nsm hands
every lookup to its resolver sidecar; what is checked here:

- while an SM_NOTIFY of an unresolvable name and an SM_MON of an unresolvable host name
  (the lockd emulator, over TCP) are waiting on DNS, NULL, SM_STAT and SM_MON of IP
  literals from another client answer with p99 < 10 ms over UDP and TCP;
- the pending SM_MON is answered stat_succ after the daemon's bounded wait of 5 s
  (monitor::Options::mon_resolve_timeout): the monitor is recorded without addresses,
  and an SM_NOTIFY naming it still reaches lockd with its priv;
- kill -9 of the sidecar in the middle of a lookup: the daemon logs it, starts a new
  sidecar, answers the pending SM_MON at once (recorded without addresses) and keeps
  serving, the new sidecar resolving names;
- 1,000 SM_NOTIFY of one unresolvable name cost one lookup's worth of DNS queries at
  the stub (coalescing while the query is in flight; the negative cache when the
  name is NXDOMAIN);
- names in /etc/hosts still resolve while other lookups hang, a DNS outage is not
  mistaken for a hung sidecar, and rpc.statd can stop its sidecar (the three problems
  of bench/DNS_OUTAGE.md, fixed in the resolver: docs/resolver.md).

The state directories of this file are on a tmpfs, so the SM_MON latencies measure
the listener and the group commit, not the disk's fsync.  Latency on a shared, loaded
machine: any process there sees scheduler delays of ~10 ms now and then, so the p99
bound must hold in one of up to ROUNDS rounds (each with its own pending lookups; the
test stops at the first round that meets it); every call of every round must still be
answered within MAX_LIMIT (1 s), which a call that waited on DNS (>= 5 s) cannot be.
"""
import os
import signal
import subprocess
import time

import pytest

from nsmtest import daemons, dns_outage_support as dos
from nsmtest.checks import answering, check_callback, until
from nsmtest.dns import DnsStub
from nsmtest.hosts import sh
from nsmtest.nsm import STAT_SUCC, StatdClient, priv_bytes

pytestmark = pytest.mark.nsm_only

P99_LIMIT = 0.010        # seconds
SAMPLES = 200            # calls per procedure and transport
MAX_LIMIT = 1.0          # seconds: no call may wait for DNS (a lookup takes >= 5 s)
ROUNDS = 3               # measurement rounds at most (see the module doc)
MON_BOUND = 5.0          # nsm's bounded wait for an SM_MON's lookup (seconds)


@pytest.fixture
def state_dir(session, request):
    """A fresh state directory on its own tmpfs.  Tests list it first, so it is torn down
    (unmounted) after the daemon has stopped; the unmount is lazy in case it has not.

    DIR itself is given to the statd user too (sm/ and sm.bak/ are), so these tests do
    not depend on how the daemon copes with a root-owned DIR, as Debian's /var/lib/nfs
    is: builds of 2026-11-26 could not create DIR/nsm.db there after dropping root."""
    path = session.path("state", "dns-" + request.node.name.replace("/", "_")[:60])
    os.makedirs(path)
    sh(["mount", "-t", "tmpfs", "-o", "mode=755,size=64m", "tmpfs", path])
    try:
        daemons.prepare_state_dir(path)
        uid, gid = daemons.statd_user()
        os.chown(path, uid, gid)
        yield path
    finally:
        sh(["umount", "-l", path], check=False)


@pytest.fixture
def blackhole(session):
    with dos.dns_blackhole(session.dns) as stub:
        yield stub


def mon_pending(lockd, name, priv):
    """SM_MON of `name` from the lockd emulator over TCP, left running in a thread."""
    def call():
        with lockd.statd("tcp", timeout=30.0) as c:
            return c.mon(name, lockd.my_id(), priv)
    return dos.Pending(call, "sm-mon " + name)


def notify_local(name, state, transport="udp"):
    t0 = time.monotonic()
    with StatdClient("127.0.0.1", transport, reserved=False, timeout=5.0) as c:
        c.notify(name, state)
    return time.monotonic() - t0


NOTIFY_NAME = "down-notify.outage.test"
MON_NAME = "down-mon-%s.outage.test"  # % transport


def measure_round(statd, lockd, stub, rnd):
    """One round: an SM_NOTIFY of an unresolvable name, then for each transport an
    SM_MON of an unresolvable name (lockd, TCP) and SAMPLES calls of NULL, SM_STAT and
    SM_MON of new IP literals while both wait on DNS.  Later rounds repeat the same
    names: their lookups join the query still in flight (the sidecar has 8 worker
    threads; fresh names in every round would queue behind the busy ones, see
    test_hosts_file_names_resolve_while_dns_lookups_hang), each SM_MON with its own 5 s
    bound.  Returns ({what: latencies}, [(name, priv, Pending)])."""
    udp, tcp = statd.ports()
    assert notify_local(NOTIFY_NAME, 2 * rnd + 5) < 1.0
    assert dos.wait_for_query(stub, NOTIFY_NAME), "no DNS query for " + NOTIFY_NAME
    figures, pendings = {}, []
    for k, (transport, port) in enumerate((("udp", udp), ("tcp", tcp))):
        name = MON_NAME % transport
        priv = priv_bytes("outage-%d-%s" % (rnd, transport))
        p = mon_pending(lockd, name, priv)
        assert dos.wait_for_query(stub, name), "no DNS query for " + name
        figures["NULL/" + transport] = dos.sample_null(port, transport, SAMPLES)
        figures["SM_STAT/" + transport] = dos.sample_stat(port, transport, SAMPLES)
        figures["SM_MON literal/" + transport] = dos.sample_mon_literal(
            port, transport, SAMPLES, "198.%d.%d.%%d" % (18 + rnd, 100 + k))
        assert not p.done, ("the SM_MON of %s ended (%s, %s) before the %s measurement did: "
                            "the calls were not measured during a pending lookup"
                            % (name, p.result, p.error, transport))
        pendings.append((name, priv, p))
    # The notification's lookup (10 s in glibc) was still waiting on DNS all along.
    assert 'cannot resolve "%s"' % NOTIFY_NAME not in statd.log()
    return figures, pendings


def test_listener_answers_while_lookups_hang(state_dir, statd, lockd, blackhole):
    rounds, pendings = [], []
    for rnd in range(ROUNDS):
        figures, pend = measure_round(statd, lockd, blackhole, rnd)
        rounds.append(figures)
        pendings += pend
        if all(dos.percentile(v, 99) < P99_LIMIT for v in figures.values()):
            break
    report = "\n".join("round %d: " % i + "; ".join(
        "%s %s" % (k, dos.summary_ms(v)) for k, v in f.items()) for i, f in enumerate(rounds))
    print(report)
    # No call waited for DNS (that would take seconds) ...
    worst = max(max(v) for f in rounds for v in f.values())
    assert worst < MAX_LIMIT, "a call took %.3f s during the outage:\n%s" % (worst, report)
    # ... and the p99 bound holds (on the last round: the first that met it, if any).
    for what, samples in rounds[-1].items():
        assert dos.percentile(samples, 99) < P99_LIMIT, "%s p99 >= 10 ms in %d rounds:\n%s" % (
            what, len(rounds), report)

    # Each pending SM_MON ends after its bounded wait, recorded without addresses.
    state = lockd.stat("127.0.0.1").state
    for name, priv, p in pendings:
        r = p.wait(MON_BOUND + 10)
        assert (r.res_stat, r.state) == (STAT_SUCC, state), (name, r)
        assert MON_BOUND - 0.5 <= p.elapsed <= MON_BOUND + 3.0, (name, p.elapsed)
    log = statd.log()
    for transport in ("udp", "tcp"):
        name = MON_NAME % transport
        n = log.count('SM_MON "%s": no addresses recorded (timeout' % name)
        assert n == len(rounds), (name, n, log[-3000:])
    # ... and monitored: a notification naming the host reaches lockd (matched by name,
    # without DNS) with the priv of the last SM_MON of that record (the same mon_name
    # and my_id: one record, updated).
    name, priv, _ = pendings[-1]
    notify_local(name, 99)
    cbs = lockd.wait_callbacks(1, 10.0)
    assert len(cbs) == 1, cbs
    check_callback(cbs[0], name, 99, priv)
    assert answering(statd)


def test_sidecar_killed_mid_lookup_is_replaced(state_dir, statd, lockd, blackhole):
    name = "down-kill.outage.test"
    priv = priv_bytes("killed-lookup")
    old = until(lambda: dos.sidecar_pids(statd.proc.pid), 5.0)
    assert len(old) == 1, "expected one resolver sidecar under rpc.statd: %s" % old
    old = old[0]

    p = mon_pending(lockd, name, priv)
    assert dos.wait_for_query(blackhole, name), "no DNS query for " + name
    assert not p.done
    t_kill = time.monotonic()
    os.kill(old, signal.SIGKILL)

    new = until(lambda: [x for x in dos.sidecar_pids(statd.proc.pid) if x != old], 5.0)
    assert len(new) == 1, "no new sidecar after kill -9 of %d: %s" % (old, statd.log()[-3000:])
    new = new[0]
    assert until(lambda: not dos.process_alive(old), 2.0), "the killed sidecar was not reaped"
    log = statd.log()
    assert "resolver: sidecar pid %d died" % old in log, log[-3000:]
    assert "resolver: sidecar started, pid %d" % new in log, log[-3000:]

    # The lookup failed with the sidecar: the SM_MON is answered at once (not after
    # the 5 s bound) and the monitor is recorded without addresses.
    r = p.wait(MON_BOUND + 10)
    assert r.res_stat == STAT_SUCC, r
    assert time.monotonic() - t_kill < MON_BOUND - 1.0, "SM_MON answered %.1f s after the kill" % (
        time.monotonic() - t_kill)
    assert until(lambda: 'SM_MON "%s": no addresses recorded (unavailable' % name in statd.log(),
                 2.0), statd.log()[-3000:]

    # Still serving, and the new sidecar resolves: nsm-b is in /etc/hosts (files come
    # before dns), so its address is recorded and a notification from that address
    # matches the monitor by address.
    assert answering(statd)
    assert lockd.mon("198.18.7.7", priv_bytes("after-kill")).res_stat == STAT_SUCC
    pb = priv_bytes("by-name-after-kill")
    t0 = time.monotonic()
    assert lockd.mon("nsm-b", pb).res_stat == STAT_SUCC
    assert time.monotonic() - t0 < 2.0
    assert 'SM_MON "nsm-b": no addresses' not in statd.log()
    notify_local("198.18.1.2", 21)
    cbs = lockd.wait_callbacks(1, 10.0)
    assert len(cbs) == 1, cbs
    check_callback(cbs[0], "nsm-b", 21, pb)
    assert dos.sidecar_pids(statd.proc.pid) == [new]


def flood(name, count, transport="udp"):
    """`count` SM_NOTIFY of `name` over one socket; every one must be answered."""
    with StatdClient("127.0.0.1", transport, reserved=False, per_call=False, timeout=5.0) as c:
        for i in range(count):
            c.notify(name, 2 * i + 1)


def test_notify_flood_of_a_hung_name_costs_one_lookup(state_dir, statd, blackhole):
    name = "flood-hung.outage.test"
    t0 = time.monotonic()
    flood(name, 1000)
    took = time.monotonic() - t0
    time.sleep(0.5)
    qs = dos.queries_for(blackhole, name)
    print("1,000 SM_NOTIFY of a hung name in %.2f s: %d DNS queries" % (took, len(qs)))
    # One getaddrinfo: A + AAAA, resent once after glibc's 5 s timeout.
    assert 1 <= len(qs) <= 4, "1,000 SM_NOTIFY (sent in %.1f s) cost %d DNS queries: %s" % (
        took, len(qs), qs)
    assert answering(statd)


def test_notify_flood_of_an_nxdomain_name_costs_one_lookup(state_dir, session, statd):
    name = "flood-nxdomain.outage.test"
    assert session.dns.mode == "refuse"
    flood(name, 1000)
    qs = dos.queries_for(session.dns, name)
    print("1,000 SM_NOTIFY of an NXDOMAIN name: %d DNS queries" % len(qs))
    # A + AAAA once; kNotFound is then cached for negative_ttl (10 s).
    assert 1 <= len(qs) <= 2, "1,000 SM_NOTIFY cost %d DNS queries: %s" % (len(qs), qs)
    assert answering(statd)


def test_hosts_file_names_resolve_while_dns_lookups_hang(state_dir, statd, lockd, blackhole):
    # Twice the sidecar workers remote lookups may occupy (docs/resolver.md).
    names = ["busy-%d.outage.test" % i for i in range(16)]
    for i, n in enumerate(names):
        notify_local(n, 2 * i + 1)
    assert until(lambda: sum(1 for n in names if dos.queries_for(blackhole, n)) >= 8, 5.0)
    pb = priv_bytes("hosts-file")
    t0 = time.monotonic()
    with lockd.statd("tcp", timeout=30.0) as c:
        r = c.mon("nsm-b", lockd.my_id(), pb)
    took = time.monotonic() - t0
    assert r.res_stat == STAT_SUCC, r
    assert 'SM_MON "nsm-b": no addresses' not in statd.log(), statd.log()[-2000:]
    assert took < 1.0, "SM_MON of nsm-b (in /etc/hosts) took %.1f s" % took


@pytest.fixture
def two_dead_nameservers(session, blackhole):
    """resolv.conf with two nameservers that both swallow every query (the stub, and a
    second blackhole stub on 127.0.0.54), mounted before the daemon starts."""
    second = DnsStub(mode="blackhole", address="127.0.0.54").start()
    conf = session.path("etc", "resolv.conf.two-dead")
    with open(conf, "w") as f:
        f.write("nameserver 127.0.0.53\nnameserver 127.0.0.54\n")
    os.chmod(conf, 0o644)
    sh(["mount", "--bind", conf, "/etc/resolv.conf"])
    try:
        yield blackhole, second
    finally:
        sh(["umount", "/etc/resolv.conf"], check=False)
        second.stop()


def test_dns_outage_is_not_taken_for_a_hung_sidecar(state_dir, two_dead_nameservers,
                                                      statd_factory, lockd):
    stub, second = two_dead_nameservers
    statd = statd_factory(state_dir)
    old = until(lambda: dos.sidecar_pids(statd.proc.pid), 5.0)
    assert len(old) == 1, old
    name = "down-watchdog.outage.test"
    p = mon_pending(lockd, name, priv_bytes("watchdog"))
    assert dos.wait_for_query(stub, name)
    assert p.wait(MON_BOUND + 10).res_stat == STAT_SUCC
    # glibc is still retrying (the second nameserver sees queries): the sidecar is busy,
    # not hung.  Give the watchdog time to misjudge it (deadline 5 s + margin 5 s).
    assert dos.wait_for_query(second, name, 10.0)
    time.sleep(max(0.0, 12.0 - p.elapsed))
    log = statd.log()
    assert "unresponsive" not in log, [x for x in log.splitlines() if "resolver" in x]
    assert dos.sidecar_pids(statd.proc.pid) == old, log[-3000:]


def test_sigterm_ends_statd_even_if_its_sidecar_is_stopped(state_dir, statd):
    sidecar = until(lambda: dos.sidecar_pids(statd.proc.pid), 5.0)
    assert len(sidecar) == 1, sidecar
    sidecar = sidecar[0]
    os.kill(sidecar, signal.SIGSTOP)
    try:
        # Judged here, not by the fixture: escalate to SIGKILL ourselves after 3 s.
        rc = statd.proc.stop(signal.SIGTERM, timeout=3.0)
        statd.exit_code = rc
        statd.stopped_by = signal.SIGKILL if rc == -signal.SIGKILL else signal.SIGTERM
        assert rc == 0, "rpc.statd did not exit within 3 s of SIGTERM:\n" + statd.log()[-2000:]
    finally:
        try:
            os.kill(sidecar, signal.SIGKILL)
            os.waitpid(sidecar, os.WNOHANG)  # ours once rpc.statd is gone (we are PID 1)
        except (ProcessLookupError, ChildProcessError):
            pass


def test_dns_stub_is_back_in_refuse_mode(session):
    # Sanity for the fixtures above: later test files' daemons must not hang on DNS.
    assert session.dns.mode == "refuse"
    r = subprocess.run(["getent", "ahosts", "nothing.outage.test"], timeout=5,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 2, r
