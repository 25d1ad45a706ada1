"""What the fault harness's cluster backends share: :class:`NetnsCluster` and :class:`WriteProbe`.

:class:`NetnsCluster` is the base class of ``patroni_backend.PatroniCluster`` (Patroni +
etcd) and ``pgha_backend.PgHACluster`` (pgha agents). Both run one set of processes in each
host namespace i of a :class:`netns.Topology`, keep member ``n<i>``'s files in
``<workdir>/n<i>`` (its Postgres data in ``<workdir>/n<i>/pgdata``, listening on
``address(i):5432``) and serve a Patroni-style REST API on ``address(i):8008``. The base class
holds

* the bookkeeping: ``topo``, ``workdir``, ``mode``, ``timings``, ``scope``, ``keep_workdir``,
  ``hosts``; the processes started per host (``_procs[i][what]``, a Popen each), the open log
  files, the hosts taken down on purpose (``_down``); ``stop`` registered with atexit;
* naming: :meth:`name`, :meth:`index`, :meth:`node_dir`, :meth:`data_dir`, :meth:`rest_url`,
  :meth:`log_path`, :meth:`host_of`;
* processes: :meth:`start`, :meth:`pid_map` / :meth:`pids`, :meth:`postmaster_pid`,
  :meth:`kill_host` / :meth:`restart_host` and ``_kill_all`` (kill -9 everything in a host's
  namespace except the topology's own netem forwarder);
* cluster state over REST ``/cluster`` (which the subclass's ``cluster()`` and ``primary()``
  read): :meth:`healthy`, :meth:`wait_healthy`, :meth:`wait_primary`, :meth:`replicas`,
  :meth:`switchover`, :meth:`dsn_multi`, :meth:`dsn`;
* teardown: :meth:`stop` (the backend's graceful part is the hook ``_graceful_stop``, then
  kill -9 of what is left, closing the logs, removing the node directories unless
  ``keep_workdir``), ``with`` support.

A subclass provides ``_prepare()`` (files; it calls ``_prepare_workdir()`` first),
``_start_host(i)`` (and ``_start_all()`` when the hosts must start in phases), ``cluster()``,
``primary()``, and the class attributes ``MAIN_PROC`` (the ``_procs`` key of the process
whose unexpected exit :meth:`wait_healthy` reports), ``MAIN_LABEL``, ``GRACEFUL_TIMEOUT``,
``PG_PORT`` and ``REST_PORT``.

:class:`WriteProbe` writes rows through a libpq DSN from inside a namespace and measures write
unavailability; ``patroni_backend`` and ``pgha_backend`` re-export it. The rest is what their
command lines share: the Postgres 15 location and users (``PG_BIN``, ``PG_USER``, the superuser
and replication credentials, :func:`check_postgres`), the rounds of ``--verify``
(:func:`kill_round`, :func:`rejoin_round`, :func:`switchover_round`) and its parsing and exit
codes (:func:`self_check_parser`, :func:`self_check_main`: 0, 77 = skipped, 2 = usage).
This module is a library; it has no command line of its own.
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
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402

__all__ = ["NetnsCluster", "WriteProbe", "Skip", "check_postgres", "kill_round",
           "rejoin_round", "switchover_round", "self_check_parser", "self_check_main"]

Skip = netns.Skip

PG_BIN = "/usr/lib/postgresql/15/bin"
PG_USER = "postgres"                      # the OS user Postgres runs as
SUPERUSER, SUPERUSER_PW = "postgres", "pgha-super"
REPLUSER, REPLUSER_PW = "replicator", "pgha-repl"


def _http(method, url, body=None, timeout=3.0):
    """(status, parsed-JSON-or-text). Runs in whatever netns the calling thread is in."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode(errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def _pid_alive(pid):
    return netns._pid_alive(pid)


def check_postgres(why=""):
    """Raise Skip unless PostgreSQL 15 is in PG_BIN and the PG_USER OS user exists (``why`` is
    appended to the latter's message)."""
    if not os.path.exists(os.path.join(PG_BIN, "postgres")):
        raise Skip("PostgreSQL 15 not found in %s (apt-get install -y postgresql-15)" % PG_BIN)
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        raise Skip("no '%s' OS user%s" % (PG_USER, why))


# ---------------------------------------------------------------- the cluster

