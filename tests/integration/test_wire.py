"""What goes over the wire, as tshark decodes it: the SM procedures' arguments and
results, SM_NOTIFY from a peer, and statd's callback to lockd (which tshark does not
decode, so its bytes are compared with the XDR of `status`).  No frame may be
malformed.  Field names: docs/nsm-reference.md section 6."""
import os

from nsmtest.checks import notify_from
from nsmtest.nsm import STAT_SUCC, encode_status, priv_bytes

CALL, REPLY = "0", "1"
FIELDS = ["frame.number", "ip.src", "ipv6.src", "udp.srcport", "tcp.srcport", "rpc.xid",
          "rpc.msgtyp", "rpc.program", "rpc.programversion", "rpc.procedure", "rpc.state_accept",
          "rpc.repframe", "stat.mon_id.name", "stat.name", "stat.my_id.hostname", "stat.my_id.prog",
          "stat.my_id.vers", "stat.my_id.proc", "stat.priv", "stat.state", "stat.stat_res.res",
          "stat.stat_res.state", "data.data"]


def start_capture(capture, statd, lockd, iface="any"):
    udp, tcp = statd.ports()
    ports = sorted({111, udp, tcp, lockd.udp_port, lockd.tcp_port})
    bpf = " or ".join("port %d" % p for p in ports)
    cap = capture(iface=iface, bpf=bpf)
    return cap, {"udp": [udp, lockd.udp_port], "tcp": [tcp, lockd.tcp_port]}


def rows(cap, decode, display):
    return cap.fields(FIELDS, display=display, decode=decode)


def one(rows_, **match):
    found = [r for r in rows_ if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, rows_)
    return found[0]


def test_sm_procedures_decode_cleanly(statd, lockd, peer, capture):
    cap, decode = start_capture(capture, statd, lockd, iface="lo")
    priv = os.urandom(16)
    state = lockd.stat("127.0.0.1", transport="udp").state
    assert lockd.mon(peer.addr4, priv).res_stat == STAT_SUCC          # TCP, like the kernel
    assert lockd.unmon(peer.addr4) == state
    assert lockd.unmon_all(transport="udp") == state
    cap.stop()

    assert cap.malformed(decode) == []
    stat = rows(cap, decode, "stat")
    # SM_STAT over UDP
    call = one(stat, **{"rpc.msgtyp": CALL, "rpc.procedure": "1"})
    assert call["stat.name"] == "127.0.0.1"
    reply = one(stat, **{"rpc.msgtyp": REPLY, "rpc.procedure": "1"})
    assert (reply["rpc.xid"], reply["udp.srcport"]) == (call["rpc.xid"], str(statd.ports()[0]))
    assert (reply["stat.stat_res.res"], reply["stat.stat_res.state"]) == ("0", str(state))
    # SM_MON over TCP
    call = one(stat, **{"rpc.msgtyp": CALL, "rpc.procedure": "2"})
    assert call["stat.mon_id.name"] == peer.addr4
    assert call["stat.my_id.hostname"] == lockd.my_name
    assert (call["stat.my_id.prog"], call["stat.my_id.vers"], call["stat.my_id.proc"]) == ("100021", "3", "16")
    assert call["stat.priv"].replace(":", "") == priv.hex()
    assert int(call["tcp.srcport"]) < 1024
    reply = one(stat, **{"rpc.msgtyp": REPLY, "rpc.procedure": "2"})
    assert reply["rpc.xid"] == call["rpc.xid"] and reply["rpc.state_accept"] == "0"
    assert (reply["stat.stat_res.res"], reply["stat.stat_res.state"]) == ("0", str(state))
    # SM_UNMON (TCP) and SM_UNMON_ALL (UDP): sm_stat results
    for proc in ("3", "4"):
        call = one(stat, **{"rpc.msgtyp": CALL, "rpc.procedure": proc})
        reply = one(stat, **{"rpc.msgtyp": REPLY, "rpc.procedure": proc})
        assert reply["rpc.xid"] == call["rpc.xid"]
        assert reply["stat.state"] == str(state), reply


def test_notify_and_callback_on_the_wire(statd, lockd, peer, capture):
    cap, decode = start_capture(capture, statd, lockd, iface="any")
    priv = priv_bytes("on-the-wire")
    assert lockd.mon(peer.addr4, priv).res_stat == STAT_SUCC
    notify_from(peer, peer.addr4, 1235)
    assert lockd.wait_callbacks(1)
    cap.stop()

    assert cap.malformed(decode) == []
    notify = one(rows(cap, decode, "stat"), **{"rpc.msgtyp": CALL, "rpc.procedure": "6"})
    assert notify["ip.src"] == peer.addr4
    assert (notify["stat.mon_id.name"], notify["stat.state"]) == (peer.addr4, "1235")
    nreply = one(rows(cap, decode, "stat"), **{"rpc.msgtyp": REPLY, "rpc.procedure": "6"})
    assert nreply["rpc.xid"] == notify["rpc.xid"] and nreply["rpc.state_accept"] == "0"

    cb = one(rows(cap, decode, "rpc.program == 100021 && rpc.procedure == 16"), **{"rpc.msgtyp": CALL})
    assert cb["ip.src"] == "127.0.0.1" or cb["ipv6.src"] == "::1", cb
    assert cb["rpc.programversion"].split(",")[0] == "3"   # NLM repeats the field
    sport = cb["udp.srcport"] or cb["tcp.srcport"]
    assert int(sport) < 1024, cb
    assert cb["data.data"].replace(":", "") == encode_status(peer.addr4, 1235, priv).hex()
    cbreply = one(rows(cap, decode, "rpc.program == 100021 && rpc.procedure == 16"), **{"rpc.msgtyp": REPLY})
    assert cbreply["rpc.xid"] == cb["rpc.xid"] and cbreply["rpc.state_accept"] == "0"
