#!/usr/bin/env python3
"""A real 3-node OpenBao raft cluster on this machine, for tests and scripts.

Every subcommand prints one JSON object on stdout and exits 0; on failure it
prints `raft_cluster: <reason>` on stderr and exits 1 (2 for bad usage).

  up     --dir D --bao BAO [--bind 127.0.0.1] [--timeout 90]
         [--tls-addr IP --tls-cert PEM --tls-key PEM] [--disable-standby-reads]
         Starts n1 n2 n3 (`BAO server -config D/n{i}/config.hcl`, each in its
         own session, output in D/n{i}/server.log, raft data in D/n{i}/data),
         initialises n1 (1 key share, threshold 1), unseals it, joins n2 and
         n3 to it, unseals them and waits until the raft configuration lists
         3 voters and every node answers /v1/sys/health?standbyok=true with
         200. Writes D/cluster.json (0600, holds the root token and unseal
         key) and prints it without those two. Each node has a plain-HTTP
         listener on --bind (for management) and, with --tls-addr, a second
         HTTPS listener on IP with the given cert/key (for network
         namespaces). Refuses a D whose cluster still has a live node; over a
         cluster that is all dead, it wipes D/n1..n3 and starts afresh.
  leader --dir D [--wait SECONDS]
         The live node whose /v1/sys/health says 200 (active):
         {"leader": "n2", "addr": ..., "tls_addr": ...}. With --wait, waits
         that long for one (an election); without, fails at once if none.
  kill   --dir D --node n1|n2|n3|leader
         SIGKILLs that node, waits until it has exited, records it dead.
  start  --dir D --node n1|n2|n3 [--no-unseal] [--timeout 60]
         Restarts a dead node with its same config and data, unseals it and
         waits until its health says standby (429) or active (200) and, when
         another unsealed node runs (so there is quorum), until its
         /v1/sys/leader names the active node: a restarted standby answers
         429 up to ~3s before it can forward, and meanwhile answers what it
         would forward with 500 "local node not active but active cluster
         node not found". "knows_active" in the output says whether that
         was reached. With --no-unseal it stops once the node listens (and
         answers 503 sealed).
  status --dir D
         For each node: alive, pid, health status code; and the raft
         configuration as seen through the first live node that answers it.
  down   --dir D
         SIGKILLs every node still alive. Leaves D in place.

As a module: up(dir, bao, ...), leader(dir, wait=0), kill(dir, node),
start(dir, node, ...), status(dir), down(dir) return the same dicts (state(dir)
returns cluster.json with the root token and unseal key), raise
ClusterError on failure; http(addr, method, path, ...) is the small client the
script itself uses ((status, headers, body) with body parsed as JSON when it
is JSON; it never follows redirects).

Node config: raft storage with performance_multiplier = 1 (a new leader is
active ~1.5-4s after the old one is SIGKILLed) and autopilot reconcile/update
intervals of 1s/500ms plus server_stabilization_time 1s (set through the API
after init), so joiners are promoted to voters in ~5s instead of ~20s and `up`
takes ~6-8s. Every tcp listener gets an explicit free cluster_address (bao
would otherwise open one on its port + 1). BAO_* / VAULT_* variables are not
passed to the servers (BAO_API_ADDR etc. would override the config).
OpenBao 2.7 logs "unknown or unsupported field disable_mlock" (harmless).
By default OpenBao >= 2.5 standbys serve reads themselves (KV reads,
capabilities-self) and forward writes; --disable-standby-reads makes them
forward everything.

Python 3 standard library only. Linux only (reads /proc to tell a live node
from a dead or recycled PID).
"""
import argparse
import contextlib
import fcntl
import http.client as httpclient
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

NODES = ("n1", "n2", "n3")
STATE = "cluster.json"

# Popen objects of nodes started by this process, so a module user that calls
# up() then kill() reaps its own children (and Python does not warn about
# still-running subprocesses being dropped).
_CHILDREN = {}


class ClusterError(Exception):
    pass


# ---------------------------------------------------------------- HTTP ----

