#!/usr/bin/env python3
"""A three-node pgha + PostgreSQL 15 cluster inside a netns.Topology.

The backend under test of the fault harness (``patroni_backend.PatroniCluster`` is the
comparison; this class offers the same interface). In each host namespace i of a
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
(``patroni_backend.WriteProbe``); then restarts the host, waits for it to rejoin and runs a
switchover.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from patroni_backend import WriteProbe, _http  # noqa: E402

__all__ = ["PgHACluster", "WriteProbe", "preflight", "Skip"]

Skip = netns.Skip

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PGHA_BIN = os.environ.get("PGHA_BIN", os.path.join(REPO, ".build", "release", "pgha"))
PG_BIN = "/usr/lib/postgresql/15/bin"
PG_USER = "postgres"
PORTS = {"raft": 7001, "client": 7101, "rest": 8008, "postgres": 5432}
SUPERUSER, SUPERUSER_PW = "postgres", "pgha-super"
REPLUSER, REPLUSER_PW = "replicator", "pgha-repl"
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
    if not os.path.exists(os.path.join(PG_BIN, "postgres")):
        raise Skip("PostgreSQL 15 not found in %s (apt-get install -y postgresql-15)" % PG_BIN)
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        raise Skip("no '%s' OS user (pgha runs Postgres as it when the agent is root)" % PG_USER)
    if shutil.which("setpriv") is None:
        raise Skip("setpriv missing (Debian: util-linux); pgha starts Postgres through it")


def versions():
    """{'pgha': ..., 'postgres': ...}."""
    def out(argv):
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return r.stdout.strip().splitlines()[0] if r.stdout.strip() else "?"
    return {"pgha": out([PGHA_BIN, "--version"]),
            "postgres": out([os.path.join(PG_BIN, "postgres"), "--version"])}


def _pid_alive(pid):
    return netns._pid_alive(pid)


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _freshness(view):
    """Sort key of a /cluster answer: (Raft term, answered by the leader holding its lease,
    applied index)."""
    r = view.get("raft") or {}
    return (r.get("term") or 0, r.get("role") == "leader" and bool(r.get("lease")),
            r.get("applied_index") or 0)


# ---------------------------------------------------------------- the cluster

class PgHACluster:
    """pgha agents (with their Postgres) on every host of ``topology``.

    ``mode``: 'off' | 'on' | 'quorum' (synchronous replication); ``timings``: None |
    'default' | {'raft': {...}, 'ha': {...}}. Member names are ``n1``..``nN``; host index
    i <-> ``n<i>`` <-> Raft node id i. Use as a context manager or call :meth:`stop` (also
    registered with atexit).
    """

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
        self.topo = topology
        self.workdir = os.path.abspath(workdir)
        self.mode, self.timings = mode, timings or "default"
        self.scope = scope or topology.prefix
        self.keep_workdir = keep_workdir
        self.hosts = topology.host_ids
        self._agents = {}            # i -> Popen of `pgha run` (the agent itself: ip netns exec execs)
        self._down = set()           # hosts stopped or killed on purpose
        self._logs = []
        self._created_workdir = False
        self._started = False
        self._stopped = False
        atexit.register(self.stop)

    # ---- naming
    def name(self, i):
        return "n%d" % i

    def index(self, name):
        return int(name[1:])

    def node_dir(self, i):
        return os.path.join(self.workdir, self.name(i))

    def data_dir(self, i):
        return os.path.join(self.node_dir(i), "pgdata")

    def config_path(self, i):
        return os.path.join(self.node_dir(i), "pgha.yml")

    def agent_log(self, i):
        return os.path.join(self.node_dir(i), "agent.log")

    def postgres_log(self, i):
        return os.path.join(self.node_dir(i), "postgresql.log")

    def rest_url(self, i, path="/"):
        return "http://%s:%d%s" % (self.topo.address(i), PORTS["rest"], path)

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
                "maximum_lag_on_failover": 16 * 1024 * 1024,
            }},
        }
        cfg.update(self._timing_sections)
        return cfg

    def _prepare(self):
        if not os.path.isdir(self.workdir):
            os.makedirs(self.workdir)
            self._created_workdir = True
        # The postgres user must be able to reach its directories under the node directories.
        d = self.workdir
        while d != "/":
            if not os.stat(d).st_mode & 0o001:
                raise Skip("workdir %s: %s is not searchable by the %s user; use e.g. /tmp/..."
                           % (self.workdir, d, PG_USER))
            d = os.path.dirname(d)
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

    def _log(self, i):
        f = open(self.agent_log(i), "ab", buffering=0)
        self._logs.append(f)
        return f

    def _start_agent(self, i):
        lf = self._log(i)
        self._agents[i] = self.topo.run(i, [PGHA_BIN, "run", "--config", self.config_path(i)],
                                        stdout=lf, stderr=lf, stdin=subprocess.DEVNULL,
                                        cwd=self.node_dir(i), env=self._env())
        self._down.discard(i)

    def start(self, timeout=240.0):
        """Start the agent on every host; return once there is one primary and all the other
        members are streaming replicas (polls REST /cluster). Returns /cluster."""
        if self._started:
            raise RuntimeError("already started")
        self._started = True
        try:
            self._prepare()
            for i in self.hosts:
                self._start_agent(i)
            return self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def agent_pid(self, i):
        """PID of host i's `pgha run` while it runs, else None."""
        p = self._agents.get(i)
        return p.pid if p is not None and p.poll() is None else None

    def postmaster_pid(self, i):
        """PID of host i's postmaster (from postmaster.pid) while it runs, else None."""
        try:
            with open(os.path.join(self.data_dir(i), "postmaster.pid")) as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) and pid in self._ns_pids(i) else None

    def guard_pids(self, i):
        """PIDs of `pgha guard` processes in host i's namespace."""
        return [p for p in self._ns_pids(i) if _cmdline(p)[1:2] == ["guard"]]

    def _ns_pids(self, i):
        with contextlib.suppress(Exception):
            return netns._netns_pids(self.topo.ns(i))
        return []

    def pid_map(self, i):
        """{'agent': pid, 'guard': pid, 'postmaster': pid} of host i (alive ones only)."""
        out = {}
        for what, pid in (("agent", self.agent_pid(i)), ("postmaster", self.postmaster_pid(i))):
            if pid is not None:
                out[what] = pid
        guards = self.guard_pids(i)
        if guards:
            out["guard"] = guards[0] if len(guards) == 1 else guards
        return out

    def pids(self, i):
        """Every PID of host i this backend knows: agent, guard(s), the postmaster."""
        out = []
        for v in self.pid_map(i).values():
            out.extend(v if isinstance(v, list) else [v])
        return sorted(out)

    def _kill_all(self, i):
        """SIGKILL the agent, guard, postmaster and every other process in host i's namespace
        (backends, walsenders, pg_rewind, ...), except the topology's own netem forwarder.
        The agent goes first, so it cannot react to its children dying (restart the guard or
        Postgres); then the rest, rescanning the namespace until nothing is left. Waits for the
        agent. Returns the pids signalled."""
        keep = {p.pid for _, p in self.topo._netem.values() if p is not None} | {os.getpid()}
        agent = self.agent_pid(i)
        victims = set()
        if agent is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(agent, signal.SIGKILL)
            victims.add(agent)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            left = [p for p in self._ns_pids(i) if p not in keep and _pid_alive(p)]
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            victims.update(left)
            time.sleep(0.02)
        p = self._agents.get(i)
        if p is not None:
            with contextlib.suppress(Exception):
                p.wait(5)
        return victims

    def kill_host(self, i, cut_link=False):
        """Simulate host death: kill -9 every process of host i at once (agent, guard,
        postmaster and its children). With ``cut_link`` the host's link goes down first (peers
        then see timeouts, not RSTs; :meth:`restart_host` brings it back up). Returns the
        time.monotonic() of the kill."""
        if cut_link:
            self.topo.link_down(i)
        self._down.add(i)
        t = time.monotonic()
        victims = self._kill_all(i)
        deadline = time.time() + 5
        while time.time() < deadline and any(_pid_alive(p) for p in victims):
            time.sleep(0.02)
        return t

    def restart_host(self, i):
        """Start host i's agent again (after :meth:`kill_host`; kills leftovers first). Its
        Postgres rejoins as a replica (pg_rewind or pg_basebackup when needed). Returns at
        once; use :meth:`wait_healthy` to wait for it."""
        if self.pids(i) or self._ns_pids(i):
            self.kill_host(i)
        self.topo.link_up(i)
        self._start_agent(i)

    def stop_agent(self, i, timeout=30.0):
        """Stop host i's agent cleanly (SIGTERM: a primary hands Raft leadership to the best
        replica, then Postgres is stopped). Returns the seconds it took; SIGKILLs after
        ``timeout``."""
        p = self._agents.get(i)
        self._down.add(i)
        if p is None or p.poll() is not None:
            return 0.0
        t0 = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGCONT)   # in case it was frozen by sigstop_agent
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill_all(i)
        return round(time.monotonic() - t0, 3)

    def start_agent(self, i):
        """Start host i's agent again after :meth:`stop_agent` (no-op while it runs)."""
        if self.agent_pid(i) is None:
            self._start_agent(i)

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

    def wait_primary(self, timeout=60.0, exclude=(), interval=0.1):
        """Poll /cluster until a host not in ``exclude`` is the running leader; return it, or
        raise TimeoutError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                p = self.primary()
                if p is not None and p not in exclude:
                    return p
            time.sleep(interval)
        raise TimeoutError("no primary outside %s after %.0fs" % (list(exclude), timeout))

    def host_of(self, address):
        """Host index whose address is ``address`` (e.g. WriteProbe's server), or None."""
        return next((i for i in self.hosts if self.topo.address(i) == address), None)

    def replicas(self, via=None):
        """Host indices of the members streaming from the primary per /cluster."""
        return sorted(self.index(m["name"]) for m in self.cluster(via).get("members", [])
                      if m.get("role") != "leader" and m.get("state") == "streaming")

    def healthy(self, exclude=()):
        """True when /cluster shows one running leader, every other member (except
        ``exclude``) streaming and, in modes on/quorum, at least one of them a synchronous
        (sync_standby / quorum_standby) replica."""
        try:
            return self._healthy(self.cluster(), exclude)
        except RuntimeError:
            return False

    def _healthy(self, c, exclude=()):
        want = {self.name(i) for i in self.hosts if i not in exclude}
        ms = {m["name"]: m for m in c.get("members", []) if m["name"] in want}
        if set(ms) != want:
            return False
        leaders = [m for m in ms.values() if m.get("role") == "leader" and m.get("state") == "running"]
        replicas = [m for m in ms.values() if m.get("role") != "leader" and m.get("state") == "streaming"]
        if not (len(leaders) == 1 and len(replicas) == len(want) - 1):
            return False
        # In synchronous modes a replica may be promoted only once it is in the store's `sync`
        # claim; /cluster shows that as role sync_standby (on) or quorum_standby (quorum).
        sync_role = {"on": "sync_standby", "quorum": "quorum_standby"}.get(self.mode)
        if sync_role and len(want) > 1:
            return any(m.get("role") == sync_role for m in replicas)
        return True

    def _check_agents(self):
        for i in self.hosts:
            p = self._agents.get(i)
            if p is not None and p.poll() is not None and i not in self._down:
                raise RuntimeError("pgha agent on host %d exited (%s); see %s" % (
                    i, p.returncode, self.agent_log(i)))

    def wait_healthy(self, timeout=120.0, exclude=(), interval=0.25):
        """Poll /cluster until healthy (see :meth:`healthy`); return it, or raise TimeoutError
        (RuntimeError when an agent not taken down on purpose exited)."""
        deadline = time.monotonic() + timeout
        c = None
        while time.monotonic() < deadline:
            try:
                c = self.cluster()
                if self._healthy(c, exclude):
                    return c
            except RuntimeError:
                pass
            self._check_agents()
            time.sleep(interval)
        raise TimeoutError("cluster not healthy after %.0fs: %s" % (timeout, json.dumps(c)))

    def switchover(self, to=None, timeout=60.0, wait_healthy=True):
        """POST /switchover to the leader (candidate host ``to`` or pgha's choice).

        Returns {'status', 'response', 'returned_after_s', 'new_primary'} (+ 'healthy_after_s'
        with ``wait_healthy``). pgha's POST waits for the outcome: 200 when done, 412 when
        refused (e.g. a candidate outside the sync claim), 503 when it failed."""
        leader = self.primary()
        if leader is None:
            raise RuntimeError("no leader to switch over from")
        body = {"leader": self.name(leader)}
        if to is not None:
            body["candidate"] = self.name(to)
        t0 = time.monotonic()
        st, resp = self.topo.call_in(leader, _http, "POST", self.rest_url(leader, "/switchover"),
                                     body, timeout)
        out = {"status": st, "response": resp, "returned_after_s": round(time.monotonic() - t0, 3)}
        if wait_healthy:
            self.wait_healthy(timeout)
            out["healthy_after_s"] = round(time.monotonic() - t0, 3)
        out["new_primary"] = self.primary()
        return out

    def dsn_multi(self, read_write=True, dbname="postgres", **extra):
        """libpq multi-host string over all hosts (target_session_attrs read-write or any,
        connect_timeout=1). Extra keyword pairs are appended."""
        kv = {
            "host": ",".join(self.topo.address(i) for i in self.hosts),
            "port": ",".join(str(PORTS["postgres"]) for _ in self.hosts),
            "dbname": dbname, "user": SUPERUSER, "password": SUPERUSER_PW,
            "target_session_attrs": "read-write" if read_write else "any",
            "connect_timeout": "1",
        }
        kv.update({k: str(v) for k, v in extra.items()})
        return " ".join("%s=%s" % (k, v) for k, v in kv.items())

    def dsn(self, i, dbname="postgres"):
        """Single-host DSN for host i."""
        return "host=%s port=%d dbname=%s user=%s password=%s connect_timeout=1" % (
            self.topo.address(i), PORTS["postgres"], dbname, SUPERUSER, SUPERUSER_PW)

    # ---- teardown
    def stop(self, graceful_timeout=20.0):
        """Stop every agent (SIGTERM; each stops its Postgres), kill -9 anything left in the
        host namespaces, and remove the node directories (unless keep_workdir). Idempotent;
        also runs at exit."""
        if self._stopped:
            return
        self._stopped = True
        running = [p for p in self._agents.values() if p.poll() is None]
        for p in running:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + graceful_timeout
        for p in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.1, deadline - time.monotonic()))
        for i in self.hosts:
            self._kill_all(i)
        for f in self._logs:
            with contextlib.suppress(Exception):
                f.close()
        if not self.keep_workdir:
            for i in self.hosts:
                shutil.rmtree(self.node_dir(i), ignore_errors=True)
            if self._created_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


