#!/usr/bin/env python3
"""Randomized fault series against a three-node cluster in a netns.Topology (issue 12).

::

    python3 Benchmarks/faults/chaos.py --faults N --mode on|quorum|off [--seed S]
        [--backend pgha|patroni] [--kinds k1,k2,...] [--prefix P] [--workdir D]
        [--report FILE.json] [--budget SECONDS] [--keep] [--pgbench TPS]

Prints the seed first (random unless given) and a one-line reproducer. The kinds are drawn
as shuffled rounds of ``--kinds`` (default: all), so ``--faults 9`` runs each kind once.

Fault kinds (``p`` = the primary when the fault starts); each is followed by healing, the old
primary's return and a wait (``--budget``, 60 s) for one primary + two streaming replicas
(+ a synchronous standby in on/quorum: the backend's ``wait_healthy``):

* ``kill9-primary-host``  kill -9 of p's agent, guard, Postgres; once another primary is up
  (or after 60 s), the host is restarted;
* ``isolate-primary``     p cut from both replicas (nftables) while the client stays
  connected to it; healed once another primary is up (or after 30 s) plus a few seconds;
* ``isolate-replica``     a random replica cut from the other hosts (client kept), 4-8 s;
* ``flap-primary-link``   p's link down/up 3-6 times (0.2-2 s down, 0.5-2 s up);
* ``netem-primary``       200-400 ms delay (+-30 ms) and 2-8 % loss on p's egress, 8-12 s;
* ``asymmetric-primary``  p can send but receives nothing from the replicas (client kept);
  healed once another primary is up (or after 20 s) plus a few seconds;
* ``crash-postgres``      kill -9 of p's postmaster only;
* ``restart-agent``       p's agent stopped (SIGTERM) and started again after 1-3 s;
* ``sigstop-agent``       p's agent SIGSTOPped for 3-6 s, then SIGCONT.

Workload, from the client namespace (threads that entered it with ``netns.enter_netns``; the
checks run through ``Topology.call_in('c', ...)``), for the whole series, into table
``chaos_acks(v bigint primary key, w text)``; every value comes from one increasing counter:

* writer ``m``: the multi-host DSN (``target_session_attrs=read-write``), one insert every
  ~10 ms; records for every acknowledged insert the value, send and ack time
  (``time.monotonic()``), ``inet_server_addr()``, the WAL insert LSN and the timeline
  (``pg_walfile_name``), all from the INSERT's RETURNING;
* writers ``d1``..``d3``: one connection to every node directly, an insert every ~50 ms on
  each (a replica answers read-only, which keeps the connection);
* with ``--pgbench TPS``: pgbench (scale 1, one client, ``-R TPS``) through the multi-host DSN,
  started again whenever it exits; the mean throughput during each fault is reported.

A commit that Postgres commits locally but cancels the wait for the synchronous standby (the
"canceling (the) wait for synchronous replication" warning, statement_timeout 3 s) is NOT an
acknowledgement; those are counted as ``syncrep_cancel``.

Checks after each fault and at the end:

1. split brain: the acks are grouped per (server, timeline) = primary epoch. An epoch's
   certain window is [earliest ack time, latest send time] over its acks: its first commit
   happened at or before the former, its last at or after the latter (one monotonic clock:
   everything runs on this machine). Two epochs of different servers whose certain windows
   intersect prove both accepted writes in overlapping windows;
2. on/quorum: every acknowledged value is on the current primary (after each fault; at the
   end on the final primary);
3. off: acknowledged values missing there are counted per fault ("lost"), with the WAL bytes
   between the last surviving and the last lost ack of that epoch as an estimate, next to
   ``maximum_lag_on_failover`` (from REST ``/config`` when the backend has it);
4. recovery: healthy within ``--budget`` after healing (else a recovery failure; the series
   goes on once it is healthy again, or stops after a further 120 s);
5. write unavailability: the longest gap between successive acks of writer ``m`` from the
   last ack before the fault to the first ack after recovery.

Prints per fault one line, then a table per kind and ``PASS``/``FAIL``. Exit code 1 on any
split brain, lost ack in on/quorum, or recovery failure; 0 otherwise; 2 when the harness
itself failed; 77 when this machine cannot run it (netns.Skip); 130 on Ctrl-C. Everything
(writers, cluster, namespaces) is torn down on any exit; leftovers of a killed run go with
``python3 Benchmarks/faults/netns.py --cleanup PREFIX``. On a failure the nodes' ``*.log``
files are copied to ``/tmp/<prefix>-chaos-logs-<seed>/`` before the workdir is removed.

Uses the standard library and psycopg2 (which the backends use).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import netns  # noqa: E402

KINDS = ["kill9-primary-host", "isolate-primary", "isolate-replica", "flap-primary-link",
         "netem-primary", "asymmetric-primary", "crash-postgres", "restart-agent",
         "sigstop-agent"]
SYNC_MODES = ("off", "on", "quorum")
# cluster methods each kind needs besides start/stop/primary/replicas/wait_healthy/dsn*/node_dir
REQUIRES = {"kill9-primary-host": ["kill_host", "restart_host"],
            "crash-postgres": ["crash_postgres"],
            "restart-agent": ["stop_agent", "start_agent"],
            "sigstop-agent": ["sigstop_agent", "sigcont_agent"]}
TABLE = "chaos_acks"
STATEMENT_TIMEOUT_MS = 3000
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
DEFAULT_MAX_LAG = 1024 * 1024

T0 = time.monotonic()


def log(msg):
    print("[%7.1fs] %s" % (time.monotonic() - T0, msg), flush=True)


def lsn_int(text):
    if not text or "/" not in text:
        return None
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


# ---------------------------------------------------------------- workload

class Counter:
    """One source of unique increasing values for every writer."""

    def __init__(self):
        self._n = 0
        self._lock = threading.Lock()

    def next(self):
        with self._lock:
            self._n += 1
            return self._n


class Ledger:
    """What the writers saw. ``acks``: (v, t_sent, t_ack, server, lsn, timeline, writer);
    ``fails``: (t_sent, t_end, writer, kind, message); ``cancels``: (v, t, server, writer) of commits
    whose synchronous-replication wait was cancelled (not acknowledged)."""

    def __init__(self):
        self.acks, self.fails, self.cancels = [], [], []
        self.lock = threading.Lock()

    def snapshot(self):
        with self.lock:
            return list(self.acks), list(self.fails), list(self.cancels)


def _connect(dsn):
    import psycopg2
    c = psycopg2.connect(dsn, keepalives=1, keepalives_idle=1, keepalives_interval=1,
                         keepalives_count=2, tcp_user_timeout=2000,
                         options="-c statement_timeout=%d" % STATEMENT_TIMEOUT_MS)
    c.autocommit = True
    return c


INSERT = ("INSERT INTO %s(v, w) VALUES (%%s, %%s) RETURNING host(inet_server_addr()), "
          "pg_current_wal_lsn()::text, substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)" % TABLE)


class Writer(threading.Thread):
    """Inserts a new value every ``interval`` through ``dsn`` from inside the client namespace.

    ``sticky_readonly``: keep the connection after a read-only error (the direct writers: the
    node may be promoted later); otherwise any error means reconnect (the multi-host writer:
    libpq then finds the read-write server)."""

    def __init__(self, topo, name, dsn, interval, counter, ledger, stop, sticky_readonly):
        super().__init__(name="chaos-writer-" + name, daemon=True)
        self.topo, self.wname, self.dsn, self.interval = topo, name, dsn, interval
        self.counter, self.ledger, self.stop_ev = counter, ledger, stop
        self.sticky = sticky_readonly
        self.error = None

    def run(self):
        try:
            netns.enter_netns(self.topo.ns("c"))
        except Exception as e:  # noqa: BLE001
            self.error = e
            return
        conn = None
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            ok = False
            try:
                if conn is None:
                    conn = _connect(self.dsn)
                v = self.counter.next()
                t0 = time.monotonic()
                del conn.notices[:]
                with conn.cursor() as cur:
                    cur.execute(INSERT, (v, self.wname))
                    server, lsn, tl = cur.fetchone()
                t1 = time.monotonic()
                if any("synchronous replication" in n and "cancel" in n for n in conn.notices):
                    with self.ledger.lock:
                        self.ledger.cancels.append((v, t1, server, self.wname))
                        self.ledger.fails.append((t0, t1, self.wname, "SyncRepCancel", ""))
                else:
                    ok = True
                    with self.ledger.lock:
                        self.ledger.acks.append((v, t0, t1, server, lsn_int(lsn), int(tl, 16), self.wname))
            except Exception as e:  # noqa: BLE001
                t1 = time.monotonic()
                code = getattr(e, "pgcode", None)
                kind = "ReadOnly" if code == "25006" else type(e).__name__
                msg = " ".join(str(e).split())[:160]
                with self.ledger.lock:
                    self.ledger.fails.append((t0, t1, self.wname, kind, msg))
                if not (self.sticky and code == "25006"):
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            conn.close()
                    conn = None
            elapsed = time.monotonic() - t0
            self.stop_ev.wait(max(0.0, self.interval - elapsed) if ok else self.interval)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


# ---------------------------------------------------------------- client-side queries (run via call_in('c'))

class PgbenchLoad(threading.Thread):
    """pgbench (its TPC-B-like script, scale 1, ``-c 1``) at ``rate`` transactions per second
    through the multi-host DSN, from the client namespace, for throughput under faults. pgbench
    ends a client whose connection fails, so it is started again (after 0.2 s) whenever it
    exits; ``samples`` holds (time.monotonic(), tps) from its one-second progress lines.
    Only the processes it started are ended, by their PID."""

    def __init__(self, topo, dsn, rate, stop):
        super().__init__(name="chaos-pgbench", daemon=True)
        self.topo, self.dsn, self.rate, self.stop_ev = topo, dsn, rate, stop
        self.samples, self.restarts, self.proc, self.error = [], 0, None, None
        self.lock = threading.Lock()

    def initialize(self):
        r = subprocess.run(["ip", "netns", "exec", self.topo.ns("c"), PGBENCH, "-i", "-q", "-s", "1", self.dsn],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("pgbench -i failed: %s" % r.stdout[-500:])

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.proc = subprocess.Popen(
                    ["ip", "netns", "exec", self.topo.ns("c"), PGBENCH, "-n", "-c", "1", "-R", str(self.rate),
                     "-T", "86400", "-P", "1", self.dsn],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            except OSError as e:
                self.error = e
                return
            for line in self.proc.stdout:
                if line.startswith("progress:") and " tps" in line:
                    with contextlib.suppress(ValueError, IndexError):
                        tps = float(line.split(",")[1].split()[0])
                        with self.lock:
                            self.samples.append((time.monotonic(), tps))
                if self.stop_ev.is_set():
                    break
            with contextlib.suppress(Exception):
                self.proc.terminate()
                self.proc.wait(5)
            self.restarts += 1
            self.stop_ev.wait(0.2)

    def stop(self):
        p = self.proc
        if p is not None and p.poll() is None:
            with contextlib.suppress(Exception):
                p.terminate()
                p.wait(5)
        self.join(8)

    def mean_tps(self, t_from, t_to):
        """Mean of the per-second tps samples in [t_from, t_to], counting seconds without a
        sample (pgbench not connected) as 0."""
        with self.lock:
            xs = [tps for t, tps in self.samples if t_from <= t <= t_to]
        seconds = max(1, int(round(t_to - t_from)))
        return round(sum(xs) / max(seconds, len(xs)), 1)


def _q_setup(dsn):
    c = _connect(dsn)
    try:
        with c.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS %s (v bigint PRIMARY KEY, w text NOT NULL, "
                        "at timestamptz NOT NULL DEFAULT clock_timestamp())" % TABLE)
            cur.execute("SELECT host(inet_server_addr())")
            return cur.fetchone()[0]
    finally:
        c.close()


def _q_values(dsn):
    """(server, in_recovery, set of v) from one server."""
    import psycopg2
    c = psycopg2.connect(dsn, options="-c statement_timeout=30000")
    try:
        with c.cursor() as cur:
            cur.execute("SELECT host(inet_server_addr()), pg_is_in_recovery()")
            server, rec = cur.fetchone()
            cur.execute("SELECT v FROM %s" % TABLE)
            return server, rec, {r[0] for r in cur.fetchall()}
    finally:
        c.close()


def _http_get(url, timeout=3.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read().decode(errors="replace"))
    except urllib.error.HTTPError as e:
        return e.code, None


# ---------------------------------------------------------------- analysis

def epochs(acks):
    """{(server, timeline): [min t_ack, max t_sent, n, writers]}"""
    out = {}
    for v, ts, ta, server, lsn, tl, w in acks:
        e = out.get((server, tl))
        if e is None:
            out[(server, tl)] = [ta, ts, 1, {w}]
        else:
            if ta < e[0]:
                e[0] = ta
            if ts > e[1]:
                e[1] = ts
            e[2] += 1
            e[3].add(w)
    return out


def split_brains(acks):
    """Pairs of epochs of different servers whose certain windows intersect:
    [(epochA, epochB, overlap_start, overlap_end)]."""
    ep = sorted(epochs(acks).items(), key=lambda kv: kv[1][0])
    out = []
    for i in range(len(ep)):
        (ka, a) = ep[i]
        for j in range(i + 1, len(ep)):
            (kb, b) = ep[j]
            if ka[0] == kb[0]:
                continue
            if b[0] < a[1] and a[0] < b[1]:
                out.append((ka, kb, max(a[0], b[0]), min(a[1], b[1])))
    return out


def max_gap(acks, t_from, t_to, writer="m"):
    """Longest gap between successive acks of ``writer`` from the last ack at or before
    t_from to the first ack at or after t_to: (gap_s, gap_start, gap_end) or (None,..)
    when there is no ack on one side."""
    ts = sorted(a[2] for a in acks if a[6] == writer)
    before = [t for t in ts if t <= t_from]
    after = [t for t in ts if t >= t_to]
    if not before:
        return None, None, None
    lo = before[-1]
    hi = after[0] if after else None
    seq = [t for t in ts if lo <= t and (hi is None or t <= hi)]
    best = (0.0, lo, lo)
    for x, y in zip(seq, seq[1:]):
        if y - x > best[0]:
            best = (y - x, x, y)
    if hi is None:
        # never acked again: the gap runs at least to t_to
        last = seq[-1]
        if t_to - last > best[0]:
            best = (t_to - last, last, None)
    return best


# ---------------------------------------------------------------- the runner

class Chaos:
    def __init__(self, args, backend_mod, rng):
        self.a, self.mod, self.rng = args, backend_mod, rng
        self.topo = self.c = None
        self.counter, self.ledger = Counter(), Ledger()
        self.stop_ev = threading.Event()
        self.writers = []
        self.pgbench = None
        self.results = []
        self.lost = {}            # v -> fault index where first found missing (None = end)
        self.sb_seen = set()      # (epochA, epochB) already reported
        self.max_lag = None
        self.aborted = None
        self.final = {}
        self.addr2host = {}

    # ---- helpers
    def primary(self):
        try:
            return self.c.primary()
        except Exception:  # noqa: BLE001
            return None

    def replicas(self):
        try:
            return self.c.replicas()
        except Exception:  # noqa: BLE001
            return []

    def wait_new_primary(self, old, timeout):
        """Poll until a running primary other than ``old``; return it or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            p = self.primary()
            if p is not None and p != old:
                return p
            time.sleep(0.2)
        return None

    def wait_ack_on(self, server, since, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.ledger.lock:
                for a in reversed(self.ledger.acks):
                    if a[2] < since:
                        break
                    if a[6] == "m" and (server is None or a[3] == server):
                        return a
            time.sleep(0.05)
        return None

    def hold(self, lo, hi):
        d = self.rng.uniform(lo, hi)
        time.sleep(d)
        return round(d, 2)

    def wait_healthy(self, timeout):
        """(ok, seconds, error)"""
        t0 = time.monotonic()
        try:
            self.c.wait_healthy(timeout)
            return True, round(time.monotonic() - t0, 2), None
        except Exception as e:  # noqa: BLE001 (TimeoutError, RuntimeError: an agent exited)
            return False, round(time.monotonic() - t0, 2), "%s: %s" % (type(e).__name__, str(e)[:600])

    # ---- faults: each returns a dict with at least t_heal, and heals in finally
    def f_kill9_primary_host(self, p, reps, d):
        t = self.c.kill_host(p)
        try:
            np_ = self.wait_new_primary(p, 60)
            d["new_primary_after_s"] = round(time.monotonic() - t, 2) if np_ else None
            if np_:
                d["held_s"] = self.hold(1, 3)
        finally:
            self.c.restart_host(p)
            d["t_heal"] = time.monotonic()

    def _cut_primary(self, p, d, cut, wait_s):
        """Apply `cut` to the primary's links (the client keeps its connection), wait up to
        `wait_s` for another primary, hold a little, then heal."""
        t = time.monotonic()
        cut(p, keep=["c"])
        try:
            np_ = self.wait_new_primary(p, wait_s)
            d["new_primary_after_s"] = round(time.monotonic() - t, 2) if np_ else None
            d["held_s"] = self.hold(2, 4)
        finally:
            self.topo.heal(p)
            d["t_heal"] = time.monotonic()

    def f_isolate_primary(self, p, reps, d):
        self._cut_primary(p, d, self.topo.isolate, 30)

    def f_isolate_replica(self, p, reps, d):
        r = self.rng.choice(reps) if reps else self.rng.choice([h for h in self.c.hosts if h != p])
        d["target"] = r
        self.topo.isolate(r, keep=["c"])
        try:
            d["held_s"] = self.hold(4, 8)
        finally:
            self.topo.heal(r)
            d["t_heal"] = time.monotonic()

    def f_flap_primary_link(self, p, reps, d):
        n = self.rng.randint(3, 6)
        flaps = []
        try:
            for _ in range(n):
                down, up = round(self.rng.uniform(0.2, 2.0), 2), round(self.rng.uniform(0.5, 2.0), 2)
                self.topo.link_down(p)
                time.sleep(down)
                self.topo.link_up(p)
                time.sleep(up)
                flaps.append([down, up])
        finally:
            self.topo.link_up(p)
            d["t_heal"] = time.monotonic()
            d["flaps_down_up_s"] = flaps

    def f_netem_primary(self, p, reps, d):
        delay, loss = round(self.rng.uniform(200, 400)), round(self.rng.uniform(2, 8), 1)
        d["netem"] = {"delay_ms": delay, "jitter_ms": 30, "loss_pct": loss}
        d["netem"]["via"] = self.topo.netem(p, delay_ms=delay, jitter_ms=30, loss_pct=loss)
        try:
            d["held_s"] = self.hold(8, 12)
        finally:
            self.topo.clear_netem(p)
            d["t_heal"] = time.monotonic()

    def f_asymmetric_primary(self, p, reps, d):
        self._cut_primary(p, d, self.topo.asymmetric, 20)

    def f_crash_postgres(self, p, reps, d):
        self.c.crash_postgres(p)
        d["t_heal"] = time.monotonic()

    def f_restart_agent(self, p, reps, d):
        try:
            d["stop_s"] = self.c.stop_agent(p)
            d["held_s"] = self.hold(1, 3)
        finally:
            self.c.start_agent(p)
            d["t_heal"] = time.monotonic()

    def f_sigstop_agent(self, p, reps, d):
        self.c.sigstop_agent(p)
        try:
            d["held_s"] = self.hold(3, 6)
        finally:
            self.c.sigcont_agent(p)
            d["t_heal"] = time.monotonic()

    # ---- checks
    def check_values(self, label):
        """Compare every ack so far with the current primary's table. Returns (primary,
        newly lost values, error)."""
        acks, _, _ = self.ledger.snapshot()
        err = None
        for _attempt in range(10):
            p = self.primary()
            if p is None:
                time.sleep(1)
                continue
            try:
                server, rec, have = self.topo.call_in("c", _q_values, self.c.dsn(p), timeout=60)
            except Exception as e:  # noqa: BLE001
                err = "%s: %s" % (type(e).__name__, str(e).strip()[:200])
                time.sleep(1)
                continue
            if rec:
                err = "host %s is in recovery" % p
                time.sleep(1)
                continue
            new = sorted(a[0] for a in acks if a[0] not in have and a[0] not in self.lost)
            for v in new:
                self.lost[v] = label
            return p, new, None
        return None, [], err or "no primary"

    def lost_bytes(self, lost_vals):
        """Estimate, per epoch, the WAL between the last surviving ack before the first lost
        one and the last lost one."""
        if not lost_vals:
            return 0
        acks, _, _ = self.ledger.snapshot()
        lost = set(lost_vals)
        by_ep = {}
        for a in acks:
            by_ep.setdefault((a[3], a[5]), []).append(a)
        total = 0
        for ep, lst in by_ep.items():
            l_lsn = [a[4] for a in lst if a[0] in lost and a[4] is not None]
            if not l_lsn:
                continue
            first_lost = min(l_lsn)
            kept = [a[4] for a in lst if a[0] not in lost and a[0] not in self.lost
                    and a[4] is not None and a[4] <= first_lost]
            base = max(kept) if kept else first_lost
            total += max(l_lsn) - base
        return total

    def new_split_brains(self, label):
        acks, _, _ = self.ledger.snapshot()
        out = []
        for ka, kb, o0, o1 in split_brains(acks):
            key = (ka, kb)
            if key in self.sb_seen:
                continue
            self.sb_seen.add(key)
            out.append({"a": {"server": ka[0], "host": self.addr2host.get(ka[0]), "timeline": ka[1]},
                        "b": {"server": kb[0], "host": self.addr2host.get(kb[0]), "timeline": kb[1]},
                        "overlap_from_s": round(o0 - T0, 3), "overlap_to_s": round(o1 - T0, 3),
                        "overlap_s": round(o1 - o0, 3), "found_after": label})
        return out

    # ---- one fault
    def run_fault(self, idx, kind):
        a = self.a
        d = {"index": idx, "kind": kind}
        ok, secs, err = self.wait_healthy(a.budget)
        if not ok:
            d["pre_unhealthy"] = err
            ok, secs, err = self.wait_healthy(120)
            if not ok:
                self.aborted = "cluster not healthy before fault %d: %s" % (idx, err)
                d["skipped"] = True
                return d
        p = self.primary()
        reps = self.replicas()
        if p is None:
            self.aborted = "no primary before fault %d" % idx
            d["skipped"] = True
            return d
        d["old_primary"] = p
        paddr = self.topo.address(p)
        if self.wait_ack_on(paddr, time.monotonic(), 15) is None:
            d["note"] = "writer m had no ack on the primary for 15 s before the fault"
        time.sleep(self.rng.uniform(1.0, 2.0))
        t_start = time.monotonic()
        d["t_start_s"] = round(t_start - T0, 2)
        log("fault %d/%d %s on primary n%d (replicas %s)" % (idx, a.faults, kind, p, reps))
        fn = getattr(self, "f_" + kind.replace("-", "_"))
        try:
            fn(p, reps, d)
        except Exception as e:  # noqa: BLE001
            d["fault_error"] = "%s: %s" % (type(e).__name__, e)
            d.setdefault("t_heal", time.monotonic())
            log("  fault step raised: %s" % d["fault_error"])
        t_heal = d.pop("t_heal")
        d["healed_after_s"] = round(t_heal - t_start, 2)
        ok, secs, err = self.wait_healthy(a.budget)
        d["recovered"] = ok
        d["recovery_s"] = secs
        if not ok:
            d["recovery_error"] = err
            log("  NOT healthy %.0fs after healing: %s" % (a.budget, err))
            with contextlib.suppress(Exception):
                d["cluster_at_failure"] = self.c.cluster()
            ok2, secs2, err2 = self.wait_healthy(120)
            d["recovered_late_s"] = round(secs + secs2, 2) if ok2 else None
            if not ok2:
                self.aborted = "cluster not healthy %.0fs after healing fault %d" % (a.budget + 120, idx)
        t_rec = time.monotonic()
        np_ = self.primary()
        d["new_primary"] = np_
        d["failover"] = np_ is not None and np_ != p
        if self.wait_ack_on(None, t_rec, 15) is None:
            d["note_after"] = "writer m had no ack for 15 s after recovery"
        t_end = time.monotonic()
        gap, g0, g1 = max_gap(self.ledger.snapshot()[0], t_start, t_end)
        d["unavailable_s"] = round(gap, 3) if gap is not None else None
        if g0 is not None:
            d["gap_from_s"] = round(g0 - t_start, 3)
            d["gap_to_s"] = round(g1 - t_start, 3) if g1 is not None else None
        _, fails, cancels = self.ledger.snapshot()
        kinds = {}
        for f in fails:
            if t_start <= f[0] <= t_end:
                kinds[f[3]] = kinds.get(f[3], 0) + 1
        d["failed_attempts"] = kinds
        msgs = {}
        for f in fails:
            if t_start <= f[0] <= t_end and f[3] != "ReadOnly":
                key = "%s %s: %s" % (f[2], f[3], f[4])
                msgs[key] = msgs.get(key, 0) + 1
        d["errors_top"] = sorted(msgs.items(), key=lambda kv: -kv[1])[:12]
        d["syncrep_cancel"] = sum(1 for x in cancels if t_start <= x[1] <= t_end)
        # checks
        sb = self.new_split_brains("fault %d" % idx)
        d["split_brain"] = sb
        qp, lost, qerr = self.check_values("fault %d" % idx)
        d["checked_on"] = qp
        if qerr:
            d["check_error"] = qerr
        d["lost_acked"] = len(lost)
        d["lost_values_sample"] = lost[:20]
        if lost:
            d["lost_bytes_est"] = self.lost_bytes(lost)
        d["t_end_s"] = round(t_end - T0, 2)
        if self.pgbench is not None:
            d["pgbench_tps"] = self.pgbench.mean_tps(t_start, t_end)
        log("  -> %s: unavailable %s s, recovery %s s (healed after %s s), primary n%s -> n%s, "
            "split brain %d, lost acked %d%s, failed attempts %s, syncrep cancels %d" % (
                "ok" if d["recovered"] else "RECOVERY FAILURE", d["unavailable_s"], d["recovery_s"],
                d["healed_after_s"], p, np_, len(sb), len(lost),
                " (~%d bytes)" % d["lost_bytes_est"] if lost else "", kinds, d["syncrep_cancel"]))
        for s in sb:
            log("  SPLIT BRAIN: %s" % json.dumps(s))
        return d

    # ---- the series
    def plan(self, kinds, n):
        out = []
        while len(out) < n:
            r = list(kinds)
            self.rng.shuffle(r)
            out.extend(r)
        return out[:n]

    def run(self):
        a = self.a
        plan = self.plan(a.kinds, a.faults)
        log("plan: %s" % ", ".join(plan))
        cls = self.mod.PgHACluster if a.backend == "pgha" else self.mod.PatroniCluster
        with netns.Topology(a.prefix) as topo:
            self.topo = topo
            self.addr2host = {topo.address(i): i for i in topo.host_ids}
            with cls(topo, a.workdir, mode=a.mode, keep_workdir=a.keep) as c:
                self.c = c
                try:
                    t0 = time.monotonic()
                    c.start()
                    log("cluster healthy after %.1fs: primary n%s, replicas %s" % (
                        time.monotonic() - t0, self.primary(), self.replicas()))
                    server = topo.call_in("c", _q_setup, c.dsn_multi(), timeout=30)
                    log("table %s created on %s" % (TABLE, server))
                    self.read_max_lag()
                    self.start_writers()
                    if a.pgbench > 0:
                        self.pgbench = PgbenchLoad(topo, c.dsn_multi(), a.pgbench, self.stop_ev)
                        self.pgbench.initialize()
                        self.pgbench.start()
                        log("pgbench through the multi-host string at %d tps (-R)" % a.pgbench)
                    if self.wait_ack_on(None, time.monotonic(), 20) is None:
                        raise RuntimeError("writer m got no ack within 20 s")
                    time.sleep(2)
                    for idx, kind in enumerate(plan, 1):
                        self.results.append(self.run_fault(idx, kind))
                        if self.aborted:
                            log("ABORT: %s" % self.aborted)
                            break
                    self.finish()
                finally:
                    self.stop_writers()
                    if (self.verdict()[0] != "PASS" or self.aborted) and not a.keep:
                        self.save_logs()

    def read_max_lag(self):
        p = self.primary()
        with contextlib.suppress(Exception):
            st, body = self.topo.call_in("c", _http_get, self.c.rest_url(p, "/config"), timeout=10)
            if st == 200 and isinstance(body, dict) and "maximum_lag_on_failover" in body:
                self.max_lag = int(body["maximum_lag_on_failover"])
        log("maximum_lag_on_failover: %s" % (self.max_lag if self.max_lag is not None
                                              else "unknown (assuming %d)" % DEFAULT_MAX_LAG))

    def start_writers(self):
        c = self.c
        specs = [("m", c.dsn_multi(), 0.01, False)]
        specs += [("d%d" % i, c.dsn(i), 0.05, True) for i in c.hosts]
        for name, dsn, iv, sticky in specs:
            w = Writer(self.topo, name, dsn, iv, self.counter, self.ledger, self.stop_ev, sticky)
            w.start()
            self.writers.append(w)

    def stop_writers(self):
        self.stop_ev.set()
        if self.pgbench is not None:
            self.pgbench.stop()
        for w in self.writers:
            w.join(8)
        stuck = [w.wname for w in self.writers if w.is_alive()]
        if stuck:
            log("writers still running (daemon threads, left behind): %s" % stuck)

    def finish(self):
        log("final checks")
        ok, secs, err = self.wait_healthy(self.a.budget)
        self.final["healthy"] = ok
        if not ok:
            self.final["healthy_error"] = err
        time.sleep(1)
        self.stop_writers()
        sb = self.new_split_brains("end")
        qp, lost, qerr = self.check_values("end")
        acks, fails, cancels = self.ledger.snapshot()
        self.final.update({
            "final_primary": qp, "check_error": qerr, "split_brain": sb,
            "lost_acked_found_at_end": len(lost), "lost_values_sample": lost[:20],
            "acked_total": len(acks), "acked_by_writer": {}, "epochs": [],
            "syncrep_cancel_total": len(cancels),
        })
        for a in acks:
            self.final["acked_by_writer"][a[6]] = self.final["acked_by_writer"].get(a[6], 0) + 1
        for (server, tl), e in sorted(epochs(acks).items(), key=lambda kv: kv[1][0]):
            self.final["epochs"].append({"host": self.addr2host.get(server), "timeline": tl,
                                         "from_s": round(e[0] - T0, 2), "to_s": round(e[1] - T0, 2),
                                         "acks": e[2], "writers": sorted(e[3])})
        if lost:
            self.final["lost_bytes_est"] = self.lost_bytes(lost)
        log("final primary n%s; %d acks (%s), all-time lost %d (at end %d), split brain total %d" % (
            qp, len(acks), self.final["acked_by_writer"], len(self.lost), len(lost),
            len(self.sb_seen)))
        for s in sb:
            log("  SPLIT BRAIN: %s" % json.dumps(s))

    def save_logs(self):
        if self.c is None:
            return
        dest = "/tmp/%s-chaos-logs-%s" % (self.a.prefix, self.a.seed)
        n = 0
        with contextlib.suppress(Exception):
            for i in self.c.hosts:
                nd = self.c.node_dir(i)
                for root, dirs, files in os.walk(nd):
                    dirs[:] = [x for x in dirs if x not in ("pgdata", "raft", "etcd")]
                    for f in files:
                        if f.endswith(".log"):
                            rel = os.path.relpath(os.path.join(root, f), self.c.workdir)
                            os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
                            shutil.copy2(os.path.join(root, f), os.path.join(dest, rel))
                            n += 1
        if n:
            log("copied %d log files to %s" % (n, dest))

    # ---- summary
    def totals(self):
        sb = len(self.sb_seen)
        lost = len(self.lost)
        rec_fail = sum(1 for r in self.results if r.get("recovered") is False)
        if self.final and self.final.get("healthy") is False:
            rec_fail += 1
        return sb, lost, rec_fail

    def verdict(self):
        sb, lost, rec_fail = self.totals()
        why = []
        if sb:
            why.append("%d split brain(s)" % sb)
        if lost and self.a.mode in ("on", "quorum"):
            why.append("%d acknowledged write(s) lost in mode %s" % (lost, self.a.mode))
        if rec_fail:
            why.append("%d recovery failure(s)" % rec_fail)
        if self.aborted:
            why.append("aborted: %s" % self.aborted)
        if self.final.get("check_error"):
            why.append("final check failed: %s" % self.final["check_error"])
        if not self.final and not self.aborted:
            why.append("series did not finish")
        return ("FAIL" if why else "PASS"), why

    def summary_rows(self):
        rows = []
        for kind in KINDS:
            rs = [r for r in self.results if r["kind"] == kind and not r.get("skipped")]
            if not rs:
                continue
            un = [r["unavailable_s"] for r in rs if r.get("unavailable_s") is not None]
            rows.append({
                "kind": kind, "count": len(rs),
                "failovers": sum(1 for r in rs if r.get("failover")),
                "unavail_median_s": round(statistics.median(un), 2) if un else None,
                "unavail_max_s": round(max(un), 2) if un else None,
                "split_brain": sum(len(r.get("split_brain", [])) for r in rs),
                "lost_acked": sum(r.get("lost_acked", 0) for r in rs),
                "lost_bytes_est": sum(r.get("lost_bytes_est", 0) for r in rs),
                "recovery_failures": sum(1 for r in rs if r.get("recovered") is False),
                "recovery_max_s": max((r.get("recovery_s") or 0) for r in rs),
                "pgbench_tps_median": (round(statistics.median(r["pgbench_tps"] for r in rs), 1)
                                       if all("pgbench_tps" in r for r in rs) else None),
            })
        return rows

    def print_summary(self):
        rows = self.summary_rows()
        hdr = ("kind", "n", "failover", "unavail med", "unavail max", "split brain", "lost acked",
               "recov fail", "recov max", "pgbench tps")
        fmt = "%-19s %3s %8s %11s %11s %11s %10s %10s %9s %11s"
        print()
        print(fmt % hdr)
        fs = lambda x: "-" if x is None else "%.2fs" % x  # noqa: E731
        for r in rows:
            lost = str(r["lost_acked"])
            if r["lost_bytes_est"]:
                lost += " (%dB)" % r["lost_bytes_est"]
            print(fmt % (r["kind"], r["count"], r["failovers"], fs(r["unavail_median_s"]),
                         fs(r["unavail_max_s"]), r["split_brain"], lost, r["recovery_failures"],
                         fs(r["recovery_max_s"]),
                         "-" if r["pgbench_tps_median"] is None else "%.1f" % r["pgbench_tps_median"]))
        sb, lost, rec_fail = self.totals()
        end_sb = len(self.final.get("split_brain", []))
        end_lost = self.final.get("lost_acked_found_at_end", 0)
        if end_sb or end_lost:
            print(fmt % ("(found at end)", "", "", "", "", end_sb, end_lost, "", "", ""))
        if self.pgbench is not None:
            print("pgbench: %d tps asked (-R); median over the faults' windows per kind above; "
                  "restarted %d times" % (self.a.pgbench, self.pgbench.restarts))
        if self.a.mode == "off" and lost:
            print("mode off: %d acknowledged writes lost; bound maximum_lag_on_failover = %s bytes"
                  % (lost, self.max_lag if self.max_lag is not None else "%d (assumed)" % DEFAULT_MAX_LAG))
        v, why = self.verdict()
        print("%s: %d/%d faults, mode %s, backend %s, seed %s; split brain %d, lost acked %d, "
              "recovery failures %d%s" % (v, len(self.results), self.a.faults, self.a.mode,
                                          self.a.backend, self.a.seed, sb, lost, rec_fail,
                                          (" -- " + "; ".join(why)) if why else ""), flush=True)
        return v

    def report(self, error=None):
        v, why = self.verdict()
        return {"seed": self.a.seed, "args": {k: getattr(self.a, k) for k in
                                              ("faults", "mode", "backend", "kinds", "prefix",
                                               "workdir", "budget", "pgbench")},
                "reproducer": reproducer(self.a), "verdict": v, "why": why, "error": error,
                "maximum_lag_on_failover": self.max_lag, "summary": self.summary_rows(),
                "faults": self.results, "final": self.final,
                "lost_values": sorted(self.lost)[:1000]}


def reproducer(a):
    s = "python3 Benchmarks/faults/chaos.py --faults %d --mode %s --seed %d --backend %s" % (
        a.faults, a.mode, a.seed, a.backend)
    if a.kinds != KINDS:
        s += " --kinds " + ",".join(a.kinds)
    if a.prefix != "pgc":
        s += " --prefix " + a.prefix
    if a.pgbench:
        s += " --pgbench %d" % a.pgbench
    return s


def _json_default(o):
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faults", type=int, required=True, help="number of faults in the series")
    ap.add_argument("--mode", required=True, choices=list(SYNC_MODES))
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--backend", default="pgha", choices=["pgha", "patroni"])
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of: " + ",".join(KINDS))
    ap.add_argument("--prefix", default="pgc", help="netns prefix (default pgc)")
    ap.add_argument("--workdir", default=None, help="default /tmp/<prefix>-chaos")
    ap.add_argument("--report", default=None, metavar="FILE.json")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds to become healthy after healing")
    ap.add_argument("--keep", action="store_true", help="keep the workdir (data, logs) afterwards")
    ap.add_argument("--pgbench", type=int, default=0, metavar="TPS",
                    help="also run pgbench through the multi-host string at this rate, and report the "
                         "throughput during each fault (0: off)")
    a = ap.parse_args(argv)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 2 ** 31)
    a.kinds = [k.strip() for k in a.kinds.split(",") if k.strip()]
    bad = [k for k in a.kinds if k not in KINDS]
    if bad or not a.kinds:
        ap.error("unknown kinds %s (known: %s)" % (bad, ", ".join(KINDS)))
    if a.faults < 0:
        ap.error("--faults must be >= 0")
    a.workdir = a.workdir or "/tmp/%s-chaos" % a.prefix
    print("seed: %d" % a.seed, flush=True)
    print("reproduce: %s" % reproducer(a), flush=True)

    try:
        if a.backend == "pgha":
            import pgha_backend as mod
            mod.preflight()
        else:
            import patroni_backend as mod
            pre = getattr(mod, "preflight", None) or getattr(mod, "ensure_installed")
            pre()
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            raise netns.Skip("psycopg2 missing for %s (pip install psycopg2-binary)" % sys.executable)
    except netns.Skip as e:
        print("skip:", e, file=sys.stderr)
        return 77

    cls = mod.PgHACluster if a.backend == "pgha" else mod.PatroniCluster
    missing = sorted({"%s (%s)" % (m, k) for k in a.kinds for m in REQUIRES.get(k, [])
                      if not callable(getattr(cls, m, None))})
    if missing:
        print("error: %s lacks %s; leave those kinds out with --kinds" % (cls.__name__, ", ".join(missing)),
              file=sys.stderr)
        return 2

    ch = Chaos(a, mod, random.Random(a.seed))
    error, rc = None, None
    try:
        ch.run()
    except KeyboardInterrupt:
        error, rc = "interrupted", 130
        log("interrupted; cleaned up")
    except SystemExit as e:
        error, rc = "terminated (%s)" % e.code, e.code if isinstance(e.code, int) else 1
    except netns.Skip as e:
        print("skip:", e, file=sys.stderr)
        return 77
    except Exception as e:  # noqa: BLE001
        error, rc = "%s: %s" % (type(e).__name__, e), 2
        traceback.print_exc()
    v = ch.print_summary()
    if a.report:
        with open(a.report, "w") as f:
            json.dump(ch.report(error), f, indent=2, default=_json_default)
            f.write("\n")
        print("report: %s" % a.report)
    if rc is not None:
        if error:
            print("ERROR: %s" % error)
        return rc
    return 0 if v == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
