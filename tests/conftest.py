"""Shared fixtures.  The contract tests drive the *built* zipapp through real
subprocesses, in a scratch git repository, against a real SQLite file and,
for tests that take the `engine` fixture's both values, a real PostgreSQL
server too (AGENT_SYNC_TEST_DATABASE_URL, or one started here for the run);
the fast in-process layer (test_pure, test_drift, test_structure) imports
agent_sync's pure functions from the source."""

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
PY = [sys.executable, "-I", "-S"]
#: seconds between mid-turn pushes in tests (AGENT_SYNC_MIDTURN_SECONDS): short, so no test sleeps out the default
MIDTURN_SECONDS = 1.5


#: the environment that selects team mode for the running test (set by `cli` on PostgreSQL)
TEAM = {}


def clean_env(**extra):
    """The test's environment for a subprocess: ours removed, the running
    test's engine (TEAM) and `extra` added."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AGENT_SYNC_", "CLAUDE_")) and k not in ("CLAUDECODE",)
    }
    env.update(TEAM)
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


@pytest.fixture(scope="session")
def pyz(tmp_path_factory, worker_id):
    """The zipapp, built once for the run: under pytest-xdist the first worker
    builds it into the run's shared temporary folder and the others wait for it."""
    if worker_id == "master":
        out = tmp_path_factory.mktemp("dist") / "agent-sync.pyz"
        subprocess.run([sys.executable, str(ROOT / "build.py"), "-o", str(out)], check=True, capture_output=True)
        return out
    import fcntl

    shared = tmp_path_factory.getbasetemp().parent
    out = shared / "dist" / "agent-sync.pyz"
    with open(shared / "dist.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.exists():
            out.parent.mkdir(exist_ok=True)
            part = out.with_suffix(".part")
            subprocess.run([sys.executable, str(ROOT / "build.py"), "-o", str(part)], check=True, capture_output=True)
            part.rename(out)
    return out


@pytest.fixture(scope="session")
def worker_id(request):
    """pytest-xdist's worker name ("gw0", ...), or "master" without it (pytest-xdist's own fixture when installed)."""
    return getattr(request.config, "workerinput", {}).get("workerid", "master")


def find_interpreter(minor):
    """A CPython 3.<minor> found by probing: python3.<minor> on PATH, then
    pyenv's versions (its root from PYENV_ROOT, `pyenv root` or ~/.pyenv)."""
    import glob
    import shutil

    candidates = [shutil.which(f"python3.{minor}")]
    roots = [os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv")]
    if shutil.which("pyenv"):
        roots.insert(0, subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip())
    for root in filter(None, roots):
        candidates += sorted(glob.glob(os.path.join(root, "versions", f"3.{minor}.*", "bin", "python3")), reverse=True)
    for exe in filter(None, candidates):
        probe = subprocess.run(
            [exe, "-I", "-S", "-c", "import sys; print(sys.version_info[1])"], capture_output=True, text=True
        )
        if probe.returncode == 0 and probe.stdout.strip() == str(minor):
            return exe
    return None


def git_init(path):
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "config", "user.email", "t@example.com"], check=True)
    subprocess.run(["git", "-C", str(path), "config", "user.name", "t"], check=True)
    return path


@pytest.fixture
def repo(tmp_path):
    return git_init(tmp_path / "repo")


ENGINES = ("sqlite", "postgresql")
#: the tests that run on PostgreSQL in the default run, one node id a line (tests/pg_statements.py chooses them)
PG_SLICE = Path(__file__).with_name("pg_slice.txt")
#: --engines / AGENT_SYNC_TEST_ENGINES: which engine instances of the `engine` tests run
ENGINE_MODES = {
    "slice": "every test on SQLite, and on PostgreSQL the slice in tests/pg_slice.txt (the default)",
    "both": "the full matrix: every `engine` test on both engines",
    "rest": "only the PostgreSQL instances outside the slice (CI runs them after the default run)",
    "postgresql": "only the tests that use PostgreSQL (the `engine` tests' PostgreSQL instances and the team tests)",
}


