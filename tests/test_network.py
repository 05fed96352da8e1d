"""Team mode across real machines (issue 26): the zipapp talks to a real
PostgreSQL server through tests/netproxy.py, a TCP proxy on 127.0.0.1 that
adds latency, counts round trips, blackholes the server or refuses
connections.

Round trips (what is counted): per TCP connection, 1 for the connect (not a
client send) + every client->server burst that the server answered (a burst
starts with the client's first send and with every send after server data
reached the client: the startup message, each SCRAM leg, then each
statement's Sync).  The final Terminate is a burst but no wait, so it is not
counted.  The target of the issue: handshake + 1 = connect + startup + two
SCRAM legs + one round trip for all of a hook's statements = 5.

A client partitioned away mid-transaction (the proxy keeps the server's
side of the connection open, as a lost network does) must not stop the
other agents.

Run with -s to see today's counts; set NETWORK_ROUND_TRIPS_JSON=PATH to have
them written as JSON too."""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import PY, McpServer, Runner, denied, edit_payload, git_init, pg_sql, team_env

sys.path.insert(0, str(Path(__file__).parent))
import netproxy  # noqa: E402
import pgserver  # noqa: E402

pytestmark = pytest.mark.network

#: one-way delay of the proxy: 25 ms each way, a 50 ms round trip
DELAY = 0.025
#: the issue's target: TCP connect + startup + two SCRAM legs + one round trip for the hook's statements
TARGET = 5
#: round trips each hook takes today (this suite fails if one grows; before pipelining: 25, 10, 14, 7,
#: 10, 6, 15, 6, 19); the target above is met by pre-tool-use Bash and stop, not yet by the others
CEILING = {
    "session-start": 5,
    "user-prompt-submit": 5,
    "pre-tool-use Edit (takes the automatic lock)": 5,
    "pre-tool-use Edit (allow, lock already held)": 5,
    "pre-tool-use Edit (deny)": 5,
    "pre-tool-use Bash": 5,
    "post-tool-use after an Edit": 5,
    "stop": 5,
    "status": 6,
}
BUDGET = 2


def upstream_port(url):
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1", f"the network tests need a server on 127.0.0.1, not {parts.hostname}"
    return parts.port


def through(proxy, url, sslmode="disable"):
    """`url` through the proxy; sslmode=disable by default (no SSLRequest: the
    issue's handshake is startup + two SCRAM legs)."""
    url = proxy.url(url)
    if sslmode and "sslmode=" not in url:
        url += ("&" if "?" in url else "?") + f"sslmode={sslmode}"
    return url


class Net(Runner):
    """The zipapp in a scratch repository, in team mode through the proxy."""

    def __init__(self, pyz, repo, team):
        super().__init__(pyz, repo)
        self.team = team

    def env(self, agent=None, **extra):
        return super().env(agent, **{**self.team, "HOME": str(self.repo.parent / "home"), **extra})


def make_net(pyz, tmp_path, url, name):
    repo = git_init(tmp_path / "repo")
    (tmp_path / "home").mkdir(exist_ok=True)
    (repo / "src").mkdir()
    for f in ("a.py", "b.py", "x.py"):
        (repo / "src" / f).write_text("x\n")
    team = team_env(url, f"{name}-{os.urandom(4).hex()}")
    return Net(pyz, repo, team)


@pytest.fixture
def proxy(pg_url):
    with netproxy.Proxy(upstream_port(pg_url), delay=DELAY) as p:
        yield p


# The proxy itself ---------------------------------------------------------------


