#!/usr/bin/env python3
"""Failover benchmark, pgha against Patroni 4 + etcd, same machine, same run (issue 12).

::

    python3 Benchmarks/faults/failover_bench.py [--runs 10] [--mode off|on|quorum]
        [--systems pgha,patroni-default,patroni-aggressive] [--scenarios kill9,isolate,switchover]
        [--footprint-seconds 60] [--out BENCHMARKS.md] [--json FILE] [--prefix P] [--workdir D] [--keep]

Each system runs in turn as three hosts in network namespaces (``netns.Topology``; the
backends are ``pgha_backend.PgHACluster`` and ``patroni_backend.PatroniCluster``, one cluster
at a time). A ``WriteProbe`` in the client namespace inserts a row every 50 ms through the
libpq multi-host string (``target_session_attrs=read-write``, ``connect_timeout=1``) for the
whole run. Per system:

* **idle footprint** (before the probe starts): RSS and CPU, over ``--footprint-seconds``, of
  the HA processes of all three hosts, Postgres excluded. pgha: the ``pgha run`` agent and its
  ``pgha guard``; Patroni: the ``patroni`` process and the ``etcd`` member;
* **kill9**: kill -9 of every process of the primary's host (agent, Postgres, etcd member for
  Patroni); then the host is started again and the run waits for one primary + two streaming
  replicas;
* **isolate**: the primary's host is cut from both replicas (nftables drop rules) while the
  client stays connected to it; healed once a write succeeded on another host, then the run
  waits for health (the old primary rejoins as a replica);
* **switchover**: ``POST /switchover`` to the leader (the system's own candidate choice).

The figure of each run is the write-unavailability: from the fault (the kill, the cut, the
switchover request) to the first acknowledged write on a host other than the old primary
(``fault_to_first_write_s``). Also recorded: the first failed write to that success
(``unavailable_s``), and the writes the old primary acknowledged after the fault (an isolated
primary that has not yet stepped down still commits; in asynchronous mode those commits are
lost when it rejoins).

Prints a table (median, p90, max per scenario and system, with pgha's ratio to each Patroni
setting) and, with ``--out``, writes it with the machine, the versions, the settings and the
command to that Markdown file (between the markers ``<!-- failover-bench:begin -->`` and
``<!-- failover-bench:end -->``, which it adds when missing; the rest of the file is kept).
``--json`` keeps every run. Needs root, ``ip``/``nft``, Postgres 15, the release ``pgha``
(``swift build -c release --product pgha``; or ``PGHA_BIN``); Patroni and etcd are installed
when missing (``patroni_backend.ensure_installed``). Exit 77 when the machine cannot run it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import netns  # noqa: E402
import patroni_backend  # noqa: E402
import pgha_backend  # noqa: E402
from netns_cluster import WriteProbe  # noqa: E402

SYSTEMS = {
    "pgha": ("pgha (defaults)", lambda topo, wd, mode, keep: pgha_backend.PgHACluster(topo, wd, mode=mode,
                                                                                       keep_workdir=keep)),
    "patroni-default": ("Patroni, default timings (ttl 30, loop_wait 10, retry_timeout 10)",
                        lambda topo, wd, mode, keep: patroni_backend.PatroniCluster(topo, wd, mode=mode, timings="default",
                                                                                    keep_workdir=keep)),
    "patroni-aggressive": ("Patroni, aggressive timings (ttl 20, loop_wait 1, retry_timeout 3)",
                           lambda topo, wd, mode, keep: patroni_backend.PatroniCluster(topo, wd, mode=mode,
                                                                                       timings="aggressive",
                                                                                       keep_workdir=keep)),
}
SCENARIOS = {
    "kill9": "kill -9 of the primary's host",
    "isolate": "primary cut off from both replicas (client still connected to it)",
    "switchover": "planned switchover (POST /switchover)",
}
BEGIN, END = "<!-- failover-bench:begin -->", "<!-- failover-bench:end -->"
T0 = time.monotonic()


def log(msg):
    print("[%7.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


# ---------------------------------------------------------------- footprint

def _proc_stat(pid):
    """(utime + stime in clock ticks, RSS in bytes) of ``pid``, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/%d/status" % pid) as f:
            rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    return int(fields[11]) + int(fields[12]), rss_kb * 1024


