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

What the backends share (naming, pid scans, ``kill_host``/``restart_host``, the waiting
helpers, ``switchover``, the DSNs, ``stop``) is in :class:`netns_cluster.NetnsCluster`, which
this class extends; :class:`netns_cluster.WriteProbe` is re-exported here.

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
        [--mode off|on|quorum] [--prefix P] [--workdir D] [--no-restart] [--keep]

brings the cluster up, prints /cluster, kill -9s the leader's host, and measures how long
writes through the libpq multi-host string (from the client namespace) were unavailable
(``WriteProbe``); then (unless ``--no-restart``) restarts the host, waits for it to rejoin and
runs a switchover.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns_cluster import (PG_BIN, PG_USER, REPLUSER, REPLUSER_PW, SUPERUSER,  # noqa: E402
                           SUPERUSER_PW, NetnsCluster, WriteProbe, _http, check_postgres, kill_round,
                           rejoin_round, self_check_main, self_check_parser, switchover_round)

__all__ = ["PatroniCluster", "WriteProbe", "ensure_installed", "Skip"]

Skip = netns.Skip

VENV = os.environ.get("PGHA_PATRONI_VENV", "/opt/pgha-faults-venv")
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
    check_postgres()
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



# ---------------------------------------------------------------- the cluster

class PatroniCluster(NetnsCluster):
    """Patroni + etcd + Postgres on every host of ``topology``.

    ``mode``: 'off' | 'on' | 'quorum' (synchronous replication); ``timings``: 'default' |
    'aggressive'. Member names are ``n1``..``nN``; host index i <-> ``n<i>``. Host i's
    processes are ``_procs[i]['etcd']`` and ``_procs[i]['patroni']`` (Patroni runs Postgres);
    :meth:`pid_map` adds the postmaster. :meth:`restart_host` starts etcd and Patroni again,
    and Postgres rejoins as a replica (pg_rewind when needed). Use as a context manager or call
    :meth:`stop` (also registered with atexit); it stops Patroni (which stops Postgres), then
    etcd, with SIGTERM.
    """

    MAIN_PROC, MAIN_LABEL = "patroni", "patroni"
    GRACEFUL_TIMEOUT = 15.0

    def __init__(self, topology: netns.Topology, workdir: str, mode: str = "off",
                 timings: str = "default", scope: str = None, keep_workdir: bool = False):
        if mode not in SYNC_MODES:
            raise ValueError("mode must be one of %s" % list(SYNC_MODES))
        if timings not in TIMINGS:
            raise ValueError("timings must be one of %s" % list(TIMINGS))
        pw = pwd.getpwnam(PG_USER)
        self._uid, self._gid = pw.pw_uid, pw.pw_gid
        super().__init__(topology, workdir, mode, timings, scope, keep_workdir)

    # ---- configuration
    def _patroni_config(self, i):
        a = self.topo.address(i)
        nd = self.node_dir(i)
        dcs = dict(TIMINGS[self.timings])
        dcs.update({
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
        self._prepare_workdir()
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

    def _start_all(self):
        # Patroni needs its etcd quorum: every etcd member first, then every Patroni.
        for i in self.hosts:
            self._start_etcd(i)
        for i in self.hosts:
            self._start_patroni(i)

    def _start_host(self, i):
        self._start_etcd(i)
        self._start_patroni(i)

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

    # ---- teardown
    def _graceful_stop(self, timeout):
        """SIGTERM Patroni (which stops Postgres) on all hosts and wait up to ``timeout``
        seconds; then etcd, up to 5 s more."""
        super()._graceful_stop(timeout)
        self._terminate([self._procs[i].get("etcd") for i in self.hosts], 5.0)


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
            print("   pids:", {i: pc.pid_map(i) for i in pc.hosts})
            with WriteProbe(topo, pc.dsn_multi(), label=timings) as probe:
                if probe.wait_for(lambda e: e[2], 30) is None:
                    raise RuntimeError("probe never wrote: %s" % probe.events[-3:])
                res = kill_round(topo, pc, probe, timings)
            res.update({"timings": timings, "mode": mode})
            if restart:
                res["rejoin_s"] = rejoin_round(pc, res["old_primary"])
                res["switchover"] = switchover_round(pc, "Patroni")
            results.append(res)
    print("results:", json.dumps(results))
    return results


def main(argv=None):
    ap = self_check_parser("Patroni + etcd backend of the fault harness",
                           "bring up, kill the leader, measure", SYNC_MODES, "pghapat",
                           "/tmp/pgha-patroni-verify", "skip the rejoin + switchover step")
    ap.add_argument("--install", action="store_true", help="install what is missing, print versions")
    ap.add_argument("--timings", nargs="+", default=["default", "aggressive"], choices=list(TIMINGS))
    return self_check_main(ap, argv, [
        ("install", lambda a: print(json.dumps(ensure_installed(), indent=1))),
        ("verify", lambda a: _verify(a.prefix, a.workdir, a.timings, a.mode, not a.no_restart, a.keep)),
    ])


if __name__ == "__main__":
    sys.exit(main())
