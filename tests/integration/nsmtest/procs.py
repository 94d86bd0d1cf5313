"""Child processes of the harness: started with their output in a log file, killed
with the harness (PDEATHSIG), stopped and reaped explicitly, listed for teardown."""
import os
import signal
import subprocess
import time

from .nsutil import die_with_parent

_all = []


class Proc:
    """A started process.  `log` holds its stdout+stderr (unless stdout=PIPE)."""

    def __init__(self, name, argv, log, stdin=subprocess.DEVNULL, stdout=None, env=None, cwd=None):
        self.name, self.argv, self.log = name, list(argv), log
        self._logf = open(log, "ab")
        self.popen = subprocess.Popen(
            self.argv, stdin=stdin, stdout=self._logf if stdout is None else stdout,
            stderr=self._logf, env=env, cwd=cwd, preexec_fn=die_with_parent)
        self.pid = self.popen.pid
        _all.append(self)

    def alive(self):
        return self.popen.poll() is None

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Signal, wait up to `timeout`, then SIGKILL; always reaps.  Returns the exit code."""
        if self.alive():
            try:
                os.kill(self.pid, sig)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
            except ProcessLookupError:
                pass
        rc = self.popen.wait(5)
        for f in (self._logf, self.popen.stdin, self.popen.stdout):
            if f is not None and not f.closed:
                f.close()
        if self in _all:
            _all.remove(self)
        return rc

    def kill(self):
        return self.stop(signal.SIGKILL, 2.0)

    def text(self):
        if not self._logf.closed:
            self._logf.flush()
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, needle, timeout=5.0):
        """Wait until `needle` appears in the log; returns True/False."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return True
            if not self.alive():
                return needle in self.text()
            time.sleep(0.05)
        return False

    def __repr__(self):
        return "<Proc %s pid=%d %s>" % (self.name, self.pid, "alive" if self.alive() else "exited")


def stop_all():
    """Stop every process still running (newest first); returns their names."""
    names = []
    for p in reversed(list(_all)):
        names.append(p.name)
        p.stop(timeout=3.0)
    return names


def running():
    return [p for p in _all if p.alive()]


def wait_until(pred, timeout=5.0, interval=0.05, what="condition"):
    """Poll pred() until truthy; return its value or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)