def footprint_pids(cluster):
    """{label: pid} of the HA processes of every host (Postgres and its children excluded)."""
    out = {}
    for i in cluster.hosts:
        for what, pid in cluster.pid_map(i).items():
            if what == "postmaster":
                continue
            for p in (pid if isinstance(pid, list) else [pid]):
                out["%s@n%d" % (what, i)] = p
    return out


def idle_footprint(cluster, seconds):
    """CPU (percent of one core, averaged over ``seconds``) and RSS (at the end) of the HA
    processes, summed over the three hosts, with the per-process figures."""
    pids = footprint_pids(cluster)
    before = {k: _proc_stat(p) for k, p in pids.items()}
    t0 = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    after = {k: _proc_stat(p) for k, p in pids.items()}
    tick = os.sysconf("SC_CLK_TCK")
    per = {}
    for k in pids:
        if before[k] is None or after[k] is None:
            continue
        per[k] = {"cpu_pct": round(100.0 * (after[k][0] - before[k][0]) / tick / elapsed, 2),
                  "rss_mb": round(after[k][1] / 1e6, 1)}
    return {"seconds": round(elapsed, 1), "processes": per,
            "cpu_pct": round(sum(v["cpu_pct"] for v in per.values()), 2),
            "rss_mb": round(sum(v["rss_mb"] for v in per.values()), 1)}


# ---------------------------------------------------------------- scenarios

def _wait_writing(probe, timeout=60):
    if probe.wait_for(lambda e: e[2] and e[1] > time.monotonic() - 0.5, timeout) is None:
        raise RuntimeError("the probe is not writing: %s" % probe.events[-3:])


