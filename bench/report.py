#!/usr/bin/env python3
"""bench/report.py: turns the JSON lines of bench/run.sh into bench/RESULTS.md.

One table per scenario with nfs-utils and nsm side by side and the ratio nsm/nfs-utils.
A ratio is printed only when both daemons reached the same N (the same number of stored
monitors); nothing is extrapolated.
"""
import argparse
import json
import os
import platform
import statistics

IMPLS = ["nfs-utils", "nsm"]


def load(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    rows.append(json.loads(line))
    return rows


def fmt(v, digits=1):
    if v is None:
        return "—"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:,.{digits}f}"
        return f"{v:,.{max(digits, 2)}f}" if abs(v) >= 0.1 else f"{v:.3f}"
    return str(v)


def ratio(a, b):
    if a is None or b is None or a == 0:
        return "—"
    r = b / a
    return f"{r:#.3g}×" if r < 100 else f"{r:,.0f}×"


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1048576:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{os.cpu_count()} CPUs (nproc; {model}), {mem} RAM, "
            f"kernel {platform.release()}")


def cell_status(r):
    if r is None:
        return "not run"
    if "skipped" in r:
        return "skipped"
    if "error" in r:
        return "error: " + r["error"]
    return None


def fill_table(out, rows):
    cols = [rows.get(i) for i in IMPLS]
    status = [cell_status(c) for c in cols]
    out.append("| | nfs-utils | nsm | nsm / nfs-utils |")
    out.append("|---|---|---|---|")
    if all(s is not None for s in status):
        out.append(f"| | {status[0]} | {status[1]} | — |")
        return
    ok = [None if s else c["ok"] for c, s in zip(cols, status)]
    same_n = ok[0] is not None and ok[0] == ok[1]

    def val(c, s, fn):
        return None if s else fn(c)

    def row(label, fn, digits=1, comparable=True):
        a, b = (val(c, s, fn) for c, s in zip(cols, status))
        cells = [s if s else fmt(v, digits) for v, s in zip((a, b), status)]
        rt = ratio(a, b) if (comparable and same_n) else "—"
        out.append(f"| {label} | {cells[0]} | {cells[1]} | {rt} |")

    row("monitors stored (of N requested)",
        lambda c: f"{c['ok']:,} of {c['requested']:,}", comparable=False)
    row("failed calls", lambda c: c["fail"] if not c["fail_reasons"] else
        f"{c['fail']:,} ({', '.join(f'{k} {v}' for k, v in c['fail_reasons'].items())})",
        comparable=False)
    row("stopped by", lambda c: c["stopped_by"], comparable=False)
    row("wall time (s)", lambda c: c["elapsed_s"])
    row("throughput (SM_MON/s)", lambda c: c["throughput_per_s"])
    row("latency p50 (ms)", lambda c: c["lat_ms"]["p50"], 2)
    row("latency p99 (ms)", lambda c: c["lat_ms"]["p99"], 2)
    row("latency max (ms)", lambda c: c["lat_ms"]["max"], 2)
    row("daemon VmRSS after the run (MiB)",
        lambda c: None if c["rss_after_kb"] is None else c["rss_after_kb"] / 1024)
    row("legacy sm/ files after the run", lambda c: c["sm_files"], comparable=False)
    row("start-up on an empty state dir (ms)", lambda c: c["startup_empty_ms"], 2,
        comparable=False)
    if not same_n and not any(status):
        out.append("")
        out.append("Ratios are omitted: the two daemons did not reach the same N in the "
                   "time budget.")


def levels_table(out, rows):
    cols = [rows.get(i) for i in IMPLS]
    levels = sorted({lv["level"] for c in cols if c and "levels" in c for lv in c["levels"]})
    want = [100, 1000, 2500, 5000, 10000]
    req = max((c["requested"] for c in cols if c and "requested" in c), default=0)
    want = [w for w in want if w <= req]
    out.append("| list size reached | nfs-utils p50 (ms) | nsm p50 (ms) | nsm / nfs-utils "
               "| nfs-utils p99 (ms) | nsm p99 (ms) |")
    out.append("|---|---|---|---|---|---|")
    for w in sorted(set(want) | set(levels)):
        got = []
        for c in cols:
            s = cell_status(c)
            lv = None if s else next((x for x in c["levels"] if x["level"] == w), None)
            got.append((s, lv))
        cells = []
        for key in ("p50_ms", "p99_ms"):
            for s, lv in got:
                cells.append(s if s else ("not reached" if lv is None else fmt(lv[key], 2)))
        a = got[0][1]["p50_ms"] if got[0][1] else None
        b = got[1][1]["p50_ms"] if got[1][1] else None
        out.append(f"| {w:,} | {cells[0]} | {cells[1]} | {ratio(a, b)} | {cells[2]} "
                   f"| {cells[3]} |")


