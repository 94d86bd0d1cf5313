"""Test hosts: the isolated session host ("nsm-a", where the daemon under test runs) and
peer hosts (network namespaces joined to it by veth pairs).

reexec_argv() gives the command that re-runs pytest as PID 1 of new PID, network,
mount and UTS namespaces (conftest execs it), so that the kernel kills every process of
the session when pytest dies, even daemons that dropped privileges (which clears
PDEATHSIG).  Inside, Session.enter() sets the session host up: lo up, tmpfs on /run, private /etc/hosts, /etc/resolv.conf (nameserver
127.0.0.53, served by the harness's DNS stub), /etc/nsswitch.conf (hosts: files dns) and
an empty /etc/nfs.conf; then starts `rpcbind -f -w`.  Nothing started afterwards can see
the machine's network or resolver.

Peer(i): an anchor process in its own net+mount+UTS namespaces with a tmpfs /run, named
nsm<pid><letter> under /run/netns, linked to the session host by veth:
session side 198.18.<i>.1 / fd00:6e73:6d00:<i>::1, peer side .2 / ::2.  Processes run
there through `nsenter -t ANCHOR -n -m -u`; Python sockets through netns=Peer.netns.
Session.close() stops everything, deletes the namespaces and the temp dir.
"""
import os
import shutil
import subprocess
import tempfile

from . import nsutil, procs
from .dns import DnsStub

HARNESS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
V4_NET = "198.18.%d.%d"
V6_NET = "fd00:6e73:6d00:%d::%d"
PEER_NAMES = "bcdefg"
RESOLV_CONF = "nameserver 127.0.0.53\n"
NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n" \
           "protocols: files\nservices: files\nrpc: files\n"


def hosts_file():
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback",
             "%s nsm-a" % (V4_NET % (1, 1)), "%s nsm-a" % (V6_NET % (1, 1))]
    for i, letter in enumerate(PEER_NAMES, start=1):
        lines.append("%s nsm-%s" % (V4_NET % (i, 2), letter))
        lines.append("%s nsm-%s" % (V6_NET % (i, 2), letter))
    return "\n".join(lines) + "\n"


def sh(argv, check=True, timeout=30, **kw):
    """Run a command in the current namespaces, capturing text output."""
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, preexec_fn=nsutil.die_with_parent, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (" ".join(argv), r.returncode, r.stdout, r.stderr))
    return r


INSIDE_ENV = "NSM_IT_INSIDE"
OUTER_PID_ENV = "NSM_IT_OUTER_PID"


def inside_session_namespaces():
    return os.environ.get(INSIDE_ENV) == "1" and os.getpid() == 1


def outer_pid():
    """PID of the session as the machine sees it (names temp dirs and namespaces)."""
    return int(os.environ.get(OUTER_PID_ENV, os.getpid()))


def reexec_argv(argv):
    """(argv, env) that re-run `argv` (a python command line) as PID 1 of new PID,
    network, mount and UTS namespaces with a private /proc; unshare sends the child
    SIGTERM if it dies itself."""
    env = dict(os.environ)
    env[INSIDE_ENV] = "1"
    env[OUTER_PID_ENV] = str(os.getpid())
    return (["unshare", "--pid", "--fork", "--kill-child=SIGTERM", "--mount-proc", "--net",
             "--mount", "--uts", "--propagation", "private", "--"] + list(argv), env)


def remove_stale_temp_dirs():
    """Remove /tmp/nsm-it-PID-* left by a harness that was SIGKILLed (PID gone).
    Must run outside the session's PID namespace, where machine PIDs are visible."""
    tmp = tempfile.gettempdir()
    for entry in os.listdir(tmp):
        parts = entry.split("-")
        if len(parts) < 4 or parts[:2] != ["nsm", "it"] or not parts[2].isdigit():
            continue
        try:
            os.kill(int(parts[2]), 0)
            continue
        except ProcessLookupError:
            shutil.rmtree(os.path.join(tmp, entry), ignore_errors=True)
        except PermissionError:
            continue


class Host:
    """Something processes can run in.  Subclasses define prefix and netns."""
    name = "?"
    netns = None          # path of the network namespace file (None = the session's)
    prefix = ()           # argv prefix that runs a command in this host

    def __init__(self, session):
        self.session = session
        self.rpcbind = None

    def cmd(self, argv):
        return list(self.prefix) + list(argv)

    def run(self, argv, check=True, timeout=30, **kw):
        return sh(self.cmd(argv), check, timeout, **kw)

    def spawn(self, name, argv, **kw):
        log = self.session.log_path("%s-%s" % (self.name, name))
        return procs.Proc("%s:%s" % (self.name, name), self.cmd(argv), log, **kw)

    def python(self, name, module, args=(), **kw):
        """Run `python3 -m nsmtest.<module> ARGS` in this host (e.g. "lockd", "dns")."""
        env = dict(os.environ, PYTHONPATH=HARNESS_DIR, PYTHONDONTWRITEBYTECODE="1")
        return self.spawn(name, ["/usr/bin/python3", "-m", "nsmtest." + module] + list(args), env=env, **kw)

    def start_rpcbind(self):
        from .portmap import PMAP_PROG
        from .rpc import rpc_ping
        self.rpcbind = self.spawn("rpcbind", ["rpcbind", "-f", "-w"])
        procs.wait_until(lambda: rpc_ping("127.0.0.1", 111, PMAP_PROG, 2, "udp", 0.5, self.netns)
                         or not self.rpcbind.alive(), 10, what="rpcbind on " + self.name)
        if not self.rpcbind.alive():
            raise RuntimeError("rpcbind on %s exited: %s" % (self.name, self.rpcbind.text()))
        return self.rpcbind