def pytest_addoption(parser):
    parser.addoption(
        "--engines",
        default=os.environ.get("AGENT_SYNC_TEST_ENGINES") or "slice",
        choices=sorted(ENGINE_MODES),
        help="; ".join(f"{k}: {v}" for k, v in ENGINE_MODES.items()) + " (default: $AGENT_SYNC_TEST_ENGINES or slice)",
    )


#: the in-process layer (see the docstring): its Hypothesis properties run on the "fast" profile in the
#: default layer and again, marked slow, on the "thorough" one in the slow layer (CI's `-m slow` run)
IN_PROCESS = ("test_pure.py", "test_drift.py", "test_structure.py")
#: Hypothesis profiles.  No deadline: a loaded 2-core machine makes an example's time noise, and every
#: property here is a pure function (a slow one shows in --durations).  `--hypothesis-profile` still wins.
settings.register_profile("fast", max_examples=30, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)


def slow_layer(config):
    """Whether -m selects the slow layer: it names `slow` other than as `not slow`."""
    return re.search(r"(?<!not )\bslow\b", config.getoption("markexpr") or "") is not None


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: runs on the SQLite engine alone (it reads the file itself)")
    if not config.getoption("hypothesis_profile", None):
        settings.load_profile("thorough" if slow_layer(config) else "fast")


def pytest_generate_tests(metafunc):
    """A test that uses `engine` (directly or through `cli`) runs on both
    engines, unless it is marked sqlite_only (--engines picks which instances run)."""
    if "engine" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only")
        metafunc.parametrize("engine", ENGINES[:1] if only else ENGINES)


def read_slice():
    return {line.strip() for line in PG_SLICE.read_text().splitlines() if line.strip() and not line.startswith("#")}


