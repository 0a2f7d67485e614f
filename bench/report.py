#!/usr/bin/env python3
"""Turn the raw results of bench/build/ipcx-bench into the report.

Reads the JSON lines the benchmark wrote, adds the machine description that
bench/run.sh passes with --meta, and writes: the results file (one JSON
document), the Markdown report (BENCHMARKS.md) and a gnuplot chart (SVG).
Only the Python standard library is used.
"""
import argparse
import json
import os
import subprocess
import sys

MIB = 1 << 20
SIZES = [64, 4096, MIB]
PINS = ["split", "same"]
PIN_TITLE = {"split": "CPUs 0 and 1", "same": "both on CPU 0"}
IPCX = "ipcx"
CHAN = "ipcx-chan"
LOAN = "ipcx-loan"


def load(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


class Results:
    """Lookup of one result by (mech, test, pin, size, senders)."""

    def __init__(self, rows):
        self.rows = rows
        self.by = {}
        self.order = []
        self.labels = {}
        for r in rows:
            key = (r["mech"], r["test"], r["pin"], r["size"], r["senders"])
            self.by[key] = r
            if r["test"] != "memcpy" and r["mech"] not in self.labels:
                self.order.append(r["mech"])
                self.labels[r["mech"]] = r["label"]

    def get(self, mech, test, pin="none", size=64, senders=1):
        return self.by.get((mech, test, pin, size, senders))

    def value(self, field, *key, **kw):
        r = self.get(*key, **kw)
        if r is None or r["status"] != "ok":
            return None
        return r.get(field)

    def mechs(self, test):
        return [m for m in self.order
                if any(k[0] == m and k[1] == test for k in self.by)]


# ---- formatting ----

def us(ns):
    if ns is None:
        return "–"
    v = ns / 1000.0
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def rate(x):
    if x is None:
        return "–"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def mbps(x):
    if x is None:
        return "–"
    return f"{x / 1e6:,.0f}" if x >= 1e7 else f"{x / 1e6:.1f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    r = a / b
    if r < 0.1:
        return f"{r:.3f}×"
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×" if r < 100 else f"{r:.0f}×"


def cell(res, mech, test, pin, size=64, senders=1, text=None):
    """A value, or why there is none (n/a / FAILED)."""
    r = res.get(mech, test, pin, size, senders)
    if r is None:
        return "–"
    if r["status"] == "n/a":
        return "n/a"
    if r["status"] == "error":
        return "**FAILED**"
    return text


def label(res, mech):
    return f"{res.labels.get(mech, mech)} (`{mech}`)"


# ---- sections ----

def section_meta(meta, json_path, md_path, chart_path):
    base = os.path.dirname(os.path.abspath(md_path))
    rel = lambda p: os.path.relpath(os.path.abspath(p), base)
    lines = [
        "| | |", "|---|---|",
        f"| date | {meta.get('date', '?')} |",
        f"| command | `{meta.get('command', '?')}` (the whole run took "
        f"{meta.get('seconds', '?')} s) |",
        f"| machine | `nproc` = {meta.get('nproc', '?')}, "
        f"{meta.get('cpu', '?')}, hypervisor: {meta.get('virt', '?')} |",
        f"| system | {meta.get('os', '?')}, kernel {meta.get('kernel', '?')},"
        f" clocksource {meta.get('clocksource', '?')} |",
        f"| compiler | {meta.get('compiler', '?')}, `-O2` |",
        f"| ipcx | commit {meta.get('commit', '?')}, IPCX_SPIN_NS "
        f"{meta.get('spin', '?')} |",
        f"| alternatives | {meta.get('versions', '?')}, all from Debian |",
        f"| load average before | {meta.get('load_before', '?')} "
        f"({meta.get('quiet', '?')}) |",
        f"| load average after | {meta.get('load_after', '?')} (raised by"
        " the benchmark's own processes) |",
        f"| raw numbers | [{rel(json_path)}]({rel(json_path)}) |",
        "",
        f"![median round trip and throughput per mechanism]"
        f"({rel(chart_path)})",
    ]
    return lines


def pingpong_rows(res):
    busy = res.value("median_ns", "busypoll", "pingpong", "split")
    pipe = {p: res.value("median_ns", "pipe", "pingpong", p) for p in PINS}
    out = []
    for m in res.mechs("pingpong"):
        cols = [label(res, m)]
        for p in PINS:
            g = lambda f: res.value(f, m, "pingpong", p)
            med = g("median_ns")
            vals = [us(med), us(g("p99_ns")), us(g("p999_ns"))]
            vals = [cell(res, m, "pingpong", p, text=v) for v in vals]
            if p == "split":
                vals.append(ratio(med, busy))
            vals.append(ratio(med, pipe[p]))
            cols += vals
        cols.append(" / ".join(spread(res, m, p) for p in PINS))
        out.append("| " + " | ".join(cols) + " |")
    return out


def spread(res, mech, pin):
    """Lowest and highest median of a ping-pong's runs, in µs."""
    r = res.get(mech, "pingpong", pin)
    runs = (r or {}).get("run_medians_ns")
    if not runs:
        return "–"
    return f"{us(min(runs))}–{us(max(runs))}"


def section_pingpong(res):
    lines = [
        "## 1. Round trip, 64-byte messages, blocking calls",
        "",
        "Process A sends a message and blocks until B's echo comes back;"
        " B blocks until a message arrives and sends it back.  Times in"
        " microseconds over the measured round trips (after a warm-up);"
        f" ratios compare medians.  {runs_text(res)}  The last column"
        " gives the range of the runs' medians.",
        "",
        "| mechanism | 0+1 median | 0+1 p99 | 0+1 p99.9 | ×busy-poll |"
        " ×pipe | same median | same p99 | same p99.9 | ×pipe |"
        " run medians 0+1 / same |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += pingpong_rows(res)
    counts = sorted({r["n"] for r in res.rows
                     if r["test"] == "pingpong" and r.get("n")})
    if counts:
        lines += ["", f"Round trips measured per cell: {counts[0]:,} to "
                  f"{counts[-1]:,} (a run stops early after its time"
                  " budget)."]
    return lines


def stream_table(res, size):
    busy = {p: res.value("msgs_per_s", "busypoll", "stream", p, size)
            for p in PINS}
    pipe = {p: res.value("msgs_per_s", "pipe", "stream", p, size)
            for p in PINS}
    lines = [
        "| mechanism | 0+1 msg/s | 0+1 MB/s | ×busy-poll | ×pipe |"
        " same msg/s | same MB/s | ×busy-poll | ×pipe |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in res.mechs("stream"):
        cols = [label(res, m)]
        for p in PINS:
            v = res.value("msgs_per_s", m, "stream", p, size)
            b = res.value("bytes_per_s", m, "stream", p, size)
            cols += [cell(res, m, "stream", p, size, text=rate(v)),
                     cell(res, m, "stream", p, size, text=mbps(b)),
                     ratio(v, busy[p]), ratio(v, pipe[p])]
        lines.append("| " + " | ".join(cols) + " |")
    if size == MIB:
        for m in ("memcpy", "memcpy-64slots"):
            r = res.get(m, "memcpy", "same", MIB)
            if r and r["status"] == "ok":
                lines.append(f"| {r['label']} (one process, CPU 0) | "
                             f"{rate(r['msgs_per_s'])} | "
                             f"{mbps(r['bytes_per_s'])} |" + " |" * 7)
    return lines


def section_stream(res):
    lines = [
        "## 2. One-way throughput",
        "",
        "One sender sends as fast as blocking calls allow, one receiver"
        " takes every message and checks its sequence number, length and"
        " trailer (a lost, duplicated or damaged message fails the run)."
        "  Rates are the receiver's, from its first message to the"
        f" sender's stop message.  {runs_text(res)}  MB = 10^6 bytes.",
    ]
    for size in SIZES:
        name = {64: "64 B", 4096: "4 KiB", MIB: "1 MiB"}[size]
        lines += ["", f"### {name} messages", ""]
        lines += stream_table(res, size)
        z = [ratio(res.value("msgs_per_s", IPCX, "stream", p, size),
                   res.value("msgs_per_s", "zeromq", "stream", p, size))
             for p in PINS]
        lines += ["", f"ipcx ÷ ZeroMQ: {z[0]} on CPUs 0+1, {z[1]} on one"
                  " CPU."]
        if size > 64 and any(res.get(m, "stream", p, size)
                             for m in (LOAN, "iceoryx-zc") for p in PINS):
            lines += ["", "`ipcx-loan` and `iceoryx-zc` copy no payload:"
                      " their MB/s count bytes delivered in place, of which"
                      " only each message's 24 header and trailer bytes"
                      " were written and read."]
    return lines


def reps(res):
    n = [len(r.get("run_rates", [])) for r in res.rows
         if r["test"] == "stream"]
    return max(n + [1])


def runs_text(res):
    n = reps(res)
    if n == 1:
        return "One run per cell."
    return (f"Each cell is the median of {n} runs, taken in turn with the"
            " other mechanisms' (every run is in the JSON).")


def section_fanin(res):
    lines = [
        "## 3. Eight senders into one receiver",
        "",
        "64-byte messages, eight sender processes and one receiver, not"
        " pinned (nine processes on two CPUs); the receiver checks every"
        " sender's sequence.  The ratio is the aggregate rate of eight"
        " senders over the rate of one sender measured the same way."
        f"  {runs_text(res)}",
        "",
        "| mechanism | 1 sender msg/s | 8 senders msg/s | 8 ÷ 1 |"
        " switches per 1000 msgs, 1 / 8 senders |",
        "|---|---:|---:|---:|---:|",
    ]
    for m in res.mechs("fanin"):
        one = res.value("msgs_per_s", m, "fanin", "none", 64, 1)
        eight = res.value("msgs_per_s", m, "fanin", "none", 64, 8)
        sw = [switches(res, m, "fanin", "none", 64, n) for n in (1, 8)]
        lines.append(
            f"| {label(res, m)} | "
            f"{cell(res, m, 'fanin', 'none', 64, 1, rate(one))} | "
            f"{cell(res, m, 'fanin', 'none', 64, 8, rate(eight))} | "
            f"{ratio(eight, one)} | {sw[0]} / {sw[1]} |")
    lines += ["", "Context switches (voluntary and involuntary) of all the"
              " run's processes, from `wait4()`, per 1000 messages"
              " delivered.  ipcx channels have no row: every client gets a"
              " channel of its own (see *Not measured*)."]
    return lines


def switches(res, *key):
    """Context switches per 1000 messages of a run, as text."""
    r = res.get(*key)
    if r is None or r["status"] != "ok" or not r.get("msgs"):
        return "–"
    return f"{1000.0 * r.get('ctx_switches', 0) / r['msgs']:.1f}"


def section_idle(res):
    lines = [
        "## 4. CPU used by an idle receiver",
        "",
        "A receiver blocks in its receive call with no traffic; the share"
        " of one CPU it used (from `/proc/<pid>/schedstat`) over the"
        " window that starts as it enters the call, spin budget included."
        "  After the window the sender sends one message, which the"
        " receiver must get (so a sleeper that never wakes fails the"
        " run).",
        "",
        "| mechanism | CPU used | window |",
        "|---|---:|---:|",
    ]
    for m in res.mechs("idle"):
        r = res.get(m, "idle")
        pct = res.value("cpu_pct", m, "idle")
        txt = f"{pct:.3f} %" if pct is not None else None
        win = f"{r['secs']:.2f} s" if r and r.get("secs") else "–"
        used = cell(res, m, "idle", "none", 64, 1, txt)
        lines.append(f"| {label(res, m)} | {used} | {win} |")
    return lines


# ---- targets ----

def verdict(ok, gap):
    if ok is None:
        return "not measured"
    return "**met**" if ok else f"**missed** ({gap})"


def targets(res):
    t = []
    v = lambda f, *k, **kw: res.value(f, *k, **kw)
    med = v("median_ns", IPCX, "pingpong", "split")
    busy = v("median_ns", "busypoll", "pingpong", "split")
    if med and busy:
        r = med / busy
        t.append(("CPUs 0+1: 64 B round-trip median ≤ 1.25× busy-poll",
                  f"{us(med)} µs vs {us(busy)} µs = {r:.2f}×",
                  verdict(r <= 1.25, f"{r / 1.25:.1f}× too slow")))
    p99 = v("p99_ns", IPCX, "pingpong", "split")
    if p99:
        t.append(("CPUs 0+1: 64 B round-trip p99 < 3 µs", f"{us(p99)} µs",
                  verdict(p99 < 3000, f"{p99 / 3000:.1f}× over")))
    same = v("median_ns", IPCX, "pingpong", "same")
    pipe = v("median_ns", "pipe", "pingpong", "same")
    if same and pipe:
        t.append(("One CPU: round-trip median ≤ pipe's",
                  f"{us(same)} µs vs pipe {us(pipe)} µs = "
                  f"{same / pipe:.2f}×",
                  verdict(same <= pipe,
                          f"{(same / pipe - 1) * 100:.0f} % slower")))
    for p in PINS:
        x = v("msgs_per_s", IPCX, "stream", p, 64)
        b = v("msgs_per_s", "busypoll", "stream", p, 64)
        z = v("msgs_per_s", "zeromq", "stream", p, 64)
        if x and b:
            t.append((f"64 B throughput ≥ busy-poll ({PIN_TITLE[p]})",
                      f"{rate(x)} vs {rate(b)} msg/s = {x / b:.2f}×",
                      verdict(x >= b, f"{b / x:.1f}× short")))
        if x and z:
            t.append((f"64 B throughput ≥ 5× ZeroMQ ({PIN_TITLE[p]})",
                      f"{rate(x)} vs {rate(z)} msg/s = {x / z:.1f}×",
                      verdict(x >= 5 * z, f"{5 * z / x:.1f}× short")))
    mc = v("bytes_per_s", "memcpy", "memcpy", "same", MIB)
    for p in PINS:
        x = v("bytes_per_s", IPCX, "stream", p, MIB)
        if x and mc:
            t.append((f"1 MiB copied ≥ 0.8× memcpy ({PIN_TITLE[p]})",
                      f"{mbps(x)} vs {mbps(mc)} MB/s = {x / mc:.2f}×",
                      verdict(x >= 0.8 * mc,
                              f"{0.8 * mc / x:.1f}× short")))
    t += loan_targets(res)
    one = v("msgs_per_s", IPCX, "fanin", "none", 64, 1)
    eight = v("msgs_per_s", IPCX, "fanin", "none", 64, 8)
    if one and eight:
        t.append(("8 senders: aggregate ≥ 0.5× one sender",
                  f"{rate(eight)} vs {rate(one)} msg/s = "
                  f"{eight / one:.2f}×",
                  verdict(eight >= 0.5 * one,
                          f"{0.5 * one / eight:.1f}× short")))
    cpu = v("cpu_pct", IPCX, "idle")
    if cpu is not None:
        t.append(("Idle blocked receiver < 2 % of a CPU",
                  f"{cpu:.3f} % (spin budget 20 µs, IPCX_SPIN_NS)",
                  verdict(cpu < 2, f"{cpu:.1f} %")))
    return t


def loan_targets(res):
    """1 MiB through a zero-copy loan: message rate within 2× of the 64 B
    loan rate (1 MiB msg/s ≥ 0.5 × 64 B msg/s), per pinning measured."""
    t = []
    for p in PINS:
        name = (f"1 MiB through a zero-copy loan: rate within 2× of the"
                f" 64 B loan rate ({PIN_TITLE[p]})")
        rows = [res.get(LOAN, "stream", p, size) for size in (64, MIB)]
        if any(r is None for r in rows):
            continue
        bad = [r for r in rows if r["status"] != "ok"]
        if bad:
            state = lambda r: "FAILED" if r["status"] == "error" else "n/a"
            size_name = lambda r: "1 MiB" if r["size"] == MIB else "64 B"
            what = ", ".join(f"{size_name(r)} {state(r)}" for r in bad)
            t.append((name, f"`{LOAN}` stream: {what}", "not measured"))
            continue
        small, big = (r.get("msgs_per_s") for r in rows)
        if not small or not big:
            t.append((name, f"`{LOAN}` stream: no rate", "not measured"))
            continue
        t.append((name,
                  f"{rate(big)} vs {rate(small)} msg/s = {big / small:.2f}×",
                  verdict(big >= 0.5 * small,
                          f"{0.5 * small / big:.1f}× short")))
    if not t:
        t.append(("1 MiB through a zero-copy loan: rate within 2× of the"
                  " 64 B loan rate", f"`{LOAN}` streams not in this run",
                  "not measured"))
    return t


# What limits each target when it is missed, keyed by the start of its
# name in targets().  Written from measurements and the code, not from the
# numbers of one run; the figures it cites are this run's.
LIMITS = [
    ("CPUs 0+1: 64 B round-trip median",
     "The busy-poll reference moves two cache lines per round trip and"
     " does nothing else.  A blocking ipcx send and receive moves about"
     " four lines each way (the slot's control word and payload, the head"
     " and tail counters), with three or four atomic read-modify-writes"
     " and a full fence per side (the fence is the sleeper check that lets"
     " a blocked peer be woken without a lost wake-up), and the waiter"
     " polls between `pause`s.  Each transfer between these two vCPUs costs"
     " roughly what half a busy-poll round trip does.  The queue is"
     " multi-producer, multi-consumer and records a holder in every slot"
     " so that a killed process's slot can be taken back; a"
     " single-producer lane without that bookkeeping would be needed to"
     " come within 1.25×."),
    ("64 B throughput ≥ busy-poll",
     "Same cause as the round trip: the busy-poll ring is single-producer,"
     " single-consumer, and each side writes only its own index; an ipcx"
     " message costs both sides several atomic read-modify-writes on lines"
     " the other side also touches, plus one full fence each.  On one CPU,"
     " both sides also pay a context switch each time the 64 slots fill or"
     " empty (the busy-poll reference yields every 256 pauses instead)."),
    ("64 B throughput ≥ 5× ZeroMQ",
     "ZeroMQ batches many messages into one socket write and read; its"
     " per-message cost is a memcpy into a batch.  ipcx's per-message cost"
     " is the queue's atomics (see above), so it beats ZeroMQ on two CPUs"
     " by the ratio shown but not by 5×; on one CPU both are bound by"
     " context switches, and ZeroMQ's batching amortises them over more"
     " messages than 64 slots do."),
    ("1 MiB copied",
     "Not the copying itself: iceoryx's copying path (the same two copies,"
     " in and out) comes close to memcpy on two CPUs in this run, and in a"
     " quick run ipcx with capacity 2 instead of 64 moved 29.6 GB/s on two"
     " CPUs (about 1× memcpy) and 13.4 GB/s on one (0.45×).  The"
     " benchmark's mailbox has 64 slots of 1 MiB, used in turn, so every"
     " copy goes to and from 64 MiB that no cache holds, while iceoryx"
     " hands out the chunk freed last, still hot.  A mailbox for large"
     " messages is best sized by bytes (a few slots); reusing the slot"
     " freed last would be the library's fix.  On one CPU the two copies"
     " add up, so about 0.5× is the ceiling there for any copying"
     " transport; the zero-copy loan row is the way to move 1 MiB"
     " messages."),
    ("8 senders",
     "Nine processes share two CPUs, and eight senders outpace one"
     " receiver, so the mailbox is full whatever its capacity (the"
     " capacity-1024 row is no faster).  Blocked senders sleep on one"
     " event, and a receive that frees a place wakes them all: one finds"
     " the place, the others re-arm and sleep, a herd of context switches"
     " (tens of µs each on this VM) for every few messages.  Since the"
     " ARMED events the receiver no longer pays two wake-alls per message"
     " (in a quick run before and after that change: 0.14 M and 1.1 M"
     " msg/s), but waking one sender per freed place would put a system"
     " call back on every receive; handing the wake from one sender to"
     " the next, as the kernel's exclusive wait queues do for a pipe, is"
     " the fix still to make."),
    ("One CPU: round-trip median",
     "With both processes on one CPU each message needs a context switch,"
     " like a pipe's; the difference is the spin a waiter does before it"
     " sleeps, which the adaptive spin turns off after four failures."),
    ("CPUs 0+1: 64 B round-trip p99",
     "The p99 counts round trips in which a process was preempted or the"
     " spin ran out and it slept (a futex wake costs tens of µs here)."),
    ("1 MiB through a zero-copy loan",
     "A loan moves no payload; its rate is the 64 B rate unless the"
     " slots' memory is cold (1 MiB slots are 64 MiB for 64 slots)."),
    ("Idle blocked receiver",
     "A blocked receiver sleeps on a futex after its spin budget."),
]


def section_targets(res):
    lines = [
        "## Issue 5 targets, as measured in this run",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    missed = []
    for name, meas, verd in targets(res):
        lines.append(f"| {name} | {meas} | {verd} |")
        if "missed" in verd:
            missed.append(name)
    said = set()
    limits = []
    for name in missed:
        for key, text in LIMITS:
            if name.startswith(key) and key not in said:
                said.add(key)
                limits.append(f"- **{key}…** {text}")
    if limits:
        lines += ["", "### What limits the targets this run missed", ""]
        lines += limits
    return lines


def section_observations(res):
    v = res.value
    obs = []
    a = v("median_ns", IPCX, "pingpong", "same")
    b = v("median_ns", "ipcx-nospin", "pingpong", "same")
    p = v("median_ns", "pipe", "pingpong", "same")
    if a and b and p:
        obs.append(
            f"Both processes on one CPU, the ipcx round trip takes"
            f" {us(a)} µs with the default spin and {us(b)} µs with"
            f" `IPCX_SPIN_NS=0` (pipe: {us(p)} µs).  A spin cannot"
            " succeed while the peer it waits for needs the same CPU; the"
            " adaptive spin stops after four failed spins, but still"
            " probes (one long spin in 256 waits) to notice when the peer"
            " moves to another CPU, and that probing is the difference.")
    r = res.get(IPCX, "pingpong", "same") or {}
    runs = r.get("run_medians_ns") or []
    if len(runs) > 1 and min(runs) > 0 and max(runs) / min(runs) > 2:
        obs.append(
            f"On one CPU the ipcx runs' medians range from"
            f" {us(min(runs))} to {us(max(runs))} µs.  The spin budget is"
            " turned into a number of rounds once per process, by timing"
            " 64 to 256 tries (`spin_rounds()` in `src/wait/wait.c`); a"
            " calibration that the peer preempts (likely when both share"
            " a CPU) measures slow rounds and gets a smaller budget, so"
            " how long a waiter spins varies from process to process.")
    a = v("median_ns", IPCX, "pingpong", "split")
    b = v("median_ns", "ipcx-nospin", "pingpong", "split")
    if a and b:
        obs.append(
            f"On two CPUs the spin is what makes ipcx fast: {us(a)} µs"
            f" median with it, {us(b)} µs when every wait sleeps in the"
            " futex (the kernel's cross-CPU wake-up on this VM).")
    one = v("msgs_per_s", IPCX, "fanin", "none", 64, 1)
    eight = v("msgs_per_s", IPCX, "fanin", "none", 64, 8)
    eight_ns = v("msgs_per_s", "ipcx-nospin", "fanin", "none", 64, 8)
    eight_k = v("msgs_per_s", "ipcx-1024", "fanin", "none", 64, 8)
    if one and eight:
        text = (f"Eight senders on two CPUs: ipcx delivers {rate(eight)}"
                f" msg/s against {rate(one)} for one sender"
                f" ({eight / one:.2f}×)")
        if eight_ns:
            text += f"; with `IPCX_SPIN_NS=0` the eight reach {rate(eight_ns)}"
        if eight_k:
            text += f", with capacity 1024 {rate(eight_k)}"
        text += (f".  Context switches per 1000 messages:"
                 f" {switches(res, IPCX, 'fanin', 'none', 64, 1)} with one"
                 f" sender, {switches(res, IPCX, 'fanin', 'none', 64, 8)}"
                 f" with eight (pipe with eight:"
                 f" {switches(res, 'pipe', 'fanin', 'none', 64, 8)}).  Eight"
                 " senders outpace one receiver, so the mailbox is full"
                 " whatever its capacity, and blocked senders sleep on one"
                 " event that a receive wakes all of"
                 " (`ipcx__event_notify(&h->ev_space, INT32_MAX)` in"
                 " `src/mailbox/io.c`): one of them finds the freed place,"
                 " the others re-arm and sleep again, and the next receive"
                 " finds the event armed.  The ARMED bit saves the"
                 " receiver the repeated wakes of one burst, not the herd.")
        if eight_ns and eight_ns < 2 * eight:
            text += ("  Spinning is not the main cost here: without it the"
                     " eight senders are no faster.")
        obs.append(text)
    for p in PINS:
        a = v("msgs_per_s", IPCX, "stream", p, 64)
        b = v("msgs_per_s", "ipcx-1024", "stream", p, 64)
        if a and b:
            obs.append(f"64 B stream, {PIN_TITLE[p]}: capacity 64 gives"
                       f" {rate(a)} msg/s, capacity 1024 {rate(b)} msg/s.")
    obs += chan_loan_observations(res)
    errors = [r for r in res.rows if r["status"] == "error"]
    lines = ["## Observations", ""]
    lines += [f"- {o}" for o in obs] or ["- (none computed)"]
    lines += ["", "## Runs that failed", ""]
    if errors:
        lines += [f"- **{r['mech']} {r['test']} {r['size']} B {r['pin']}"
                  f" ×{r['senders']}**: {r['note']}" for r in errors]
    else:
        lines.append("None: every message of every run arrived, in order"
                     " and intact.")
    return lines


def per_trip(res, mech, pin):
    """Context switches of a ping-pong run per round trip (warm-up and
    setup included), or None."""
    r = res.get(mech, "pingpong", pin)
    if r is None or r["status"] != "ok" or not r.get("n"):
        return None
    if r.get("ctx_switches") is None:
        return None
    return r["ctx_switches"] / r["n"]


def chan_loan_observations(res):
    """Channels and loans against the plain (copying) mailbox."""
    v = res.value
    obs = []
    for p in PINS:
        m = v("median_ns", IPCX, "pingpong", p)
        c = v("median_ns", CHAN, "pingpong", p)
        a = v("msgs_per_s", IPCX, "stream", p, 64)
        b = v("msgs_per_s", CHAN, "stream", p, 64)
        if m and c and a and b:
            text = (f"Channel against mailbox, {PIN_TITLE[p]}: round trip"
                    f" {us(c)} µs vs {us(m)} µs ({ratio(c, m)}), 64 B stream"
                    f" {rate(b)} vs {rate(a)} msg/s ({ratio(b, a)}).")
            sw = [per_trip(res, x, p) for x in (CHAN, IPCX)]
            if p == "same" and c > 1.5 * m and None not in sw:
                text += (f"  Context switches per round trip (about:"
                         f" warm-up included): {sw[0]:.1f}"
                         f" for the channel, {sw[1]:.1f} for the mailbox."
                         "  A channel's sleeper waits in `poll()` on an"
                         " eventfd, the connection socket and a pidfd (so"
                         " that it also wakes when the peer dies), drains"
                         " the eventfd and wakes its process's other"
                         " waiters (`chan_sleep()` in"
                         " `src/channel/channel.c`), where a mailbox's"
                         " sleeper waits on one futex.")
            obs.append(text)
    for p in PINS:
        small = v("msgs_per_s", LOAN, "stream", p, 64)
        big = v("msgs_per_s", LOAN, "stream", p, MIB)
        copy = v("msgs_per_s", IPCX, "stream", p, MIB)
        zc = v("msgs_per_s", "iceoryx-zc", "stream", p, MIB)
        if small and big:
            text = (f"Zero-copy loans, {PIN_TITLE[p]}: {rate(big)} msg/s of"
                    f" 1 MiB against {rate(small)} msg/s of 64 B")
            if copy:
                text += (f"; the copying mailbox (`ipcx`) moves"
                         f" {rate(copy)} msg/s of 1 MiB, the loan"
                         f" {ratio(big, copy)} that")
            if zc:
                text += f"; iceoryx-zc {rate(zc)} msg/s"
            obs.append(text + ".")
    return obs


def section_na(res):
    seen = {}
    for r in res.rows:
        if r["status"] == "n/a" and r["note"] != "not applicable":
            seen.setdefault((r["mech"], r["note"]), []).append(
                f"{r['test']} {r['size']} B")
    lines = ["## Not measured, and why", ""]
    for (m, note), what in seen.items():
        lines.append(f"- `{m}`: {note} ({', '.join(sorted(set(what)))}).")
    lines += [
        "- `ipcx-chan` has no fan-in row: each client that connects to a"
        " port gets a channel of its own, so eight senders would be eight"
        " channels and the receiver would wait on them with `ipcx_poll()`"
        " (which makes every send signal a descriptor): not one queue.",
        "- Unix stream, seqpacket and TCP sockets have no fan-in row: eight"
        " senders would need eight connections and a poll loop, not one"
        " queue.  The busy-poll reference is single-producer.",
    ]
    return lines


METHOD = """## Method

- Every mechanism runs as separate processes made with `fork()`: a sender
  (or ping-pong initiator) A and a receiver (or echoer) B, or eight senders
  and one receiver.  Each child opens its own end after the fork; all start
  together once every end is open.
- "CPUs 0+1": A pinned to CPU 0 and B to CPU 1 with `sched_setaffinity`;
  "same": both pinned to CPU 0.  Fan-in and idle runs are not pinned.
- Calls block: ipcx with `IPCX_FOREVER`, the others in their blocking
  read/recv/receive; iceoryx receivers wait in a WaitSet.  The harness
  writes no busy loop, except in the busy-poll reference, whose two
  processes spin on one shared cache line each way (round trip) or on a
  64-slot ring (throughput), yielding the CPU every 256 pauses.
- Round trips: one clock read per iteration (vDSO `CLOCK_MONOTONIC`);
  percentiles by nearest rank.
- Throughput: the sender sends for a fixed time, then a stop message;
  senders close only after the receiver has everything.  Message contents
  are checked by sequence number, length and a trailer word.
- Defaults as users get them: kernel buffer sizes, `fs.mqueue` and
  `kernel.msg*` limits, ZeroMQ's high-water mark of 1000.  NNG's send and
  receive buffers are set to 64 messages (its default, none, makes every
  send wait for the receiver).
  Mailboxes have capacity 64 (and 1024 in `ipcx-1024`), maximum message
  size equal to the message size.  `ipcx-chan`: the receiver (B) listens
  on a connection port and accepts the sender (A), which connects once
  the port is there; the one channel (capacity 64 each way, maximum
  message size equal to the message size) carries both directions of a
  round trip.  `ipcx-loan`: the `ipcx` mailboxes, but the sender borrows
  a slot (`ipcx_mailbox_loan`), writes only the header and trailer words
  in place and sends it (`ipcx_mailbox_send_loan`); the receiver takes
  the message in place (`ipcx_mailbox_recv_loan`), copies out only header
  and trailer for the check and returns the slot: no payload copy, as
  in `iceoryx-zc`.  iceoryx: RouDi with `bench/roudi.toml`
  and process monitoring off (under full load it once declared a live,
  busy benchmark process dead and stalled the run), subscriber queue 64,
  publishers block when it is full.
- Runs are grouped by metric, size and pinning, all mechanisms back to
  back, so each ratio compares numbers taken close together; a run that
  fails, loses a message or stalls (20 s past its planned end) is reported
  as FAILED, never as a number.
- Single runs on a shared 2-vCPU VM: differences under ~20 % are noise.
"""


def write_chart(res, chart, gdir):
    dat = os.path.join(gdir, "chart.dat")
    gp = os.path.join(gdir, "chart.gp")
    mechs = [m for m in res.order if m not in ("ipcx-1024",)]
    with open(dat, "w", encoding="utf-8") as f:
        for m in mechs:
            vals = []
            for test, size, field, scale in (
                    ("pingpong", 64, "median_ns", 1e-3),
                    ("stream", 64, "msgs_per_s", 1e-6),
                    ("stream", MIB, "bytes_per_s", 1e-9)):
                for p in PINS:
                    x = res.value(field, m, test, p, size)
                    vals.append("NaN" if x is None else f"{x * scale:.6g}")
            f.write(m + " " + " ".join(vals) + "\n")
    panels = [
        (2, "Median round trip, 64 B (µs, log scale)", "set logscale y"),
        (4, "Throughput, 64 B (million messages/s, log scale)", ""),
        (6, "Throughput, 1 MiB (GB/s, log scale)", ""),
    ]
    script = [
        f"set terminal svg size 1000,1200 font 'sans,11' background '#ffffff'",
        f"set output '{chart}'",
        "set datafile missing 'NaN'",
        "set style data histograms",
        "set style histogram clustered gap 1",
        "set style fill solid 0.8 border -1",
        "set xtics rotate by 30 right nomirror",
        "set bmargin 5",
        "set grid ytics",
        "set key top left",
        "set multiplot layout 3,1",
    ]
    for col, title, log in panels:
        script += [
            log, f"set title \"{title}\"",
            f"plot '{dat}' using {col}:xtic(1) title 'CPUs 0+1' lc rgb "
            f"'#3366cc', '' using {col + 1} title 'one CPU' lc rgb '#dd7733'",
        ]
    script.append("unset multiplot")
    with open(gp, "w", encoding="utf-8") as f:
        f.write("\n".join(script) + "\n")
    try:
        subprocess.run(["gnuplot", gp], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"report.py: gnuplot failed: {e}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--chart", required=True)
    ap.add_argument("--gnuplot-dir", required=True)
    ap.add_argument("--meta", action="append", default=[])
    a = ap.parse_args()
    meta = dict(kv.split("=", 1) for kv in a.meta)
    rows = load(a.raw)
    with open(a.json, "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "results": rows}, f, indent=1)
        f.write("\n")
    res = Results(rows)
    write_chart(res, os.path.abspath(a.chart), a.gnuplot_dir)
    md = ["# Benchmarks", "",
          f"Written by `{meta.get('command', 'bench/run.sh')}`; do not edit"
          " by hand, run it again.  ipcx and every alternative are measured"
          " in the same run, and the ratios between them are the numbers"
          " to read: this 2-vCPU virtual machine is noisy and shared.",
          ""]
    md += section_meta(meta, a.json, a.md, a.chart) + [""]
    md += section_targets(res) + [""]
    md += section_pingpong(res) + [""]
    md += section_stream(res) + [""]
    md += section_fanin(res) + [""]
    md += section_idle(res) + [""]
    md += section_observations(res) + [""]
    md += section_na(res) + [""]
    md += [METHOD]
    with open(a.md, "w", encoding="utf-8") as f:
        f.write("\n".join(md).rstrip() + "\n")


if __name__ == "__main__":
    main()