class NetnsCluster:
    """A Postgres HA cluster with member ``n<i>`` on host i of ``topology`` (base class).

    Member names are ``n1``..``nN``; host index i <-> ``n<i>``. Use as a context manager or
    call :meth:`stop` (also registered with atexit).
    """

    MAIN_PROC = None          # _procs key whose unexpected exit wait_healthy reports
    MAIN_LABEL = None         # its name in that error
    GRACEFUL_TIMEOUT = 15.0   # stop()'s default graceful_timeout
    PG_PORT = 5432
    REST_PORT = 8008

    def __init__(self, topology: netns.Topology, workdir: str, mode: str, timings,
                 scope: str = None, keep_workdir: bool = False):
        self.topo = topology
        self.workdir = os.path.abspath(workdir)
        self.mode, self.timings = mode, timings
        self.scope = scope or topology.prefix
        self.keep_workdir = keep_workdir
        self.hosts = topology.host_ids
        self._procs = {i: {} for i in self.hosts}   # i -> {what: Popen} (ip netns exec execs)
        self._down = set()                          # hosts stopped or killed on purpose
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

    def log_path(self, i, what):
        """``<workdir>/n<i>/<what>.log``: where the backend's process ``what`` of host i logs."""
        return os.path.join(self.node_dir(i), "%s.log" % what)

    def rest_url(self, i, path="/"):
        return "http://%s:%d%s" % (self.topo.address(i), self.REST_PORT, path)

    def host_of(self, address):
        """Host index whose address is ``address`` (e.g. WriteProbe's server), or None."""
        return next((i for i in self.hosts if self.topo.address(i) == address), None)

    # ---- files
    def _prepare_workdir(self):
        """Create the workdir (removed again by stop() unless keep_workdir) and check that the
        ``postgres`` user can reach the node directories under it."""
        if not os.path.isdir(self.workdir):
            os.makedirs(self.workdir)
            self._created_workdir = True
        d = self.workdir
        while d != "/":
            if not os.stat(d).st_mode & 0o001:
                raise Skip("workdir %s: %s is not searchable by the %s user; use e.g. /tmp/..."
                           % (self.workdir, d, PG_USER))
            d = os.path.dirname(d)

    def _prepare(self):
        raise NotImplementedError

    # ---- processes
    def _log(self, i, what):
        """Open (append, unbuffered) :meth:`log_path` for a process's stdout and stderr."""
        f = open(self.log_path(i, what), "ab", buffering=0)
        self._logs.append(f)
        return f

    def _start_host(self, i):
        raise NotImplementedError

    def _start_all(self):
        for i in self.hosts:
            self._start_host(i)

    def start(self, timeout=240.0):
        """Start the backend's processes on every host; return once there is one leader and all
        the other members are streaming replicas (polls REST /cluster). Returns /cluster."""
        if self._started:
            raise RuntimeError("already started")
        self._started = True
        try:
            self._prepare()
            self._start_all()
            return self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def _ns_pids(self, i):
        """Every PID in host i's namespace (empty when it cannot be listed)."""
        with contextlib.suppress(Exception):
            return netns._netns_pids(self.topo.ns(i))
        return []

    def postmaster_pid(self, i):
        """PID of host i's postmaster (from postmaster.pid) while it runs, else None."""
        try:
            with open(os.path.join(self.data_dir(i), "postmaster.pid")) as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) and pid in self._ns_pids(i) else None

    def _extra_pids(self, i):
        """{what: pid or [pids]} of host i's processes this backend did not start itself
        (added to :meth:`pid_map`)."""
        return {}

    def pid_map(self, i):
        """{what: pid} of host i, alive ones only: the processes this backend started (by
        their ``_procs`` name), ``'postmaster'``, and the backend's ``_extra_pids``."""
        out = {what: p.pid for what, p in self._procs[i].items() if p.poll() is None}
        pid = self.postmaster_pid(i)
        if pid is not None:
            out["postmaster"] = pid
        out.update(self._extra_pids(i))
        return out

    def pids(self, i):
        """Every PID of host i this backend knows (the values of :meth:`pid_map`)."""
        out = []
        for v in self.pid_map(i).values():
            out.extend(v if isinstance(v, list) else [v])
        return sorted(out)

    def _kill_all(self, i):
        """SIGKILL the processes this backend started on host i, then every other process in
        its namespace (postmaster, backends, walsenders, pg_rewind, ...) except the topology's
        own netem forwarder, rescanning the namespace until nothing is left. The started ones
        go first, so they cannot react to their children dying (restart Postgres). Waits for
        them. Returns the pids signalled."""
        keep = {p.pid for _, p in self.topo._netem.values() if p is not None} | {os.getpid()}
        victims = set()
        for p in self._procs[i].values():
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
                victims.add(p.pid)
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
        for p in self._procs[i].values():
            with contextlib.suppress(Exception):
                p.wait(5)
        return victims

    def _terminate(self, procs, timeout):
        """SIGCONT (in case it is frozen) and SIGTERM each running Popen of ``procs``, then
        wait up to ``timeout`` seconds in all; returns the ones still running."""
        running = [p for p in procs if p is not None and p.poll() is None]
        for p in running:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.1, deadline - time.monotonic()))
        return [p for p in running if p.poll() is None]

    def kill_host(self, i, cut_link=False):
        """Simulate host death: kill -9 every process of host i at once (the ones of
        :meth:`pid_map` and every other process in its namespace: backends, walsenders,
        pg_basebackup, ...). With ``cut_link`` the host's link goes down first (peers then see
        timeouts, not RSTs; :meth:`restart_host` brings it back up). Returns the
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
        """Start host i's processes again (after :meth:`kill_host`; kills leftovers first). Its
        Postgres rejoins as a replica (pg_rewind, or pg_basebackup, when needed). Returns at
        once; use :meth:`wait_healthy` to wait for it."""
        if self.pids(i) or self._ns_pids(i):
            self.kill_host(i)
        self.topo.link_up(i)
        self._start_host(i)
        self._down.discard(i)

    # ---- cluster state (the subclass's cluster() and primary() read REST /cluster)
    def cluster(self, via=None):
        raise NotImplementedError

    def primary(self, via=None):
        raise NotImplementedError

    def wait_primary(self, timeout=60.0, exclude=(), interval=0.1):
        """Poll /cluster until a host not in ``exclude`` is the leader per :meth:`primary`;
        return it, or raise TimeoutError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                p = self.primary()
                if p is not None and p not in exclude:
                    return p
            time.sleep(interval)
        raise TimeoutError("no primary outside %s after %.0fs" % (list(exclude), timeout))

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
        # In synchronous modes the cluster is only failover-ready once a synchronous standby is
        # published (Patroni: the DCS /sync key; pgha: the store's `sync` claim): until then no
        # replica may be promoted. /cluster shows it as role sync_standby (on) or
        # quorum_standby (quorum).
        sync_role = {"on": "sync_standby", "quorum": "quorum_standby"}.get(self.mode)
        if sync_role and len(want) > 1:
            return any(m.get("role") == sync_role for m in replicas)
        return True

    def _check_exited(self):
        """Raise RuntimeError when the MAIN_PROC of a host not taken down on purpose exited."""
        for i in self.hosts:
            p = self._procs[i].get(self.MAIN_PROC)
            if p is not None and p.poll() is not None and i not in self._down:
                raise RuntimeError("%s on host %d exited (%s); see %s" % (
                    self.MAIN_LABEL, i, p.returncode, self.log_path(i, self.MAIN_PROC)))

    def wait_healthy(self, timeout=120.0, exclude=(), interval=0.25):
        """Poll /cluster until healthy (see :meth:`healthy`); return it, or raise TimeoutError
        (RuntimeError when the main process of a host not taken down on purpose exited)."""
        deadline = time.monotonic() + timeout
        c = None
        while time.monotonic() < deadline:
            try:
                c = self.cluster()
                if self._healthy(c, exclude):
                    return c
            except RuntimeError:
                pass
            self._check_exited()
            time.sleep(interval)
        raise TimeoutError("cluster not healthy after %.0fs: %s" % (timeout, json.dumps(c)))

    def switchover(self, to=None, timeout=60.0, wait_healthy=True):
        """POST /switchover to the leader (candidate host ``to`` or the cluster's choice).

        Returns {'status', 'response', 'returned_after_s', 'new_primary'} (+ 'healthy_after_s'
        with ``wait_healthy``: until one leader and all replicas streaming again). The POST
        returns when the switchover is done (200), or with 412 when refused (e.g. in mode 'on'
        a candidate that is not the synchronous standby) or 503 when it failed."""
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
            "port": ",".join(str(self.PG_PORT) for _ in self.hosts),
            "dbname": dbname, "user": SUPERUSER, "password": SUPERUSER_PW,
            "target_session_attrs": "read-write" if read_write else "any",
            "connect_timeout": "1",
        }
        kv.update({k: str(v) for k, v in extra.items()})
        return " ".join("%s=%s" % (k, v) for k, v in kv.items())

    def dsn(self, i, dbname="postgres"):
        """Single-host DSN for host i."""
        return "host=%s port=%d dbname=%s user=%s password=%s connect_timeout=1" % (
            self.topo.address(i), self.PG_PORT, dbname, SUPERUSER, SUPERUSER_PW)

    # ---- teardown
    def _graceful_stop(self, timeout):
        """stop()'s graceful part: by default SIGTERM every host's MAIN_PROC and wait up to
        ``timeout`` seconds for them."""
        self._terminate([self._procs[i].get(self.MAIN_PROC) for i in self.hosts], timeout)

    def stop(self, graceful_timeout=None):
        """Stop the backend's processes gracefully (``_graceful_stop``; ``graceful_timeout``
        defaults to the class's GRACEFUL_TIMEOUT), kill -9 anything left in the host
        namespaces, and remove the node directories (unless keep_workdir). Idempotent; also
        runs at exit."""
        if self._stopped:
            return
        self._stopped = True
        self._graceful_stop(self.GRACEFUL_TIMEOUT if graceful_timeout is None else graceful_timeout)
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


