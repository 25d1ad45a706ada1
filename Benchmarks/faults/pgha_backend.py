#!/usr/bin/env python3
"""A three-node pgha + PostgreSQL 15 cluster inside a netns.Topology.

The backend under test of the fault harness (``patroni_backend.PatroniCluster`` is the
comparison; both extend :class:`netns_cluster.NetnsCluster`, which holds their shared
interface: naming, pid scans, ``kill_host``/``restart_host``, the waiting helpers,
``switchover``, the DSNs, ``stop``). In each host namespace i of a
:class:`netns.Topology` it runs one ``pgha run --config <workdir>/n<i>/pgha.yml`` agent, as
root, which holds

* the Raft peer transport on ``address(i):7001`` and the store's client port ``address(i):7101``;
* the Patroni-style REST API on ``address(i):8008`` (no authentication: the namespaces are
  private);
* PostgreSQL 15 on ``address(i):5432``, data ``<workdir>/n<i>/pgdata``, unix socket in
  ``<workdir>/n<i>/run``, log ``<workdir>/n<i>/postgresql.log``. Postgres refuses root: the
  agent (root) starts every Postgres binary through ``setpriv --reuid postgres`` and gives the
  directories it creates to that user (``postgresql.run_as``, default ``postgres`` when the
  agent is root; README "The agent and the demo", ``PostgresController.swift``). So the
  ``postgres`` user must be able to reach the workdir: use one under /tmp;
* ``pgha guard``, the agent's child that stops Postgres when a frozen agent stops renewing it.

The postmaster is the agent's child with a parent-death signal, so kill -9 of the agent also
takes its Postgres down; :meth:`kill_host` kills every process of the host all the same.

Typical use::

    with netns.Topology("pgq") as topo, PgHACluster(topo, "/tmp/pgq", mode="on") as c:
        c.start()                         # one primary + two streaming replicas
        p = c.primary()
        c.kill_host(p)                    # kill -9 agent, guard, Postgres of host p
        c.wait_healthy(exclude=[p]) ...

Everything that talks to the cluster does so from inside a namespace (``Topology.call_in``),
never from the root namespace. Timings: ``None``/``'default'`` is pgha's own (Raft tick
100 ms, election 10 ticks, lease 6 ticks, HA loop 250 ms); a dict ``{'raft': {...}, 'ha':
{...}}`` is written into the member files as it is (keys of ``StoreNodeConfig``/``HATimings``).
Synchronous modes go into ``bootstrap.dcs.synchronous_mode`` (off / on / quorum).

Binary: ``.build/release/pgha`` of this repository (``PGHA_BIN`` overrides); it is not built
here. Postgres 15 binaries: ``/usr/lib/postgresql/15/bin``.

Self-check (root)::

    python3 Benchmarks/faults/pgha_backend.py --verify [--mode off|on|quorum] [--rounds N]
        [--prefix P] [--workdir D] [--no-restart] [--keep]

brings the cluster up, prints /cluster, kill -9s the primary's host, and measures how long
writes through the libpq multi-host string (from the client namespace) were unavailable
(``netns_cluster.WriteProbe``, re-exported here); then restarts the host, waits for it to
rejoin and runs a switchover.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns_cluster import (PG_BIN, PG_USER, REPLUSER, REPLUSER_PW, SUPERUSER,  # noqa: E402
                           SUPERUSER_PW, NetnsCluster, WriteProbe, _http, check_postgres, kill_round,
                           rejoin_round, self_check_main, self_check_parser, switchover_round)

__all__ = ["PgHACluster", "WriteProbe", "preflight", "Skip"]

Skip = netns.Skip

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PGHA_BIN = os.environ.get("PGHA_BIN", os.path.join(REPO, ".build", "release", "pgha"))
PORTS = {"raft": 7001, "client": 7101, "rest": 8008, "postgres": 5432}
SECRET = "pgha-faults-secret-0123456789"     # the Raft transport's shared secret (>= 16 bytes)
SYNC_MODES = ("off", "on", "quorum")
TIMINGS = {"default": {}}                   # named timings; {} = pgha's built-in defaults


# ---------------------------------------------------------------- checks

def preflight():
    """Raise Skip with a reason unless this machine can run the cluster: root, ip/nft/tc,
    the pgha binary, Postgres 15, the ``postgres`` user and setpriv."""
    netns.preflight()
    if not (os.path.isfile(PGHA_BIN) and os.access(PGHA_BIN, os.X_OK)):
        raise Skip("pgha binary not found at %s (build it with `swift build -c release`, or set PGHA_BIN)"
                   % PGHA_BIN)
    check_postgres(" (pgha runs Postgres as it when the agent is root)")
    if shutil.which("setpriv") is None:
        raise Skip("setpriv missing (Debian: util-linux); pgha starts Postgres through it")


def versions():
    """{'pgha': ..., 'postgres': ...}."""
    def out(argv):
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return r.stdout.strip().splitlines()[0] if r.stdout.strip() else "?"
    return {"pgha": out([PGHA_BIN, "--version"]),
            "postgres": out([os.path.join(PG_BIN, "postgres"), "--version"])}


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _freshness(view):
    """Sort key of a /cluster answer: (not marked stale, Raft term, answered by the leader
    holding its lease, applied index). An agent whose HA loop has not run for a while (just
    out of SIGSTOP) marks its answer ``"stale": true`` and names no leader in it."""
    r = view.get("raft") or {}
    return (not view.get("stale"), r.get("term") or 0, r.get("role") == "leader" and bool(r.get("lease")),
            r.get("applied_index") or 0)


# ---------------------------------------------------------------- the cluster

class PgHACluster(NetnsCluster):
    """pgha agents (with their Postgres) on every host of ``topology``.

    ``mode``: 'off' | 'on' | 'quorum' (synchronous replication); ``timings``: None |
    'default' | {'raft': {...}, 'ha': {...}}. Member names are ``n1``..``nN``; host index
    i <-> ``n<i>`` <-> Raft node id i. Host i's process is ``_procs[i]['agent']`` (`pgha run`;
    it runs the guard and Postgres); :meth:`pid_map` adds the postmaster and the guard.
    :meth:`restart_host` starts the agent again, and Postgres rejoins as a replica (pg_rewind
    or pg_basebackup when needed). Use as a context manager or call :meth:`stop` (also
    registered with atexit); it stops every agent with SIGTERM (each stops its Postgres).
    """

    MAIN_PROC, MAIN_LABEL = "agent", "pgha agent"
    GRACEFUL_TIMEOUT = 20.0
    PG_PORT, REST_PORT = PORTS["postgres"], PORTS["rest"]

    def __init__(self, topology: netns.Topology, workdir: str, mode: str = "off",
                 timings=None, scope: str = None, keep_workdir: bool = False):
        preflight()
        if mode not in SYNC_MODES:
            raise ValueError("mode must be one of %s" % list(SYNC_MODES))
        if timings is None or isinstance(timings, str):
            if (timings or "default") not in TIMINGS:
                raise ValueError("timings must be None, a dict or one of %s" % list(TIMINGS))
            self._timing_sections = TIMINGS[timings or "default"]
        elif isinstance(timings, dict):
            unknown = set(timings) - {"raft", "ha"}
            if unknown:
                raise ValueError("timings dict: unknown sections %s (known: raft, ha)" % sorted(unknown))
            self._timing_sections = timings
        else:
            raise ValueError("timings must be None, a name or a dict")
        super().__init__(topology, workdir, mode, timings or "default", scope, keep_workdir)

    # ---- naming
    def config_path(self, i):
        return os.path.join(self.node_dir(i), "pgha.yml")

    def agent_log(self, i):
        return self.log_path(i, "agent")

    def postgres_log(self, i):
        return self.log_path(i, "postgresql")

    # ---- configuration
    def _config(self, i):
        """Member i's file as a dict (written as JSON, which pgha's YAML loader reads)."""
        a = self.topo.address(i)
        nd = self.node_dir(i)
        cfg = {
            "cluster": self.scope,
            "node": i,
            "name": self.name(i),
            "data_dir": os.path.join(nd, "raft"),
            "secret": SECRET,
            "peers": [{"id": j, "name": self.name(j),
                       "raft": "%s:%d" % (self.topo.address(j), PORTS["raft"]),
                       "client": "%s:%d" % (self.topo.address(j), PORTS["client"])}
                      for j in self.hosts],
            "postgresql": {
                "data_dir": self.data_dir(i),
                "listen": "%s:%d" % (a, PORTS["postgres"]),
                "bin_dir": PG_BIN,
                "run_as": PG_USER,
                "socket_dir": os.path.join(nd, "run"),
                "log_file": self.postgres_log(i),
                "superuser": {"username": SUPERUSER, "password": SUPERUSER_PW},
                "replication": {"username": REPLUSER, "password": REPLUSER_PW},
                "parameters": {"shared_buffers": "32MB", "max_connections": "50"},
                "pg_hba": ["host all all %s scram-sha-256" % self.topo.subnet],
            },
            "restapi": {"listen": "%s:%d" % (a, PORTS["rest"])},
            "watchdog": {"mode": "off"},
            "bootstrap": {"dcs": {
                "synchronous_mode": self.mode,
                "synchronous_node_count": 1,
            }},
        }
        cfg.update(self._timing_sections)
        return cfg

    def _prepare(self):
        self._prepare_workdir()
        for i in self.hosts:
            nd = self.node_dir(i)
            os.makedirs(nd, exist_ok=True)
            os.chmod(nd, 0o755)      # root's; pgha creates pgdata/ and run/ for postgres (0700)
            path = self.config_path(i)
            with open(path, "w") as f:
                f.write("# pgha member %s of %s (written by pgha_backend.py)\n" % (self.name(i), self.scope))
                json.dump(self._config(i), f, indent=2)
                f.write("\n")
            os.chmod(path, 0o600)
        r = subprocess.run([PGHA_BIN, "run", "--config", self.config_path(self.hosts[0]), "--validate"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self._env(),
                           timeout=60)
        if r.returncode != 0:
            raise RuntimeError("pgha rejected the generated config:\n%s" % r.stdout.strip())

    # ---- processes
    def _env(self):
        # A clean environment: PGHA_* variables would override keys of the member files.
        return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME": "/root", "LANG": "C.UTF-8"}

    def _start_host(self, i):
        lf = self._log(i, "agent")
        self._procs[i]["agent"] = self.topo.run(i, [PGHA_BIN, "run", "--config", self.config_path(i)],
                                                stdout=lf, stderr=lf, stdin=subprocess.DEVNULL,
                                                cwd=self.node_dir(i), env=self._env())
        self._down.discard(i)

    def agent_pid(self, i):
        """PID of host i's `pgha run` while it runs, else None."""
        p = self._procs[i].get("agent")
        return p.pid if p is not None and p.poll() is None else None

    def guard_pids(self, i):
        """PIDs of `pgha guard` processes in host i's namespace."""
        return [p for p in self._ns_pids(i) if _cmdline(p)[1:2] == ["guard"]]

    def _extra_pids(self, i):
        guards = self.guard_pids(i)
        return {"guard": guards[0] if len(guards) == 1 else guards} if guards else {}

    def stop_agent(self, i, timeout=30.0):
        """Stop host i's agent cleanly (SIGTERM: a primary hands Raft leadership to the best
        replica, then Postgres is stopped). Returns the seconds it took; SIGKILLs after
        ``timeout``."""
        p = self._procs[i].get("agent")
        self._down.add(i)
        if p is None or p.poll() is not None:
            return 0.0
        t0 = time.monotonic()
        if self._terminate([p], timeout):   # SIGCONT first, in case sigstop_agent froze it
            self._kill_all(i)
        return round(time.monotonic() - t0, 3)

    def start_agent(self, i):
        """Start host i's agent again after :meth:`stop_agent` (no-op while it runs)."""
        if self.agent_pid(i) is None:
            self._start_host(i)

    def crash_postgres(self, i, sig=signal.SIGKILL):
        """Send ``sig`` (default kill -9) to host i's postmaster only; the agent lives on.
        Returns the time.monotonic() of the signal; raises when no postmaster runs."""
        pid = self.postmaster_pid(i)
        if pid is None:
            raise RuntimeError("host %d has no running postmaster" % i)
        t = time.monotonic()
        os.kill(pid, sig)
        return t

    def sigstop_agent(self, i):
        """Freeze host i's agent (SIGSTOP); its Postgres and guard run on (the guard stops a
        primary's Postgres once the lease deadline passes). Returns the time.monotonic()."""
        pid = self.agent_pid(i)
        if pid is None:
            raise RuntimeError("host %d has no running agent" % i)
        t = time.monotonic()
        os.kill(pid, signal.SIGSTOP)
        return t

    def sigcont_agent(self, i):
        """Undo :meth:`sigstop_agent`."""
        pid = self.agent_pid(i)
        if pid is not None:
            os.kill(pid, signal.SIGCONT)

    # ---- cluster state
    def cluster(self, via=None):
        """pgha's GET /cluster, asked of host ``via`` from inside its own namespace (so
        client-side faults do not matter); without ``via``, of every host at once, returning the
        freshest answer: highest Raft term, then the Raft leader's own view, then the highest
        applied index. (An agent just out of SIGSTOP answers from its old snapshot for a
        moment, e.g. still showing itself as the running leader of the old term.)"""
        if via is not None:
            return self._cluster_of(via)
        url = lambda i: self.rest_url(i, "/cluster")  # noqa: E731
        futures = {i: self.topo.executor(i).submit(_http, "GET", url(i), None, 2.0) for i in self.hosts}
        views, last = [], None
        for i, f in futures.items():
            try:
                st, body = f.result(5.0)
            except Exception as e:  # noqa: BLE001
                last = "host %d: %s" % (i, e)
                continue
            if st == 200 and isinstance(body, dict):
                views.append(body)
            else:
                last = "host %d: HTTP %s" % (i, st)
        if not views:
            raise RuntimeError("no pgha REST API answered /cluster: %s" % last)
        return max(views, key=_freshness)

    def _cluster_of(self, i):
        try:
            st, body = self.topo.call_in(i, _http, "GET", self.rest_url(i, "/cluster"), None, 2.0)
        except Exception as e:  # noqa: BLE001
            raise RuntimeError("host %d's REST API did not answer /cluster: %s" % (i, e))
        if st != 200 or not isinstance(body, dict):
            raise RuntimeError("host %d's /cluster answered HTTP %s: %s" % (i, st, body))
        return body

    def primary(self, via=None):
        """Host index of the running leader per /cluster, or None."""
        for m in self.cluster(via).get("members", []):
            if m.get("role") == "leader" and m.get("state") == "running":
                return self.index(m["name"])
        return None



