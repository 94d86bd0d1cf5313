"""Packet capture with dumpcap/tshark in a host, and decoding of the NSM fields.

    with Capture(host, "lo", "udp or tcp") as cap:
        ... traffic ...
    rows = cap.fields(["rpc.procedure", "stat.mon_id.name"], decode={"udp": [port]},
                      display="stat")
    assert cap.malformed() == []
"""
import os
import time

from . import procs


class Capture:
    def __init__(self, host, iface="lo", bpf="", name="capture"):
        self.host, self.iface, self.bpf = host, iface, bpf
        self.file = host.session.log_path("%s-%s" % (host.name, name)).replace(".log", ".pcapng")
        self.proc = None

    def start(self, timeout=10.0):
        argv = ["dumpcap", "-q", "-i", self.iface, "-w", self.file]
        if self.bpf:
            argv += ["-f", self.bpf]
        self.proc = self.host.spawn("dumpcap", argv)
        # dumpcap says "Capturing on 'lo'" once the socket is open, then creates the file.
        started = self.proc.wait_log("Capturing on", timeout) and procs.wait_until(
            lambda: os.path.exists(self.file) or not self.proc.alive(), timeout, what="dumpcap's file")
        if not started or not self.proc.alive():
            raise RuntimeError("dumpcap did not start:\n" + self.proc.text())
        time.sleep(0.2)
        return self

    def stop(self):
        if self.proc:
            time.sleep(0.3)  # let the last packets through the ring buffer
            self.proc.stop(timeout=5.0)
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def tshark(self, args, decode=None):
        """Run tshark -n -r FILE with decode-as rules {"udp": [ports], "tcp": [ports]}."""
        argv = ["tshark", "-n", "-r", self.file]
        for proto, ports in (decode or {}).items():
            for p in ports:
                argv += ["-d", "%s.port==%d,rpc" % (proto, p)]
        r = self.host.run(argv + list(args), check=False, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("tshark failed: %s %s" % (r.stdout, r.stderr))
        return r.stdout

    def fields(self, names, display="", decode=None):
        """One dict per matching frame: field name -> value (multiple values joined by ',')."""
        args = ["-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
        for n in names:
            args += ["-e", n]
        if display:
            args += ["-Y", display]
        out = self.tshark(args, decode)
        rows = []
        for line in out.splitlines():
            vals = line.split("\t")
            vals += [""] * (len(names) - len(vals))
            rows.append(dict(zip(names, vals)))
        return rows

    def malformed(self, decode=None):
        """Frames tshark flags as malformed or with error-level expert info (summary lines)."""
        out = self.tshark(["-Y", "_ws.malformed || _ws.expert.severity >= error"], decode)
        return [line for line in out.splitlines() if line.strip()]