def http(addr, method, path, body=None, token=None, timeout=5.0, headers=None):
    """One request to a plain-HTTP node address ("http://127.0.0.1:8200").

    Returns (status, headers_dict_lowercase, body) where body is the decoded
    JSON, or the text when it is not JSON, or None when empty. Connection
    errors propagate (OSError: ConnectionRefusedError, socket.timeout, ...).
    """
    u = urllib.parse.urlsplit(addr)
    if u.scheme != "http":
        raise ClusterError(f"http(): only plain http addresses are supported, not {addr}")
    conn = httpclient.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        hdrs = {"Accept": "application/json"}
        if headers:
            hdrs.update(headers)
        data = None
        if token:
            hdrs["X-Vault-Token"] = token
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        rh = {k.lower(): v for k, v in resp.getheaders()}
        text = raw.decode("utf-8", "replace")
        if not text.strip():
            parsed = None
        else:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
        return resp.status, rh, parsed
    finally:
        conn.close()


def _health(addr, timeout=2.0, standbyok=False):
    """Status code of /v1/sys/health, or None when the node does not answer."""
    path = "/v1/sys/health" + ("?standbyok=true" if standbyok else "")
    try:
        st, _, _ = http(addr, "GET", path, timeout=timeout)
        return st
    except (OSError, httpclient.HTTPException):
        return None


# ------------------------------------------------------------ processes ----

def _proc_alive(pid, config_path):
    """True if pid runs and is the bao server for config_path (not a zombie,
    not a recycled PID)."""
    if not pid:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        # Our own child: poll() is authoritative. (Between fork and exec its
        # /proc cmdline is still this Python's, so the check below would
        # wrongly call it dead.)
        if child.poll() is None:
            return True
        _CHILDREN.pop(pid, None)
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().split(b"\0")
    except OSError:
        return False
    # state is the field after the ")" that closes the command name
    state = stat[stat.rfind(b")") + 2:][:1]
    if state in (b"Z", b"X"):
        _reap(pid)
        return False
    return os.fsencode(config_path) in cmdline


def _reap(pid):
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        with contextlib.suppress(Exception):
            child.wait(timeout=0)
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _sigkill_and_wait(node, timeout=15.0):
    """SIGKILL the node's process (if it is the right live process) and wait
    until it is gone. Returns True if it was alive."""
    pid, cfg = node.get("pid"), node["config"]
    if not _proc_alive(pid, cfg):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    child = _CHILDREN.get(pid)
    if child is not None:
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ClusterError(f"{node['name']} (pid {pid}) did not exit {timeout:.0f}s after SIGKILL") from None
        _CHILDREN.pop(pid, None)
        return True
    deadline = time.monotonic() + timeout
    while _proc_alive(pid, cfg):
        if time.monotonic() > deadline:
            raise ClusterError(f"{node['name']} (pid {pid}) did not exit {timeout:.0f}s after SIGKILL")
        time.sleep(0.02)
    _reap(pid)
    return True


def _clean_env():
    # BAO_API_ADDR, BAO_CLUSTER_ADDR, VAULT_* etc. would override the config.
    return {k: v for k, v in os.environ.items()
            if not (k.startswith("BAO_") or k.startswith("VAULT_"))}


def _spawn(bao, node):
    log = open(os.path.join(node["dir"], "server.log"), "ab")
    try:
        p = subprocess.Popen(
            [bao, "server", "-config", node["config"]],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=node["dir"], env=_clean_env(), start_new_session=True)
    finally:
        log.close()
    _CHILDREN[p.pid] = p
    return p.pid


def _log_tail(node, n=15):
    try:
        with open(os.path.join(node["dir"], "server.log"), "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join("    " + l for l in lines[-n:])
    except OSError:
        return "    (no server.log)"


def _wait_listening(node, timeout):
    """Until the node's own process answers /v1/sys/seal-status on its plain
    address (a bare TCP connect could reach whatever else holds the port)."""
    deadline = time.monotonic() + timeout
    while True:
        if not _proc_alive(node["pid"], node["config"]):
            raise ClusterError(f"{node['name']} exited during start-up; end of {node['dir']}/server.log:\n{_log_tail(node)}")
        try:
            code, _, body = http(node["addr"], "GET", "/v1/sys/seal-status", timeout=1.0)
            if code == 200 and isinstance(body, dict) and "sealed" in body \
                    and _proc_alive(node["pid"], node["config"]):
                return body
        except (OSError, httpclient.HTTPException):
            pass
        if time.monotonic() > deadline:
            raise ClusterError(f"{node['name']} did not answer on {node['addr']} within {timeout:.0f}s; end of server.log:\n{_log_tail(node)}")
        time.sleep(0.05)


def _wait_until(what, fn, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            ok, last = fn()
        except (OSError, httpclient.HTTPException) as e:
            ok, last = False, f"{type(e).__name__}: {e}"
        if ok:
            return last
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last})")
        time.sleep(interval)