# ---------------------------------------------------------------- write probe

class WriteProbe:
    """Writes one row every ``interval`` seconds through ``dsn`` from inside namespace
    ``host`` of ``topology`` (default: the client), on a background thread, and records
    every attempt as (t_start, t_end, ok, server_address, error) with time.monotonic().

    It keeps one connection and reconnects (multi-host DSN, target_session_attrs) after
    any error. TCP keepalives and tcp_user_timeout bound how long a dead server can stall
    an attempt; statement_timeout (``timeout_ms``) bounds a commit stuck waiting for a
    synchronous standby, and such a commit (Postgres warns "canceling wait for synchronous
    replication" and commits locally) is recorded as a failure, SyncRepTimeout.
    Table ``fault_probe`` is created when missing.
    """

    def __init__(self, topology, dsn, host="c", interval=0.05, label="probe", timeout_ms=3000):
        self.topo, self.dsn, self.host = topology, dsn, host
        self.interval, self.label, self.timeout_ms = interval, label, timeout_ms
        self.events = []
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()

    def _connect(self):
        import psycopg2
        c = psycopg2.connect(self.dsn, keepalives=1, keepalives_idle=1, keepalives_interval=1,
                             keepalives_count=2, tcp_user_timeout=2000,
                             options="-c statement_timeout=%d" % self.timeout_ms)
        c.autocommit = True
        return c

    def _loop(self):
        netns.enter_netns(self.topo.ns(self.host))
        conn = None
        while not self._stop.is_set():
            t0 = time.monotonic()
            ok, server, err = False, None, None
            try:
                if conn is None:
                    conn = self._connect()
                    with conn.cursor() as cur:
                        cur.execute("CREATE TABLE IF NOT EXISTS fault_probe (id bigserial PRIMARY KEY,"
                                    " at timestamptz DEFAULT now(), label text)")
                del conn.notices[:]
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO fault_probe(label) VALUES (%s) RETURNING host(inet_server_addr())",
                                (self.label,))
                    server = cur.fetchone()[0]
                if any("canceling wait for synchronous replication" in n for n in conn.notices):
                    # statement_timeout fired while the commit waited for the synchronous
                    # standby: committed locally only, not acknowledged -> not a success.
                    err = "SyncRepTimeout: commit not confirmed by a synchronous standby"
                else:
                    ok = True
            except Exception as e:  # noqa: BLE001
                err = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
            t1 = time.monotonic()
            with self._lock:
                self.events.append((t0, t1, ok, server, err))
            self._stop.wait(max(0.0, self.interval - (t1 - t0)) if ok else 0.05)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def start(self):
        self._thread = threading.Thread(target=self._loop, name="write-probe", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def wait_for(self, pred, timeout):
        """Wait until some recorded event satisfies pred(event); return it or None."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            with self._lock:
                evs = self.events[seen:]
                seen += len(evs)
            for e in evs:
                if pred(e):
                    return e
            time.sleep(0.02)
        return None

    def outage(self, since, old_server=None):
        """Write unavailability after ``since`` (monotonic): first failed attempt (its
        start) to the first later success (its end) on a server other than
        ``old_server``. Returns a dict with seconds, or None when not yet recovered."""
        with self._lock:
            evs = [e for e in self.events if e[1] >= since]
        first_fail = next((e for e in evs if not e[2]), None)
        if first_fail is None:
            return None
        ok = next((e for e in evs if e[2] and e[0] >= first_fail[0]
                   and (old_server is None or e[3] != old_server)), None)
        if ok is None:
            return None
        last_ok = max((e for e in self.events if e[2] and e[1] <= first_fail[0]),
                      key=lambda e: e[1], default=None)
        fails = sum(1 for e in evs if not e[2] and e[0] < ok[0])
        errors = sorted({e[4].split(":")[0] for e in evs if not e[2] and e[0] < ok[0]})
        return {
            "unavailable_s": round(ok[1] - first_fail[0], 3),
            "fault_to_first_write_s": round(ok[1] - since, 3),
            "last_ok_before_fault_to_first_write_s": round(ok[1] - last_ok[1], 3) if last_ok else None,
            "failed_attempts": fails, "error_kinds": errors,
            "new_server": ok[3],
        }


# ---------------------------------------------------------------- self-check helpers

def kill_round(topo, cluster, probe, label):
    """One round of a backend's ``--verify``: kill -9 the primary's host while ``probe`` (a
    running :class:`WriteProbe`) writes, and measure the write outage. Returns
    :meth:`WriteProbe.outage` plus 'old_primary', 'new_primary' and 'first_write_on' (host
    indices)."""
    old = cluster.primary()
    if probe.wait_for(lambda e: e[2] and e[1] > time.monotonic() - 1, 30) is None:
        raise RuntimeError("probe is not writing: %s" % probe.events[-3:])
    time.sleep(1.0)
    pids = cluster.pid_map(old)
    t_kill = cluster.kill_host(old)
    print("   [%s] kill -9 host %d (primary %s, pids %s) at t=0" % (label, old, topo.address(old), pids))
    ok = probe.wait_for(lambda e: e[2] and e[0] > t_kill and e[3] != topo.address(old), 180)
    if ok is None:
        raise RuntimeError("no write succeeded within 180s after the kill")
    res = probe.outage(t_kill, old_server=topo.address(old))
    res.update({"old_primary": old, "new_primary": cluster.wait_primary(60, exclude=[old]),
                "first_write_on": cluster.host_of(res["new_server"])})
    print("   writes unavailable %.2fs (fault -> first write on new primary %.2fs; "
          "%d failed attempts: %s); new primary host %s" % (
              res["unavailable_s"], res["fault_to_first_write_s"], res["failed_attempts"],
              ", ".join(res["error_kinds"]), res["new_primary"]))
    return res


def rejoin_round(cluster, host):
    """Restart ``host`` after :func:`kill_round` and wait until it is back as a replica;
    returns the seconds that took."""
    t1 = time.monotonic()
    cluster.restart_host(host)
    cluster.wait_healthy(180)
    dt = round(time.monotonic() - t1, 2)
    print("   host %d restarted, rejoined as replica after %.1fs" % (host, dt))
    return dt


def switchover_round(cluster, whose):
    """A switchover to the cluster's own choice (``whose``: its name in the output); returns
    :meth:`NetnsCluster.switchover`'s dict."""
    sw = cluster.switchover()
    print("   switchover (%s's choice): HTTP %s %r, returned after %.2fs, healthy after %.2fs; "
          "primary now %s" % (whose, sw["status"], sw["response"], sw["returned_after_s"],
                              sw.get("healthy_after_s", -1), sw["new_primary"]))
    return sw


def self_check_parser(description, verify_help, sync_modes, prefix, workdir, no_restart_help):
    """The argparse parser of a backend's command line: --verify, --mode, --prefix, --workdir,
    --no-restart, --keep (add the backend's own options to it)."""
    import argparse
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--verify", action="store_true", help=verify_help)
    ap.add_argument("--mode", default="off", choices=list(sync_modes))
    ap.add_argument("--prefix", default=prefix)
    ap.add_argument("--workdir", default=workdir)
    ap.add_argument("--no-restart", action="store_true", help=no_restart_help)
    ap.add_argument("--keep", action="store_true", help="keep the workdir (logs, data) afterwards")
    return ap


def self_check_main(ap, argv, actions):
    """Parse ``argv`` with ``ap`` and run the first ``(option, fn)`` of ``actions`` whose option
    is set, as ``fn(args)``. Returns the exit code: 0, 77 when it raised Skip (the reason goes
    to stderr), 2 with the help when no option was set."""
    a = ap.parse_args(argv)
    try:
        for option, fn in actions:
            if getattr(a, option):
                fn(a)
                return 0
    except Skip as e:
        print("skip:", e, file=sys.stderr)
        return 77
    ap.print_help()
    return 2