class Session(Host):
    name = "nsm-a"

    def __init__(self, keep=False):
        super().__init__(self)
        self.keep = keep
        self.tmp = tempfile.mkdtemp(prefix="nsm-it-%d-" % outer_pid())
        os.chmod(self.tmp, 0o755)
        self.logs = os.path.join(self.tmp, "logs")
        os.mkdir(self.logs)
        self.peers = []
        self.dns = None
        self.entered = False
        self.tag = "nsm%d" % outer_pid()

    def log_path(self, name):
        base = os.path.join(self.logs, name.replace("/", "_"))
        path, n = base + ".log", 1
        while os.path.exists(path):
            n += 1
            path = "%s.%d.log" % (base, n)
        return path

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def _etc(self, name, content):
        src = self.path("etc", name)
        os.makedirs(os.path.dirname(src), exist_ok=True)
        with open(src, "w") as f:
            f.write(content)
        os.chmod(src, 0o644)
        target = "/etc/" + name
        if os.path.islink(target):
            real = os.path.realpath(target)
            if real.startswith("/run/"):
                # Dangling into our fresh /run (e.g. systemd-resolved's stub file).
                os.makedirs(os.path.dirname(real), exist_ok=True)
                shutil.copy(src, real)
                return
            target = real
        if not os.path.exists(target):
            return
        sh(["mount", "--bind", src, target])

    def enter(self):
        if not inside_session_namespaces():
            raise RuntimeError("Session.enter() must run in the namespaces of reexec_argv()")
        self.entered = True
        sh(["mount", "--make-rprivate", "/"])
        sh(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run"])
        os.makedirs("/run/netns", exist_ok=True)
        sh(["hostname", self.name])
        self._etc("hosts", hosts_file())
        self._etc("resolv.conf", RESOLV_CONF)
        self._etc("nsswitch.conf", NSSWITCH)
        self._etc("nfs.conf", "# empty: the tests pass every option on the command line\n")
        if os.path.isdir("/etc/nfs.conf.d"):
            sh(["mount", "-t", "tmpfs", "tmpfs", "/etc/nfs.conf.d"])
        sh(["ip", "link", "set", "lo", "up"])
        self.dns = DnsStub().start()
        self.start_rpcbind()
        return self

    def add_peer(self):
        p = Peer(self, len(self.peers) + 1)
        self.peers.append(p)
        return p.start()

    def close(self):
        """Stop everything; safe to call twice and after a partial enter()."""
        errors = []
        for p in reversed(self.peers):
            try:
                p.close()
            except Exception as e:  # keep tearing down
                errors.append("%s: %s" % (p.name, e))
        self.peers = []
        procs.stop_all()
        if self.dns:
            self.dns.stop()
            self.dns = None
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return errors


class Peer(Host):
    def __init__(self, session, index):
        super().__init__(session)
        self.index = index
        self.letter = PEER_NAMES[index - 1]
        self.name = "nsm-" + self.letter
        self.nsname = "%s%s" % (session.tag, self.letter)
        self.addr4 = V4_NET % (index, 2)
        self.addr6 = V6_NET % (index, 2)
        self.local4 = V4_NET % (index, 1)      # the session host's address on this link
        self.local6 = V6_NET % (index, 1)
        self.if_local = "nsmv%d" % index
        self.if_peer = "nsmv%dp" % index
        self.anchor = None
        self.dns_listener = None

    def start(self):
        script = ("mount -t tmpfs -o mode=755 tmpfs /run && hostname %s && echo ready && exec cat"
                  % self.name)
        self.anchor = procs.Proc(self.name + ":anchor",
                                 ["unshare", "--net", "--mount", "--uts", "--propagation", "private",
                                  "sh", "-c", script],
                                 self.session.log_path(self.name + "-anchor"),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.anchor.popen.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError("peer %s did not start: %s" % (self.name, self.anchor.text()))
        pid = self.anchor.pid
        self.netns = "/proc/%d/ns/net" % pid
        self.prefix = ("nsenter", "-t", str(pid), "-n", "-m", "-u", "--")
        sh(["ip", "netns", "attach", self.nsname, str(pid)])
        sh(["ip", "link", "add", self.if_local, "type", "veth", "peer", "name", self.if_peer,
            "netns", str(pid)])
        sh(["ip", "addr", "add", self.local4 + "/24", "dev", self.if_local])
        sh(["ip", "-6", "addr", "add", self.local6 + "/64", "dev", self.if_local, "nodad"])
        sh(["ip", "link", "set", self.if_local, "up"])
        self.run(["ip", "link", "set", "lo", "up"])
        self.run(["ip", "addr", "add", self.addr4 + "/24", "dev", self.if_peer])
        self.run(["ip", "-6", "addr", "add", self.addr6 + "/64", "dev", self.if_peer, "nodad"])
        self.run(["ip", "link", "set", self.if_peer, "up"])
        self.dns_listener = self.session.dns.add_listener(self.netns)
        self.start_rpcbind()
        return self

    def close(self):
        if self.dns_listener and self.session.dns:
            self.session.dns.remove_listener(self.dns_listener)
            self.dns_listener = None
        for p in procs.running():
            if p.name.startswith(self.name + ":") and p is not self.anchor:
                p.stop(timeout=3.0)
        if self.anchor:
            self.anchor.stop(timeout=3.0)
            self.anchor = None
        sh(["ip", "netns", "delete", self.nsname], check=False)
        sh(["ip", "link", "delete", self.if_local], check=False)
