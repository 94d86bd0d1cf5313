"""Malformed and hostile input: the daemon answers what it can (GARBAGE_ARGS,
PROG_UNAVAIL, PROG_MISMATCH, PROC_UNAVAIL, stat_fail), drops what it cannot, and keeps
serving.  Every test ends by checking that NULL is still answered on UDP and TCP."""
import os
import random
import socket
import struct
import time

import pytest

from nsmtest import rpc
from nsmtest.checks import answering, no_callback_within, notify_from
from nsmtest.nsm import (SM_MON, SM_NOTIFY, SM_PROG, SM_STAT, SM_UNMON, SM_VERS, STAT_FAIL,
                         MyId, StatdClient, decode_sm_stat_res, encode_mon, encode_sm_name,
                         encode_stat_chge, priv_bytes)
from nsmtest.xdr import Packer

TRANSPORTS = ["udp", "tcp"]


def client(statd, transport, **kw):
    udp, tcp = statd.ports()
    return rpc.RpcClient("127.0.0.1", udp if transport == "udp" else tcp, transport, **kw)


def survives(statd):
    assert answering(statd), "statd stopped answering NULL:\n" + statd.log()[-3000:]


def reply_or_drop(c, timeout=1.5):
    """The next reply, or None if the daemon sent nothing / closed the connection."""
    try:
        return rpc.parse_reply(c.recv_message(timeout))
    except (rpc.RpcTimeout, rpc.RpcConnectionClosed):
        return None


NULL_CALL_CUTS = (0, 1, 4, 10, 23, 24, 31, 39)   # a NULL call is 40 bytes


def send_truncated_headers(statd, transport, strict):
    full = rpc.encode_call(rpc.new_xid(), SM_PROG, SM_VERS, 0)
    for cut in NULL_CALL_CUTS:
        with client(statd, transport) as c:
            c.send_message(full[:cut])
            r = reply_or_drop(c, 0.3)
            if strict:
                assert r is None or not r.ok, (cut, r)
    survives(statd)


def test_truncated_call_headers_over_tcp(statd):
    send_truncated_headers(statd, "tcp", strict=True)


def test_truncated_call_headers_over_udp_survived(statd):
    send_truncated_headers(statd, "udp", strict=False)


@pytest.mark.nsm_only
def test_truncated_call_headers_over_udp_not_executed(statd):
    # nfs-utils (libtirpc) decodes the missing end of a short datagram from stale
    # buffer bytes (here: the previous, complete call) and executes it.
    send_truncated_headers(statd, "udp", strict=True)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_garbage(statd, transport):
    rnd = random.Random(100024)
    blobs = [b"\0" * 64, b"\xff" * 64, bytes(rnd.randrange(256) for _ in range(200)),
             rpc.accepted_reply(1234, results=b"\0" * 8),            # a reply sent to a server
             struct.pack(">II", 1, 7) + b"\0" * 40]                  # msg_type 7
    blobs += [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 3000))) for _ in range(20)]
    for blob in blobs:
        with client(statd, transport) as c:
            c.send_message(blob)
            reply_or_drop(c, 0.1)
    survives(statd)


# 0x47455420 is "GET ": an HTTP request on the RPC port claims a 1.1 GiB fragment.
@pytest.mark.parametrize("word", [0x80000000 | 0x7FFFFFFF, 0xFFFFFFFF, 0x7FFFFFFF, 0x47455420])
def test_record_marking_header_claiming_2gib(statd, word):
    with client(statd, "tcp") as c:
        c.send_raw(struct.pack(">I", word) + b"\0" * 1000)
        deadline = time.monotonic() + 5
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                c.recv_message(deadline - time.monotonic())
            except rpc.RpcConnectionClosed:
                closed = True
            except rpc.RpcTimeout:
                break
        assert closed, "connection with a 2 GiB record header not dropped within 5 s"
    survives(statd)


