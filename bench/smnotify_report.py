#!/usr/bin/env python3
"""bench/smnotify_report.py: turns the JSON lines of bench/smnotify_bench.sh into
bench/SMNOTIFY.md.

One table per N with nfs-utils and nsm side by side (median over the runs of a cell when
there are several), the targets of issue 3 checked against nsm's figures, and the
machine load during the run. Nothing is extrapolated: a peer that was not notified
before sm-notify exited is reported as such.
"""
import argparse
import json
import os
import platform
import statistics

IMPLS = ["nfs-utils", "nsm"]
SCENARIOS = ["live", "blackhole"]


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def machine():
    model, mem = "?", "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")),
                         "?")
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 1048576:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} CPUs (nproc; {model}), {mem} RAM, kernel {platform.release()}"


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def secs(ms, digits=2):
    if ms is None:
        return "—"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.{digits}f} s"


def num(v):
    return "—" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:,.0f}"


def cell(runs, key):
    return med([r.get(key) for r in runs])


def udp(r, key):
    return r.get("udp", {}).get(key)


def summary(runs):
    """Figures of one (impl, scenario, N) cell; None when it did not run."""
    if not runs:
        return None
    full = [r for r in runs if "error" not in r]
    if not full:
        return {"error": runs[0]["error"]}
    s = {
        "runs": len(full),
        "live": full[0]["n_live"],
        "bh": full[0]["n_blackhole"],
        "all_ms": [r.get("all_notified_ms") for r in full],
        "notified": [r["notified"] for r in full],
        "p50": cell(full, "p50_ms"),
        "p99": cell(full, "p99_ms"),
        "run": cell(full, "run_ms"),
        "first": cell(full, "first_ms"),
        "cpu": cell([{"v": r["child_user_ms"] + r["child_sys_ms"]} for r in full
                     if r.get("child_user_ms") is not None], "v"),
        "exit": sorted({r.get("exit", "sig%d" % r.get("signal", 0)) for r in full}, key=str),
        "by60": cell([{"v": r["notified_by_s"]["60"]} for r in full], "v"),
    }
    for k in ["getport_udp", "getport_tcp", "notify_udp", "notify_tcp", "notify_repeat",
              "tcp_conns", "notify_unexpected", "even_state", "reply_send_errors",
              "bh0_tx_dropped"]:
        s[k] = cell(full, k)
    longest = max(full, key=lambda r: r.get("longest_gap_ms") or 0)
    s["gap"], s["gap_after"] = longest.get("longest_gap_ms"), longest.get("longest_gap_after")
    for k in ["InErrors", "RcvbufErrors", "SndbufErrors", "NoPorts"]:
        s[k] = max((udp(r, k) or 0) for r in full)
    s["all_med"] = med(s["all_ms"]) if all(v is not None for v in s["all_ms"]) else None
    s["mon_names"] = sorted({m for r in full for m in r.get("mon_names", [])})
    s["states"] = sorted({x for r in full for x in r.get("states", [])})
    return s


def paired_extra(runs, n):
    """nsm's black-hole run against the live run of the same repetition: % added."""
    by = {(r["scenario"], r["rep"]): r.get("all_notified_ms") for r in runs
          if r["impl"] == "nsm" and r["n_live"] == n and "error" not in r}
    out = []
    for (sc, rep), live in sorted(by.items(), key=lambda kv: kv[0][1]):
        bh = by.get(("blackhole", rep))
        if sc == "live" and live and bh is not None:
            out.append((bh - live) / live * 100)
    return out


def all_text(s):
    if s is None:
        return "not run"
    if "error" in s:
        return "error: " + s["error"]
    if s["all_med"] is not None:
        t = secs(s["all_med"])
        if s["runs"] > 1:
            t += " (" + ", ".join(secs(v) for v in s["all_ms"]) + ")"
        return t
    return ("**not all**: " + ", ".join(f"{n:,}" for n in s["notified"]) +
            f" of {s['live']:,} before exit")