def item_engine(item):
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("engine") if callspec else None


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config, items):
    """In the slow layer the in-process Hypothesis properties are slow too
    (they run there again, on the thorough profile).  Keep the instances
    --engines asks for; the others are deselected (and counted as such)."""
    if slow_layer(config):
        for item in items:
            if item.path.name in IN_PROCESS and hasattr(getattr(item, "obj", None), "hypothesis"):
                item.add_marker(pytest.mark.slow)
    mode = config.getoption("engines")
    if mode == "both":
        return
    chosen = read_slice()  # entries naming no test: tests/pg_statements.py check fails on them
    keep, drop = [], []
    for item in items:
        engine = item_engine(item)
        if mode == "slice":
            wanted = engine != "postgresql" or item.nodeid in chosen
        elif mode == "rest":
            wanted = engine == "postgresql" and item.nodeid not in chosen
        else:  # postgresql
            wanted = engine == "postgresql" or (engine is None and "pg_url" in item.fixturenames)
        (keep if wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def pg_url():
    """A real PostgreSQL server's URL: CI's, or one started for this run."""
    url = os.environ.get("AGENT_SYNC_TEST_DATABASE_URL")
    if url:
        yield url
        return
    sys.path.insert(0, str(Path(__file__).parent))
    import pgserver

    folder = tempfile.mkdtemp(prefix="agent-sync-pg-")
    info = pgserver.start(folder)
    try:
        yield info["url"]
    finally:
        pgserver.stop(info)


def pg_sql(team, query, args=()):
    """One statement on a team project's schema, through pg8000 (test-only)."""
    from urllib.parse import urlsplit

    import pg8000.native

    url = urlsplit(team["AGENT_SYNC_DATABASE_URL"])
    schema = "agent_sync_" + hashlib.sha256(team["AGENT_SYNC_PROJECT"].encode()).hexdigest()[:16]
    conn = pg8000.native.Connection(
        url.username,
        host=url.hostname,
        port=url.port,
        database=url.path[1:],
        password=url.password,
        startup_params={"search_path": schema},
    )
    try:
        parts = query.split("?")
        statement = parts[0] + "".join(f":p{i}{part}" for i, part in enumerate(parts[1:]))
        values = {f"p{i}": a.replace("\x00", "\u2400") if isinstance(a, str) else a for i, a in enumerate(args)}
        return [tuple(r) for r in conn.run(statement, **values) or []]
    finally:
        conn.close()


#: this run's mark in project keys, so a server kept between runs starts every test empty
RUN = os.urandom(4).hex()


def team_env(url, name):
    """The environment of team mode for one project named after `name` (in this run)."""
    key = hashlib.sha256(f"{RUN}:{name}".encode()).hexdigest()[:16]
    return {"AGENT_SYNC_DATABASE_URL": url, "AGENT_SYNC_PROJECT": f"test/{key}"}


class Runner:
    """Run the zipapp as a user or a hook would."""

    def __init__(self, pyz, repo):
        self.pyz, self.repo = Path(pyz), Path(repo)
        self.db = self.repo / ".claude" / "coordination" / "state.sqlite"

    def env(self, agent=None, **extra):
        return clean_env(AGENT_SYNC_ID=agent, **{"AGENT_SYNC_MIDTURN_SECONDS": MIDTURN_SECONDS, **extra})

    def sql(self, query, args=()):
        """Run one statement (`?` marks) on the test's state, the SQLite file or
        the project's schema on the server, as another process would; its rows."""
        if not TEAM:
            import sqlite3

            conn = sqlite3.connect(self.db)
            try:
                with conn:
                    return conn.execute(query, args).fetchall()
            finally:
                conn.close()
        return pg_sql(TEAM, query, args)

    def __call__(self, *args, agent=None, cwd=None, env=None, input=None, timeout=60):
        e = self.env(agent, **(env or {}))
        return subprocess.run(
            PY + [str(self.pyz), *map(str, args)],
            cwd=str(cwd or self.repo),
            env=e,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
        return r

    def json(self, *args, **kw):
        r = self(*args, "--json", **kw)
        assert r.stdout.count("\n") == 1, r.stdout
        return r.returncode, json.loads(r.stdout)

    def mcp_calls(self, agent, calls, env=None, timeout=120, via=PY, preexec_fn=None):
        """Run `calls`, [(tool, arguments)], through one `agent-sync mcp`
        process as an MCP client does (initialize first); the tools' replies.
        `via`: the interpreter and its arguments before the zipapp's path."""
        lines = [
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "clientInfo": {"name": "t"}, "capabilities": {}},
            },
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
        ] + [
            {"jsonrpc": "2.0", "id": i + 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
            for i, (name, arguments) in enumerate(calls)
        ]
        r = subprocess.run(
            via + [str(self.pyz), "mcp"],
            input="".join(json.dumps(m) + "\n" for m in lines),
            capture_output=True,
            text=True,
            cwd=self.repo,
            env=self.env(agent, **(env or {})),
            timeout=timeout,
            preexec_fn=preexec_fn,
        )
        assert r.returncode == 0, r.stderr[-2000:]
        return [json.loads(line) for line in r.stdout.splitlines()][1:]

    def hook(self, event, payload, agent=None, cwd=None, env=None, raw=None):
        data = raw if raw is not None else json.dumps(payload)
        e = self.env(agent, **(env or {}))
        if isinstance(data, str):
            data = data.encode("utf-8")
        r = subprocess.run(
            PY + [str(self.pyz), "hook", event],
            cwd=str(cwd or self.repo),
            env=e,
            input=data,
            capture_output=True,
            timeout=60,
        )
        out = r.stdout.decode("utf-8", "replace")
        return r.returncode, (json.loads(out) if out.strip() else None), r.stderr.decode("utf-8", "replace")


class McpServer:
    """`agent-sync mcp` as a client starts it (Claude Code for a session), spoken to line by line."""

    def __init__(self, pyz, repo, env):
        self.proc = subprocess.Popen(
            PY + [str(pyz), "mcp"],
            cwd=str(repo),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.ids = 0
        self.ask("initialize", {"protocolVersion": "2025-06-18", "clientInfo": {"name": "claude-code"}})

    def ask(self, method, params):
        self.ids += 1
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())["result"]

    def hook(self, hook_input):
        """An mcp_tool hook's call, its arguments substituted as Claude Code does: the answer's text."""
        result = self.ask("tools/call", {"name": "agent_sync_hook", "arguments": hook_input})
        return result["content"][0]["text"]

    def stop(self):
        """Stop the server: what it wrote on stderr."""
        self.proc.stdin.close()
        self.proc.kill()
        self.proc.wait()
        errors = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return errors


@pytest.fixture
def cli(pyz, repo, engine, request):
    """The zipapp in a scratch repository; on PostgreSQL every subprocess of
    the test runs in team mode, in a project of its own."""
    if engine == "postgresql":
        TEAM.update(team_env(request.getfixturevalue("pg_url"), request.node.nodeid))
        request.addfinalizer(TEAM.clear)
    return Runner(pyz, repo)


def edit_payload(path, session="s-1", cwd=None, tool="Edit"):
    key = "notebook_path" if tool == "NotebookEdit" else "file_path"
    p = {
        "session_id": session,
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": {key: str(path), "old_string": "a", "new_string": "b"},
    }
    if cwd is not None:
        p["cwd"] = str(cwd)
    return p


def denied(out):
    return bool(out) and out.get("hookSpecificOutput", {}).get("permissionDecision") == "deny"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With AGENT_SYNC_TEST_TIMELINE=FILE, append each test's wall-clock span
    (start, end, node id) to FILE: tests/pg_statements.py charges a logged
    statement to the test that was running when the server logged it (so
    measure on one process, without pytest-xdist)."""
    timeline = os.environ.get("AGENT_SYNC_TEST_TIMELINE")
    start = time.time()
    yield
    if timeline:
        with open(timeline, "a") as f:
            f.write(f"{start:.6f}\t{time.time():.6f}\t{item.nodeid}\n")


# A real terminal: tmux ------------------------------------------------------------------------

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    """An agent-sync command (the console by default) running in a detached
    tmux session of its own server, in a clean environment."""

    def __init__(self, cli, width=100, height=30, args=("console", "--interval", "0.3"), shell=None, **env_extra):
        self.cli, self.socket = cli, f"agent-sync-test-{uuid.uuid4().hex[:8]}"
        env = " ".join(
            f"{k}={shlex.quote(v)}"
            for k, v in clean_env(TERM="xterm-256color", **env_extra).items()
            if k in ("PATH", "HOME", "TERM", "LANG", "LC_ALL", "USER") or k.startswith("AGENT_SYNC_")
        )
        command = f"env -i {env} " + (shell or " ".join(shlex.quote(a) for a in [*self.python(cli), *args]))
        self.tmux("new-session", "-d", "-x", str(width), "-y", str(height), "-s", "c", "-c", str(cli.repo), command)
        self.tmux("set-option", "-t", "c", "remain-on-exit", "on")

    @staticmethod
    def python(cli):
        """The command line that runs the zipapp."""
        return [*PY, str(cli.pyz)]

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)

    def screen(self, escapes=False):
        return self.tmux("capture-pane", "-p", "-t", "c", *(["-e"] if escapes else [])).stdout

    def wait_for(self, text, timeout=5.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            screen = self.screen()
            if text(screen) if callable(text) else text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not on screen within {timeout}s:\n{self.screen()}")

    def type(self, line):
        self.tmux("send-keys", "-t", "c", "-l", line)
        self.tmux("send-keys", "-t", "c", "Enter")

    def dead(self):
        return self.tmux("list-panes", "-t", "c", "-F", "#{pane_dead}").stdout.strip() == "1"

    def close(self):
        self.tmux("kill-server")