def test_endless_fragments_are_cut_off(statd):
    # No NSM message is longer than a few KiB; a stream of non-final fragments must not
    # be buffered for ever.  16 MiB must be refused before the end.
    chunk = struct.pack(">I", 65536) + b"\0" * 65536
    with client(statd, "tcp", timeout=5.0) as c:
        dropped = False
        try:
            for _ in range(256):
                c.send_raw(chunk)
            c.recv_message(5.0)
        except (TimeoutError, rpc.RpcTimeout):
            pass                      # stopped reading but kept the connection: not enough
        except (OSError, rpc.RpcConnectionClosed):
            dropped = True
        assert dropped, "16 MiB of fragments accepted without a final one, connection kept"
    survives(statd)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unknown_program_version_procedure(statd, transport):
    with client(statd, transport) as c:
        r = c.call(SM_PROG + 1, 1, 0)
        assert (r.reply_stat, r.accept_stat) == (rpc.MSG_ACCEPTED, rpc.PROG_UNAVAIL), r
        for vers in (0, 2, 0xFFFFFFFF):
            r = c.call(SM_PROG, vers, 0)
            assert (r.reply_stat, r.accept_stat) == (rpc.MSG_ACCEPTED, rpc.PROG_MISMATCH), r
            assert (r.low, r.high) == (1, 1), r
        for proc in (7, 99, 0x80000000):
            r = c.call(SM_PROG, SM_VERS, proc)
            assert (r.reply_stat, r.accept_stat) == (rpc.MSG_ACCEPTED, rpc.PROC_UNAVAIL), r
    survives(statd)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_rpc_version_3_and_unknown_auth_flavor(statd, transport):
    with client(statd, transport) as c:
        xid = rpc.new_xid()
        c.send_message(rpc.encode_call(xid, SM_PROG, SM_VERS, 0, rpcvers=3))
        r = reply_or_drop(c, 1.0)
        # RFC 5531 asks for RPC_MISMATCH; nfs-utils (libtirpc) drops the call.  Both are safe.
        assert r is None or (r.reply_stat, r.reject_stat, r.low, r.high) == (rpc.MSG_DENIED, rpc.RPC_MISMATCH, 2, 2), r
    with client(statd, transport) as c:
        r = c.call(SM_PROG, SM_VERS, 0, cred=rpc.Auth(99, b"junk"))
        assert (r.reply_stat, r.reject_stat) == (rpc.MSG_DENIED, rpc.AUTH_ERROR), r
    survives(statd)


def long_name_args(n):
    return {
        SM_STAT: encode_sm_name("a" * n),
        SM_MON: encode_mon("a" * n, MyId("nsm-a"), priv_bytes("long")),
        SM_UNMON: Packer().string("a" * n).string("nsm-a").int(100021).int(3).int(16).bytes(),
        SM_NOTIFY: encode_stat_chge("a" * n, 5),
    }


def sm_stat_res_refused_or_garbage(r):
    if r.accept_stat == rpc.GARBAGE_ARGS:
        return True
    return r.ok and decode_sm_stat_res(r.results).res_stat == STAT_FAIL


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("n", [1025, 4000])
def test_oversized_mon_name(statd, transport, n):
    with client(statd, transport) as c:
        for proc, args in long_name_args(n).items():
            r = c.call(SM_PROG, SM_VERS, proc, args)
            assert r.reply_stat == rpc.MSG_ACCEPTED, (proc, r)
            if proc in (SM_STAT, SM_MON):
                assert sm_stat_res_refused_or_garbage(r), (proc, r)
            else:
                assert r.accept_stat in (rpc.GARBAGE_ARGS, rpc.SUCCESS), (proc, r)
    assert os.listdir(os.path.join(statd.state_dir, "sm")) == []
    survives(statd)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_string_length_word_beyond_the_message(statd, transport):
    # (over UDP a length of 1000 is in test_truncated_arguments_over_udp: nfs-utils fails it)
    with client(statd, transport) as c:
        for length in (0x7FFFFFFF, 0xFFFFFFFF, 1025) + ((1000,) if transport == "tcp" else ()):
            r = c.call(SM_PROG, SM_VERS, SM_STAT, struct.pack(">I", length) + b"abcd")
            assert (r.reply_stat, r.accept_stat) == (rpc.MSG_ACCEPTED, rpc.GARBAGE_ARGS), r
    survives(statd)


