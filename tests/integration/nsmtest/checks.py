"""Small building blocks the test files share: notify from a peer, wait for or rule
out callbacks, check that a daemon is still alive and answering."""
import time

from .nsm import SM_PROG, SM_VERS, StatdClient, encode_status
from .rpc import rpc_ping


def notify_from(peer, mon_name, state, transport="udp", reserved=False, to=None):
    """Send SM_NOTIFY{mon_name, state} from `peer` to the statd of the session host
    (found through the session host's rpcbind, as a remote sm-notify would)."""
    with StatdClient(to or peer.local4, transport, reserved=reserved, netns=peer.netns) as c:
        c.notify(mon_name, state)


def no_callback_within(lockd, seconds=1.5, already=0):
    """True if no callback beyond the `already` recorded ones arrives within `seconds`."""
    return len(lockd.wait_callbacks(already + 1, seconds)) == already


def check_callback(cb, mon_name, state, priv, vers=3):
    """Assert a lockd callback is what the kernel expects, byte for byte."""
    assert cb.error is None, cb
    assert (cb.prog, cb.vers, cb.proc) == (100021, vers, 16), cb
    assert cb.mon_name == mon_name, cb
    assert cb.state == state, cb
    assert cb.priv == priv, cb
    assert cb.raw == encode_status(mon_name, state, priv), cb
    assert cb.src_addr in ("127.0.0.1", "::1"), cb
    assert cb.src_port < 1024, "callback from unprivileged port %d: lockd would drop it" % cb.src_port


def answering(statd, transports=("udp", "tcp"), timeout=2.0):
    """The daemon is alive and answers NULL on each transport."""
    if not statd.alive():
        return False
    udp, tcp = statd.ports()
    ports = {"udp": udp, "tcp": tcp}
    return all(ports[t] and rpc_ping("127.0.0.1", ports[t], SM_PROG, SM_VERS, t, timeout, statd.host.netns)
               for t in transports)


def until(pred, timeout=5.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()