# ---------------------------------------------------------------- self-check

def _print_cluster(c):
    for m in c["members"]:
        print("   %-3s %-15s %-14s %-10s tl=%s lag=%s" % (m["name"], m["host"], m["role"], m["state"],
                                                        m.get("timeline"), m.get("lag", "-")))
    r = c.get("raft", {})
    print("   raft: term %s leader %s" % (r.get("term"), r.get("leader")))


def _kill_round(topo, pc, probe, label):
    """kill -9 the primary's host, measure the write outage; returns the result dict."""
    old = pc.primary()
    if probe.wait_for(lambda e: e[2] and e[1] > time.monotonic() - 1, 30) is None:
        raise RuntimeError("probe is not writing: %s" % probe.events[-3:])
    time.sleep(1.0)
    pids = pc.pid_map(old)
    t_kill = pc.kill_host(old)
    print("   [%s] kill -9 host %d (primary %s, pids %s) at t=0" % (label, old, topo.address(old), pids))
    ok = probe.wait_for(lambda e: e[2] and e[0] > t_kill and e[3] != topo.address(old), 180)
    if ok is None:
        raise RuntimeError("no write succeeded within 180s after the kill")
    res = probe.outage(t_kill, old_server=topo.address(old))
    res.update({"old_primary": old, "new_primary": pc.wait_primary(60, exclude=[old]),
                "first_write_on": pc.host_of(res["new_server"])})
    print("   writes unavailable %.2fs (fault -> first write on new primary %.2fs; "
          "%d failed attempts: %s); new primary host %s" % (
              res["unavailable_s"], res["fault_to_first_write_s"], res["failed_attempts"],
              ", ".join(res["error_kinds"]), res["new_primary"]))
    return res


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
                res = _kill_round(topo, pc, probe, "round %d" % r)
                res["mode"] = mode
                if restart or r < rounds:
                    t1 = time.monotonic()
                    pc.restart_host(res["old_primary"])
                    pc.wait_healthy(180)
                    res["rejoin_s"] = round(time.monotonic() - t1, 2)
                    print("   host %d restarted, rejoined as replica after %.1fs" % (
                        res["old_primary"], res["rejoin_s"]))
                results.append(res)
            if restart:
                sw = pc.switchover()
                results[-1]["switchover"] = sw
                print("   switchover (pgha's choice): HTTP %s %r, returned after %.2fs, healthy after "
                      "%.2fs; primary now %s" % (sw["status"], sw["response"], sw["returned_after_s"],
                                                 sw.get("healthy_after_s", -1), sw["new_primary"]))
        _print_cluster(pc.cluster())
    print("results:", json.dumps(results))
    return results


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="pgha backend of the fault harness")
    ap.add_argument("--verify", action="store_true", help="bring up, kill the primary's host, measure")
    ap.add_argument("--mode", default="off", choices=list(SYNC_MODES))
    ap.add_argument("--rounds", type=int, default=1, help="kill rounds (the host is restarted between)")
    ap.add_argument("--prefix", default="pgq")
    ap.add_argument("--workdir", default="/tmp/pgq-pgha-verify")
    ap.add_argument("--no-restart", action="store_true", help="skip the final rejoin + switchover step")
    ap.add_argument("--keep", action="store_true", help="keep the workdir (logs, data) afterwards")
    a = ap.parse_args(argv)
    try:
        if a.verify:
            _verify(a.prefix, a.workdir, a.mode, a.rounds, not a.no_restart, a.keep)
            return 0
    except Skip as e:
        print("skip:", e, file=sys.stderr)
        return 77
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
