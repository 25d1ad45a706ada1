#!/usr/bin/env python3
"""Network-namespace topology and network fault primitives for the fault harness.

A :class:`Topology` builds, on this machine only, a small private LAN out of Linux
network namespaces::

    <prefix>-br   holds bridge br0 and the bridge-side ends h1..hN, hc of the veth pairs
    <prefix>-n1   eth0 = 10.X.0.11/24 ... <prefix>-nN  eth0 = 10.X.0.(10+N)/24
    <prefix>-c    eth0 = 10.X.0.100/24   (the client)

X is 200..250, derived from a hash of the prefix (``Topology.subnet``). The namespaces
have no route to the root namespace or anywhere else: all traffic stays inside them.

Faults (each reversible; each also has a context-manager form):

* ``link_down(i)`` / ``link_up(i)``  -- set the bridge-side end of host i's veth down: host i's
  eth0 loses carrier ("cable pulled"); its addresses stay, packets are silently lost.
* ``isolate(i, keep=[...])`` / ``heal(i)`` -- nftables rules in host i's namespace drop all
  IPv4 traffic to and from the other hosts and the client, except those in ``keep``
  (host numbers and/or ``'c'``).
* ``asymmetric(i, keep=[...])`` / ``heal(i)`` -- host i can still send to the others but drops
  everything it receives from them (input only).
* ``netem(i, delay_ms, jitter_ms, loss_pct)`` / ``clear_netem(i)`` -- delay, jitter and loss on
  host i's outbound traffic (eth0 egress). Uses ``tc qdisc ... netem`` when the kernel has it;
  when the kernel lacks sch_netem (CONFIG_NET_SCH_NETEM unset, as on the Firecracker
  kernels this project runs on) it falls back to an equivalent userspace emulator: a tc
  ``clsact`` egress filter redirects every frame on eth0 to a TAP device, a small forwarder
  process (this file, ``--delay-forwarder``) holds each frame for the delay (+- uniform
  jitter, never reordering), drops ``loss_pct`` percent at random (ARP is exempt from the
  loss, unlike tc netem), and sends the rest out of
  eth0 through an AF_PACKET socket with PACKET_QDISC_BYPASS (which skips the tc hook, so no
  loop). ``netem_backend(i)`` says which one is in use.

Safety: while a topology exists, the root namespace gets a ``blackhole`` route for its
subnet, so a socket opened by mistake outside the namespaces fails locally instead of
following the machine's default route to a real 10.X address. ``close()`` removes it.
Code that must talk from a namespace uses :meth:`Topology.call_in` / :meth:`Topology.executor`
(threads that entered the namespace with setns) or :meth:`Topology.run` (processes).

Cleanup: ``close()`` (also on ``with`` exit, atexit, SIGINT, SIGTERM) kills the processes this
object started through ``run()`` and any process still inside its own namespaces (only this
harness puts processes there), then deletes the namespaces. The names are recorded in
``/tmp/<prefix>.netns.json``; leftovers of a crashed run go with::

    python3 Benchmarks/faults/netns.py --cleanup PREFIX

Self-test (root): ``python3 Benchmarks/faults/netns.py --selftest [PREFIX]``.

Requires root and the ``ip``, ``nft`` and ``tc`` commands (Debian: ``apt-get install -y
iproute2 nftables``); otherwise the constructor raises :class:`Skip`.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib

__all__ = ["Topology", "Skip", "cleanup_prefix", "enter_netns"]

CLONE_NEWNET = 0x40000000
_libc = None


def enter_netns(name):
    """Move the *calling thread* into network namespace ``name`` (setns(2)).

    Sockets that thread opens afterwards (psycopg2, urllib, ...) live in that namespace.
    Never call it on the main thread: use :meth:`Topology.call_in`, which runs a function
    on a worker thread that has entered the namespace.
    """
    global _libc
    import ctypes
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/run/netns/%s" % name, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns(%s): %s" % (name, os.strerror(e)))
    finally:
        os.close(fd)


class Skip(Exception):
    """Raised when this machine cannot run the topology (not root, tools missing)."""


def _sh(argv, check=True, capture=True, timeout=30):
    """Run a command in the root namespace; return CompletedProcess."""
    r = subprocess.run(argv, stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s" % (
            r.returncode, " ".join(map(str, argv)), (r.stderr or "").strip()))
    return r


def preflight():
    """Raise Skip with a reason unless we are root and ip/nft/tc exist."""
    if os.geteuid() != 0:
        raise Skip("network namespaces need root (running as uid %d)" % os.geteuid())
    missing = [t for t in ("ip", "nft", "tc") if shutil.which(t) is None]
    if missing:
        raise Skip("missing tools: %s (Debian: apt-get install -y iproute2 nftables)"
                   % ", ".join(missing))


def _state_path(prefix):
    return "/tmp/%s.netns.json" % prefix


def _list_netns():
    r = _sh(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in (r.stdout or "").splitlines() if line.strip()]


def _netns_pids(name):
    r = _sh(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in (r.stdout or "").split() if p.isdigit()]


def _kill_pids(pids, grace=2.0):
    """SIGTERM then SIGKILL the given PIDs (ignoring ones already gone)."""
    pids = [p for p in set(pids) if p != os.getpid()]
    for p in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGTERM)
    deadline = time.time() + grace
    alive = pids
    while alive and time.time() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if _pid_alive(p)]
    for p in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(p, signal.SIGKILL)


def _pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def cleanup_prefix(prefix, verbose=True):
    """Remove the namespaces (and processes in them) of a topology with this prefix.

    Uses the state file when it exists, and also any namespace named ``<prefix>-br``,
    ``<prefix>-c`` or ``<prefix>-n<digits>``. Returns the list of names removed.
    """
    names = set()
    path = _state_path(prefix)
    state = {}
    try:
        with open(path) as f:
            state = json.load(f)
        names.update(state.get("namespaces", []))
    except (FileNotFoundError, ValueError):
        pass
    pat = re.compile(r"^%s-(br|c|n\d+)$" % re.escape(prefix))
    existing = _list_netns()
    names.update(n for n in existing if pat.match(n))
    removed = []
    for n in sorted(names):
        if n in existing:
            pids = _netns_pids(n)
            if pids and verbose:
                print("netns %s: killing %s" % (n, pids), file=sys.stderr)
            _kill_pids(pids)
            _sh(["ip", "netns", "del", n], check=False)
            removed.append(n)
    if state.get("blackhole") and state.get("subnet"):
        _sh(["ip", "route", "del", "blackhole", state["subnet"]], check=False)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    if verbose:
        print("cleanup %s: removed %s" % (prefix, removed or "nothing"), file=sys.stderr)
    return removed


# ---------------------------------------------------------------- signal / atexit glue

_LIVE = []          # Topology objects not yet closed
_HANDLERS_SET = False


def _close_all():
    for t in list(reversed(_LIVE)):
        with contextlib.suppress(Exception):
            t.close()


def _on_signal(signum, _frame):
    # Turn SIGTERM into SystemExit, SIGINT into KeyboardInterrupt, so `with` blocks and
    # finally clauses unwind (the cluster stops first, then the topology); atexit then
    # catches whatever is still open.
    signal.signal(signum, signal.SIG_DFL if signum != signal.SIGINT else signal.default_int_handler)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _install_handlers():
    global _HANDLERS_SET
    if _HANDLERS_SET:
        return
    _HANDLERS_SET = True
    atexit.register(_close_all)
    import threading
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(s) in (signal.SIG_DFL, signal.default_int_handler, None):
                signal.signal(s, _on_signal)


# ---------------------------------------------------------------- the topology

class Topology:
    """A bridge namespace, ``hosts`` host namespaces and one client namespace.

    Host keys: an int 1..hosts, or ``'c'`` for the client. Use as a context manager or call
    :meth:`close`. See the module docstring for the layout and faults.
    """

    NFT_ISOLATE = "pgha_isolate"
    NFT_ASYM = "pgha_asym"

    def __init__(self, prefix: str, hosts: int = 3):
        preflight()
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$", prefix):
            raise ValueError("prefix must be 1-31 chars of [A-Za-z0-9_.-]")
        if not 1 <= hosts <= 80:
            raise ValueError("hosts must be 1..80")
        self.prefix = prefix
        self.hosts = hosts
        self.x = 200 + zlib.crc32(prefix.encode()) % 51
        self.subnet = "10.%d.0.0/24" % self.x
        self.bridge_ns = "%s-br" % prefix
        self._procs = []            # Popen objects from run()
        self._netem = {}            # host -> ('tc'|'userspace', Popen or None)
        self._created = []
        self._closed = False
        self._executors = {}        # host key -> ThreadPoolExecutor whose threads are in its ns
        self._blackhole = False     # True when we added the root-ns blackhole route
        _install_handlers()
        _LIVE.append(self)
        leftovers = [n for n in _list_netns() if n in self._all_names()]
        if leftovers:
            print("netns: removing leftovers of an earlier run: %s" % leftovers, file=sys.stderr)
            cleanup_prefix(prefix, verbose=False)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # ---- names and addresses
    def _all_names(self):
        return [self.bridge_ns, self.ns("c")] + [self.ns(i) for i in range(1, self.hosts + 1)]

    def _key(self, i):
        if i == "c" or i == "client":
            return "c"
        i = int(i)
        if not 1 <= i <= self.hosts:
            raise ValueError("no host %r (1..%d or 'c')" % (i, self.hosts))
        return i

    def ns(self, i) -> str:
        """Namespace name of host i (or of the client for ``'c'``)."""
        k = self._key(i)
        return "%s-c" % self.prefix if k == "c" else "%s-n%d" % (self.prefix, k)

    def address(self, i) -> str:
        """IPv4 address of host i (``'c'``: the client's)."""
        k = self._key(i)
        return "10.%d.0.%d" % (self.x, 100 if k == "c" else 10 + k)

    @property
    def client_address(self) -> str:
        return self.address("c")

    @property
    def host_ids(self):
        return list(range(1, self.hosts + 1))

    def _bridge_port(self, i):
        k = self._key(i)
        return "hc" if k == "c" else "h%d" % k

    # ---- building
    def _save_state(self):
        tmp = _state_path(self.prefix) + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"prefix": self.prefix, "subnet": self.subnet, "namespaces": self._created,
                       "blackhole": self._blackhole,
                       "owner_pid": os.getpid(), "created": time.time()}, f)
        os.replace(tmp, _state_path(self.prefix))

    def _add_ns(self, name):
        _sh(["ip", "netns", "add", name])
        self._created.append(name)
        self._save_state()
        _sh(["ip", "-n", name, "link", "set", "lo", "up"])

    def _build(self):
        # Guard: the subnet exists only inside our namespaces. Without this, a socket opened by
        # mistake in the root namespace (e.g. on the main thread instead of via call_in) would
        # follow the machine's default route and send traffic to a real 10.X address.
        r = _sh(["ip", "route", "add", "blackhole", self.subnet], check=False)
        self._blackhole = r.returncode == 0
        self._save_state()
        self._add_ns(self.bridge_ns)
        br = self.bridge_ns
        _sh(["ip", "-n", br, "link", "add", "br0", "type", "bridge"])
        # No STP, no forwarding delay: ports forward as soon as they are up.
        _sh(["ip", "-n", br, "link", "set", "br0", "type", "bridge", "stp_state", "0",
             "forward_delay", "0"], check=False)
        _sh(["ip", "-n", br, "link", "set", "br0", "up"])
        for k in self.host_ids + ["c"]:
            name = self.ns(k)
            self._add_ns(name)
            port = self._bridge_port(k)
            _sh(["ip", "-n", name, "link", "add", "eth0", "type", "veth",
                 "peer", "name", port, "netns", br])
            _sh(["ip", "-n", br, "link", "set", port, "master", "br0"])
            _sh(["ip", "-n", br, "link", "set", port, "up"])
            _sh(["ip", "-n", name, "addr", "add", "%s/24" % self.address(k), "dev", "eth0"])
            _sh(["ip", "-n", name, "link", "set", "eth0", "up"])

    # ---- running things inside
    def _wrap(self, i, argv):
        if isinstance(argv, str):
            argv = ["sh", "-c", argv]
        return ["ip", "netns", "exec", self.ns(i)] + list(map(str, argv))

    def run(self, i, argv, **popen_kwargs) -> subprocess.Popen:
        """Start argv inside host i's namespace (``'c'`` = client); returns the Popen.

        The process gets its own session (``start_new_session=True`` unless given) so
        :meth:`close` can kill its whole group. A str argv runs through ``sh -c``.
        """
        popen_kwargs.setdefault("start_new_session", True)
        p = subprocess.Popen(self._wrap(i, argv), **popen_kwargs)
        self._procs.append(p)
        return p

    def check_call(self, i, argv, **kwargs):
        """Run argv in host i's namespace and wait; raise CalledProcessError on failure."""
        return subprocess.check_call(self._wrap(i, argv), **kwargs)

    def check_output(self, i, argv, **kwargs):
        """Run argv in host i's namespace and return its stdout (text)."""
        kwargs.setdefault("text", True)
        return subprocess.check_output(self._wrap(i, argv), **kwargs)

    def call(self, i, argv, **kwargs) -> int:
        """Run argv in host i's namespace and return its exit code."""
        return subprocess.call(self._wrap(i, argv), **kwargs)

    def executor(self, i, max_workers=8):
        """A ThreadPoolExecutor whose worker threads run inside host i's namespace (cached
        per host; shut down by :meth:`close`)."""
        import concurrent.futures
        k = self._key(i)
        ex = self._executors.get(k)
        if ex is None:
            ex = concurrent.futures.ThreadPoolExecutor(
                max_workers=max_workers, thread_name_prefix="netns-%s" % k,
                initializer=enter_netns, initargs=(self.ns(k),))
            self._executors[k] = ex
        return ex

    def call_in(self, i, fn, *args, timeout=None, **kwargs):
        """Run ``fn(*args, **kwargs)`` on a thread inside host i's namespace; return its
        result (or raise its exception). E.g. ``t.call_in('c', psycopg2.connect, dsn)``."""
        return self.executor(i).submit(fn, *args, **kwargs).result(timeout)

    def ping(self, src, dst, count=1, timeout=1) -> bool:
        """True if ``ping`` from src's namespace reaches dst (a host key or an address)."""
        addr = dst if isinstance(dst, str) and "." in dst else self.address(dst)
        return self.call(src, ["ping", "-n", "-q", "-c", count, "-W", timeout, addr],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0

    # ---- faults: link
    def link_down(self, i):
        """Pull host i's cable: the bridge-side end of its veth goes down (eth0 NO-CARRIER)."""
        _sh(["ip", "-n", self.bridge_ns, "link", "set", self._bridge_port(i), "down"])

    def link_up(self, i):
        """Undo :meth:`link_down`."""
        _sh(["ip", "-n", self.bridge_ns, "link", "set", self._bridge_port(i), "up"])

    @contextlib.contextmanager
    def link_cut(self, i):
        """Context manager: host i's link is down inside the block."""
        self.link_down(i)
        try:
            yield
        finally:
            self.link_up(i)

    # ---- faults: nftables
    def _peers(self, i, keep):
        me = self._key(i)
        keep_keys = {self._key(k) for k in (keep or [])}
        return [self.address(k) for k in self.host_ids + ["c"] if k != me and k not in keep_keys]

    def _nft(self, i, script):
        p = subprocess.run(self._wrap(i, ["nft", "-f", "-"]), input=script, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise RuntimeError("nft failed in %s: %s\n%s" % (self.ns(i), p.stderr.strip(), script))

    def _nft_table(self, i, table, input_drop, output_drop):
        lines = ["table inet %s {}" % table, "delete table inet %s" % table,
                 "table inet %s {" % table]
        if input_drop:
            lines += ["  chain input { type filter hook input priority -10; policy accept;",
                      "    ip saddr { %s } drop" % ", ".join(input_drop), "  }"]
        if output_drop:
            lines += ["  chain output { type filter hook output priority -10; policy accept;",
                      "    ip daddr { %s } drop" % ", ".join(output_drop), "  }"]
        lines.append("}")
        self._nft(i, "\n".join(lines) + "\n")

    def _nft_delete(self, i, table):
        self.call(i, ["nft", "delete", "table", "inet", table],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def isolate(self, i, keep=()):
        """Drop all traffic between host i and every other host and the client, except
        those in ``keep`` (e.g. ``isolate(p, keep=['c'])``: cut off from the replicas,
        client still connected). Replaces an earlier isolate of host i. Undo: :meth:`heal`."""
        peers = self._peers(i, keep)
        if not peers:
            self._nft_delete(i, self.NFT_ISOLATE)
            return
        self._nft_table(i, self.NFT_ISOLATE, peers, peers)

    def asymmetric(self, i, keep=("c",)):
        """Host i keeps sending to the other hosts but drops all it receives from them
        (input only). The client is kept by default; ``keep=()`` drops it too.
        Undo: :meth:`heal`."""
        peers = self._peers(i, keep)
        if peers:
            self._nft_table(i, self.NFT_ASYM, peers, [])

    def heal(self, i=None):
        """Remove isolate/asymmetric rules of host i (all hosts and the client if None)."""
        for k in ([i] if i is not None else self.host_ids + ["c"]):
            self._nft_delete(k, self.NFT_ISOLATE)
            self._nft_delete(k, self.NFT_ASYM)

    @contextlib.contextmanager
    def isolated(self, i, keep=()):
        """Context manager form of :meth:`isolate`."""
        self.isolate(i, keep=keep)
        try:
            yield
        finally:
            self._nft_delete(i, self.NFT_ISOLATE)

    @contextlib.contextmanager
    def asymmetric_cut(self, i, keep=("c",)):
        """Context manager form of :meth:`asymmetric`."""
        self.asymmetric(i, keep=keep)
        try:
            yield
        finally:
            self._nft_delete(i, self.NFT_ASYM)

    # ---- faults: delay / loss
    def netem(self, i, delay_ms=0.0, jitter_ms=0.0, loss_pct=0.0, backend=None):
        """Delay (+- jitter) and lose packets leaving host i's eth0. Replaces an earlier
        netem of host i. ``backend``: None (tc netem if the kernel has it, else userspace),
        'tc' or 'userspace'. Undo: :meth:`clear_netem`."""
        self.clear_netem(i)
        if backend in (None, "tc"):
            argv = ["tc", "qdisc", "replace", "dev", "eth0", "root", "netem"]
            if delay_ms or jitter_ms:
                argv += ["delay", "%gms" % delay_ms]
                if jitter_ms:
                    argv += ["%gms" % jitter_ms]
            if loss_pct:
                argv += ["loss", "%g%%" % loss_pct]
            r = subprocess.run(self._wrap(i, argv), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
            if r.returncode == 0:
                self._netem[self._key(i)] = ("tc", None)
                return "tc"
            if backend == "tc":
                raise RuntimeError("tc netem failed: %s" % r.stderr.strip())
        self._netem_userspace(i, delay_ms, jitter_ms, loss_pct)
        return "userspace"

    def netem_backend(self, i):
        """'tc', 'userspace' or None."""
        e = self._netem.get(self._key(i))
        return e[0] if e else None

    def _netem_userspace(self, i, delay_ms, jitter_ms, loss_pct):
        k = self._key(i)
        p = self.run(k, [sys.executable, os.path.abspath(__file__), "--delay-forwarder",
                         "--dev", "eth0", "--tap", "pghadly0", "--delay", delay_ms,
                         "--jitter", jitter_ms, "--loss", loss_pct],
                     stdout=subprocess.PIPE, stderr=None, text=True)
        line = p.stdout.readline().strip()
        if line != "ready":
            p.kill()
            p.wait()
            raise RuntimeError("delay forwarder did not start in %s (%r)" % (self.ns(k), line))
        self._netem[k] = ("userspace", p)
        try:
            self.check_call(k, ["tc", "qdisc", "add", "dev", "eth0", "clsact"])
            self.check_call(k, ["tc", "filter", "add", "dev", "eth0", "egress", "protocol", "all",
                                "prio", "1", "u32", "match", "u32", "0", "0",
                                "action", "mirred", "egress", "redirect", "dev", "pghadly0"])
        except BaseException:
            self.clear_netem(k)
            raise

    def clear_netem(self, i):
        """Undo :meth:`netem` on host i (no-op when none is set)."""
        k = self._key(i)
        kind, p = self._netem.pop(k, (None, None))
        if kind == "tc":
            self.call(k, ["tc", "qdisc", "del", "dev", "eth0", "root"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elif kind == "userspace":
            self.call(k, ["tc", "qdisc", "del", "dev", "eth0", "clsact"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            if p is not None and p.stdout:
                p.stdout.close()

    @contextlib.contextmanager
    def delayed(self, i, delay_ms=0.0, jitter_ms=0.0, loss_pct=0.0):
        """Context manager form of :meth:`netem`."""
        self.netem(i, delay_ms, jitter_ms, loss_pct)
        try:
            yield
        finally:
            self.clear_netem(i)

    # ---- cleanup
    def close(self):
        """Kill what this object started, delete its namespaces and state file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for ex in self._executors.values():
            ex.shutdown(wait=False, cancel_futures=True)
        for k in list(self._netem):
            with contextlib.suppress(Exception):
                self.clear_netem(k)
        for p in self._procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGTERM)
        deadline = time.time() + 2
        for p in self._procs:
            try:
                p.wait(max(0.05, deadline - time.time()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)
                with contextlib.suppress(Exception):
                    p.wait(2)
        for name in reversed(self._created):
            _kill_pids(_netns_pids(name))
            _sh(["ip", "netns", "del", name], check=False)
        if self._blackhole:
            _sh(["ip", "route", "del", "blackhole", self.subnet], check=False)
            self._blackhole = False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_state_path(self.prefix))
        with contextlib.suppress(ValueError):
            _LIVE.remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return "Topology(%r, hosts=%d, subnet=%s)" % (self.prefix, self.hosts, self.subnet)


# ---------------------------------------------------------------- userspace netem

def _delay_forwarder(dev, tap, delay_ms, jitter_ms, loss_pct):
    """Run inside a host namespace: read frames redirected to TAP ``tap``, hold each for
    delay +- jitter (never reordering), drop loss_pct %, send the rest out of ``dev`` via an
    AF_PACKET socket that bypasses the qdisc layer (and so the redirecting tc filter)."""
    import collections
    import fcntl
    import random
    import select
    import socket
    import struct

    TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000
    SOL_PACKET, PACKET_QDISC_BYPASS = 263, 20
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode(), IFF_TAP | IFF_NO_PI))
    subprocess.check_call(["ip", "link", "set", tap, "up"])
    out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    out.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
    out.bind((dev, 0))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    print("ready", flush=True)
    q = collections.deque()
    last_due = 0.0
    d, j, loss = delay_ms / 1000.0, jitter_ms / 1000.0, loss_pct / 100.0
    rnd = random.Random()
    while not stop:
        now = time.monotonic()
        while q and q[0][0] <= now:
            with contextlib.suppress(OSError):
                out.send(q.popleft()[1])
        timeout = max(0.0, q[0][0] - now) if q else 0.5
        try:
            r, _, _ = select.select([fd], [], [], timeout)
        except InterruptedError:
            continue
        if not r:
            continue
        while True:
            try:
                frame = os.read(fd, 65536)
            except BlockingIOError:
                break
            # ARP (ethertype 0x0806) is delayed but never dropped: losing it only adds
            # multi-second neighbour-resolution stalls that make loss figures erratic.
            if loss and frame[12:14] != b"\x08\x06" and rnd.random() < loss:
                continue
            due = time.monotonic() + max(0.0, d + (rnd.uniform(-j, j) if j else 0.0))
            last_due = max(last_due, due)
            q.append((last_due, frame))
    os.close(fd)


# ---------------------------------------------------------------- self-test / CLI

def _selftest(prefix):
    with Topology(prefix) as t:
        print(t, "namespaces:", t._created)
        for a, b in [(1, 2), (2, 3), (3, 1), ("c", 1)]:
            print("ping %s -> %s (%s): %s" % (a, b, t.address(b), t.ping(a, b)))
        t.isolate(1, keep=["c"])
        print("isolate(1, keep=['c']): 1->2 %s, 2->1 %s, 1->3 %s, c->1 %s, 2->3 %s" % (
            t.ping(1, 2), t.ping(2, 1), t.ping(1, 3), t.ping("c", 1), t.ping(2, 3)))
        t.heal(1)
        print("heal(1): 1->2 %s, c->1 %s" % (t.ping(1, 2), t.ping("c", 1)))
        t.isolate(2)
        print("isolate(2): c->2 %s, 1->2 %s" % (t.ping("c", 2), t.ping(1, 2)))
        t.heal(2)
        t.asymmetric(3)
        print("asymmetric(3): 3->1 %s (echo reply is dropped), c->3 %s" % (t.ping(3, 1), t.ping("c", 3)))
        t.heal()
        t.link_down(2)
        print("link_down(2): 1->2 %s" % t.ping(1, 2))
        t.link_up(2)
        time.sleep(0.2)
        print("link_up(2): 1->2 %s" % t.ping(1, 2, count=1, timeout=2))

        def rtt(a, b):
            o = subprocess.run(t._wrap(a, ["ping", "-n", "-q", "-c", "5", "-i", "0.2",
                                           t.address(b)]), stdout=subprocess.PIPE, text=True).stdout
            m = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms", o)
            return "min/avg/max/mdev %s/%s/%s/%s ms" % m.groups() if m else "no reply"
        print("rtt 1->2 before netem:", rtt(1, 2))
        kind = t.netem(1, delay_ms=50, jitter_ms=10)
        print("netem(1, 50ms +-10ms) via %s: rtt 1->2 %s" % (kind, rtt(1, 2)))
        with t.delayed(2, delay_ms=30):
            print("and delayed(2, 30ms): rtt 1->2 %s" % rtt(1, 2))
        t.clear_netem(1)
        t.netem(1, loss_pct=50)
        o = subprocess.run(t._wrap(1, ["ping", "-n", "-q", "-c", "40", "-i", "0.05", "-W", "1",
                                       t.address(2)]), stdout=subprocess.PIPE, text=True).stdout
        print("netem(1, loss 50%%): %s" % re.search(r"[\d.]+% packet loss", o).group(0))
        t.clear_netem(1)
        print("rtt 1->2 after clear_netem:", rtt(1, 2))
    left = [n for n in _list_netns() if n.startswith(prefix + "-")]
    print("after close: namespaces with prefix left:", left, "state file exists:",
          os.path.exists(_state_path(prefix)))


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cleanup", metavar="PREFIX", help="remove leftovers of topology PREFIX")
    ap.add_argument("--selftest", nargs="?", const="pghaselftest", metavar="PREFIX")
    ap.add_argument("--delay-forwarder", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--dev", default="eth0", help=argparse.SUPPRESS)
    ap.add_argument("--tap", default="pghadly0", help=argparse.SUPPRESS)
    ap.add_argument("--delay", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--jitter", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--loss", type=float, default=0.0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.delay_forwarder:
        _delay_forwarder(a.dev, a.tap, a.delay, a.jitter, a.loss)
        return 0
    try:
        preflight()
    except Skip as e:
        print("skip:", e, file=sys.stderr)
        return 77
    if a.cleanup:
        cleanup_prefix(a.cleanup)
        return 0
    if a.selftest:
        _selftest(a.selftest)
        return 0
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
