#!/usr/bin/python3
"""Turns a capture of capture.sh into the seed corpora of the RPC fuzz targets.

Usage: extract.py CAPTURE.pcapng CORPUS_DIR
Writes (replacing earlier captured seeds, named cap-*):
  CORPUS_DIR/rpc_call/   each RPC call: a UDP payload or a TCP record, de-framed
  CORPUS_DIR/rpc_reply/  each RPC reply, likewise
  CORPUS_DIR/record/     each TCP byte stream (one direction of one connection) with a
                         trailer in record_fuzz's input layout: piece sizes read from the
                         end, last byte = max_record (200: records fit; 40: too long)
Payloads come from `tshark -T fields -e udp.payload -e tcp.payload`; identical
payloads are kept once, and at most 3 seeds per kind of message (2 + 1 streams).
"""
import collections
import glob
import hashlib
import os
import struct
import subprocess
import sys

PROGS = {100000: "portmap", 100024: "sm", 100021: "nlm"}
SM_PROCS = ["null", "stat", "mon", "unmon", "unmon_all", "simu_crash", "notify"]


def tshark_rows(pcap):
    fields = ["frame.number", "tcp.stream", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport",
              "udp.srcport", "udp.dstport", "udp.payload", "tcp.payload"]
    argv = ["tshark", "-n", "-r", pcap, "-T", "fields", "-E", "separator=\t"]
    for f in fields:
        argv += ["-e", f]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        cols = line.split("\t")
        cols += [""] * (len(fields) - len(cols))
        yield dict(zip(fields, cols))


def records(stream):
    """De-frames a record-marked byte stream; a partial record at the end is dropped."""
    out, cur, pos = [], b"", 0
    while len(stream) - pos >= 4:
        (h,) = struct.unpack(">I", stream[pos:pos + 4])
        n = h & 0x7FFFFFFF
        if len(stream) - pos - 4 < n:
            break
        cur += stream[pos + 4:pos + 4 + n]
        pos += 4 + n
        if h & 0x80000000:
            out.append(cur)
            cur = b""
    return out


def fragments(stream):
    """The number of fragment headers in a record-marked stream."""
    n, pos = 0, 0
    while len(stream) - pos >= 4:
        (h,) = struct.unpack(">I", stream[pos:pos + 4])
        n += 1
        pos += 4 + (h & 0x7FFFFFFF)
    return n


def describe(msg, calls):
    """A file name stem: call/reply, program, version and procedure."""
    if len(msg) < 8:
        return "short"
    xid, mtype = struct.unpack(">II", msg[:8])
    if mtype == 0 and len(msg) >= 24:
        prog, vers, proc = struct.unpack(">III", msg[12:24])
        calls[xid] = (prog, vers, proc)
    if xid not in calls:
        return "unmatched"
    prog, vers, proc = calls[xid]
    pname = PROGS.get(prog, str(prog))
    procname = SM_PROCS[proc] if prog == 100024 and proc < len(SM_PROCS) else str(proc)
    return "%s-v%d-%s" % (pname, vers, procname)


class Writer:
    def __init__(self, corpus):
        self.corpus, self.seen, self.count = corpus, set(), collections.Counter()
        for target in ("rpc_call", "rpc_reply", "record"):
            os.makedirs(os.path.join(corpus, target), exist_ok=True)
            for old in glob.glob(os.path.join(corpus, target, "cap-*")):
                os.remove(old)

    def put(self, target, stem, data, cap=3):
        """Writes data unless already written or `cap` seeds of this stem exist."""
        key = (target, hashlib.sha1(data).digest())
        if key in self.seen or self.count[(target, stem)] >= cap:
            return
        self.seen.add(key)
        self.count[(target, stem)] += 1
        name = "cap-%s-%d" % (stem, self.count[(target, stem)])
        with open(os.path.join(self.corpus, target, name), "wb") as f:
            f.write(data)


def record_seed(stream, max_record):
    pieces, cycle, total, i = [], [5, 64, 1, 17, 0, 64, 3, 40, 64, 2], 0, 0
    while total < len(stream):
        pieces.append(cycle[i % len(cycle)])
        total += pieces[-1]
        i += 1
    return stream + bytes(reversed(pieces)) + bytes([max_record])


def main():
    pcap, corpus = sys.argv[1], sys.argv[2]
    w = Writer(corpus)
    calls = {}
    streams = collections.OrderedDict()
    for row in tshark_rows(pcap):
        if "53" in (row["udp.srcport"], row["udp.dstport"]):
            continue  # statd's DNS queries (to the capture's dead-end resolv.conf)
        if row["udp.payload"]:
            msg = bytes.fromhex(row["udp.payload"])
            stem = describe(msg, calls)
            kind = "rpc_call" if msg[4:8] == b"\0\0\0\0" else "rpc_reply"
            w.put(kind, "udp-" + stem, msg)
        elif row["tcp.payload"]:
            key = (row["tcp.stream"], row["ip.src"], row["tcp.srcport"])
            streams[key] = streams.get(key, b"") + bytes.fromhex(row["tcp.payload"])
    for stream in streams.values():
        stems = []
        for msg in records(stream):
            stem = describe(msg, calls)
            stems.append(stem)
            kind = "rpc_call" if msg[4:8] == b"\0\0\0\0" else "rpc_reply"
            w.put(kind, "tcp-" + stem, msg)
        label = "tcp-" + (stems[0] if stems else "partial")
        if fragments(stream) > len(stems):
            label += "-fragmented"
        w.put("record", label + "-max200", record_seed(stream, 200), cap=2)
        w.put("record", label + "-max40", record_seed(stream, 40), cap=1)
    for (target, stem), n in sorted(w.count.items()):
        print("%-10s %-40s %d" % (target, stem, n))


if __name__ == "__main__":
    main()