# ---------------------------------------------------------------- self-check

def _print_cluster(c):
    for m in c["members"]:
        print("   %-3s %-15s %-14s %-10s tl=%s lag=%s" % (m["name"], m["host"], m["role"], m["state"],
                                                        m.get("timeline"), m.get("lag", "-")))
    r = c.get("raft", {})
    print("   raft: term %s leader %s" % (r.get("term"), r.get("leader")))


def _verify(prefix, workdir, mode, rounds, restart, keep=False):
    preflight()
    print("versions:", json.dumps(versions()))
    results = []
    with netns.Topology(prefix) as topo, PgHACluster(topo, workdir, mode=mode, keep_workdir=keep) as pc:
        t0 = time.monotonic()
        c = pc.start()
        print("[%s] healthy after %.1fs; /cluster:" % (mode, time.monotonic() - t0))
        _print_cluster(c)
        print("   pids:", {i: pc.pid_map(i) for i in pc.hosts})
        with WriteProbe(topo, pc.dsn_multi(), label="pgha-" + mode) as probe:
            for r in range(1, rounds + 1):
                res = kill_round(topo, pc, probe, "round %d" % r)
                res["mode"] = mode
                if restart or r < rounds:
                    res["rejoin_s"] = rejoin_round(pc, res["old_primary"])
                results.append(res)
            if restart:
                results[-1]["switchover"] = switchover_round(pc, "pgha")
        _print_cluster(pc.cluster())
    print("results:", json.dumps(results))
    return results


def main(argv=None):
    ap = self_check_parser("pgha backend of the fault harness",
                           "bring up, kill the primary's host, measure", SYNC_MODES, "pgq",
                           "/tmp/pgq-pgha-verify", "skip the final rejoin + switchover step")
    ap.add_argument("--rounds", type=int, default=1, help="kill rounds (the host is restarted between)")
    return self_check_main(ap, argv, [
        ("verify", lambda a: _verify(a.prefix, a.workdir, a.mode, a.rounds, not a.no_restart, a.keep)),
    ])


if __name__ == "__main__":
    sys.exit(main())
