#!/usr/bin/python3
"""dns_outage_probe.py: the DNS-outage scenario of bench/dns_outage.sh, for one rpc.statd.

  run    --impl NAME --statd PATH --dir DIR --port P [--seconds T] [--interval S] --log FILE
         Must run inside the namespaces dns_outage.sh prepares (loopback only, resolv.conf
         -> 127.0.0.53, rpcbind up).  Starts a DNS listener on 127.0.0.53:53 (UDP and
         TCP) answering NXDOMAIN, starts `PATH -F -d -L -P DIR -p P`, sends three SM_MONs
         of IP literals (198.18.0.11-13), then turns the listener into a blackhole
         (every query read, counted and never answered: a hung DNS server) and:
           t0-2s..t0  NULL over UDP every S seconds (baseline);
           t0         SM_NOTIFY{"down-notify.dns-outage.test", 3} over UDP, from 127.0.0.1;
           t0+0.1s    SM_MON{"down-mon.dns-outage.test"} over TCP from a reserved port
                      (my_id bench-lockd 100021/3/16), as lockd would send it;
           t0+2s      SM_MON{198.18.0.1} over TCP from another client (my_name other-client);
           t0..t0+T   NULL over UDP every S seconds, open loop (one new call per tick,
                      whether or not earlier ones were answered), each reply timed.
         Then SIGTERM (SIGKILL after 5 s).  Prints one JSON line.
  report RESULTS.jsonl [--command C] [--started D] [--finished D]
         Markdown report on stdout (bench/DNS_OUTAGE.md).
Stdlib only.  Never resolves a name itself: every address is an IP literal.
"""
import argparse
import json
import math
import os
import platform
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

SM_PROG, SM_VERS = 100024, 1
SM_NULL, SM_STAT, SM_MON, SM_NOTIFY = 0, 1, 2, 6
NOTIFY_NAME = "down-notify.dns-outage.test"
MON_NAME = "down-mon.dns-outage.test"
MON_LITERAL = "198.18.0.1"
PRE_MONITORED = "198.18.0.%d"


# ----------------------------------------------------------------------- XDR / RPC
def u32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


def xdr_string(s):
    b = s.encode()
    return u32(len(b)) + b + b"\0" * ((4 - len(b) % 4) % 4)


def call_msg(xid, proc, args=b""):
    return b"".join(u32(v) for v in (xid, 0, 2, SM_PROG, SM_VERS, proc, 0, 0, 0, 0)) + args


def mon_args(mon_name, my_name, priv):
    return (xdr_string(mon_name) + xdr_string(my_name) + u32(100021) + u32(3) + u32(16) +
            priv)


def parse_reply(data):
    """(xid, ok, results) of an RPC reply; ok = MSG_ACCEPTED + SUCCESS."""
    if len(data) < 12:
        return None, False, b""
    xid, mtype, stat = struct.unpack(">III", data[:12])
    if mtype != 1 or stat != 0 or len(data) < 24:
        return xid, False, b""
    vlen = struct.unpack(">I", data[16:20])[0]
    pos = 20 + vlen + (-vlen % 4)
    if len(data) < pos + 4:
        return xid, False, b""
    accept = struct.unpack(">I", data[pos:pos + 4])[0]
    return xid, accept == 0, data[pos + 4:]


