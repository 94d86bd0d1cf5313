"""pytest wiring of the nsm integration harness (tests/integration/nsmtest).

At configure time pytest re-executes itself under `unshare` as PID 1 of its own PID,
network, mount and UTS namespaces (nsmtest.hosts.reexec_argv), then sets the session
host up (Session.enter): private /run, /etc/hosts, resolv.conf -> the harness's DNS
stub, rpcbind.  When pytest ends or dies, the kernel kills whatever is left.  Each test file run by ctest is one pytest process, so
files running in parallel never share anything.  Fixtures below start the daemon under
test (nsmtest.daemons.select_statd), the lockd emulator and peer hosts; processes a test
starts are stopped after it, and their logs are attached to the report when it fails.
Marker `nsm_only`: the test checks behaviour nfs-utils' rpc.statd is known to get wrong
(see docs/nsm-reference.md section 4); skipped when the daemon under test is nfs-utils,
unless NSM_RUN_NSM_ONLY=1 (benchmarks that compare both, e.g. bench/flood.sh).
"""
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nsmtest import daemons, procs  # noqa: E402
from nsmtest.capture import Capture  # noqa: E402
from nsmtest import hosts  # noqa: E402
from nsmtest.hosts import Session  # noqa: E402
from nsmtest.lockd import LockdEmulator  # noqa: E402

_session = None
_setup_error = None


def _on_sigterm(signum, frame):
    # Once: a second SIGTERM must not interrupt the teardown the first one started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt("SIGTERM")


def _reexec_in_namespaces(config):
    """Replace this process by `unshare ... python3 -m pytest ARGS` (never returns)."""
    hosts.remove_stale_temp_dirs()
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        capman.stop_global_capturing()   # give the real stdout/stderr back before exec
    sys.stdout.flush()
    sys.stderr.flush()
    argv, env = hosts.reexec_argv([sys.executable] + sys.orig_argv[1:])
    os.execvpe(argv[0], argv, env)


def pytest_configure(config):
    global _session, _setup_error
    config.addinivalue_line(
        "markers", "nsm_only: nsm behaviour that nfs-utils rpc.statd gets wrong; "
        "skipped when the daemon under test is nfs-utils")
    if _session is not None or hasattr(config, "workerinput"):
        return
    if os.geteuid() != 0:
        _setup_error = "integration tests need root (namespaces, rpcbind, reserved ports)"
        return
    if not hosts.inside_session_namespaces():
        _reexec_in_namespaces(config)
    # SIGTERM (ctest --timeout, a CI runner) unwinds like ^C so teardown still runs.
    signal.signal(signal.SIGTERM, _on_sigterm)
    _session = Session(keep=os.environ.get("NSM_IT_KEEP") == "1")
    try:
        _session.enter()
    except Exception:
        _session.close()
        raise


def pytest_unconfigure(config):
    global _session
    if _session is not None:
        _session.close()
        _session = None


def pytest_report_header(config):
    statd = daemons.select_statd()
    return "nsm integration: rpc.statd under test = %s (%s)%s" % (
        statd, "nfs-utils" if daemons.is_nfs_utils(statd) else "nsm",
        "; temp dir " + _session.tmp if _session else "")


def pytest_collection_modifyitems(config, items):
    if _setup_error:
        skip = pytest.mark.skip(reason=_setup_error)
        for item in items:
            item.add_marker(skip)
        return
    if daemons.is_nfs_utils() and os.environ.get("NSM_RUN_NSM_ONLY") != "1":
        skip = pytest.mark.skip(reason="nsm_only: nfs-utils rpc.statd is known to differ here")
        for item in items:
            if item.get_closest_marker("nsm_only"):
                item.add_marker(skip)


# ------------------------------------------------------------------ reporting
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for name, path in getattr(item, "_nsm_logs", []):
            try:
                with open(path, "rb") as f:
                    text = f.read()[-20000:].decode("utf-8", "replace")
            except OSError:
                continue
            rep.sections.append(("log " + name, text))


def attach_log(request, name, path):
    """Show the file at `path` in the report if this test fails."""
    logs = getattr(request.node, "_nsm_logs", None)
    if logs is None:
        logs = request.node._nsm_logs = []
    if (name, path) not in logs:
        logs.append((name, path))


@pytest.fixture(autouse=True)
def _per_test_processes(request):
    """Stop every process a test started (peers' and session's long-lived ones stay)."""
    before = set(id(p) for p in procs._all)
    yield
    for p in list(procs._all):
        if id(p) not in before:
            attach_log(request, p.name, p.log)
            p.stop(timeout=3.0)


# ------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def session():
    if _session is None:
        pytest.skip(_setup_error or "no isolated session")
    return _session


@pytest.fixture(scope="session")
def host(session):
    """The test host (nsm-a): where the daemon under test and the lockd emulator run."""
    return session


@pytest.fixture(scope="session")
def peer(session):
    """Second host nsm-b: netns over veth (198.18.1.2 / fd00:6e73:6d00:1::2), own rpcbind."""
    return session.add_peer()


@pytest.fixture(scope="session")
def peer2(session, peer):
    """Third host nsm-c (198.18.2.2 / fd00:6e73:6d00:2::2)."""
    return session.add_peer()


@pytest.fixture
def state_dir(session, request):
    """A fresh state directory for the daemon under test (sm/ sm.bak/ owned by statd)."""
    base = session.path("state", request.node.name.replace("/", "_")[:80])
    n = 0
    path = base
    while os.path.exists(path):
        n += 1
        path = "%s.%d" % (base, n)
    return daemons.prepare_state_dir(path)


@pytest.fixture
def statd_factory(host, request):
    """start(state_dir=..., host=..., args=..., state=...) -> a running Statd."""
    started = []

    def start(state_dir, on=None, args=(), binary=None, notify=False):
        s = daemons.Statd(on or host, state_dir, binary=binary, args=args, notify=notify)
        started.append(s)
        try:
            s.start()
        finally:
            if s.proc:
                attach_log(request, s.proc.name, s.proc.log)
        return s
    yield start
    problems = []
    for s in started:
        if s.alive() or s.exit_code is None:
            s.stop()
        daemons.forget_registration(s.host)
        problems += s.problems()
    if problems:
        pytest.fail("; ".join(problems) + "\n" + "\n".join(s.log()[-5000:] for s in started),
                    pytrace=False)


@pytest.fixture
def statd(statd_factory, state_dir):
    """The daemon under test, running on the test host with a fresh state directory."""
    return statd_factory(state_dir)


@pytest.fixture
def lockd(host):
    """The lockd emulator on the test host (registered 100021 v3+v4, udp+tcp)."""
    emu = LockdEmulator(my_name=host.name).start()
    yield emu
    emu.stop()


@pytest.fixture
def capture(host, request):
    """capture(on=host, iface="lo", bpf="") -> started Capture; stopped after the test."""
    caps = []

    def start(on=None, iface="lo", bpf="", name="capture"):
        c = Capture(on or host, iface, bpf, name).start()
        caps.append(c)
        return c
    yield start
    for c in caps:
        c.stop()