def settled_primary(topo, cluster, probe, timeout=60):
    """The primary per the system's /cluster, once the probe's writes are acknowledged there
    (a member's view can lag right after a fault: it must not pick the wrong old primary)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = cluster.primary()
        if p is not None:
            addr, t = topo.address(p), time.monotonic()
            if probe.wait_for(lambda e: e[2] and e[0] > t and e[3] == addr, 2) is not None:
                return p
        time.sleep(0.2)
    raise RuntimeError("the probe's writes did not land on the primary /cluster names within %ds" % timeout)


def _measure(topo, probe, old, t_fault, timeout=240):
    """The write-unavailability after ``t_fault`` (see the module's docstring)."""
    old_addr = topo.address(old)
    ok = probe.wait_for(lambda e: e[2] and e[0] > t_fault and e[3] != old_addr, timeout)
    if ok is None:
        raise RuntimeError("no write succeeded on another host within %ds of the fault" % timeout)
    res = probe.outage(t_fault, old_server=old_addr) or {}
    with probe._lock:
        acked_old = sum(1 for e in probe.events if e[2] and e[0] > t_fault and e[3] == old_addr)
    return {"fault_to_first_write_s": round(ok[1] - t_fault, 3),
            "unavailable_s": res.get("unavailable_s", 0.0),
            "acked_on_old_primary_after_fault": acked_old,
            "failed_attempts": res.get("failed_attempts", 0),
            "error_kinds": res.get("error_kinds", []),
            "old_primary": old, "new_primary": topo_host(topo, ok[3])}


def topo_host(topo, address):
    return next((i for i in topo.host_ids if topo.address(i) == address), None)


def run_kill9(topo, cluster, probe):
    old = settled_primary(topo, cluster, probe)
    t = cluster.kill_host(old)
    res = _measure(topo, probe, old, t)
    cluster.restart_host(old)
    return _recover(cluster, res)


def run_isolate(topo, cluster, probe):
    old = settled_primary(topo, cluster, probe)
    t = time.monotonic()
    topo.isolate(old, keep=("c",))
    try:
        res = _measure(topo, probe, old, t)
    finally:
        topo.heal(old)
    return _recover(cluster, res)


def run_switchover(topo, cluster, probe):
    old = settled_primary(topo, cluster, probe)
    t = time.monotonic()
    sw = cluster.switchover(timeout=120, wait_healthy=False)
    if sw["status"] != 200:
        raise RuntimeError("switchover refused: HTTP %s %r" % (sw["status"], sw["response"]))
    res = _measure(topo, probe, old, t)
    res["switchover_returned_after_s"] = sw["returned_after_s"]
    return _recover(cluster, res)


class RecoveryFailure(Exception):
    """The cluster did not return to one primary and two streaming replicas after a run; the
    run's measurement is in ``res``."""

    def __init__(self, res, error):
        super().__init__(str(error))
        self.res = res


def _recover(cluster, res):
    try:
        cluster.wait_healthy(240)
    except TimeoutError as e:
        res["recovered"] = False
        raise RecoveryFailure(res, e)
    return res


RUNNERS = {"kill9": run_kill9, "isolate": run_isolate, "switchover": run_switchover}


def bench_system(key, args, report):
    """Every run of ``key``; a cluster that does not recover after a run is counted in
    ``recovery_failures`` and replaced by a fresh one (at most three times) for the runs left."""
    label, make = SYSTEMS[key]
    entry = report["systems"].setdefault(key, {"label": label, "runs": {}})
    for scenario in args.scenarios:
        if not args.append or scenario not in entry["runs"]:
            entry["runs"][scenario] = []
    if not args.append:
        entry["recovery_failures"] = [f for f in entry.get("recovery_failures", []) if f["scenario"] not in args.scenarios]
    entry.setdefault("recovery_failures", [])
    if args.footprint_seconds > 0:
        entry.pop("footprint", None)
    pending = [(s, n) for s in args.scenarios for n in range(args.runs)]
    for attempt in range(4):
        if not pending:
            return
        workdir = os.path.join(args.workdir, "%s-%d" % (key, attempt))
        with netns.Topology(args.prefix) as topo, make(topo, workdir, args.mode, args.keep) as cluster:
            t0 = time.monotonic()
            cluster.start()
            cluster.wait_healthy(240)
            log("%s: healthy after %.1fs" % (key, time.monotonic() - t0))
            if args.footprint_seconds > 0 and "footprint" not in entry:
                time.sleep(5)
                entry["footprint"] = idle_footprint(cluster, args.footprint_seconds)
                log("%s: idle footprint %s" % (key, {k: entry["footprint"][k] for k in ("cpu_pct", "rss_mb")}))
            with WriteProbe(topo, cluster.dsn_multi(), label=key) as probe:
                while pending:
                    scenario, _ = pending[0]
                    r = len(entry["runs"][scenario]) + 1  # with --append, after the merged runs
                    _wait_writing(probe)
                    time.sleep(2.0)
                    failed = None
                    try:
                        res = RUNNERS[scenario](topo, cluster, probe)
                    except RecoveryFailure as e:
                        res, failed = e.res, str(e)[:300]
                    pending.pop(0)
                    entry["runs"][scenario].append(res)
                    log("%s %s %d/%d: %.2fs to the first write on n%s (first failure to success %.2fs, "
                        "%d acks on the old primary after the fault)%s" % (
                            key, scenario, r, args.runs, res["fault_to_first_write_s"], res["new_primary"],
                            res["unavailable_s"], res["acked_on_old_primary_after_fault"],
                            "; DID NOT RECOVER within 240 s, a fresh cluster takes the next runs" if failed else ""))
                    if failed:
                        entry["recovery_failures"].append({"scenario": scenario, "run": r, "error": failed})
                    if args.json:
                        _write_json(args.json, report)
                    if failed:
                        break
    if pending:
        raise RuntimeError("%s: still %d runs left after three fresh clusters" % (key, len(pending)))


# ---------------------------------------------------------------- report

def _pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summarize(runs):
    xs = [r["fault_to_first_write_s"] for r in runs]
    if not xs:
        return None
    return {"n": len(xs), "median": statistics.median(xs), "p90": _pct(xs, 0.9), "max": max(xs),
            "acked_on_old": sum(r["acked_on_old_primary_after_fault"] for r in runs)}


def _fmt(s):
    return "—" if s is None else "%.2f / %.2f / %.2f s (n=%d)" % (s["median"], s["p90"], s["max"], s["n"])


def table(report):
    systems = [k for k in SYSTEMS if k in report["systems"]]
    scen = report["scenarios"]
    head = ["scenario"] + [k for k in systems]
    ratios = [k for k in systems if k != "pgha" and "pgha" in systems]
    head += ["Patroni / pgha (%s)" % k.split("-", 1)[1] for k in ratios]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in scen:
        sums = {k: summarize(report["systems"][k]["runs"].get(s, [])) for k in systems}
        row = [SCENARIOS[s]] + [_fmt(sums[k]) for k in systems]
        for k in ratios:
            a, b = sums.get("pgha"), sums.get(k)
            row.append("%.1f× (median)" % (b["median"] / a["median"]) if a and b and a["median"] > 0 else "—")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def acked_table(report):
    systems = [k for k in SYSTEMS if k in report["systems"]]
    lines = ["| scenario | " + " | ".join(systems) + " |", "|" + "---|" * (len(systems) + 1)]
    for s in report["scenarios"]:
        row = [SCENARIOS[s]]
        for k in systems:
            su = summarize(report["systems"][k]["runs"].get(s, []))
            row.append("—" if su is None else str(su["acked_on_old"]))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def footprint_table(report):
    lines = ["| system | processes | CPU (% of one core, sum) | RSS (MB, sum) |", "|---|---|---|---|"]
    for k in SYSTEMS:
        f = report["systems"].get(k, {}).get("footprint")
        if not f:
            continue
        kinds = sorted({p.split("@")[0] for p in f["processes"]})
        lines.append("| %s | %d (%s) | %.2f | %.1f |" % (k, len(f["processes"]), ", ".join(kinds), f["cpu_pct"], f["rss_mb"]))
    return "\n".join(lines)


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return "%d cores (%s), %.0f GiB, Linux %s" % (os.cpu_count(), model, mem_kb / 2**20, platform.release())


def markdown(report):
    v = report["versions"]
    out = [BEGIN, "## Failover: pgha against Patroni + etcd", "",
           "Measured %s on %s; %s; Postgres: %s; Patroni: %s; etcd: %s; synchronous mode `%s`; "
           "%d runs per scenario and system." % (report["date"], report["machine"], v.get("pgha"), v.get("postgres"),
                                                 v.get("patroni"), v.get("etcd"), report["mode"], report["runs"]), "",
           "Command: `%s`" % report["command"], ""] + (
               ["Earlier runs merged into this table (`--merge`): " + "; ".join(
                   "`%s` (%s)" % (e["command"], e["date"]) for e in report["earlier"]) + ".", ""]
               if report.get("earlier") else []) + [
           "Write-unavailability, median / p90 / max: from the fault to the first acknowledged write on another "
           "host, for a client inserting every 50 ms through the libpq multi-host string "
           "(`target_session_attrs=read-write`, `connect_timeout=1`). Three hosts, each in its own network "
           "namespace on this machine, each running the system's agent (and, for Patroni, an etcd member) "
           "beside Postgres 15.", "", table(report), "",
           "Writes the old primary still acknowledged after the fault (summed over the runs; in asynchronous "
           "mode an isolated primary's late commits are discarded when it rejoins):", "", acked_table(report), ""]
    failures = ["%s %s run %d" % (k, f["scenario"], f["run"]) for k in SYSTEMS
                for f in report["systems"].get(k, {}).get("recovery_failures", [])]
    out += ["Runs after which the cluster did not return to one primary and two streaming replicas within "
            "240 s (a fresh cluster took the remaining runs): %s." % (", ".join(failures) if failures else "none"), ""]
    if any(report["systems"].get(k, {}).get("footprint") for k in SYSTEMS):
        out += ["Idle footprint of the HA processes of all three hosts, Postgres excluded, over %d s "
                "(CPU from `/proc/PID/stat`, RSS from `/proc/PID/status` at the end):" % max(
                    report["systems"][k]["footprint"]["seconds"] for k in SYSTEMS
                    if report["systems"].get(k, {}).get("footprint")),
                "", footprint_table(report), ""]
    out.append(END)
    return "\n".join(out)


def write_markdown(path, report):
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    block = markdown(report)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def _write_json(path, report):
    with open(path + ".tmp", "w") as f:
        json.dump(report, f, indent=1)
    os.replace(path + ".tmp", path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--mode", default="off", choices=["off", "on", "quorum"])
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--footprint-seconds", type=int, default=60)
    ap.add_argument("--out", help="Markdown file to write the tables to (BENCHMARKS.md)")
    ap.add_argument("--json", help="keep every run in this JSON file")
    ap.add_argument("--prefix", default="pgb")
    ap.add_argument("--workdir", default="/tmp/pgb-failover-bench")
    ap.add_argument("--keep", action="store_true", help="keep each system's workdir (logs, data) afterwards")
    ap.add_argument("--append", action="store_true",
                    help="with --merge: add --runs runs to the merged ones instead of replacing them")
    ap.add_argument("--merge", metavar="FILE.json",
                    help="start from this earlier --json report: what this run does not measure again "
                         "(other systems, other scenarios, the footprint with --footprint-seconds 0) is kept")
    args = ap.parse_args(argv)
    args.systems = [s for s in args.systems.split(",") if s]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    for s in args.systems:
        if s not in SYSTEMS:
            ap.error("unknown system %r (known: %s)" % (s, ", ".join(SYSTEMS)))
    for s in args.scenarios:
        if s not in SCENARIOS:
            ap.error("unknown scenario %r (known: %s)" % (s, ", ".join(SCENARIOS)))
    try:
        pgha_backend.preflight()
        versions = pgha_backend.versions()
        if any(s.startswith("patroni") for s in args.systems):
            versions.update(patroni_backend.ensure_installed())
    except netns.Skip as e:
        print("skip:", e, file=sys.stderr)
        return 77
    report = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": machine(), "versions": versions, "mode": args.mode, "runs": args.runs,
              "scenarios": args.scenarios, "footprint_seconds": args.footprint_seconds,
              "command": "python3 Benchmarks/faults/failover_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "systems": {}}
    if args.merge:
        with open(args.merge) as f:
            earlier = json.load(f)
        report["systems"] = earlier["systems"]
        report["versions"] = {**earlier.get("versions", {}), **report["versions"]}
        report["scenarios"] = list(dict.fromkeys(earlier["scenarios"] + args.scenarios))
        before = earlier.get("earlier") or []
        before = [before] if isinstance(before, dict) else before
        report["earlier"] = before + [{"command": earlier["command"], "date": earlier["date"]}]
    log("machine: %s; versions: %s" % (report["machine"], versions))
    for key in args.systems:
        bench_system(key, args, report)
    print()
    print(table(report))
    print()
    print(acked_table(report))
    print()
    print(footprint_table(report))
    if args.json:
        _write_json(args.json, report)
    if args.out:
        write_markdown(args.out, report)
        log("wrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