def tcp_call(port, proc, args, deadline, reserved=True):
    """One call over a new TCP connection; (latency s or None, results or error text)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t0 = time.monotonic()
    try:
        if reserved:
            for p in random.sample(range(600, 1024), 424):
                try:
                    s.bind(("127.0.0.1", p))
                    break
                except OSError:
                    continue
        s.settimeout(max(0.1, deadline - time.monotonic()))
        s.connect(("127.0.0.1", port))
        xid = random.randrange(1, 1 << 31)
        msg = call_msg(xid, proc, args)
        s.sendall(u32(0x80000000 | len(msg)) + msg)
        buf = b""
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = s.recv(65536)
            if not chunk:
                return None, "connection closed"
            buf += chunk
            if len(buf) >= 4:
                n = struct.unpack(">I", buf[:4])[0] & 0x7FFFFFFF
                if len(buf) >= 4 + n:
                    rxid, ok, res = parse_reply(buf[4:4 + n])
                    lat = time.monotonic() - t0
                    return lat, res if ok and rxid == xid else "bad reply"
    except socket.timeout:
        return None, "no reply within the run"
    except OSError as e:
        return None, str(e)
    finally:
        s.close()


def udp_call(port, proc, args, deadline):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t0 = time.monotonic()
    try:
        s.connect(("127.0.0.1", port))
        xid = random.randrange(1, 1 << 31)
        s.send(call_msg(xid, proc, args))  # sent once: no retransmission
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, "no reply within the run"
            r, _, _ = select.select([s], [], [], left)
            if r:
                rxid, ok, res = parse_reply(s.recv(65536))
                if rxid == xid:
                    return time.monotonic() - t0, res if ok else "bad reply"
    except OSError as e:
        return None, str(e)
    finally:
        s.close()


def sm_stat_res(res):
    if isinstance(res, bytes) and len(res) >= 8:
        r, state = struct.unpack(">Ii", res[:8])
        return {0: "stat_succ", 1: "stat_fail"}.get(r, str(r)), state
    return None, None


# ---------------------------------------------------------------- blackhole DNS
class BlackholeDns:
    """127.0.0.53:53 over UDP and TCP.  Mode "refuse": answers every query at once with
    NXDOMAIN (DNS up, the names just do not exist); mode "blackhole": reads and counts
    every query and answers none (a hung DNS server).  Counts are per mode."""

    def __init__(self, addr="127.0.0.53", port=53, mode="refuse"):
        self.mode = mode
        self.counts, self.by_transport = {}, {"udp": 0, "tcp": 0}
        self.counts_before = {}
        self.lock = threading.Lock()
        self.stop = False
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((addr, port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((addr, port))
        self.tcp.listen(64)
        self.conns = {}
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @staticmethod
    def qname(msg):
        labels, pos = [], 12
        try:
            while msg[pos]:
                n = msg[pos]
                labels.append(msg[pos + 1:pos + 1 + n].decode("ascii", "replace"))
                pos += 1 + n
        except IndexError:
            return "?"
        return ".".join(labels).lower()

    def set_mode(self, mode):
        with self.lock:
            self.mode = mode
            self.counts_before, self.counts = self.counts, {}
            self.by_transport = {"udp": 0, "tcp": 0}

    def _count(self, msg, transport):
        """Counts the query; returns the NXDOMAIN answer to send, or None."""
        with self.lock:
            name = self.qname(msg)
            self.counts[name] = self.counts.get(name, 0) + 1
            self.by_transport[transport] += 1
            if self.mode != "refuse" or len(msg) < 12:
                return None
        end = 12
        while end < len(msg) and msg[end]:
            end += 1 + msg[end]
        end += 5  # the root label, QTYPE, QCLASS
        flags = 0x8000 | 0x0080 | (struct.unpack(">H", msg[2:4])[0] & 0x0100) | 3
        return msg[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + msg[12:end]

    def _loop(self):
        while not self.stop:
            socks = [self.udp, self.tcp] + list(self.conns)
            r, _, _ = select.select(socks, [], [], 0.2)
            for s in r:
                try:
                    if s is self.udp:
                        msg, peer = s.recvfrom(4096)
                        ans = self._count(msg, "udp")
                        if ans:
                            s.sendto(ans, peer)
                    elif s is self.tcp:
                        c, _ = s.accept()
                        self.conns[c] = b""
                    else:
                        data = s.recv(4096)
                        if not data:
                            del self.conns[s]
                            s.close()
                            continue
                        buf = self.conns[s] + data
                        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
                            n = struct.unpack(">H", buf[:2])[0]
                            ans = self._count(buf[2:2 + n], "tcp")
                            buf = buf[2 + n:]
                            if ans:
                                s.sendall(struct.pack(">H", len(ans)) + ans)
                        self.conns[s] = buf
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.thread.join(2)
        for s in [self.udp, self.tcp] + list(self.conns):
            s.close()


# ------------------------------------------------------------- open-loop prober
class NullProber:
    """NULL over UDP every `interval` s, open loop; records (sent, latency or None)."""

    def __init__(self, port, interval):
        self.port, self.interval = port, interval
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(("127.0.0.1", port))
        self.sent = {}      # xid -> monotonic send time
        self.lat = {}       # xid -> latency
        self.lock = threading.Lock()
        self.stop_rx = False
        self.rx = threading.Thread(target=self._receive, daemon=True)
        self.rx.start()
        self.xid = random.randrange(1, 1 << 30)

    def _receive(self):
        while not self.stop_rx:
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if not r:
                continue
            try:
                data = self.sock.recv(65536)
            except OSError:  # ICMP port unreachable: the daemon is not there
                continue
            now = time.monotonic()
            xid, ok, _ = parse_reply(data)
            with self.lock:
                if ok and xid in self.sent and xid not in self.lat:
                    self.lat[xid] = now - self.sent[xid]

    def run_until(self, t_end):
        """Send one NULL per tick until t_end; returns the xids sent."""
        xids = []
        nxt = time.monotonic()
        while nxt < t_end:
            self.xid += 1
            with self.lock:
                self.sent[self.xid] = time.monotonic()
            try:
                self.sock.send(call_msg(self.xid, SM_NULL))
            except OSError:
                pass
            xids.append(self.xid)
            nxt += self.interval
            time.sleep(max(0.0, nxt - time.monotonic()))
        return xids

    def results(self, xids, t_end):
        """[(sent, latency or None)] for xids; None = no reply by t_end."""
        with self.lock:
            return [(self.sent[x], self.lat.get(x) if self.lat.get(x) is not None and
                     self.sent[x] + self.lat[x] <= t_end else None) for x in xids]

    def close(self):
        self.stop_rx = True
        self.rx.join(1)
        self.sock.close()


def stats(samples, t_end):
    """p50/p99/max over samples [(sent, latency|None)].  A probe with no reply by t_end
    counts with its wait so far (t_end - sent), a lower bound of its latency; when there
    are such probes the percentiles are lower bounds too ("lower_bound"), and
    "<k>_no_reply" says that the percentile itself landed on an unanswered probe."""
    if not samples:
        return {"n": 0}
    ranked = sorted((t_end - s if l is None else l, l is None) for s, l in samples)
    out = {"n": len(samples), "answered": sum(1 for _, l in samples if l is not None)}
    out["unanswered"] = out["n"] - out["answered"]
    out["lower_bound"] = out["unanswered"] > 0
    for name, p in (("p50", 50), ("p99", 99), ("max", 100)):
        v, no_reply = ranked[max(0, math.ceil(len(ranked) * p / 100.0) - 1)]
        out[name], out[name + "_no_reply"] = v, no_reply
    answered = [l for _, l in samples if l is not None]
    out["max_answered"] = max(answered) if answered else None
    return out


# ------------------------------------------------------------------------ run
def wait_ready(port, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        lat, res = udp_call(port, SM_NULL, b"", time.monotonic() + 0.2)
        if lat is not None:
            return time.monotonic() - t0
    return None


def log_excerpt(path, needles, limit=25):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    out = [ln for ln in lines if any(n in ln for n in needles)]
    return out[:limit]


def cmd_run(a):
    dns = BlackholeDns()
    load = [open("/proc/loadavg").read().split()[0]]
    logf = open(a.log, "ab")
    argv = [a.statd, "-F", "-d", "-L", "-P", a.dir, "-p", str(a.port)]
    t_spawn = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                            start_new_session=True)
    out = {"impl": a.impl, "statd": a.statd, "argv": argv, "seconds": a.seconds,
           "interval": a.interval}
    ready = wait_ready(a.port, 60.0)
    out["startup_ms"] = None if ready is None else round(1000 * (time.monotonic() - t_spawn), 1)
    if ready is None:
        out["error"] = "daemon did not answer NULL within 60 s"
    else:
        # Three monitored peers (IP literals), recorded while DNS still answers.
        out["premonitor"] = []
        for i in range(3):
            lat, res = tcp_call(a.port, SM_MON, mon_args(PRE_MONITORED % (11 + i), "bench-lockd",
                                                         bytes([i]) * 16), time.monotonic() + 30)
            out["premonitor"].append({"latency": lat, "result": sm_stat_res(res)[0]
                                      if isinstance(res, bytes) else res})
        dns.set_mode("blackhole")  # the DNS server hangs from now on
        prober = NullProber(a.port, a.interval)
        t_base = time.monotonic()
        base = prober.run_until(t_base + 2.0)
        t0 = time.monotonic()
        t_end = t0 + a.seconds
        trig = {}

        def trigger(key, delay, fn):
            def body():
                time.sleep(delay)
                lat, res = fn()
                if isinstance(res, bytes):  # a reply: sm_stat_res, or void (SM_NOTIFY)
                    res = sm_stat_res(res)[0] or "answered"
                trig[key] = {"sent_at": delay, "latency": lat, "result": res}
            t = threading.Thread(target=body, daemon=True)
            t.start()
            return t
        threads = [
            trigger("notify", 0.0, lambda: udp_call(
                a.port, SM_NOTIFY, xdr_string(NOTIFY_NAME) + u32(3), t_end)),
            trigger("mon_name", 0.1, lambda: tcp_call(
                a.port, SM_MON, mon_args(MON_NAME, "bench-lockd", b"L" * 16), t_end)),
            trigger("mon_literal", 2.0, lambda: tcp_call(
                a.port, SM_MON, mon_args(MON_LITERAL, "other-client", b"O" * 16), t_end)),
        ]
        outage = prober.run_until(t_end - 1.0)
        time.sleep(max(0.0, t_end - time.monotonic()))
        for t in threads:
            t.join(1.0)
        for k in ("notify", "mon_name", "mon_literal"):
            trig.setdefault(k, {"latency": None, "result": "no reply within the run"})
        out["baseline"] = stats(prober.results(base, t0), t0)
        out["outage"] = stats(prober.results(outage, t_end), t_end)
        # The longest stretch of the outage with no NULL answered at all.
        res = prober.results(outage, t_end)
        arrivals = sorted(s + l for s, l in res if l is not None)
        # Ends at the last answer if the last probe was answered, else at the cut-off.
        edges = [t0] + arrivals + ([t_end] if res and res[-1][1] is None else [])
        out["longest_silence"] = max([b - e for e, b in zip(edges, edges[1:])] or [0.0])
        out["triggers"] = trig
        prober.close()
    # Stop: SIGTERM, SIGKILL after 5 s.
    t_stop = time.monotonic()
    how = "SIGTERM"
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            how = "SIGKILL (no exit within 5 s of SIGTERM)"
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5.0)
    else:
        how = "had exited by itself (%s)" % proc.returncode
    load.append(open("/proc/loadavg").read().split()[0])
    out["loadavg"] = load
    out["stop"] = {"how": how, "seconds": round(time.monotonic() - t_stop, 2),
                   "exit": proc.returncode}
    logf.close()
    with dns.lock:
        out["dns_queries"] = dict(dns.counts)
        out["dns_queries_before"] = dict(dns.counts_before)
        out["dns_by_transport"] = dict(dns.by_transport)
    dns.close()
    out["log_excerpt"] = log_excerpt(a.log, ("resolver", "sidecar", NOTIFY_NAME, MON_NAME,
                                             MON_LITERAL, "rror", "arning"))
    print(json.dumps(out), flush=True)
    return 0


# --------------------------------------------------------------------- report
def ms(v):
    if v is None:
        return None
    return v * 1000.0


def fmt_ms(v):
    if v is None:
        return "no reply"
    v = ms(v)
    if v >= 1000:
        return "%s s" % format_num(v / 1000.0)
    return "%s ms" % format_num(v)


def format_num(v):
    if v >= 100:
        return "{:,.0f}".format(v)
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def ratio(a, b):
    """nsm / nfs-utils, when both are numbers."""
    if a is None or b is None or b == 0:
        return "—"
    r = a / b
    if r < 0.01:
        return "1/{:,.0f}".format(1 / r)
    return "%.2f" % r


def trig_text(t):
    if not t or t.get("latency") is None:
        return (t or {}).get("result") or "no reply within the run"
    return "%s after %s" % (t.get("result"), fmt_ms(t["latency"]))


def cmd_report(a):
    rows = [json.loads(ln) for ln in open(a.results) if ln.strip()]
    by = {r["impl"]: r for r in rows}
    impls = [i for i in ("nfs-utils", "nsm") if i in by]
    seconds = rows[0].get("seconds") if rows else None
    interval = rows[0].get("interval") if rows else None
    P = print
    P("# DNS outage: nsm vs nfs-utils rpc.statd\n")
    P("Generated by `bench/dns_outage.sh` (do not edit by hand).\n")
    P("- Machine: %s CPUs, kernel %s" % (os.cpu_count(), platform.release()))
    if a.started:
        P("- Date: %s → %s (UTC)" % (a.started, a.finished))
    if a.command:
        P("- Command: `%s`" % a.command)
    for i in impls:
        P("- %s: `%s`" % (i, " ".join(by[i].get("argv", [by[i].get("statd", "?")]))))
    for extra in a.note or []:
        P("- " + extra)
    P("- Setting: private pid+network+mount namespace, loopback only, own rpcbind, "
      "/etc/hosts with localhost only, nsswitch `hosts: files dns`, resolv.conf "
      "`nameserver 127.0.0.53` with glibc's defaults (timeout 5 s, 2 attempts). On "
      "127.0.0.53:53 (UDP and TCP) a blackhole listener reads and counts every query and "
      "answers none: a hung DNS server. Nothing can reach another resolver.")
    P("- Scenario (same for both, one after the other): the daemon starts while the DNS "
      "listener answers NXDOMAIN at once; three monitors are added (below); then the DNS "
      "server hangs (blackhole) and NULL goes over UDP every %s ms for 2 s (before t0); then at t0 an SM_NOTIFY of `%s` "
      "(UDP, sent once), at t0+0.1 s an SM_MON of `%s` over TCP from a reserved port as "
      "lockd sends it, at t0+2 s an SM_MON of the IP literal `%s` from another client (TCP), "
      "and NULL over UDP every %s ms, open loop (a new call each tick, answered or not), "
      "until t0+%s s, when the run is cut off and the daemon gets SIGTERM."
      % (format_num(1000 * interval) if interval else "?", NOTIFY_NAME, MON_NAME, MON_LITERAL,
         format_num(1000 * interval) if interval else "?", seconds))
    P("- A NULL probe with no reply by the end of the run counts with the time it had waited "
      "by then, a lower bound of its latency; percentiles over such probes are lower bounds "
      "(≥), marked \"no reply\" when the percentile itself is an unanswered probe, and the "
      "ratio is then an upper bound (≤).")
    P("- Before the outage each daemon gets three SM_MONs of IP literals (198.18.0.11-13, "
      "my_name bench-lockd) while the DNS listener still answers every query at once "
      "(NXDOMAIN): three monitored peers, as in the reference measurement.\n")
    P("## Results\n")
    P("| | %s | nsm / nfs-utils |" % " | ".join(impls))
    P("|---|%s---|" % ("---|" * len(impls)))

    def row(label, f, rat=None):
        vals = [f(by[i]) for i in impls]
        r = rat(*[by[i] for i in impls]) if rat and len(impls) == 2 else "—"
        P("| %s | %s | %s |" % (label, " | ".join(vals), r))

    def o(r, k):
        return (r.get("outage") or {}).get(k)

    row("NULL probes sent during the outage (t0 … t0+%ss)" % seconds,
        lambda r: "{:,}".format(o(r, "n") or 0))
    row("… answered before the end of the run",
        lambda r: "{:,}".format(o(r, "answered") or 0))
    def bound(r, k):
        v = fmt_ms(o(r, k))
        if o(r, "lower_bound"):
            v = "≥ " + v + (" (no reply)" if o(r, k + "_no_reply") else "")
        return v

    for k in ("p50", "p99", "max"):
        row("NULL latency %s during the outage" % k, lambda r, k=k: bound(r, k),
            lambda n, u, k=k: ("≤ " if o(n, "lower_bound") and not o(u, "lower_bound") else "")
            + ratio(o(u, k), o(n, k)))
    row("longest stretch with no NULL answered",
        lambda r: fmt_ms(r.get("longest_silence")),
        lambda n, u: ratio(u.get("longest_silence"), n.get("longest_silence")))
    row("NULL latency p50 / p99 before t0",
        lambda r: "%s / %s" % (fmt_ms((r.get("baseline") or {}).get("p50")),
                               fmt_ms((r.get("baseline") or {}).get("p99"))))
    row("SM_NOTIFY `%s` (t0)" % NOTIFY_NAME,
        lambda r: trig_text((r.get("triggers") or {}).get("notify")))
    row("SM_MON `%s` (t0+0.1 s, TCP)" % MON_NAME,
        lambda r: trig_text((r.get("triggers") or {}).get("mon_name")))
    row("SM_MON `%s`, another client (t0+2 s, TCP)" % MON_LITERAL,
        lambda r: trig_text((r.get("triggers") or {}).get("mon_literal")))
    row("DNS queries received during the outage (hung, unanswered)",
        lambda r: ", ".join("%s ×%d" % (k, v) for k, v in sorted(
            (r.get("dns_queries") or {}).items())) or "none")
    row("3 SM_MONs of IP literals before the outage (DNS answering NXDOMAIN)",
        lambda r: ", ".join(trig_text(x) for x in r.get("premonitor") or []) or "—")
    row("start-up (exec → first NULL answered; DNS answering NXDOMAIN)",
        lambda r: fmt_ms(None if r.get("startup_ms") is None else r["startup_ms"] / 1000.0))
    row("machine load average (1 min) at start / end of the run",
        lambda r: " / ".join(r.get("loadavg") or ["?"]))
    row("SIGTERM at the end of the run",
        lambda r: "%s, %s s" % ((r.get("stop") or {}).get("how"), (r.get("stop") or {}).get("seconds")))
    P()
    for i in impls:
        ex = by[i].get("log_excerpt") or []
        if not ex:
            continue
        P("### %s: log lines about the names and the resolver\n" % i)
        P("```")
        for ln in ex:
            P(ln[:300])
        P("```\n")
    if a.notes_file and os.path.exists(a.notes_file):
        P(open(a.notes_file).read())
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--impl", required=True)
    r.add_argument("--statd", required=True)
    r.add_argument("--dir", required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--seconds", type=float, default=90.0)
    r.add_argument("--interval", type=float, default=0.1)
    r.add_argument("--log", required=True)
    p = sub.add_parser("report")
    p.add_argument("results")
    p.add_argument("--command")
    p.add_argument("--started")
    p.add_argument("--finished")
    p.add_argument("--note", action="append")
    p.add_argument("--notes-file")
    a = ap.parse_args(argv)
    return cmd_run(a) if a.cmd == "run" else cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