def table(out, n, cells):
    out.append(f"### N = {n:,} live peers\n")
    heads = []
    for sc in SCENARIOS:
        for impl in IMPLS:
            s = cells.get((impl, sc))
            if s is not None and "error" not in s:
                bh = f" + {s['bh']:,} black holes" if s["bh"] else ""
                heads.append((impl, sc, f"{impl}, {s['live']:,} live{bh}"))
            elif s is not None:
                heads.append((impl, sc, f"{impl}, {sc}"))
    if not heads:
        out.append("(nothing ran)\n")
        return
    out.append("| | " + " | ".join(h[2] for h in heads) + " |")
    out.append("|---|" + "---|" * len(heads))

    def row(label, f):
        vals = []
        for impl, sc, _ in heads:
            s = cells[(impl, sc)]
            vals.append("—" if "error" in s else f(s))
        out.append(f"| {label} | " + " | ".join(vals) + " |")

    row("**every live peer notified after**", all_text)
    row("first SM_NOTIFY received after", lambda s: secs(s["first"]))
    row("half / 99 % of them after", lambda s: f"{secs(s['p50'])} / {secs(s['p99'])}")
    row("longest pause between two first notifications",
        lambda s: f"{secs(s['gap'])} (after {num(s['gap_after'])} peers)")
    row("live peers notified within 60 s", lambda s: num(s["by60"]))
    row("run time (until sm-notify exited)", lambda s: secs(s["run"], 1))
    row("sm-notify CPU time (user + system), until it exited", lambda s: secs(s["cpu"], 1))
    row("exit status", lambda s: ", ".join(str(e) for e in s["exit"]))
    row("GETPORT calls received (UDP / TCP)",
        lambda s: f"{num(s['getport_udp'])} / {num(s['getport_tcp'])}")
    row("SM_NOTIFY received (UDP / TCP)",
        lambda s: f"{num(s['notify_udp'])} / {num(s['notify_tcp'])}")
    row("… of which repeats to a notified peer", lambda s: num(s["notify_repeat"]))
    row("TCP connections accepted", lambda s: num(s["tcp_conns"]))
    row("packets sent to black holes", lambda s: num(s["bh0_tx_dropped"]))
    row("local UDP InErrors / RcvbufErrors",
        lambda s: f"{num(s['InErrors'])} / {num(s['RcvbufErrors'])}")
    out.append("")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("jsonl")
    for a in ["load", "command", "started", "finished", "nfs-utils", "nsm"]:
        ap.add_argument("--" + a, default="?")
    a = ap.parse_args()
    rows = load(a.jsonl)
    meta = next((r for r in rows if r.get("meta")), {})
    runs = [r for r in rows if "scenario" in r]
    skipped = [r for r in rows if "skipped" in r]
    sizes = sorted({r["n_live"] for r in runs})
    cells = {}
    for n in sizes:
        for impl in IMPLS:
            for sc in SCENARIOS:
                got = [r for r in runs if r["n_live"] == n and r["impl"] == impl
                       and r["scenario"] == sc]
                if got:
                    cells[(n, impl, sc)] = summary(got)
    retry = sorted({r["retry_min"] for r in runs})
    reps = max((r["rep"] for r in runs), default=0)

    loads = []
    if os.path.exists(a.load):
        with open(a.load) as f:
            for line in f:
                p = line.split()
                if len(p) == 2:
                    loads.append((float(p[0]), int(p[1])))

    out = ["# sm-notify benchmark: nsm and nfs-utils notifying the same peers", ""]
    out.append(f"Generated by `{a.command}` ({a.started} – {a.finished}); "
               f"{reps} run(s) per cell{', median shown (each run in brackets)' if reps > 1 else ''}.")
    out.append("")
    out.append(f"- Machine: {machine()}")
    if loads:
        l1 = [x[0] for x in loads]
        cc = [x[1] for x in loads]
        out.append(f"- Load while it ran (sampled every 2 s, {len(loads)} samples): 1-minute "
                   f"load average {min(l1):.2f}–{max(l1):.2f} (median {statistics.median(l1):.2f}); "
                   f"compiler/linker processes on the machine: median {statistics.median(cc):g}, "
                   f"max {max(cc)}{' (other sessions were building)' if max(cc) else ''}. Per-run "
                   "load averages are in the JSON lines.")
    out.append(f"- nfs-utils: {a.nfs_utils}")
    out.append(f"- nsm: {a.nsm}")
    out.append(f"- Both run as `sm-notify -d -f -m {','.join(map(str, retry))} -P DIR`; "
               f"net.core.rmem_default {meta.get('rmem_default', '?')}, rmem_max "
               f"{meta.get('rmem_max', '?')} (inside the namespace).")
    stop = meta.get("stop_after_live", -1)
    if stop is not None and stop >= 0:
        out.append(f"- SMNOTIFY_STOP_AFTER_LIVE={stop}: sm-notify was stopped (SIGTERM) {stop} ms "
                   "after every live peer had been notified, so that repeated runs with black "
                   "holes need not wait for `-m`; run times, exit statuses and the packets sent "
                   "to black holes cover only that span. Runs that never notified every live "
                   "peer went on until `-m`.")
    settle = meta.get("settle_s")
    if settle:
        out.append(f"- Every run started after {settle} s of idle (SMNOTIFY_SETTLE), so that all "
                   "start from the same state: a run stopped after its last live peer idles "
                   "until then, and the run after it used to start on a colder CPU.")
    for r in skipped:
        out.append(f"- skipped {r['impl']}: {r['skipped']}")
    out.append("")

    out.append("## Targets (nsm)\n")
    out.append("| target | measured | met? |")
    out.append("|---|---|---|")
    big = max(sizes, default=None)
    if big is not None:
        s = cells.get((big, "nsm", "live"))
        if s and "error" not in s:
            ok = s["all_med"] is not None and s["all_med"] < 2000
            out.append(f"| {big:,} live peers notified in < 2 s | {all_text(s)} | "
                       f"{'yes' if ok else '**no**'} |")
    for n in sizes:
        sl, sb = cells.get((n, "nsm", "live")), cells.get((n, "nsm", "blackhole"))
        if sl and sb and "error" not in sl and "error" not in sb:
            if sl["all_med"] and sb["all_med"] is not None:
                extra = (sb["all_med"] - sl["all_med"]) / sl["all_med"] * 100
                paired = ""
                pairs = paired_extra(runs, n)
                if len(pairs) > 1:
                    within = sum(1 for x in pairs if x < 10)
                    paired = (f"; run by run (same repetition): {', '.join(f'{x:+.0f} %' for x in pairs)}"
                              f", median {statistics.median(pairs):+.0f} %, {within} of "
                              f"{len(pairs)} under +10 %")
                out.append(f"| {sb['bh']:,} black holes add < 10 % to {n:,} live peers' time | "
                           f"median {secs(sl['all_med'])} → {secs(sb['all_med'])} "
                           f"({sb['all_med'] - sl['all_med']:+.0f} ms, {extra:+.0f} %){paired} | "
                           f"{'yes' if extra < 10 else '**no**'} |")
            else:
                out.append(f"| black holes add < 10 % ({n:,} live) | {all_text(sb)} | **no** |")
    nsm_runs = [r for r in runs if r["impl"] == "nsm" and "error" not in r]
    if nsm_runs:
        drops = sum((udp(r, "InErrors") or 0) + (udp(r, "RcvbufErrors") or 0) for r in nsm_runs)
        out.append(f"| zero local UDP drops (InErrors + RcvbufErrors, all {len(nsm_runs)} nsm runs) "
                   f"| {drops:,} | {'yes' if drops == 0 else '**no**'} |")
    out.append("")

    out.append("## Results\n")
    for n in sizes:
        table(out, n, {(i, sc): cells[(n, i, sc)] for i in IMPLS for sc in SCENARIOS
                       if (n, i, sc) in cells})
    names = sorted({m for s in cells.values() if s and "error" not in s for m in s["mon_names"]})
    states = sorted({x for s in cells.values() if s and "error" not in s for x in s["states"]})
    bad = sum(s.get("notify_unexpected") or 0 for s in cells.values() if s and "error" not in s)
    out.append(f"Every SM_NOTIFY received carried mon_name {', '.join(names) or '—'} and state "
               f"{', '.join(map(str, states)) or '—'}; {bad:g} arrived at an address that is "
               "not a live peer.")
    out.append("")
    out.append("""## How it is measured
- `bench/smnotify_bench.sh` runs everything in one private pid+network+mount namespace
  (`unshare --net --mount --pid --fork`): lo up, tmpfs on /run, its own /etc/hosts,
  nsswitch.conf, an empty nfs.conf and a resolv.conf naming 127.0.0.53 where nothing
  listens. No packet can leave the namespace; no rpcbind runs.
- Peers: `bench/fake_peers.cc` (standalone C++, g++ -O2, single-threaded epoll) binds
  0.0.0.0:111 and 0.0.0.0:40024, UDP (64 MB forced receive buffers) and TCP, and answers
  portmap v2 GETPORT and rpcbind v3/v4 GETADDR for 100024 v1 with 40024, and every
  SM_NOTIFY, from the address called (IP_PKTINFO). Peer *k* is
  198.18.(*k*/250).(*k*%250+1), local through `ip route add local 198.18.0.0/16 dev lo`.
  Each black-hole peer's address has a /32 route to a tun device no process reads: every
  packet to it is dropped without an error ("packets sent to black holes" counts them)
  and TCP connections to it time out, as for a host that is down. The black holes are
  spread evenly among the live peers, in creation order (nfs-utils' readdir order) and
  in name order (nsm sorts the names) alike.
- The list: nfs-utils' legacy `sm/` directory (one file per peer, named by its address,
  mon_name = the address, my_name `bench-client`), a fresh copy per run on a tmpfs,
  owned by statd. nsm reads it in legacy mode (sm/ untouched, answered peers removed
  from sm.bak/); nfs-utils moves it into sm.bak/ and removes each answered peer's file.
- Times are taken by fake_peers from just before it forks sm-notify: when every live
  address had received its first SM_NOTIFY (answered at once), and when sm-notify
  exited. With black holes, both implementations then keep retrying them until `-m`
  gives up, so the run time is about `-m` minutes by design.
- Local drops: the namespace's `/proc/net/snmp` Udp InErrors and RcvbufErrors before
  and after each run: every UDP socket in the namespace, sm-notify's replies and the
  fake peers' calls alike.
- The second scenario adds the black holes to the same live peers, so its "every live
  peer notified" is directly comparable with the first.
""")
    print("\n".join(out))


if __name__ == "__main__":
    main()
