"""statdctl in the integration tests: where the binary is, running it (optionally as
another user), and state directories that nsm's rpc.statd can use.

statdctl_path(): $NSM_STATDCTL if set, else $NSM_BUILD_DIR/statdctl.
"""
import json
import os
import subprocess

from . import daemons
from .nsutil import die_with_parent

NFS_UTILS_STATD = daemons.NFS_UTILS_STATD

# Exit codes (docs/statdctl.md).
OK, ERROR, USAGE, NO_STORE, PERMISSION, NO_DAEMON, BAD_INPUT, NOT_FOUND, PARTIAL = range(9)


def statdctl_path():
    env = os.environ.get("NSM_STATDCTL")
    if env:
        return env
    build = os.environ.get("NSM_BUILD_DIR")
    if build:
        return os.path.join(build, "statdctl")
    return "statdctl"


def available():
    p = statdctl_path()
    return os.path.isfile(p) and os.access(p, os.X_OK)


def run(state_dir, *args, user=None, input=None, host=None, timeout=60):
    """statdctl -P state_dir ARGS -> CompletedProcess (text). user: a name (run through
    `runuser -u USER --`) or a numeric uid (run through setpriv as uid = gid = user, no
    supplementary groups); host: a Peer to run it in (default: the session host)."""
    argv = [statdctl_path(), "-P", state_dir] + [str(a) for a in args]
    if isinstance(user, int):
        argv = ["setpriv", "--reuid", str(user), "--regid", str(user), "--clear-groups"] + argv
    elif user:
        argv = ["runuser", "-u", user, "--"] + argv
    if host is not None and host.prefix:
        argv = list(host.prefix) + argv
    return subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, preexec_fn=die_with_parent)


def run_json(state_dir, *args, **kw):
    """statdctl --json ...; asserts exit 0 and returns the parsed output."""
    r = run(state_dir, "--json", *args, **kw)
    assert r.returncode == OK, "statdctl %s failed (%d): %s" % (args, r.returncode, r.stderr)
    return json.loads(r.stdout)


def nsm_state_dir(path, state=None):
    """A state directory laid out as Debian ships /var/lib/nfs: the directory owned by
    root, sm/ and sm.bak/ by `statd` (daemons.prepare_state_dir)."""
    return daemons.prepare_state_dir(path, state=state)


# A uid and gid with no account and no group shared with the daemon's files (user
# `nobody` shares group `nogroup` with Debian's statd user).
OTHER_UID = 54321


def read_sm_lines(state_dir, sub="sm"):
    """{file name: [lines]} of DIR/sub (nfs-utils' temporary .files skipped)."""
    out = {}
    d = os.path.join(state_dir, sub)
    for name in sorted(os.listdir(d)):
        if name.startswith("."):
            continue
        with open(os.path.join(d, name)) as f:
            out[name] = [l for l in f.read().splitlines() if l.strip()]
    return out
