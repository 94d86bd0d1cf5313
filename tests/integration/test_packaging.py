"""Packaging (docs/packaging.md): the Debian package built with `dpkg-buildpackage -b -us
-uc` from a copy of the source tree, installed on this machine beside nfs-common and
removed again; and `make install` honouring DESTDIR and PREFIX.

The package diverts nfs-common's /sbin/rpc.statd, /sbin/sm-notify and their manual
pages to *.nfs-utils (debian/preinst) and puts them back when it is removed
(debian/postrm). These tests change the machine's real dpkg database and /sbin for the
seconds the package is installed. Whatever happens, the `installed` fixture's teardown
removes the package and any diversion of ours, and fails loudly unless nfs-common's
files are again byte for byte what its md5sums say. Before touching anything it checks
that the machine is in the expected state (nsm not installed, nothing diverted,
nfs-common intact) and refuses otherwise. Runs of this file take turns through an
flock on LOCK_PATH, which also records "installed" while the package may be: a run
killed outright (a ctest time-out sends SIGKILL) is cleaned up by the next one.

The build compiles the project once more in release mode (minutes on two cores).
NSM_SKIP_PACKAGING=1 skips this file.
"""
import fcntl
import glob
import gzip
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from nsmtest import daemons, nsutil

pytestmark = pytest.mark.skipif(os.environ.get("NSM_SKIP_PACKAGING") == "1",
                                reason="NSM_SKIP_PACKAGING=1")

SOURCE_DIR = os.environ.get("NSM_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = "nsm"
# nfs-common's file (as its package lists it) -> where preinst diverts it. Checked
# against debian/preinst and debian/postrm by test_maintainer_scripts_match.
DIVERSIONS = {
    "/sbin/rpc.statd": "/sbin/rpc.statd.nfs-utils",
    "/sbin/sm-notify": "/sbin/sm-notify.nfs-utils",
    "/usr/share/man/man8/rpc.statd.8.gz": "/usr/share/man/man8/rpc.statd.nfs-utils.8.gz",
    "/usr/share/man/man8/sm-notify.8.gz": "/usr/share/man/man8/sm-notify.nfs-utils.8.gz",
}
PROGRAMS = {"rpc.statd": "/sbin/rpc.statd", "sm-notify": "/sbin/sm-notify",
            "statdctl": "/usr/sbin/statdctl"}
MAN_PAGES = ["/usr/share/man/man8/%s.8.gz" % p for p in PROGRAMS]
NFS_COMMON_INFO = "/var/lib/dpkg/info/nfs-common.%s"
# Top-level entries of the work tree that are not sources.
NOT_SOURCES = ("build", "build-*", "obj-*", "var", ".git", "__pycache__", "*.pyc")
BUILD_TIMEOUT = 1500
WORKDIR_PREFIX = "nsm-pkg-"
LOCK_PATH = "/var/tmp/nsm-test-packaging.lock"
NOT_INSTALLED = (None, "unknown ok not-installed")
# nsm's database in the default state directory: debian/postrm purge deletes it.
DB_FILES = ["/var/lib/nfs/nsm.db" + suffix for suffix in ("", "-wal", "-shm", "-journal")]
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8",
           PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")


# ------------------------------------------------------------------------- helpers
def run(argv, check=True, timeout=120, cwd=None, env=None):
    """Run argv in its own process group (killed whole on a time-out or an interrupt);
    CompletedProcess with text stdout and stderr."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=cwd, env=env or ENV, start_new_session=True,
                         preexec_fn=nsutil.die_with_parent)
    try:
        out, err = p.communicate(timeout=timeout)
    except BaseException:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.communicate()
        raise
    r = subprocess.CompletedProcess(argv, p.returncode, out, err)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (exit %d):\n%s\n%s" % (
            " ".join(argv), r.returncode, out[-20000:], err[-20000:]))
    return r


def dpkg(args, check=True):
    """dpkg ARGS, waiting (up to 2 minutes) for a lock held by another dpkg or apt."""
    deadline = time.monotonic() + 120
    while True:
        r = run(["dpkg"] + list(args), check=False, timeout=300)
        if r.returncode == 0 or "lock" not in r.stderr or time.monotonic() > deadline:
            break
        time.sleep(2)
    if check and r.returncode != 0:
        raise AssertionError("dpkg %s failed (exit %d):\n%s\n%s" % (
            " ".join(args), r.returncode, r.stdout, r.stderr))
    return r


def package_status(name=PKG):
    """dpkg's status line of `name` ("install ok installed", ...), None if unknown."""
    r = run(["dpkg-query", "-W", "-f=${Status}", name], check=False)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def is_installed(name=PKG):
    st = package_status(name)
    return st is not None and st.split()[-1] not in ("not-installed", "config-files")


def diversions():
    """{path: (divert_to, package)} from `dpkg-divert --list`."""
    out = run(["dpkg-divert", "--list"]).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"(?:local )?diversion of (\S+) to (\S+)(?: by (\S+))?$", line.strip())
        if m:
            found[m[1]] = (m[2], m[3] or "LOCAL")
    return found