# ---------------------------------------------------------------- state ----

@contextlib.contextmanager
def _locked(d):
    os.makedirs(d, exist_ok=True)
    fd = os.open(os.path.join(d, ".cluster.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _load(d):
    p = os.path.join(d, STATE)
    try:
        with open(p) as f:
            return json.load(f)
    except FileNotFoundError:
        raise ClusterError(f"no cluster in {d} ({p} missing); run `up` first") from None


def _save(d, st):
    p = os.path.join(d, STATE)
    tmp = f"{p}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(st, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, p)


def _public(st):
    return {k: v for k, v in st.items() if k not in ("root_token", "unseal_key")}


def _node(st, name):
    for n in st["nodes"]:
        if n["name"] == name:
            return n
    raise ClusterError(f"no node {name!r} (have {', '.join(n['name'] for n in st['nodes'])})")


def _refresh_alive(st):
    for n in st["nodes"]:
        n["alive"] = _proc_alive(n.get("pid"), n["config"])


# ---------------------------------------------------------------- ports ----

def _free_ports(wanted):
    """{ip: [ports]} for wanted = {ip: count}: distinct free TCP ports, all
    held open until every one is chosen (so none is handed out twice)."""
    socks, out = [], {}
    try:
        for ip, count in wanted.items():
            out[ip] = []
            for _ in range(count):
                fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
                s = socket.socket(fam, socket.SOCK_STREAM)
                try:
                    s.bind((ip, 0))
                except OSError as e:
                    s.close()
                    raise ClusterError(f"cannot bind a port on {ip}: {e} (is that address configured on this host?)") from None
                socks.append(s)
                out[ip].append(s.getsockname()[1])
        return out
    finally:
        for s in socks:
            s.close()


def _hostport(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _q(s):
    return json.dumps(s)  # HCL strings take JSON escapes


def _config(node, bind, ports, tls, disable_standby_reads):
    api, cluster = ports["api"], ports["cluster"]
    lines = [
        "ui = false",
        "disable_mlock = true",
        f"api_addr = {_q('http://' + _hostport(bind, api))}",
        f"cluster_addr = {_q('https://' + _hostport(bind, cluster))}",
        'cluster_name = "ow-lab"',
        'log_level = "info"',
        "",
        # A raw audit device (declared: it cannot be enabled through the
        # API): every token and secret id the cluster saw, for the tests'
        # output scans. Its config must be the same on every node, so all
        # three append to one file (one write per entry).
        'audit "file" "raw" {',
        "  options {",
        f"    file_path = {_q(os.path.join(os.path.dirname(os.path.dirname(node['data'])), 'audit.log'))}",
        '    log_raw = "true"',
        "  }",
        "}",
    ]
    if disable_standby_reads:
        lines.append("disable_standby_reads = true")
    lines += [
        "",
        'storage "raft" {',
        f"  path = {_q(node['data'])}",
        f"  node_id = {_q(node['name'])}",
        "  performance_multiplier = 1",
        # autopilot promotes joiners to voters on its reconcile tick (10s by
        # default); 1s keeps `up` short.
        '  autopilot_reconcile_interval = "1s"',
        '  autopilot_update_interval = "500ms"',
        "}",
        "",
        'listener "tcp" {',
        f"  address = {_q(_hostport(bind, api))}",
        f"  cluster_address = {_q(_hostport(bind, cluster))}",
        "  tls_disable = true",
        "}",
    ]
    if tls:
        # Every tcp listener also opens a cluster port (default: its port + 1),
        # so give the TLS one an explicit free one.
        lines += [
            "",
            'listener "tcp" {',
            f"  address = {_q(_hostport(tls['ip'], ports['tls']))}",
            f"  cluster_address = {_q(_hostport(tls['ip'], ports['tls_cluster']))}",
            f"  tls_cert_file = {_q(tls['cert'])}",
            f"  tls_key_file = {_q(tls['key'])}",
            "}",
        ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------- commands ----

def _unseal(node, key):
    st, _, body = http(node["addr"], "PUT", "/v1/sys/unseal", {"key": key}, timeout=10)
    if st != 200:
        raise ClusterError(f"unseal {node['name']}: HTTP {st}: {body}")
    return body


def _raft_config(st, via=None):
    """(node name, servers list) from the first live node that answers."""
    errors = []
    for n in ([via] if via else st["nodes"]):
        if not _proc_alive(n.get("pid"), n["config"]):
            continue
        try:
            code, _, body = http(n["addr"], "GET", "/v1/sys/storage/raft/configuration",
                                 token=st["root_token"], timeout=5)
        except (OSError, httpclient.HTTPException) as e:
            errors.append(f"{n['name']}: {type(e).__name__}: {e}")
            continue
        if code == 200:
            return n["name"], body["data"]["config"]["servers"]
        errors.append(f"{n['name']}: HTTP {code}: {body}")
    raise ClusterError("no live node returned the raft configuration: " + "; ".join(errors or ["no live node"]))


def up(dir, bao, bind="127.0.0.1", tls_addr=None, tls_cert=None, tls_key=None,
       timeout=90.0, disable_standby_reads=False, stabilization="1s"):
    # Free ports are picked by binding port 0 and released before bao binds
    # them; if something else took one meanwhile, start over with new ports.
    for attempt in range(3):
        try:
            return _up_once(dir, bao, bind, tls_addr, tls_cert, tls_key, timeout,
                            disable_standby_reads, stabilization)
        except ClusterError as e:
            if "address already in use" not in str(e) or attempt == 2:
                raise


def _up_once(dir, bao, bind, tls_addr, tls_cert, tls_key, timeout,
             disable_standby_reads, stabilization):
    d = os.path.abspath(dir)
    bao = os.path.abspath(bao)
    if not os.access(bao, os.X_OK):
        raise ClusterError(f"{bao} is not an executable")
    tls = None
    if tls_addr or tls_cert or tls_key:
        if not (tls_addr and tls_cert and tls_key):
            raise ClusterError("--tls-addr, --tls-cert and --tls-key go together")
        for p in (tls_cert, tls_key):
            if not os.path.isfile(p):
                raise ClusterError(f"{p}: no such file")
        tls = {"ip": tls_addr, "cert": os.path.abspath(tls_cert), "key": os.path.abspath(tls_key)}
    t0 = time.monotonic()
    with _locked(d):
        if os.path.exists(os.path.join(d, STATE)):
            old = _load(d)
            live = [n["name"] for n in old["nodes"] if _proc_alive(n.get("pid"), n["config"])]
            if live:
                raise ClusterError(f"{d} already has a cluster with live nodes ({', '.join(live)}); run `down` first")
            os.unlink(os.path.join(d, STATE))
        for name in NODES:
            shutil.rmtree(os.path.join(d, name), ignore_errors=True)

        wanted = {bind: 2 * len(NODES)}
        if tls:
            wanted[tls["ip"]] = wanted.get(tls["ip"], 0) + 2 * len(NODES)
        got = _free_ports(wanted)
        plain = got[bind][:2 * len(NODES)]
        tlsp = got[tls["ip"]][-2 * len(NODES):] if tls else None
        nodes = []
        for i, name in enumerate(NODES):
            nd = os.path.join(d, name)
            os.makedirs(os.path.join(nd, "data"), mode=0o700)
            os.chmod(nd, 0o700)
            ports = {"api": plain[2 * i], "cluster": plain[2 * i + 1]}
            if tls:
                ports["tls"], ports["tls_cluster"] = tlsp[2 * i], tlsp[2 * i + 1]
            node = {
                "name": name,
                "pid": None,
                "alive": False,
                "addr": "http://" + _hostport(bind, ports["api"]),
                "tls_addr": "https://" + _hostport(tls["ip"], ports["tls"]) if tls else None,
                "cluster_addr": "https://" + _hostport(bind, ports["cluster"]),
                "dir": nd,
                "config": os.path.join(nd, "config.hcl"),
                "data": os.path.join(nd, "data"),
            }
            with open(node["config"], "w") as f:
                f.write(_config(node, bind, ports, tls, disable_standby_reads))
            nodes.append(node)
        st = {"nodes": nodes, "bao": bao, "bind": bind,
              "disable_standby_reads": bool(disable_standby_reads),
              "root_token": None, "unseal_key": None}

        try:
            for n in nodes:
                n["pid"] = _spawn(bao, n)
                n["alive"] = True
            _save(d, st)  # from here on, `down` can clean up after a failure
            for n in nodes:
                _wait_listening(n, timeout)

            n1 = nodes[0]
            code, _, body = http(n1["addr"], "PUT", "/v1/sys/init",
                                 {"secret_shares": 1, "secret_threshold": 1}, timeout=30)
            if code != 200:
                raise ClusterError(f"init n1: HTTP {code}: {body}")
            st["root_token"] = body["root_token"]
            st["unseal_key"] = body["keys_base64"][0]
            _save(d, st)
            _unseal(n1, st["unseal_key"])
            _wait_until("n1 to become active", lambda: (
                (c := _health(n1["addr"])) == 200, c), timeout)
            # Autopilot adds joiners as non-voters and promotes them once they
            # have been healthy for server_stabilization_time (default 10s,
            # which made `up` take ~22s). Shorten it; it only governs
            # promotion of new servers, not elections.
            code, _, body = http(n1["addr"], "POST", "/v1/sys/storage/raft/autopilot/configuration",
                                 {"server_stabilization_time": stabilization}, token=st["root_token"])
            if code not in (200, 204):
                raise ClusterError(f"autopilot configuration on n1: HTTP {code}: {body}")

            for n in nodes[1:]:
                code, _, body = http(n["addr"], "POST", "/v1/sys/storage/raft/join",
                                     {"leader_api_addr": n1["addr"]}, timeout=30)
                if code != 200 or not (isinstance(body, dict) and body.get("joined")):
                    raise ClusterError(f"raft join {n['name']} -> n1: HTTP {code}: {body}")
            for n in nodes[1:]:
                # The unseal of a freshly joined node completes asynchronously
                # (it fetches the keyring from the leader); retry while it says
                # it is not ready yet.
                def try_unseal(n=n):
                    code, _, body = http(n["addr"], "PUT", "/v1/sys/unseal", {"key": st["unseal_key"]}, timeout=10)
                    return code == 200, f"HTTP {code}: {body}"
                _wait_until(f"{n['name']} to accept the unseal key", try_unseal, timeout, 0.2)

            def all_voters():
                _, servers = _raft_config(st, via=n1)
                voters = sorted(s["node_id"] for s in servers if s.get("voter"))
                return voters == sorted(NODES), servers
            _wait_until("3 raft voters", all_voters, timeout, 0.2)

            def all_healthy():
                codes = {n["name"]: _health(n["addr"], standbyok=True) for n in nodes}
                return all(c == 200 for c in codes.values()), codes
            _wait_until("every node healthy (standbyok=true -> 200)", all_healthy, timeout, 0.1)
            for n in nodes[1:]:
                _wait_until(f"{n['name']} to learn the active node (/v1/sys/leader)",
                            lambda n=n: _knows_active(st, n), timeout, 0.05)
        except BaseException as e:
            for n in nodes:
                with contextlib.suppress(Exception):
                    _sigkill_and_wait(n)
                n["alive"] = False
            with contextlib.suppress(Exception):
                _save(d, st)
            if isinstance(e, ClusterError):
                raise ClusterError(f"up failed (nodes killed, logs kept in {d}/n*/server.log): {e}") from None
            if isinstance(e, (OSError, httpclient.HTTPException, KeyError)):
                raise ClusterError(f"up failed (nodes killed, logs kept in {d}/n*/server.log): {type(e).__name__}: {e}") from None
            raise

        st["up_seconds"] = round(time.monotonic() - t0, 2)
        _save(d, st)
        return _public(st)


def _knows_active(st, n):
    """(ok, detail): n answers /v1/sys/leader with itself, or with the
    address of a node that is active right now. A standby that has just been
    unsealed reports health 429 a few seconds before it learns the active
    node; until then it answers every request it would forward with 500
    "local node not active but active cluster node not found"."""
    code, _, body = http(n["addr"], "GET", "/v1/sys/leader", timeout=2)
    if code != 200 or not isinstance(body, dict):
        return False, f"HTTP {code}: {body}"
    if body.get("is_self"):
        return True, "is_self"
    la = body.get("leader_address") or ""
    if not la:
        return False, "leader_address empty"
    for m in st["nodes"]:
        if m["addr"] == la:
            return _health(la, timeout=1.0) == 200, f"leader_address {la} ({m['name']})"
    return False, f"leader_address {la} is no node of this cluster"


def _find_leader(st):
    for n in st["nodes"]:
        if not _proc_alive(n.get("pid"), n["config"]):
            continue
        if _health(n["addr"], timeout=1.0) == 200:
            return n
    return None


def state(dir):
    """The whole D/cluster.json, root_token and unseal_key included."""
    return _load(os.path.abspath(dir))


def leader(dir, wait=0.0):
    d = os.path.abspath(dir)
    st = _load(d)
    deadline = time.monotonic() + (wait or 0)
    t0 = time.monotonic()
    while True:
        n = _find_leader(st)
        if n is not None:
            return {"leader": n["name"], "addr": n["addr"], "tls_addr": n.get("tls_addr"),
                    "waited_seconds": round(time.monotonic() - t0, 3)}
        if time.monotonic() >= deadline:
            live = [n["name"] for n in st["nodes"] if _proc_alive(n.get("pid"), n["config"])]
            raise ClusterError(f"no active node{f' after {wait}s' if wait else ''} (live: {', '.join(live) or 'none'})")
        time.sleep(0.05)


def kill(dir, node):
    d = os.path.abspath(dir)
    with _locked(d):
        st = _load(d)
        was_leader = False
        if node == "leader":
            n = _find_leader(st)
            if n is None:
                raise ClusterError("no active node to kill")
            was_leader = True
        else:
            n = _node(st, node)
            was_leader = _proc_alive(n.get("pid"), n["config"]) and _health(n["addr"], timeout=1.0) == 200
        if not _sigkill_and_wait(n):
            raise ClusterError(f"{n['name']} is not running")
        n["alive"] = False
        _refresh_alive(st)
        _save(d, st)
        return {"killed": n["name"], "pid": n["pid"], "addr": n["addr"], "was_leader": bool(was_leader)}


def start(dir, node, unseal=True, timeout=60.0):
    d = os.path.abspath(dir)
    t0 = time.monotonic()
    with _locked(d):
        st = _load(d)
        n = _node(st, node)
        if _proc_alive(n.get("pid"), n["config"]):
            raise ClusterError(f"{n['name']} is already running (pid {n['pid']})")
        if unseal and not st.get("unseal_key"):
            raise ClusterError(f"the cluster in {d} was never initialised (no unseal key in {STATE}); run `up` again")
        n["pid"] = _spawn(st["bao"], n)
        n["alive"] = True
        _save(d, st)
        try:
            return _start_wait(st, n, unseal, timeout, t0)
        except BaseException:
            with contextlib.suppress(Exception):
                _sigkill_and_wait(n)
            n["alive"] = False
            _save(d, st)
            raise


def _start_wait(st, n, unseal, timeout, t0):
    _wait_listening(n, timeout)
    code = None
    knows = False
    if unseal:
        def try_unseal():
            c, _, body = http(n["addr"], "PUT", "/v1/sys/unseal", {"key": st["unseal_key"]}, timeout=10)
            return c == 200, f"HTTP {c}: {body}"
        _wait_until(f"{n['name']} to accept the unseal key", try_unseal, timeout, 0.2)

        def healthy():
            c = _health(n["addr"])
            return c in (200, 429), c
        code = _wait_until(f"{n['name']} to be standby (429) or active (200)", healthy, timeout, 0.05)
        peers = [m for m in st["nodes"] if m is not n and _proc_alive(m.get("pid"), m["config"])
                 and _health(m["addr"], timeout=1.0) in (200, 429)]
        if code == 429 and peers:
            # With another unsealed node there is quorum (2 of 3), so an
            # active node exists or is about to be elected. Alone, there is
            # none to learn.
            _wait_until(f"{n['name']} to learn the active node (/v1/sys/leader)",
                        lambda: _knows_active(st, n), timeout, 0.05)
            knows = True
    else:
        code = _health(n["addr"])
    return {"started": n["name"], "pid": n["pid"], "addr": n["addr"], "health": code,
            "sealed": not unseal, "knows_active": bool(knows or code == 200),
            "seconds": round(time.monotonic() - t0, 2)}


def status(dir):
    d = os.path.abspath(dir)
    st = _load(d)
    out = []
    for n in st["nodes"]:
        alive = _proc_alive(n.get("pid"), n["config"])
        out.append({"name": n["name"], "pid": n["pid"], "alive": alive, "addr": n["addr"],
                    "tls_addr": n.get("tls_addr"),
                    "health": _health(n["addr"], timeout=2.0) if alive else None})
    active = [o["name"] for o in out if o["health"] == 200]
    res = {"nodes": out, "leader": active[0] if len(active) == 1 else (active or None)}
    try:
        via, servers = _raft_config(st)
        res["raft"] = {"via": via, "servers": servers}
    except ClusterError as e:
        res["raft"] = {"error": str(e)}
    return res


def down(dir):
    d = os.path.abspath(dir)
    with _locked(d):
        st = _load(d)
        killed, dead = [], []
        for n in st["nodes"]:
            (killed if _sigkill_and_wait(n) else dead).append(n["name"])
            n["alive"] = False
        _save(d, st)
        return {"killed": killed, "already_dead": dead}


# ------------------------------------------------------------------ CLI ----

def main(argv=None):
    ap = argparse.ArgumentParser(prog="raft_cluster.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up")
    p.add_argument("--dir", required=True)
    p.add_argument("--bao", required=True)
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--tls-addr")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--timeout", type=float, default=90.0)
    p.add_argument("--disable-standby-reads", action="store_true",
                   help="standbys forward every request to the active node (OpenBao's default lets them serve reads)")
    p = sub.add_parser("leader")
    p.add_argument("--dir", required=True)
    p.add_argument("--wait", type=float, default=0.0)
    p = sub.add_parser("kill")
    p.add_argument("--dir", required=True)
    p.add_argument("--node", required=True)
    p = sub.add_parser("start")
    p.add_argument("--dir", required=True)
    p.add_argument("--node", required=True)
    p.add_argument("--no-unseal", action="store_true")
    p.add_argument("--timeout", type=float, default=60.0)
    p = sub.add_parser("status")
    p.add_argument("--dir", required=True)
    p = sub.add_parser("down")
    p.add_argument("--dir", required=True)
    a = ap.parse_args(argv)
    try:
        if a.cmd == "up":
            res = up(a.dir, a.bao, a.bind, a.tls_addr, a.tls_cert, a.tls_key, a.timeout, a.disable_standby_reads)
        elif a.cmd == "leader":
            res = leader(a.dir, a.wait)
        elif a.cmd == "kill":
            res = kill(a.dir, a.node)
        elif a.cmd == "start":
            res = start(a.dir, a.node, unseal=not a.no_unseal, timeout=a.timeout)
        elif a.cmd == "status":
            res = status(a.dir)
        else:
            res = down(a.dir)
    except ClusterError as e:
        print(f"raft_cluster: {a.cmd}: {e}", file=sys.stderr)
        return 1
    except (OSError, httpclient.HTTPException) as e:
        print(f"raft_cluster: {a.cmd}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"raft_cluster: {a.cmd}: interrupted", file=sys.stderr)
        return 130
    finally:
        # Nodes this CLI started are meant to outlive it (own session, output
        # to server.log). Tell their Popen objects so, or Python warns that
        # the subprocesses are "still running" at exit.
        for child in list(_CHILDREN.values()):
            if child.poll() is None:
                child.returncode = 0
        _CHILDREN.clear()
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
