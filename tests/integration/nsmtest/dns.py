"""DNS stub for the tests, listening on 127.0.0.53:53 over UDP and TCP.

Modes: "refuse" answers every query at once (NXDOMAIN by default, or REFUSED) so a
resolver never waits and never reaches the machine's real DNS; "blackhole" reads and
swallows every query (a hung resolver).  Every query is recorded as (qname, qtype,
transport).  One stub can listen in several network namespaces (add_listener).
In-process: DnsStub().start(); as a process: `python3 -m nsmtest.dns --mode refuse`.
"""
import selectors
import socket
import struct
import sys
import threading

from .nsutil import in_netns

NOERROR, NXDOMAIN, REFUSED = 0, 3, 5


def parse_question(msg):
    """(id, flags, qname, qtype) of a query; raises ValueError when malformed."""
    if len(msg) < 12:
        raise ValueError("short DNS header")
    qid, flags, qd = struct.unpack(">HHH", msg[:6])
    labels, pos = [], 12
    if qd < 1:
        return qid, flags, "", 0, pos
    while True:
        if pos >= len(msg):
            raise ValueError("truncated qname")
        n = msg[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0:
            raise ValueError("compressed qname in a query")
        labels.append(msg[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(msg):
        raise ValueError("truncated question")
    qtype = struct.unpack(">H", msg[pos:pos + 2])[0]
    return qid, flags, ".".join(labels), qtype, pos + 4


def make_answer(msg, rcode):
    qid, flags, _, _, qend = parse_question(msg)
    rd = flags & 0x0100
    hdr = struct.pack(">HHHHHH", qid, 0x8000 | 0x0080 | rd | rcode,
                      1 if qend > 12 else 0, 0, 0, 0)
    return hdr + msg[12:qend]


class DnsStub:
    def __init__(self, mode="refuse", rcode=NXDOMAIN, address="127.0.0.53", port=53):
        self.mode, self.rcode, self.address, self.port = mode, rcode, address, port
        self.queries = []
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._stop = False
        self._thread = None
        self._held = []

    def add_listener(self, netns=None):
        with in_netns(netns):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        u.bind((self.address, self.port))
        t.bind((self.address, self.port))
        t.listen(16)
        u.setblocking(False)
        t.setblocking(False)
        self._sel.register(u, selectors.EVENT_READ, ("udp", None))
        self._sel.register(t, selectors.EVENT_READ, ("listen", None))
        return (u, t)

    def remove_listener(self, pair):
        """Close the sockets add_listener() returned (frees their namespace)."""
        for s in pair:
            try:
                self._sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()

    def start(self, netns=None):
        self.add_listener(netns)
        self._thread = threading.Thread(target=self._loop, name="dns-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop = True
        if self._thread:
            self._thread.join(5)
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()
        self._sel.close()
        for s in self._held:
            s.close()

    def set_mode(self, mode):
        assert mode in ("refuse", "blackhole"), mode
        self.mode = mode

    def _record(self, msg, transport):
        try:
            _, _, qname, qtype, _ = parse_question(msg)
        except ValueError:
            qname, qtype = None, None
        with self._lock:
            self.queries.append((qname, qtype, transport))

    def _loop(self):
        while not self._stop:
            for key, _ in self._sel.select(0.1):
                kind, buf = key.data
                try:
                    if kind == "udp":
                        msg, peer = key.fileobj.recvfrom(4096)
                        self._record(msg, "udp")
                        if self.mode == "refuse":
                            key.fileobj.sendto(make_answer(msg, self.rcode), peer)
                    elif kind == "listen":
                        c, _ = key.fileobj.accept()
                        c.setblocking(False)
                        self._sel.register(c, selectors.EVENT_READ, ("tcp", bytearray()))
                    else:
                        data = key.fileobj.recv(4096)
                        if not data:
                            self._sel.unregister(key.fileobj)
                            key.fileobj.close()
                            continue
                        buf += data
                        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
                            n = struct.unpack(">H", buf[:2])[0]
                            msg = bytes(buf[2:2 + n])
                            del buf[:2 + n]
                            self._record(msg, "tcp")
                            if self.mode == "refuse":
                                ans = make_answer(msg, self.rcode)
                                key.fileobj.sendall(struct.pack(">H", len(ans)) + ans)
                except (OSError, ValueError):
                    pass


def main(argv=None):
    import argparse
    import signal
    import time
    ap = argparse.ArgumentParser(prog="python3 -m nsmtest.dns")
    ap.add_argument("--mode", choices=("refuse", "blackhole"), default="refuse")
    ap.add_argument("--rcode", choices=("nxdomain", "refused"), default="nxdomain")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    stub = DnsStub(args.mode, NXDOMAIN if args.rcode == "nxdomain" else REFUSED).start()
    print("READY", flush=True)
    try:
        while True:
            time.sleep(0.2)   # short: a signal delivered to the stub thread runs here soon
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()


if __name__ == "__main__":
    main()