def our_diversions():
    return {p: d for p, (d, pkg) in diversions().items() if pkg == PKG}


def md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def nfs_common_md5s():
    """{"/path": md5} of nfs-common's regular files, from its md5sums file."""
    sums = {}
    with open(NFS_COMMON_INFO % "md5sums") as f:
        for line in f:
            digest, path = line.rstrip("\n").split(None, 1)
            sums["/" + path.lstrip("/")] = digest
    return sums


def nfs_common_state():
    """What nfs-common's diverted files look like now: {path: md5 or "-> target"}."""
    state = {}
    for path in DIVERSIONS:
        if os.path.islink(path):
            state[path] = "-> " + os.readlink(path)
        elif os.path.exists(path):
            state[path] = md5(path)
        else:
            state[path] = None
    return state


def version_line(path, arg):
    r = run([path, arg], check=False, timeout=20)
    return r.returncode, (r.stdout + r.stderr).strip()


def changelog_version(src):
    return run(["dpkg-parsechangelog", "-S", "Version"], cwd=src).stdout.strip()


def cmake_project_version(src):
    with open(os.path.join(src, "CMakeLists.txt")) as f:
        m = re.search(r"project\(\s*nsm\s+VERSION\s+([0-9.]+)", f.read())
    return m[1] if m else None


def copy_sources(dst):
    """Copy the work tree without build directories, VCS data and caches."""
    top = shutil.ignore_patterns(*NOT_SOURCES)
    below = shutil.ignore_patterns("__pycache__", "*.pyc")

    def ignore(d, names):
        return (top if os.path.abspath(d) == os.path.abspath(SOURCE_DIR) else below)(d, names)
    shutil.copytree(SOURCE_DIR, dst, symlinks=True, ignore=ignore)


def script_diversions(name, verb):
    """(path, divert_to) pairs of `verb PATH TARGET` lines in debian/<name>."""
    with open(os.path.join(SOURCE_DIR, "debian", name)) as f:
        return {m[1]: m[2] for m in re.finditer(r"^\s*%s\s+(\S+)\s+(\S+)\s*$" % verb, f.read(), re.M)}


# ------------------------------------------------------------------------ fixtures
class MachineLock:
    """Serialises runs of this file on the machine (two `make test` at once) and
    remembers, across a SIGKILL, that the package may be installed: an flock on
    LOCK_PATH, whose content is "installed" from just before `dpkg -i` until
    nfs-common is restored. The file is removed when a run ends cleanly."""

    def __init__(self):
        self.fd = None

    def acquire(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                st = os.fstat(fd)
                if st.st_nlink > 0 and os.path.exists(LOCK_PATH) and \
                        os.stat(LOCK_PATH).st_ino == st.st_ino:
                    self.fd = fd
                    return
            except BlockingIOError:
                pass
            os.close(fd)  # held by another run, or unlinked by the run that just ended
            if time.monotonic() > deadline:
                pytest.fail("another run of test_packaging.py holds %s" % LOCK_PATH,
                            pytrace=False)
            time.sleep(1)

    def read(self):
        return os.pread(self.fd, 100, 0).decode("ascii", "replace")

    def mark(self, text):
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, text.encode("ascii"), 0)
        os.fsync(self.fd)

    def release(self):
        if self.fd is None:
            return
        if not self.read():
            os.unlink(LOCK_PATH)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


