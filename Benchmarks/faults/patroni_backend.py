#!/usr/bin/env python3
"""A three-node Patroni 4 + etcd + PostgreSQL 15 cluster inside a netns.Topology.

The comparison backend of the fault harness: in each host namespace i of a
:class:`netns.Topology` it runs

* one etcd member (client ``address(i):2379``, peer ``address(i):2380``), as root;
* one Patroni agent (REST ``address(i):8008``), as the ``postgres`` user, managing a
  PostgreSQL 15 data directory ``<workdir>/n<i>/pgdata`` that listens on ``address(i):5432``
  (its unix socket lives in ``<workdir>/n<i>``, so the nodes do not collide on /tmp).

Typical use::

    with netns.Topology("pgf") as topo, PatroniCluster(topo, "/tmp/pgf", mode="on") as pc:
        pc.start()                        # one leader + two streaming replicas
        p = pc.primary()
        pc.kill_host(p)                   # kill -9 etcd, Patroni, Postgres of host p
        pc.wait_healthy(exclude=[p]) ...

Everything that talks to the cluster does so from inside a namespace (``Topology.call_in``),
never from the root namespace. Timings: ``'default'`` is Patroni's ttl 30 / loop_wait 10 /
retry_timeout 10; ``'aggressive'`` is ttl 20 (Patroni's minimum) / loop_wait 1 / retry_timeout 3.
Synchronous modes map to the DCS key ``synchronous_mode``: off -> false, on -> true,
quorum -> ``"quorum"`` (Patroni >= 4.0; synchronous_standby_names becomes ``ANY 1 (...)``).

Software: Patroni (``pip install "patroni[etcd3]" psycopg2-binary``) goes into a venv at
``/opt/pgha-faults-venv`` (override with ``PGHA_PATRONI_VENV``) built from Debian's
/usr/bin/python3, because the ``postgres`` user that runs Patroni cannot read root's
interpreter; etcd comes from Debian's ``etcd-server``. :func:`ensure_installed` installs what
is missing and returns the versions.

Self-check (root)::

    python3 Benchmarks/faults/patroni_backend.py --verify [--timings default aggressive]
        [--mode off|on|quorum] [--prefix P] [--workdir D]

brings the cluster up, prints /cluster, kill -9s the leader's host, and measures how long
writes through the libpq multi-host string (from the client namespace) were unavailable.
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

__all__ = ["PatroniCluster", "WriteProbe", "ensure_installed", "Skip"]

Skip = netns.Skip

PG_BIN = "/usr/lib/postgresql/15/bin"
VENV = os.environ.get("PGHA_PATRONI_VENV", "/opt/pgha-faults-venv")
SUPERUSER, SUPERUSER_PW = "postgres", "pgha-super"
REPLUSER, REPLUSER_PW = "replicator", "pgha-repl"
TIMINGS = {
    "default": {"ttl": 30, "loop_wait": 10, "retry_timeout": 10},
    "aggressive": {"ttl": 20, "loop_wait": 1, "retry_timeout": 3},
}
SYNC_MODES = {"off": False, "on": True, "quorum": "quorum"}


# ---------------------------------------------------------------- installation

def _patroni_bin():
    return os.path.join(VENV, "bin", "patroni")


def _run_quiet(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def ensure_installed(verbose=True):
    """Install what is missing (Patroni venv, etcd-server, nftables, psycopg2 for this
    interpreter) and return ``{'patroni':..., 'etcd':..., 'postgres':..., 'psycopg2':...}``.

    Raises Skip when not root or PostgreSQL 15 is absent (this module does not install it).
    """
    if os.geteuid() != 0:
        raise Skip("needs root")
    if not os.path.exists(os.path.join(PG_BIN, "postgres")):
        raise Skip("PostgreSQL 15 not found in %s (apt-get install -y postgresql-15)" % PG_BIN)
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise Skip("no 'postgres' OS user")
    apt = [pkg for pkg, tool in (("etcd-server", "etcd"), ("nftables", "nft"),
                                 ("iproute2", "ip")) if shutil.which(tool) is None]
    if apt:
        if verbose:
            print("installing Debian packages:", apt, file=sys.stderr)
        _run_quiet(["apt-get", "update", "-qq"])
        r = _run_quiet(["apt-get", "install", "-y", "-qq"] + apt,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if r.returncode != 0:
            raise Skip("apt-get install %s failed:\n%s" % (" ".join(apt), r.stdout[-2000:]))
    ok = os.path.exists(_patroni_bin()) and _run_quiet(
        [os.path.join(VENV, "bin", "python"), "-c", "import patroni, etcd, psycopg2"]).returncode == 0
    if not ok:
        if verbose:
            print("installing patroni[etcd3] into", VENV, file=sys.stderr)
        if not os.path.exists(os.path.join(VENV, "bin", "pip")):
            r = _run_quiet(["/usr/bin/python3", "-m", "venv", VENV])
            if r.returncode != 0:
                raise Skip("cannot create venv (apt-get install python3-venv?):\n" + r.stdout)
        r = _run_quiet([os.path.join(VENV, "bin", "pip"), "install", "-q",
                        "patroni[etcd3]", "psycopg2-binary"])
        if r.returncode != 0:
            raise Skip("pip install patroni failed:\n" + r.stdout[-2000:])
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        if verbose:
            print("installing psycopg2-binary for", sys.executable, file=sys.stderr)
        r = _run_quiet([sys.executable, "-m", "pip", "install", "-q", "psycopg2-binary"])
        if r.returncode != 0:
            raise Skip("pip install psycopg2-binary failed:\n" + r.stdout[-2000:])
    import psycopg2
    return {
        "patroni": _run_quiet([_patroni_bin(), "--version"]).stdout.strip(),
        "etcd": _run_quiet(["etcd", "--version"]).stdout.splitlines()[0].strip(),
        "postgres": _run_quiet([os.path.join(PG_BIN, "postgres"), "--version"]).stdout.strip(),
        "psycopg2": psycopg2.__version__,
    }


# ---------------------------------------------------------------- helpers

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


def _yaml(obj, indent=0):
    """Tiny YAML emitter (dict/list/str/int/bool/None) so we need no PyYAML here."""
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:" % (pad, k))
                out.append(_yaml(v, indent + 1))
            else:
                out.append("%s%s: %s" % (pad, k, _scalar(v)))
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, (dict, list)) and v:
                inner = _yaml(v, indent + 1).lstrip()
                out.append("%s- %s" % (pad, inner))
            else:
                out.append("%s- %s" % (pad, _scalar(v)))
    return "\n".join(out)


def _scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    if v == {}:
        return "{}"
    if v == []:
        return "[]"
    return json.dumps(str(v))  # a JSON string is a valid YAML double-quoted scalar


def _pid_alive(pid):
    return netns._pid_alive(pid)


# ---------------------------------------------------------------- the cluster

class PatroniCluster:
    """Patroni + etcd + Postgres on every host of ``topology``.

    ``mode``: 'off' | 'on' | 'quorum' (synchronous replication); ``timings``: 'default' |
    'aggressive'. Member names are ``n1``..``nN``; host index i <-> ``n<i>``.
    Use as a context manager or call :meth:`stop` (also registered with atexit).
    """

    def __init__(self, topology: netns.Topology, workdir: str, mode: str = "off",
                 timings: str = "default", scope: str = None, keep_workdir: bool = False):
        if mode not in SYNC_MODES:
            raise ValueError("mode must be one of %s" % list(SYNC_MODES))
        if timings not in TIMINGS:
            raise ValueError("timings must be one of %s" % list(TIMINGS))
        self.topo = topology
        self.workdir = os.path.abspath(workdir)
        self.mode, self.timings = mode, timings
        self.scope = scope or topology.prefix
        self.keep_workdir = keep_workdir
        self.hosts = topology.host_ids
        self._procs = {i: {} for i in self.hosts}   # i -> {'etcd': Popen, 'patroni': Popen}
        self._logs = []
        self._created_workdir = False
        self._stopped = False
        self._started = False
        pw = pwd.getpwnam("postgres")
        self._uid, self._gid = pw.pw_uid, pw.pw_gid
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

    def rest_url(self, i, path="/"):
        return "http://%s:8008%s" % (self.topo.address(i), path)

    # ---- configuration
    def _patroni_config(self, i):
        a = self.topo.address(i)
        nd = self.node_dir(i)
        dcs = dict(TIMINGS[self.timings])
        dcs.update({
            "maximum_lag_on_failover": 16 * 1024 * 1024,
            "synchronous_mode": SYNC_MODES[self.mode],
            "synchronous_node_count": 1,
            "postgresql": {
                "use_pg_rewind": True,
                "use_slots": True,
                "parameters": {
                    "wal_level": "replica", "hot_standby": "on", "wal_log_hints": "on",
                    "max_connections": 50, "max_wal_senders": 10,
                    "max_replication_slots": 10, "wal_keep_size": "128MB",
                },
            },
        })
        subnet = self.topo.subnet
        return {
            "scope": self.scope,
            "namespace": "/service/",
            "name": self.name(i),
            "log": {"level": "INFO", "format": "%(asctime)s %(levelname)s: %(message)s"},
            "restapi": {"listen": "%s:8008" % a, "connect_address": "%s:8008" % a},
            "etcd3": {"hosts": ["%s:2379" % self.topo.address(j) for j in self.hosts],
                      "protocol": "http"},
            "bootstrap": {
                "dcs": dcs,
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, "data-checksums"],
            },
            "postgresql": {
                "listen": "%s:5432" % a,
                "connect_address": "%s:5432" % a,
                "data_dir": self.data_dir(i),
                "bin_dir": PG_BIN,
                "pgpass": os.path.join(nd, "pgpass"),
                "use_unix_socket": True,
                "use_unix_socket_repl": False,
                "authentication": {
                    "superuser": {"username": SUPERUSER, "password": SUPERUSER_PW},
                    "replication": {"username": REPLUSER, "password": REPLUSER_PW},
                },
                "parameters": {
                    "unix_socket_directories": nd,
                    "shared_buffers": "32MB",
                    "logging_collector": "on", "log_directory": "log",
                    "log_line_prefix": "%m [%p] ",
                },
                "pg_hba": [
                    "local all all trust",
                    "host replication %s %s scram-sha-256" % (REPLUSER, subnet),
                    "host all all %s scram-sha-256" % subnet,
                    "host all all 127.0.0.1/32 scram-sha-256",
                ],
            },
            "watchdog": {"mode": "off"},
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False,
                     "nosync": False},
        }

    def _prepare(self):
        if not os.path.isdir(self.workdir):
            os.makedirs(self.workdir)
            self._created_workdir = True
        # The postgres user must be able to reach the node directories.
        d = self.workdir
        while d != "/":
            st = os.stat(d)
            if not (st.st_mode & 0o001):
                raise Skip("workdir %s: %s is not searchable by the postgres user; use e.g. /tmp/..."
                           % (self.workdir, d))
            d = os.path.dirname(d)
        for i in self.hosts:
            nd = self.node_dir(i)
            os.makedirs(nd, exist_ok=True)
            os.makedirs(os.path.join(nd, "etcd"), exist_ok=True)
            os.chmod(os.path.join(nd, "etcd"), 0o700)
            os.chown(nd, self._uid, self._gid)
            os.chmod(nd, 0o700)
            cfg = os.path.join(nd, "patroni.yml")
            with open(cfg, "w") as f:
                f.write(_yaml(self._patroni_config(i)) + "\n")
            os.chown(cfg, self._uid, self._gid)
            os.chmod(cfg, 0o600)

    # ---- processes
    def _log(self, i, what):
        f = open(os.path.join(self.node_dir(i), "%s.log" % what), "ab", buffering=0)
        self._logs.append(f)
        return f

    def _start_etcd(self, i):
        a = self.topo.address(i)
        cluster = ",".join("%s=http://%s:2380" % (self.name(j), self.topo.address(j))
                           for j in self.hosts)
        argv = ["etcd", "--name", self.name(i), "--data-dir", os.path.join(self.node_dir(i), "etcd"),
                "--listen-client-urls", "http://%s:2379" % a,
                "--advertise-client-urls", "http://%s:2379" % a,
                "--listen-peer-urls", "http://%s:2380" % a,
                "--initial-advertise-peer-urls", "http://%s:2380" % a,
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", "pgha-faults-%s" % self.scope,
                "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]
        lf = self._log(i, "etcd")
        self._procs[i]["etcd"] = self.topo.run(i, argv, stdout=lf, stderr=lf,
                                               stdin=subprocess.DEVNULL)

    def _start_patroni(self, i):
        nd = self.node_dir(i)
        argv = ["setpriv", "--reuid", str(self._uid), "--regid", str(self._gid), "--init-groups",
                "--", _patroni_bin(), os.path.join(nd, "patroni.yml")]
        env = {"PATH": "%s:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" % os.path.join(VENV, "bin"),
               "HOME": nd, "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
        lf = self._log(i, "patroni")
        self._procs[i]["patroni"] = self.topo.run(i, argv, stdout=lf, stderr=lf, cwd=nd, env=env,
                                                  stdin=subprocess.DEVNULL)

    def start(self, timeout=240.0):
        """Start etcd and Patroni on every host; return once there is one leader and all the
        other members are streaming replicas (polls REST /cluster). Returns /cluster."""
        if self._started:
            raise RuntimeError("already started")
        self._started = True
        try:
            self._prepare()
            for i in self.hosts:
                self._start_etcd(i)
            for i in self.hosts:
                self._start_patroni(i)
            return self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def pid_map(self, i):
        """{'etcd': pid, 'patroni': pid, 'postmaster': pid} of host i (alive ones only)."""
        out = {}
        for what, p in self._procs[i].items():
            if p.poll() is None:
                out[what] = p.pid
        try:
            with open(os.path.join(self.data_dir(i), "postmaster.pid")) as f:
                pid = int(f.readline().strip())
            if _pid_alive(pid):
                out["postmaster"] = pid
        except (FileNotFoundError, ValueError):
            pass
        return out

    def pids(self, i):
        """Every PID this backend started in host i: etcd, Patroni, the postmaster."""
        return sorted(self.pid_map(i).values())

    def _kill_all(self, i):
        """SIGKILL every process this backend started in host i and anything else left in its
        namespace; waits for the started ones. Returns the pids signalled."""
        victims = set(self.pids(i))
        with contextlib.suppress(Exception):
            victims |= set(netns._netns_pids(self.topo.ns(i)))
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for p in self._procs[i].values():
            with contextlib.suppress(Exception):
                p.wait(5)
        return victims

    def kill_host(self, i, cut_link=False):
        """Simulate host death: kill -9 etcd, Patroni and the postmaster of host i, and every
        other process in its namespace (backends, walsenders, pg_basebackup, ...). With
        ``cut_link`` the host's link goes down first (peers then see timeouts, not RSTs;
        :meth:`restart_host` brings it back up). Returns the time.monotonic() of the kill."""
        if cut_link:
            self.topo.link_down(i)
        t = time.monotonic()
        victims = self._kill_all(i)
        deadline = time.time() + 5
        while time.time() < deadline and any(_pid_alive(p) for p in victims):
            time.sleep(0.02)
        self._host_down = getattr(self, "_host_down", set()) | {i}
        return t

    def restart_host(self, i):
        """Start etcd and Patroni on host i again (after :meth:`kill_host`; kills leftovers
        first). Its Postgres rejoins as a replica (pg_rewind when needed). Returns at once;
        use :meth:`wait_healthy` to wait for it."""
        if any(_pid_alive(p) for p in netns._netns_pids(self.topo.ns(i))):
            self.kill_host(i)
        self.topo.link_up(i)
        self._start_etcd(i)
        self._start_patroni(i)
        getattr(self, "_host_down", set()).discard(i)

    # ---- cluster state
    def cluster(self, via=None):
        """Patroni's GET /cluster, asked of host ``via`` from inside its own namespace (so
        client-side faults do not matter), else of the first host that answers."""
        order = [via] if via else self.hosts
        last = None
        for i in order:
            try:
                st, body = self.topo.call_in(i, _http, "GET", self.rest_url(i, "/cluster"), None, 2.0)
                if st == 200 and isinstance(body, dict):
                    return body
                last = "HTTP %s" % st
            except Exception as e:  # noqa: BLE001
                last = e
        raise RuntimeError("no Patroni REST answered /cluster: %s" % last)

    def primary(self, via=None):
        """Host index of the leader per /cluster, or None."""
        for m in self.cluster(via).get("members", []):
            if m.get("role") in ("leader", "standby_leader"):
                return self.index(m["name"])
        return None

    def healthy(self, exclude=()):
        """True when /cluster shows one running leader, every other member (except
        ``exclude``) streaming and, in modes on/quorum, at least one of them a synchronous
        (sync_standby / quorum_standby) replica."""
        try:
            c = self.cluster()
        except RuntimeError:
            return False
        return self._healthy(c, exclude)

    def _healthy(self, c, exclude=()):
        want = {self.name(i) for i in self.hosts if i not in exclude}
        ms = {m["name"]: m for m in c.get("members", []) if m["name"] in want}
        if set(ms) != want:
            return False
        leaders = [m for m in ms.values() if m.get("role") == "leader" and m.get("state") == "running"]
        replicas = [m for m in ms.values() if m.get("role") != "leader" and m.get("state") == "streaming"]
        if not (len(leaders) == 1 and len(replicas) == len(want) - 1):
            return False
        # In synchronous modes the cluster is only failover-ready once Patroni has published
        # a synchronous standby in the DCS (/sync key): until then no replica may be promoted.
        # /cluster shows that as role sync_standby (on) or quorum_standby (quorum).
        sync_role = {"on": "sync_standby", "quorum": "quorum_standby"}.get(self.mode)
        if sync_role and len(want) > 1:
            return any(m.get("role") == sync_role for m in replicas)
        return True

    def wait_healthy(self, timeout=120.0, exclude=(), interval=0.25):
        """Poll /cluster until healthy (see :meth:`healthy`); return it, or raise TimeoutError."""
        deadline = time.monotonic() + timeout
        c = None
        while time.monotonic() < deadline:
            try:
                c = self.cluster()
                if self._healthy(c, exclude):
                    return c
            except RuntimeError:
                pass
            for i in self.hosts:
                p = self._procs[i].get("patroni")
                if p is not None and p.poll() is not None and i not in getattr(self, "_host_down", ()):
                    raise RuntimeError("patroni on host %d exited (%s); see %s" % (
                        i, p.returncode, os.path.join(self.node_dir(i), "patroni.log")))
            time.sleep(interval)
        raise TimeoutError("cluster not healthy after %.0fs: %s" % (timeout, json.dumps(c)))

    def switchover(self, to=None, timeout=60.0, wait_healthy=True):
        """POST /switchover to the leader (candidate host ``to`` or Patroni's choice).

        Returns {'status', 'response', 'returned_after_s', 'new_primary'} (+ 'healthy_after_s'
        with ``wait_healthy``: until one leader and all replicas streaming again). Patroni's
        POST returns when it considers the switchover done (200), or with 412 when refused
        (e.g. in mode 'on' the candidate must be the sync_standby) or 503 when it failed."""
        leader = self.primary()
        if leader is None:
            raise RuntimeError("no leader to switch over from")
        body = {"leader": self.name(leader)}
        if to is not None:
            body["candidate"] = self.name(to)
        t0 = time.monotonic()
        st, resp = self.topo.call_in(leader, _http, "POST", self.rest_url(leader, "/switchover"),
                                     body, timeout)
        dt = time.monotonic() - t0
        out = {"status": st, "response": resp, "returned_after_s": round(dt, 3)}
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
            "port": ",".join("5432" for _ in self.hosts),
            "dbname": dbname, "user": SUPERUSER, "password": SUPERUSER_PW,
            "target_session_attrs": "read-write" if read_write else "any",
            "connect_timeout": "1",
        }
        kv.update({k: str(v) for k, v in extra.items()})
        return " ".join("%s=%s" % (k, v) for k, v in kv.items())

    def dsn(self, i, dbname="postgres"):
        """Single-host DSN for host i."""
        return "host=%s port=5432 dbname=%s user=%s password=%s connect_timeout=1" % (
            self.topo.address(i), dbname, SUPERUSER, SUPERUSER_PW)

    # ---- teardown
    def stop(self, graceful_timeout=15.0):
        """Stop Patroni (which stops Postgres) and etcd on all hosts, kill -9 anything left in
        the host namespaces, and remove the node directories (unless keep_workdir).
        Idempotent; also runs at exit."""
        if self._stopped:
            return
        self._stopped = True
        for i in self.hosts:
            p = self._procs[i].get("patroni")
            if p is not None and p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + graceful_timeout
        for i in self.hosts:
            p = self._procs[i].get("patroni")
            if p is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(max(0.1, deadline - time.monotonic()))
        for i in self.hosts:
            p = self._procs[i].get("etcd")
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for i in self.hosts:
            p = self._procs[i].get("etcd")
            if p is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(5)
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


# ---------------------------------------------------------------- self-check

def _verify(prefix, workdir, timings_list, mode, restart, keep=False):
    versions = ensure_installed()
    print("versions:", json.dumps(versions))
    results = []
    made_workdir = not os.path.exists(workdir)
    try:
        return _verify_runs(prefix, workdir, timings_list, mode, restart, keep, results)
    finally:
        if made_workdir and not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _verify_runs(prefix, workdir, timings_list, mode, restart, keep, results):
    for timings in timings_list:
        wd = os.path.join(workdir, timings)
        with netns.Topology(prefix) as topo, PatroniCluster(topo, wd, mode=mode, timings=timings,
                                                                 keep_workdir=keep) as pc:
            t0 = time.monotonic()
            c = pc.start()
            print("[%s/%s] healthy after %.1fs; /cluster:" % (timings, mode, time.monotonic() - t0))
            for m in c["members"]:
                print("   %-3s %-15s %-8s %-10s %s lag=%s" % (m["name"], m["host"], m["role"], m["state"],
                                                              "tl=%s" % m.get("timeline"), m.get("lag", "-")))
            old = pc.primary()
            print("   pids:", {i: pc.pid_map(i) for i in pc.hosts})
            with WriteProbe(topo, pc.dsn_multi(), label=timings) as probe:
                if probe.wait_for(lambda e: e[2], 30) is None:
                    raise RuntimeError("probe never wrote: %s" % probe.events[-3:])
                time.sleep(1.0)
                t_kill = pc.kill_host(old)
                print("   kill -9 host %d (leader %s) at t=0" % (old, topo.address(old)))
                ok = probe.wait_for(lambda e: e[2] and e[0] > t_kill and e[3] != topo.address(old), 180)
                if ok is None:
                    raise RuntimeError("no write succeeded within 180s after the kill")
                res = probe.outage(t_kill, old_server=topo.address(old))
            new = pc.primary()
            res.update({"timings": timings, "mode": mode, "old_primary": old, "new_primary": new})
            print("   writes unavailable %.2fs (fault -> first write on new primary %.2fs; "
                  "%d failed attempts: %s); new primary host %s" % (
                      res["unavailable_s"], res["fault_to_first_write_s"], res["failed_attempts"],
                      ", ".join(res["error_kinds"]), new))
            if restart:
                t1 = time.monotonic()
                pc.restart_host(old)
                pc.wait_healthy(180)
                res["rejoin_s"] = round(time.monotonic() - t1, 2)
                print("   host %d restarted, rejoined as replica after %.1fs" % (old, res["rejoin_s"]))
                sw = pc.switchover()
                res["switchover"] = sw
                print("   switchover (Patroni's choice): HTTP %s %r, returned after %.2fs, healthy "
                      "after %.2fs; primary now %s" % (sw["status"], sw["response"], sw["returned_after_s"],
                                                      sw.get("healthy_after_s", -1), sw["new_primary"]))
            results.append(res)
    print("results:", json.dumps(results))
    return results


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="Patroni + etcd backend of the fault harness")
    ap.add_argument("--verify", action="store_true", help="bring up, kill the leader, measure")
    ap.add_argument("--install", action="store_true", help="install what is missing, print versions")
    ap.add_argument("--timings", nargs="+", default=["default", "aggressive"], choices=list(TIMINGS))
    ap.add_argument("--mode", default="off", choices=list(SYNC_MODES))
    ap.add_argument("--prefix", default="pghapat")
    ap.add_argument("--workdir", default="/tmp/pgha-patroni-verify")
    ap.add_argument("--no-restart", action="store_true", help="skip the rejoin + switchover step")
    ap.add_argument("--keep", action="store_true", help="keep the workdir (logs, data) afterwards")
    a = ap.parse_args(argv)
    try:
        if a.install:
            print(json.dumps(ensure_installed(), indent=1))
            return 0
        if a.verify:
            _verify(a.prefix, a.workdir, a.timings, a.mode, not a.no_restart, a.keep)
            return 0
    except Skip as e:
        print("skip:", e, file=sys.stderr)
        return 77
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