def test_the_proxy_delays_in_order_counts_bursts_refuses_and_blackholes():
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(10)

    def echo():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.settimeout(10)
            with conn:
                while True:
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        break
                    if not data:
                        break
                    conn.sendall(data.upper())

    threading.Thread(target=echo, daemon=True).start()
    with netproxy.Proxy(server.getsockname()[1], delay=0.05) as p:
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as c:
            start = time.monotonic()
            c.sendall(b"a")
            c.sendall(b"b")  # same burst: nothing came back in between
            got = b""
            while len(got) < 2:
                got += c.recv(10)
            assert got == b"AB" and 0.09 <= time.monotonic() - start < 1.0
            c.sendall(b"c")
            assert c.recv(10) == b"C"
            c.sendall(b"bye")  # unanswered burst: a burst, not a round trip
            time.sleep(0.02)
        assert p.settle(5)
        [conn] = p.connections()
        assert (conn["bursts"], conn["answered"]) == (3, 2), conn
        assert p.round_trips() == 3  # the connect + two answered bursts
        p.reset()
        assert p.connections() == [] and p.round_trips() == 0
        p.refuse()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", p.port), timeout=5)
        p.resume()
        p.blackhole()
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as c:
            c.sendall(b"anyone?")
            c.settimeout(0.5)
            with pytest.raises(socket.timeout):
                c.recv(10)
        p.resume()
        with socket.create_connection(("127.0.0.1", p.port), timeout=5) as c:
            c.sendall(b"back")
            assert c.recv(10) == b"BACK"
            p.blackhole(on=b"last")
            c.sendall(b"last word")  # reaches the server; its answer does not come back
            c.settimeout(0.5)
            with pytest.raises(socket.timeout):
                c.recv(10)
        assert p.blackholed
    server.close()


# Round trips of every hook ---------------------------------------------------------

HOOKS = [
    "session-start",
    "user-prompt-submit",
    "pre-tool-use Edit (takes the automatic lock)",
    "pre-tool-use Edit (allow, lock already held)",
    "pre-tool-use Edit (deny)",
    "pre-tool-use Bash",
    "post-tool-use after an Edit",
    "stop",
    "status",
]


def describe(head):
    """What a burst of the PostgreSQL protocol starts with, in a few words."""
    import struct

    if len(head) >= 8 and head[:1] == b"\x00":
        code = struct.unpack("!I", head[4:8])[0]
        return {80877103: "SSLRequest", 196608: "startup"}.get(code, f"startup? {code}")
    kind = head[:1]
    if kind == b"p":
        return "SASL"
    if kind == b"X":
        return "Terminate"
    if kind in (b"P", b"Q"):
        body = head[5:]
        if kind == b"P":
            body = body[body.index(b"\x00") + 1 :] if b"\x00" in body else body
        return kind.decode() + " " + " ".join(body.split(b"\x00")[0].decode("utf-8", "replace").split())[:90]
    return repr(head[:12])