def startup_table(out, rows):
    cols = [rows.get(i) for i in IMPLS]
    status = [cell_status(c) for c in cols]
    out.append("| | nfs-utils | nsm | nsm / nfs-utils |")
    out.append("|---|---|---|---|")
    if all(s is not None for s in status):
        out.append(f"| | {status[0]} | {status[1]} | — |")
        return
    pre = [None if s else c["preloaded"] for c, s in zip(cols, status)]
    same = pre[0] is not None and pre[0] == pre[1]

    def row(label, fn, digits=1, comparable=True):
        vals = [None if s else fn(c) for c, s in zip(cols, status)]
        cells = [s if s else fmt(v, digits) for v, s in zip(vals, status)]
        rt = ratio(*vals) if comparable and same else "—"
        out.append(f"| {label} | {cells[0]} | {cells[1]} | {rt} |")

    row("monitors preloaded", lambda c: c["preloaded"], comparable=False)
    row("preloaded by", lambda c: c["preload_how"], comparable=False)
    row(f"exec → first NULL answer over UDP, median (ms)",
        lambda c: statistics.median(c["startup_ms"]), 2)
    row("… min / max (ms)", lambda c: f"{min(c['startup_ms']):.2f} / {max(c['startup_ms']):.2f}"
        f" ({len(c['startup_ms'])} starts)", comparable=False)
    row("VmRSS when first answering, median (MiB)",
        lambda c: statistics.median(c["rss_kb"]) / 1024, 2)

    def probe(c, key):
        p = c.get("probe") or {}
        return p.get("lat_ms", {}).get(key) if p.get("ok") else None

    row("then SM_MON of new names: calls done (ok / sent)",
        lambda c: f"{(c.get('probe') or {}).get('ok', 0)} / {(c.get('probe') or {}).get('calls', 0)}",
        comparable=False)
    row("… latency p50 (ms)", lambda c: probe(c, "p50"), 2)
    row("… latency max (ms)", lambda c: probe(c, "max"), 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    for k in ("command", "started", "finished", "fs", "nfs-utils", "nsm", "budget", "sizes",
              "callers", "preload", "loadavg"):
        ap.add_argument("--" + k, default="?")
    a = ap.parse_args()
    rows = load(a.results)
    by = {}
    for r in rows:
        if "skipped" in r:
            for sc in {x.get("scenario") for x in rows if "scenario" in x} | {"startup"}:
                by.setdefault(sc, {})[r["impl"]] = r
            continue
        by.setdefault(r["scenario"], {})[r["impl"]] = r
    skipped = [f"{r['impl']} skipped: {r['skipped']}" for r in rows if "skipped" in r]
    sizes = [int(s) for s in a.sizes.split()]
    c = a.callers

    out = ["# SM_MON benchmark: nsm vs nfs-utils rpc.statd", "",
           "Generated by `bench/run.sh` (do not edit by hand).", "",
           f"- Machine: {machine()}",
           f"- Date: {a.started} → {a.finished} (UTC); load average (1/5/15 min): "
           f"{a.loadavg} — other work on the machine shows up in these figures",
           f"- Command: `{a.command}`",
           f"- nfs-utils: {a.nfs_utils} (`rpc.statd -F -d -L -P DIR -p PORT`; `-d` also "
           "turns on its debug log, a line per call and per loaded record, to a file on the "
           "same disk)",
           f"- nsm: {a.nsm} (same options)",
           f"- State directories: {a.fs}; a fresh one per run, `sm/` and `sm.bak/` owned by "
           "statd",
           f"- Time budget per load run: {a.budget} s (a run that hits it stops issuing calls "
           "and is reported with the N it reached)",
           "- Setting: private pid+network+mount namespace, loopback only, own rpcbind "
           "(`rpcbind -f -w`), /etc/hosts with localhost only, resolv.conf → 127.0.0.53 "
           "(nothing listens), nsswitch `hosts: files dns`, empty /etc/nfs.conf.",
           "- Load: `smmon_bench mon` — SM_MON over TCP to 127.0.0.1, my_id = bench-client "
           "100021/3/16, distinct mon_names that are IP literals in 198.18.0.0/15 (never "
           "contacted), priv distinct per name; each reply checked (MSG_ACCEPTED, SUCCESS, "
           "stat_succ, odd state). Latency is per call, from send (or connect, for one "
           "connection per call) to the verified reply.",
           "- Ratio column: nsm / nfs-utils. Throughput: higher is better; times, latency "
           "and memory: lower is better. Shown only when both stored the same N."]
    out += [f"- **{s}**" for s in skipped] + [""]

    for n in sizes:
        out += [f"## Filling an empty list to N = {n:,}", ""]
        for key, title in ((f"fill-1-{n}", "1 caller, one TCP connection"),
                           (f"fill-{c}-{n}", f"{c} concurrent callers, one TCP connection each, "
                            "one call outstanding per caller"),
                           (f"fill-{c}-percall-{n}", f"{c} concurrent callers, a new TCP "
                            "connection per call (like the kernel's lockd)")):
            out += [f"### {title}", ""]
            fill_table(out, by.get(key, {}))
            out.append("")

    big = max(sizes)
    out += ["## SM_MON latency as the list grows", "",
            f"1 caller, from the N = {big:,} fill: p50 and p99 of the 100 SM_MONs that "
            "brought the list to each size.", ""]
    levels_table(out, by.get(f"fill-1-{big}", {}))
    out += ["", "## Start-up and memory with monitors preloaded", "",
            "Time from fork+exec of `rpc.statd -F -d -L -P DIR -p PORT` until it answers a "
            "NULL call over UDP (polled every 2 ms); VmRSS from /proc/PID/status at that "
            "moment.", ""]
    startup_table(out, by.get("startup", {}))
    out += ["", "<details><summary>Raw results (JSON lines)</summary>", "", "```"]
    out += [json.dumps(r, separators=(",", ":")) for r in rows]
    out += ["```", "</details>", ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