@pytest.fixture(scope="module")
def machine():
    """This file's hold on the machine: waits for any other run, cleans up after an
    earlier run that was killed (package, diversions, build directories)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for tool in ("dpkg-buildpackage", "dh", "dpkg-divert"):
        if shutil.which(tool, path=ENV["PATH"]) is None:
            pytest.fail("%s is missing: run scripts/install-deps.sh" % tool, pytrace=False)
    lock = MachineLock()
    lock.acquire(timeout=BUILD_TIMEOUT)
    try:
        for stale in glob.glob(os.path.join(tempfile.gettempdir(), WORKDIR_PREFIX + "*")):
            shutil.rmtree(stale, ignore_errors=True)   # only a lock holder makes them
        if lock.read().startswith("installed"):
            inst = Installation(None)
            inst.remove()
            bad = inst.not_restored()
            if bad or our_diversions() or package_status() not in NOT_INSTALLED:
                pytest.fail("an interrupted run left %s installed and it could not be "
                            "removed: %s" % (PKG, bad), pytrace=False)
            lock.mark("")
        yield lock
    finally:
        lock.release()


@pytest.fixture(scope="module")
def workdir(machine):
    tmp = tempfile.mkdtemp(prefix=WORKDIR_PREFIX)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def deb(workdir):
    """Builds the package in a copy of the tree: {"path", "src", "seconds"}."""
    src = os.path.join(workdir, "nsm")
    copy_sources(src)
    start = time.monotonic()
    # No debug-symbols package: compressing its 20+ MB would only add time.
    env = dict(ENV, DEB_BUILD_OPTIONS="nocheck noautodbgsym")
    r = run(["dpkg-buildpackage", "-b", "-us", "-uc", "-j%d" % (os.cpu_count() or 1)],
            cwd=src, timeout=BUILD_TIMEOUT, check=False, env=env)
    seconds = time.monotonic() - start
    assert r.returncode == 0, "dpkg-buildpackage failed (exit %d):\n%s" % (
        r.returncode, (r.stdout + r.stderr)[-30000:])
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    path = os.path.join(workdir, "%s_%s_%s.deb" % (PKG, changelog_version(src), arch))
    assert os.path.isfile(path), os.listdir(workdir)
    print("\ndpkg-buildpackage: %.0f s" % seconds)
    return {"path": path, "src": src, "seconds": seconds}


class Installation:
    """The package installed on this machine; remove() is idempotent and always leaves
    neither the package nor a diversion of ours behind."""

    def __init__(self, deb_path):
        self.deb_path = deb_path
        self.removed = False
        self.md5s = nfs_common_md5s()

    def is_nfs_commons(self, path):
        """Whether `path` holds nfs-common's version of the diverted file `path`."""
        if path in self.md5s:
            return os.path.isfile(path) and not os.path.islink(path) and md5(path) == self.md5s[path]
        return os.path.islink(path)  # rpc.statd.8.gz: a symlink in nfs-common

    def not_restored(self):
        """Diverted files that are not nfs-common's, or whose .nfs-utils copy remains."""
        return [p for p, target in DIVERSIONS.items()
                if not self.is_nfs_commons(p) or os.path.lexists(target)]

    def check_machine(self):
        """Refuse (before changing anything) unless nsm is absent, nothing is diverted
        and nfs-common's files are intact."""
        problems = []
        if package_status() not in NOT_INSTALLED:
            problems.append("package %s is already known to dpkg (%s); remove it with "
                            "`dpkg -P %s` first" % (PKG, package_status(), PKG))
        if not is_installed("nfs-common"):
            problems.append("nfs-common is not installed")
        current = diversions()
        for path, target in DIVERSIONS.items():
            if path in current:
                problems.append("%s is already diverted: %s" % (path, current[path]))
        problems += ["%s is not nfs-common's, or %s exists" % (p, DIVERSIONS[p])
                     for p in self.not_restored()]
        problems += ["%s exists (purging the package would delete it)" % p
                     for p in DB_FILES if os.path.lexists(p)]
        if problems:
            pytest.fail("machine not in the state this test needs; nothing was changed:\n  "
                        + "\n  ".join(problems), pytrace=False)

    def install(self, lock):
        self.before = nfs_common_state()
        self.removed = False
        lock.mark("installed " + self.deb_path)
        dpkg(["-i", self.deb_path])

    def remove(self):
        """dpkg -r, then purge; on any failure force the package and our diversions out.
        Returns the problems met (empty when the normal path worked)."""
        if self.removed:
            return []
        problems = []
        for args in (["-r", PKG], ["-P", PKG]):
            r = dpkg(args, check=False)
            if r.returncode != 0:
                problems.append("dpkg %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
        if package_status() not in NOT_INSTALLED:
            problems.append("still known to dpkg after purge: %s" % package_status())
            dpkg(["-P", "--force-remove-reinstreq", "--force-depends", PKG], check=False)
        for path, (target, _) in our_diversions().items():
            problems.append("diversion of %s left behind" % path)
            # A file of ours still at the original name would block --rename.
            if os.path.lexists(path) and os.path.lexists(target) and not self.is_nfs_commons(path):
                os.unlink(path)
            run(["dpkg-divert", "--package", PKG, "--rename", "--divert", target,
                 "--remove", path], check=False)
        self.removed = True
        return problems


@pytest.fixture(scope="module")
def installed(deb, machine):
    inst = Installation(deb["path"])
    inst.check_machine()
    try:
        inst.install(machine)
        yield inst
    finally:
        problems = inst.remove()
        restored = nfs_common_state()
        bad = [p for p in DIVERSIONS if restored[p] != inst.before[p]] + inst.not_restored()
        assert not problems and not bad and not our_diversions(), (
            "removing %s did not restore nfs-common: %s; files: %s" % (
                PKG, problems, {p: (inst.before[p], restored[p]) for p in bad}))
        machine.mark("")


# --------------------------------------------------------------------------- tests
def test_maintainer_scripts_match():
    """preinst diverts, and postrm restores, exactly the files nfs-common ships that
    the package replaces."""
    assert script_diversions("preinst", "divert") == DIVERSIONS
    assert script_diversions("postrm", "undivert") == DIVERSIONS
    with open(NFS_COMMON_INFO % "list") as f:
        shipped = set(f.read().split())
    assert set(DIVERSIONS) <= shipped, set(DIVERSIONS) - shipped
    assert cmake_project_version(SOURCE_DIR) == changelog_version(SOURCE_DIR).split("-")[0]


def test_deb_contents(deb):
    listing = run(["dpkg-deb", "-c", deb["path"]]).stdout
    files = {line.split()[-1].lstrip(".") for line in listing.splitlines()
             if not line.startswith("d")}
    for path in list(PROGRAMS.values()) + MAN_PAGES:
        assert path in files, "%s not in the package:\n%s" % (path, listing)
    # No unit files: nfs-common's rpc-statd*.service start the diverted paths.
    assert not [f for f in files if "systemd" in f], listing
    assert "/usr/share/doc/nsm/examples/nfs.conf" in files
    fields = run(["dpkg-deb", "-f", deb["path"], "Package", "Depends"]).stdout
    assert re.search(r"nfs-common \(>= 1:2\.6\)", fields) and "rpcbind" in fields, fields


def test_install_diverts_nfs_commons_programs(installed):
    assert our_diversions() == DIVERSIONS
    assert package_status() == "install ok installed"
    md5s = installed.md5s
    for path, target in DIVERSIONS.items():
        if path in md5s:  # a regular file: nfs-common's bytes at the diverted name
            assert md5(target) == md5s[path], target
        else:             # rpc.statd.8.gz: nfs-common's symlink, moved as it is
            assert os.path.islink(target) and "-> " + os.readlink(target) == installed.before[path]
    rc, text = version_line("/sbin/rpc.statd.nfs-utils", "--version")
    assert "nsm" not in text, text
    # dpkg still finds nfs-common's files where the diversions put them.
    r = run(["dpkg", "--verify", "nfs-common"], check=False)
    assert not [line for line in r.stdout.splitlines() if "statd" in line or "notify" in line], r.stdout


def test_reinstall_keeps_the_diversions(installed):
    """dpkg -i over the installed package (preinst and postrm with "upgrade")."""
    dpkg(["-i", installed.deb_path])
    assert our_diversions() == DIVERSIONS
    for path in (p for p in DIVERSIONS if p in installed.md5s):
        assert md5(DIVERSIONS[path]) == installed.md5s[path], DIVERSIONS[path]
    rc, text = version_line("/sbin/rpc.statd", "--version")
    assert rc == 0 and "(nsm)" in text, text


def test_installed_programs_are_nsms(installed):
    for name, path in PROGRAMS.items():
        assert os.path.isfile(path) and os.access(path, os.X_OK), path
        owner = run(["dpkg-query", "-S", path]).stdout
        assert re.search(r"(^|, )%s(, |:)" % PKG, owner, re.M), owner
    rc, text = version_line("/sbin/rpc.statd", "--version")
    assert rc == 0 and "(nsm)" in text, text
    # The canonical path (/sbin is a link to usr/sbin on Debian 12) is the same file.
    assert os.path.samefile("/sbin/rpc.statd", "/usr/sbin/rpc.statd")
    rc, text = version_line("/sbin/sm-notify", "--help")
    assert rc == 0 and "--keep-list" in text, text  # nfs-utils' has neither --help nor this
    rc, text = version_line("/usr/sbin/statdctl", "--version")
    assert rc == 0, text
    for page in MAN_PAGES:
        with gzip.open(page, "rt") as f:
            assert "nsm" in f.read(), page


def test_installed_rpc_statd_serves(installed, host, state_dir):
    """The installed daemon runs on nfs-common's layout (state directory owned by root,
    sm/ and sm.bak/ by statd: the state_dir fixture) in the test session's namespaces."""
    statd = daemons.Statd(host, state_dir, binary="/sbin/rpc.statd")
    try:
        statd.start()
        assert all(statd.ports())
    finally:
        rc = statd.stop()
        daemons.forget_registration(host)
    assert rc == 0 and not statd.problems(), statd.log()
    # The database belongs to the user the daemon runs as; the directory stays root's.
    assert os.stat(os.path.join(state_dir, "nsm.db")).st_uid == daemons.statd_user()[0]
    assert os.stat(state_dir).st_uid == 0
    # rpc.statd runs the sm-notify beside it: the package's, not nfs-common's.
    r = run_notify_only(host, state_dir)
    assert "sm-notify" in r and "Version %s starting" % cmake_project_version(SOURCE_DIR) in r, r


def run_notify_only(host, state_dir):
    """`rpc.statd -N` (sm-notify -d -P DIR, then exit): its output, then "exit N"."""
    r = host.run(["/sbin/rpc.statd", "-F", "-d", "-N", "-P", state_dir], check=False, timeout=60)
    return "%s%sexit %d" % (r.stdout, r.stderr, r.returncode)


def test_installed_sm_notify_reads_statds_database(installed, host, state_dir):
    """On nfs-common's layout, sm-notify reads the database an earlier rpc.statd made."""
    statd = daemons.Statd(host, state_dir, binary="/sbin/rpc.statd")
    try:
        statd.start()
    finally:
        statd.stop()
        daemons.forget_registration(host)
    out = run_notify_only(host, state_dir)
    assert out.endswith("exit 0"), out


def test_remove_restores_nfs_common(installed):
    dpkg(["-r", PKG])
    assert package_status() in NOT_INSTALLED + ("deinstall ok config-files",)
    assert not our_diversions()
    assert nfs_common_state() == installed.before
    assert not installed.not_restored()
    rc, text = version_line("/sbin/rpc.statd", "--version")
    assert "nsm" not in text, text
    assert not os.path.exists("/usr/sbin/statdctl")
    r = run(["dpkg", "--verify", "nfs-common"], check=False)
    assert not [line for line in r.stdout.splitlines() if "statd" in line or "notify" in line], r.stdout
    # Purge deletes the database rpc.statd keeps in the default state directory.
    try:
        for path in DB_FILES[:3]:
            open(path, "w").close()
        dpkg(["-P", PKG])
        assert not [p for p in DB_FILES if os.path.lexists(p)]
    finally:
        for path in DB_FILES:
            if os.path.lexists(path):
                os.unlink(path)
    assert package_status() in NOT_INSTALLED
    assert installed.remove() == []   # nothing left for the safety net to do


@pytest.mark.parametrize("prefix", ["/usr", "/opt/nsm-test"])
def test_make_install_destdir_and_prefix(deb, workdir, prefix):
    """`make install DESTDIR=D PREFIX=P` puts everything under D/P, units included, with
    ExecStart= naming P/sbin; nothing outside DESTDIR."""
    src = deb["src"]
    objdirs = glob.glob(os.path.join(src, "obj-*"))
    assert len(objdirs) == 1, objdirs
    release = objdirs[0]   # the package's release build: units were switched off there
    run(["cmake", "-S", src, "-B", release, "-DNSM_INSTALL_SYSTEMD_UNITS=ON"], cwd=src)
    destdir = os.path.join(workdir, "destdir" + prefix.replace("/", "_"))
    r = run(["make", "install", "RELEASE=" + release, "DESTDIR=" + destdir, "PREFIX=" + prefix],
            cwd=src, timeout=600)
    assert not os.path.exists("/opt/nsm-test"), "make install wrote outside DESTDIR"
    root = destdir + prefix
    for name in PROGRAMS:
        assert os.access(os.path.join(root, "sbin", name), os.X_OK), r.stdout
        page = os.path.join(root, "share/man/man8", name + ".8")
        with open(page) as f:
            text = f.read()
        assert "@" not in re.sub(r"^\.\\\".*$", "", text, flags=re.M), page  # all filled in
        man = run(["man", "--warnings", "-E", "UTF-8", "-l", page], check=False,
                  env=dict(ENV, MANWIDTH="80", MAN_KEEP_FORMATTING="0"))
        assert man.returncode == 0 and not man.stderr.strip(), (page, man.stderr)
    units = os.path.join(root, "lib/systemd/system")
    with open(os.path.join(units, "rpc-statd.service")) as f:
        unit = f.read()
    assert "ExecStart=%s/sbin/rpc.statd\n" % prefix in unit, unit
    for line in ("Type=forking", "PIDFile=/run/rpc.statd.pid", "Environment=RPC_STATD_NO_NOTIFY=1",
                 "Requires=nss-lookup.target rpcbind.socket",
                 "After=network-online.target nss-lookup.target rpcbind.socket"):
        assert line + "\n" in unit, line
    with open(os.path.join(units, "rpc-statd-notify.service")) as f:
        unit = f.read()
    assert "ExecStart=-%s/sbin/sm-notify\n" % prefix in unit, unit
    assert os.path.isfile(os.path.join(root, "share/doc/nsm/examples/nfs.conf"))
    with open(os.path.join(release, "install_manifest.txt")) as f:
        manifest = f.read().split()
    # The manifest names the installed paths without DESTDIR: all under PREFIX, all there.
    assert manifest and all(p.startswith(prefix + "/") for p in manifest), manifest
    missing = [p for p in manifest if not os.path.lexists(destdir + p)]
    assert not missing, missing