TRUNCATED_ARGS = ((SM_MON, b"\0\0\0\x05ab"), (SM_STAT, b"\0\0"),
                  (SM_STAT, struct.pack(">I", 1000) + b"abcd"),
                  (SM_MON, encode_mon("127.0.0.1", MyId("nsm-a"), bytes(16))[:-3]))


def test_truncated_arguments_over_tcp(statd):
    with client(statd, "tcp") as c:
        for proc, args in TRUNCATED_ARGS:
            r = c.call(SM_PROG, SM_VERS, proc, args)
            assert (r.reply_stat, r.accept_stat) == (rpc.MSG_ACCEPTED, rpc.GARBAGE_ARGS), (proc, r)
    survives(statd)


@pytest.mark.nsm_only
def test_truncated_arguments_over_udp(statd):
    # nfs-utils (libtirpc) decodes past the end of a short datagram and answers stat_fail.
    with client(statd, "udp") as c:
        for proc, args in TRUNCATED_ARGS:
            r = c.call(SM_PROG, SM_VERS, proc, args)
            assert (r.reply_stat, r.accept_stat) == (rpc.MSG_ACCEPTED, rpc.GARBAGE_ARGS), (proc, r)
    survives(statd)


@pytest.mark.nsm_only
@pytest.mark.parametrize("fragment", [4, 8, 17, 40])
def test_multi_fragment_record_reassembled(statd, fragment):
    # RFC 5531 record marking allows any fragmentation; nfs-utils' libtirpc resets the
    # connection when the call header spans fragments and reports GARBAGE_ARGS when
    # the arguments do.
    with client(statd, "tcp") as c:
        xid = rpc.new_xid()
        c.send_message(rpc.encode_call(xid, SM_PROG, SM_VERS, SM_STAT, encode_sm_name("127.0.0.1")),
                       fragment=fragment)
        r = c.recv_reply(xid)
        assert r.ok, r
        assert decode_sm_stat_res(r.results).res_stat == 0
    survives(statd)


def test_record_sent_byte_by_byte(statd):
    with client(statd, "tcp") as c:
        sock = c._ensure()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        xid = rpc.new_xid()
        for b in rpc.record(rpc.encode_call(xid, SM_PROG, SM_VERS, SM_STAT, encode_sm_name("127.0.0.1"))):
            c.send_raw(bytes([b]))
            time.sleep(0.002)
        r = c.recv_reply(xid)
        assert r.ok and decode_sm_stat_res(r.results).res_stat == 0, r


def test_stalled_and_idle_connections_do_not_block_others(statd):
    udp, tcp = statd.ports()
    idle = [rpc.RpcClient("127.0.0.1", tcp, "tcp") for _ in range(100)]
    try:
        for c in idle:
            c._ensure()
        idle[0].send_raw(struct.pack(">I", 0x80000000 | 200) + b"\0" * 20)   # half a record
        t = time.monotonic()
        assert answering(statd, timeout=2.0)
        assert time.monotonic() - t < 2.0
    finally:
        for c in idle:
            c.close()
    survives(statd)


@pytest.mark.parametrize("name", ["%s%s%s%s%n%n%n%n", "%x" * 200, "a\0b", b"\xff\xfe\xfd",
                                  "host\nname", "-rf", "$(reboot)"])
def test_hostile_mon_names(statd, lockd, peer, name):
    # CVE-2000-0666: a remote string used as a format string.  Whatever the daemon
    # decides about these names, it must survive them, here and in its log.
    # A name the daemon accepted is a real monitor: a notify naming it is called back
    # (nsm accepts any printable name; nfs-utils refuses names that do not resolve).
    r = lockd.mon(name, priv_bytes("hostile"))
    assert r.res_stat in (0, 1)
    with StatdClient(transport="udp") as c:
        c.stat(name)
    if r.res_stat == 0:
        lockd.unmon(name)
    notify_from(peer, name, 3)
    survives(statd)
    assert no_callback_within(lockd, 0.5)
