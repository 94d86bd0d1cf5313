"""Linux namespace primitives through ctypes: unshare(2), setns(2), prctl(PDEATHSIG).

`in_netns(path)` switches the *calling thread* into another network namespace for the
duration of a with-block; sockets created inside stay in that namespace afterwards.
That is how the harness makes a client socket "on" a peer host without a subprocess.
"""
import contextlib
import ctypes
import ctypes.util
import os
import signal

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def unshare(flags):
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare(0x%x)" % flags)


def setns(fd, nstype):
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


@contextlib.contextmanager
def in_netns(path):
    """Run the block with this thread in the network namespace at `path` (None: no-op)."""
    if path is None:
        yield
        return
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open(path, os.O_RDONLY)
    try:
        setns(there, CLONE_NEWNET)
        try:
            yield
        finally:
            setns(here, CLONE_NEWNET)
    finally:
        os.close(there)
        os.close(here)


def die_with_parent():
    """preexec_fn for subprocesses: SIGKILL the child when the harness dies."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