@pytest.fixture(scope="module")
def measured(pyz, pg_url, tmp_path_factory):
    """Every hook of one agent's turn run once through the proxy (50 ms RTT),
    after a warm-up that made the project's schema and registered both
    agents; {hook: {"round_trips", "bursts", "connections", "seconds"}}."""
    tmp = tmp_path_factory.mktemp("round-trips")
    with netproxy.Proxy(upstream_port(pg_url), delay=DELAY) as p:
        net = make_net(pyz, tmp, through(p, pg_url), "round-trips")
        repo = net.repo
        base = {"cwd": str(repo), "session_id": "alice-1"}
        alice, bob = {"agent": "alice"}, {"agent": "bob"}
        net.ok("status", agent="warm-up")
        rc, _, err = net.hook("session-start", {**base, "session_id": "bob-1", "source": "startup"}, **bob)
        assert rc == 0, err
        edit = edit_payload(repo / "src" / "a.py", session="alice-1", cwd=repo)
        steps = {
            "session-start": lambda: net.hook("session-start", {**base, "source": "startup"}, **alice),
            "user-prompt-submit": lambda: net.hook("user-prompt-submit", {**base, "prompt": "go"}, **alice),
            "pre-tool-use Edit (takes the automatic lock)": lambda: net.hook("pre-tool-use", edit, **alice),
            "pre-tool-use Edit (allow, lock already held)": lambda: net.hook("pre-tool-use", edit, **alice),
            "pre-tool-use Edit (deny)": lambda: net.hook(
                "pre-tool-use", edit_payload(repo / "src" / "a.py", session="bob-1", cwd=repo), **bob
            ),
            "pre-tool-use Bash": lambda: net.hook(
                "pre-tool-use",
                {**base, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls src"}},
                **alice,
            ),
            "post-tool-use after an Edit": lambda: net.hook(
                "post-tool-use",
                {
                    **base,
                    "hook_event_name": "PostToolUse",
                    "tool_name": "Edit",
                    "tool_input": {"file_path": str(repo / "src" / "a.py"), "old_string": "a", "new_string": "b"},
                    "tool_response": {"success": True},
                },
                **alice,
            ),
            "stop": lambda: net.hook("stop", {**base, "stop_hook_active": False}, **alice),
            "status": lambda: net("status", agent="alice"),
        }
        assert list(steps) == HOOKS
        counts, outputs = {}, {}
        for name, step in steps.items():
            assert p.settle(5)
            p.reset()
            start = time.monotonic()
            outputs[name] = step()
            seconds = time.monotonic() - start
            assert p.settle(5)
            conns = p.connections()
            counts[name] = {
                "round_trips": p.round_trips(),
                "bursts": sum(c["bursts"] for c in conns),
                "connections": len(conns),
                "seconds": round(seconds, 3),
                "sent": [describe(h) for c in conns for h in c["heads"]],
            }
    report = {"rtt_ms": 2 * DELAY * 1000, "target": TARGET, "hooks": counts}
    print("\nround trips per hook (connect + answered client bursts), 50 ms RTT:")
    for name, c in counts.items():
        print(
            f"  {name:48} {c['round_trips']:3}  bursts {c['bursts']:3}  conns {c['connections']}  {c['seconds']:.2f}s"
        )
    if os.environ.get("NETWORK_ROUND_TRIPS_JSON"):
        Path(os.environ["NETWORK_ROUND_TRIPS_JSON"]).write_text(json.dumps(report, indent=1) + "\n")
    return counts, outputs


def test_each_hook_did_what_it_should(measured):
    """The counts are of the paths named: the deny denied, the allows allowed."""
    _, outputs = measured
    for name, result in outputs.items():
        if name == "status":
            assert result.returncode == 0, result.stderr
            continue
        rc, out, err = result
        assert rc == 0 and "Traceback" not in err, (name, err)
        assert denied(out) == (name == "pre-tool-use Edit (deny)"), (name, out, err)


@pytest.mark.parametrize("hook", HOOKS)
def test_round_trips_of_every_hook_do_not_grow(measured, hook):
    counts, _ = measured
    got = counts[hook]
    assert got["round_trips"] <= CEILING[hook], (
        f"{hook}: {got['round_trips']} round trips ({got['connections']} connection(s), {got['bursts']} client "
        f"bursts), ceiling {CEILING[hook]}, target {TARGET}; all: "
        + ", ".join(f"{k} {v['round_trips']}" for k, v in counts.items())
    )


@pytest.mark.parametrize("locks", [1, 12])
def test_a_session_ends_in_as_many_round_trips_however_many_locks_it_held(pyz, tmp_path, pg_url, proxy, locks):
    """SessionEnd releases the locks the agent holds: the waiters of all of
    them are read in one round trip (before: one round trip a lock, so an
    agent that had edited 100 files waited 100 round trips at its end).  The
    same count for 1 and 12 locks, one of them waited for."""
    net = make_net(pyz, tmp_path, through(proxy, pg_url), f"session-end-{locks}")
    paths = [f"src/f{i}.py" for i in range(locks)]
    net.ok("lock", *paths, agent="alice")
    rc, out, err = net.hook("pre-tool-use", edit_payload(net.repo / paths[-1], cwd=net.repo), agent="bob")
    assert denied(out), (out, err)  # bob waits for it now
    end = {"session_id": "s-1", "cwd": str(net.repo), "reason": "other"}
    assert proxy.settle(5)
    proxy.reset()
    rc, _, err = net.hook("session-end", end, agent="alice", env={"AGENT_SYNC_AUTO_RELEASE_LOCKS": "1"})
    assert proxy.settle(5)
    assert rc == 0 and "Traceback" not in err, err
    assert proxy.round_trips() == 8, proxy.round_trips()  # connect, startup, two password legs, 4 for the hook
    assert net.json("locks")[1]["locks"] == []
    inbox = net.json("inbox", agent="bob")[1]["messages"]
    assert any(f"{paths[-1]} is free now" in m["body"] for m in inbox), inbox


def test_a_flush_awaits_the_answer_to_what_post_sent(pg_url, proxy):
    """The resident server posts a hook's COMMIT without waiting for its
    answer; a later flush, and so close() when the server ends, must read
    that answer (close's promise: a client gone before the server answered
    can abort the transaction).  Before, a flush with nothing new to send
    returned at once and left it unread."""
    import agent_sync

    store = agent_sync.PgStore.open(through(proxy, pg_url), f"test/flush-{os.urandom(4).hex()}", timeout=10)
    try:
        assert store.execute("SELECT count(*) FROM activity").fetchone()[0] == 0  # the schema made
        store.trailing = True
        with store.tx():
            agent_sync.log_activity(store, "a", "edit", "posted", None, time.time())
        store.post()
        assert store.unposted and not store.pending  # sent, its answer not read
        store.flush()
        assert store.unposted == []
    finally:
        store.close()


# 64 processes race for one lock at 50 ms RTT ----------------------------------------

RACERS = int(os.environ.get("NETWORK_RACERS", "64"))


def test_racing_processes_take_one_lock_through_a_distant_server(pyz, tmp_path, pg_url, proxy):
    net = make_net(pyz, tmp_path, through(proxy, pg_url), "race")
    net.ok("status", agent="warm-up")  # the project's schema exists before the race
    start = time.monotonic()
    procs = [
        subprocess.Popen(
            PY + [str(pyz), "lock", "src/x.py", "--json"],
            cwd=net.repo,
            env=net.env(f"racer-{i}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(RACERS)
    ]
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=max(10, 180 - (time.monotonic() - start)))
            results.append((p.returncode, out.decode(), err.decode()))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    elapsed = time.monotonic() - start
    print(f"\n{RACERS} processes raced for one lock at {2 * DELAY * 1000:.0f} ms RTT in {elapsed:.1f}s")
    assert not any("Traceback" in err for _, _, err in results), [err for _, _, err in results if err][:3]
    docs = [json.loads(out) for _, out, _ in results if out.strip()]
    assert len(docs) == RACERS, [r for r in results if not r[1].strip()][:3]
    winners = [d for d in docs if d.get("ok") and d.get("locked")]
    assert len(winners) == 1, docs[:5]
    _, locks = net.json("locks", agent="watcher")
    assert [lk["path"] for lk in locks["locks"]] == ["src/x.py"], locks
    assert elapsed < 120


# A server blackholed mid-transaction ----------------------------------------------------


#: when the server goes silent: at once (it accepts and never answers), or once
#: the client's BEGIN reached it (the server holds the open transaction; its answer is lost)
SILENCES = {"at-connect": None, "mid-transaction": b"BEGIN"}


@pytest.mark.parametrize("silence", SILENCES)
def test_a_blackholed_server_lets_the_hook_allow_within_its_budget(pyz, tmp_path, pg_url, proxy, silence):
    net = make_net(pyz, tmp_path, through(proxy, pg_url), "blackhole")
    net.ok("status", agent="warm-up")
    proxy.reset()
    proxy.blackhole(on=SILENCES[silence])
    start = time.monotonic()
    rc, out, err = net.hook(
        "pre-tool-use",
        edit_payload(net.repo / "src" / "a.py", session="s-1", cwd=net.repo),
        agent="alice",
        env={"AGENT_SYNC_HOOK_BUDGET": str(BUDGET)},
    )
    elapsed = time.monotonic() - start
    print(f"\npre-tool-use against a blackholed server ({silence}): exit {rc} after {elapsed:.1f}s: {err.strip()}")
    assert proxy.blackholed, proxy.connections()  # the server did go silent during the hook
    assert rc == 0 and out is None, (rc, out, err)
    assert "Traceback" not in err and err.count("\n") <= 1, err
    assert elapsed < BUDGET + 1.0, elapsed


@pytest.mark.parametrize("silence", SILENCES)
def test_a_blackholed_server_makes_a_command_fail_in_one_line(pyz, tmp_path, pg_url, proxy, silence):
    net = make_net(pyz, tmp_path, through(proxy, pg_url), "blackhole-cli")
    net.ok("status", agent="warm-up")
    proxy.blackhole(on=SILENCES[silence])
    start = time.monotonic()
    r = net("lock", "src/a.py", agent="alice", timeout=90)
    elapsed = time.monotonic() - start
    print(
        f"\nlock against a blackholed server ({silence}): exit {r.returncode} after {elapsed:.1f}s: {r.stderr.strip()}"
    )
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert "agentsync-test" not in r.stderr


def test_a_client_lost_mid_transaction_does_not_stop_the_others(pyz, tmp_path, pg_url, proxy):
    """Alice's hook goes silent (a partition) right after its BEGIN reached the
    server, so the server keeps her transaction open (the project's `meta`
    row FOR UPDATE) and never learns she left.  Bob, on a good network, must
    still take a lock in reasonable time."""
    net = make_net(pyz, tmp_path, through(proxy, pg_url), "orphan")
    net.ok("status", agent="warm-up")
    proxy.blackhole(on=b"BEGIN")
    rc, out, err = net.hook(
        "pre-tool-use",
        edit_payload(net.repo / "src" / "a.py", session="s-1", cwd=net.repo),
        agent="alice",
        env={"AGENT_SYNC_HOOK_BUDGET": str(BUDGET)},
    )
    assert rc == 0 and out is None and proxy.blackholed, (out, err)
    bob = Net(pyz, net.repo, {**net.team, "AGENT_SYNC_DATABASE_URL": pg_url})  # straight to the server
    start = time.monotonic()
    r = bob("lock", "src/b.py", agent="bob", timeout=90)
    elapsed = time.monotonic() - start
    print(
        f"\nbob's lock with alice's transaction orphaned: exit {r.returncode} after {elapsed:.1f}s: {r.stderr.strip()}"
    )
    assert r.returncode == 0 and elapsed < 15, (elapsed, r.stderr)


# A server restart while agents hold locks ----------------------------------------------


@pytest.fixture
def own_server():
    """A PostgreSQL server of this test's own, to stop and start again."""
    info = pgserver.start(tempfile.mkdtemp(prefix="agent-sync-pg-"))
    yield info
    pgserver.stop(info)


def hold_locks(net):
    net.ok("lock", "src/a.py", "--reason", "held across the outage", agent="alice")
    rc, out, err = net.hook(
        "pre-tool-use", edit_payload(net.repo / "src" / "b.py", session="a-1", cwd=net.repo), agent="alice"
    )
    assert rc == 0 and out is None, err  # alice's automatic lock on b.py


def locks_hold(net):
    for f in ("a.py", "b.py"):
        rc, out, err = net.hook(
            "pre-tool-use", edit_payload(net.repo / "src" / f, session="b-1", cwd=net.repo), agent="bob"
        )
        assert rc == 0 and denied(out), (f, out, err)
    assert net("lock", "src/a.py", agent="bob").returncode != 0
    _, locks = net.json("locks", agent="bob")
    assert sorted(lk["path"] for lk in locks["locks"]) == ["src/a.py", "src/b.py"], locks


@pytest.mark.parametrize("outage", ["server-restart", "proxy-refuse"])
def test_locks_hold_across_a_server_restart(pyz, tmp_path, own_server, outage):
    with netproxy.Proxy(own_server["port"], delay=DELAY) as proxy:
        net = make_net(pyz, tmp_path, through(proxy, own_server["url"]), "restart")
        hold_locks(net)
        if outage == "server-restart":
            pgserver.stop(own_server)
        else:
            proxy.refuse()
        start = time.monotonic()
        rc, out, err = net.hook(
            "pre-tool-use",
            edit_payload(net.repo / "src" / "a.py", session="b-1", cwd=net.repo),
            agent="bob",
            env={"AGENT_SYNC_HOOK_BUDGET": str(BUDGET)},
        )
        assert rc == 0 and out is None and "Traceback" not in err, (out, err)  # fails open while it is down
        assert time.monotonic() - start < BUDGET + 1.0
        r = net("status", agent="bob")
        assert r.returncode != 0 and r.stderr.count("\n") == 1, r.stderr
        if outage == "server-restart":
            pgserver.restart(own_server)
        else:
            proxy.resume()
        time.sleep(5.2)  # after an outage a checkout's hooks try the server again every 5 s (README)
        locks_hold(net)


# The edit guard's one round trip waits for the writer's turn; a real conflict does not -----------


def test_a_held_writer_turn_still_denies_a_real_conflict(pyz, tmp_path, pg_url):
    """The edit guard sends its reads with the automatic lock's write, which
    waits for the project's writer turn; when another connection holds the
    turn past the lock timeout, the reads alone still deny a real conflict."""
    import hashlib
    from urllib.parse import urlsplit

    import pg8000.native

    net = make_net(pyz, tmp_path, pg_url, "busy-turn")
    net.ok("lock", "src/a.py", agent="holder")
    url = urlsplit(pg_url)
    schema = "agent_sync_" + hashlib.sha256(net.team["AGENT_SYNC_PROJECT"].encode()).hexdigest()[:16]
    blocker = pg8000.native.Connection(
        url.username, host=url.hostname, port=url.port, database=url.path[1:], password=url.password
    )
    blocker.run("BEGIN")
    blocker.run(f'SELECT version FROM "{schema}".meta FOR UPDATE')
    try:
        start = time.monotonic()
        rc, out, err = net.hook(
            "pre-tool-use", edit_payload(net.repo / "src" / "a.py", session="w-1", cwd=net.repo), agent="writer"
        )
        seconds = time.monotonic() - start
    finally:
        blocker.run("ROLLBACK")
        blocker.close()
    assert rc == 0 and "Traceback" not in err and denied(out), (out, err)
    assert seconds < 6.5, seconds  # the turn waited for once (4 s), the denial's bookkeeping 1 s at most


# A waiter in team mode sleeps on LISTEN: nothing goes over the network while nobody writes ----


def test_an_idle_waiter_sends_nothing_until_mail_comes(pyz, tmp_path, pg_url, proxy):
    net = make_net(pyz, tmp_path, through(proxy, pg_url), "waiter")
    for name in ("alice", "bob"):
        net.ok("register", "--name", name, agent=name)
    client = subprocess.Popen(["sleep", "600"])
    payload = {"session_id": "s-alice", "cwd": str(net.repo), "hook_event_name": "Stop", "stop_hook_active": False}
    waiter = subprocess.Popen(
        PY + [str(pyz), "hook", "wait"],
        cwd=str(net.repo),
        env=net.env("alice", CLAUDE_PID=str(client.pid)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    waiter.stdin.write(json.dumps(payload).encode())
    waiter.stdin.close()
    try:
        time.sleep(4)  # armed, listening
        assert waiter.poll() is None, waiter.stderr.read()
        open_now = [c for c in proxy.connections() if c["open"]]
        assert len(open_now) == 1, open_now  # the waiter's connection
        before = open_now[0]["bursts"]
        time.sleep(8)
        idle = [c for c in proxy.connections() if c["id"] == open_now[0]["id"]][0]
        assert idle["bursts"] == before, (before, idle)  # no polling: it sleeps in select() on LISTEN
        start = time.monotonic()
        net.ok("send", "--to", "alice", "--message", "wake up", agent="bob")
        waiter.wait(timeout=10)
        assert waiter.returncode == 2 and "wake up" in waiter.stderr.read().decode()
        assert time.monotonic() - start < 3  # woken by the NOTIFY (at 50 ms RTT), not by a poll
    finally:
        for proc in (waiter, client):
            proc.kill()
            proc.wait()
        waiter.stdout.close()
        waiter.stderr.close()


# The resident server (the session's MCP server) on a distant team server ----------------


class ResidentServer(McpServer):
    """The session's MCP server in team mode through the proxy, answering its mcp_tool hooks."""

    SESSION = "7f3a2c1e-5555-4666-8777-988899990000"

    def __init__(self, net, agent):
        self.net = net
        env = net.env(agent, CLAUDE_PROJECT_DIR=str(net.repo), CLAUDE_CODE_SESSION_ID=self.SESSION)
        super().__init__(net.pyz, net.repo, env)

    def tool_hook(self, event, tool, tool_input):
        """One mcp_tool hook of a `tool` call, as Claude Code substitutes it: (its text, seconds)."""
        arguments = {
            "hook_event_name": event,
            "session_id": self.SESSION,
            "cwd": str(self.net.repo),
            "tool_name": tool,
            "tool_input": json.dumps(tool_input),
        }
        start = time.monotonic()
        return self.hook(arguments), time.monotonic() - start

    def edit(self, event, path):
        """One mcp_tool hook of an Edit of `path`: (its text, seconds)."""
        return self.tool_hook(event, "Edit", {"file_path": str(path), "old_string": "x", "new_string": "y"})

    def edit_call(self, path, between=None):
        """PreToolUse, the edit made (and `between` run), PostToolUse: (pre, post) as edit() gives them."""
        pre = self.edit("PreToolUse", path)
        path.write_text(path.read_text() + "y\n")
        if between:
            between()
        return pre, self.edit("PostToolUse", path)


def test_the_resident_server_answers_an_edits_post_tool_use_with_no_round_trip(pyz, tmp_path, pg_url, proxy):
    """An edit's PreToolUse waits for the server once (the guard); its
    PostToolUse for no round trip at all: the delivery state it needs came
    with the PreToolUse's round trip and its writes go after it answered.
    Mail still reaches the model mid-turn: a message sent before the call at
    its PostToolUse, one sent while the tool ran at the next call's."""
    net = make_net(pyz, tmp_path, through(proxy, pg_url), "resident-post")
    net.ok("register", "--name", "bob", agent="bob")
    a = net.repo / "src" / "a.py"
    server = ResidentServer(net, "alice")
    try:
        server.edit_call(a)  # the server's connection made, alice registered, the lock taken
        proxy.delay = 0.3  # a 600 ms round trip: a PostToolUse that waited for one could not answer in 300 ms
        (_, pre_seconds), (post, post_seconds) = server.edit_call(a)
        assert pre_seconds >= 0.59 and post_seconds < 0.3 and post == "", (pre_seconds, post_seconds, post)
        proxy.delay = DELAY
        server.edit("PreToolUse", a)  # on the server's one connection, after the posted writes: they have run
        edits = pg_sql(net.team, "SELECT count(*) FROM activity WHERE agent='alice' AND type='edit'")
        assert [tuple(r) for r in edits] == [(2,)], edits  # both PostToolUses' writes committed, after their answers
        server.edit("PostToolUse", a)
        net.ok("send", "--to", "alice", "--message", "sent before the call", agent="bob")
        time.sleep(1.6)  # past the mid-turn push interval
        _, (post, _) = server.edit_call(a)
        assert "sent before the call" in post, post
        time.sleep(1.6)
        during = lambda: net.ok("send", "--to", "alice", "--message", "sent during the call", agent="bob")  # noqa: E731
        _, (post, _) = server.edit_call(a, between=during)
        assert "sent during the call" not in post, post  # the state read before the tool ran
        time.sleep(1.6)
        _, (post, _) = server.edit_call(a)
        assert "sent during the call" in post, post
    finally:
        errors = server.stop()
    assert "Traceback" not in errors, errors


def test_a_shell_calls_post_tool_use_waits_for_no_round_trip_when_the_tool_outlasts_one(pyz, tmp_path, pg_url, proxy):
    """A shell call's PreToolUse that writes nothing makes no round trip; the
    delivery state its PostToolUse needs is sent after the PreToolUse answered
    and comes back while the tool runs, so a tool that takes longer than a
    round trip finds it there."""
    net = make_net(pyz, tmp_path, through(proxy, pg_url), "resident-shell")
    for name in ("alice", "bob"):  # as SessionStart registers them
        net.ok("register", "--name", name, agent=name)
    server = ResidentServer(net, "alice")
    bash = {"command": "make test", "description": "a tool that runs a while"}
    try:
        for event in ("PreToolUse", "PostToolUse"):  # the server's connection made, alice registered
            server.tool_hook(event, "Bash", bash)
        proxy.delay = 0.3  # a 600 ms round trip
        (pre, pre_seconds) = server.tool_hook("PreToolUse", "Bash", bash)
        time.sleep(0.8)  # the tool runs longer than a round trip
        (post, post_seconds) = server.tool_hook("PostToolUse", "Bash", bash)
        assert pre_seconds < 0.3 and post_seconds < 0.3 and pre == post == "", (pre_seconds, post_seconds)
        proxy.delay = DELAY
        net.ok("send", "--to", "alice", "--message", "sent before the call", agent="bob")
        time.sleep(1.6)  # past the mid-turn push interval
        server.tool_hook("PreToolUse", "Bash", bash)
        post, _ = server.tool_hook("PostToolUse", "Bash", bash)
        assert "sent before the call" in post, post  # the state read ahead still sees the mail
    finally:
        errors = server.stop()
    assert "Traceback" not in errors, errors
