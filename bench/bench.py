#!/usr/bin/env python3
"""Benchmark agent-sync's hooks and CLI against the interpreter's own floor.

    python3 bench/bench.py [--quick] [--runs N] [--json OUT] [--pyz PATH]
                           [--compare OLD.pyz] [--readme]
                           [--postgres URL | --no-postgres] [--no-growth]

In one run: every hook as hooks.json runs it (same interpreter flags) and the
main CLI commands, each on an empty and on a large database, interleaved with
two floors: `python -c pass` in a fresh venv (created once and cached under
the temp dir: no third-party .pth files) and `python -I -S -c pass`.  Ratios
are medians of per-round ratios (each hook run divided by the floor runs of
the same round), so machine noise falls on both alike.  Then the
`-X importtime` top 10 of the pre-tool-use hook, and a concurrency run with
16, 64 and 100 processes (8 and 16 with --quick) checking that no error and
no invariant break happened (SQLite only).  Then a growth run: 100,000
messages (5,000 with --quick) sent and read through two `agent-sync mcp`
servers with a short AGENT_SYNC_KEEP_MESSAGES_DAYS, reporting the state
file's size and row counts at 10%, 50% and 100% (--no-growth skips it).

Team mode gets a column of its own: the same scenarios, interleaved in the
same rounds, with AGENT_SYNC_DATABASE_URL (`sslmode=disable` added) and a
fresh random AGENT_SYNC_PROJECT, against --postgres URL, else the server in
AGENT_SYNC_TEST_DATABASE_URL, else a throw-away server started (and stopped)
with tests/pgserver.py when PostgreSQL is installed; --no-postgres skips
it.  "x sqlite" divides each run by the empty SQLite run of its round.  A
step-by-step breakdown of the team-mode pre-tool-use hook follows the table.
Every scenario runs once, untimed, before the rounds; one that fails (or
does not end as it does on SQLite) is reported as a note.

--compare OLD.pyz times the same scenarios with an older zipapp, interleaved
with the current one, and prints before/after medians and their ratio.
--readme rewrites the block between `<!-- bench:start -->` and
`<!-- bench:end -->` in docs/internals.md with this run's table.

It reports; it never fails because something is slow.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
README = os.path.join(ROOT, "docs", "internals.md")  # the README links it
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
PY = sys.executable
FULL = {"activity": 1_000_000, "locks": 10_000, "agents": 1_000, "tasks": 10_000, "messages": 100_000}
FLOOR_VENV, FLOOR_BARE = "venv python -c pass", "python -I -S -c pass"


def hook_flags(pyz):
    """What the zipapp's own hooks.json puts between the interpreter and the
    zipapp's path (flags and the launcher), so each zipapp, an older one under
    --compare too, is timed exactly as clients run it."""
    import shlex
    import zipfile

    try:
        with zipfile.ZipFile(pyz) as z:
            command = json.loads(z.read("hooks.json"))["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
        command = command.split("&& exit 0; ", 1)[-1]  # past the resident server's stand-down test
        command = command.split("|| p=python3; ", 1)[-1]  # past the choice of the recorded interpreter
        words = shlex.split(command)
        return words[1 : next(i for i, w in enumerate(words) if w.endswith("agent-sync.pyz"))]
    except (OSError, ValueError, KeyError, StopIteration, zipfile.BadZipFile):
        return ["-I", "-S"]


def shown_flags(flags):
    """Flags for a table heading, the launcher's code left out."""
    return " ".join("LAUNCHER" if " " in f else f for f in flags)


def clean_env(agent=None, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_SYNC_", "CLAUDE_"))}
    if agent:
        env["AGENT_SYNC_ID"] = agent
    env.update(extra)
    return env


def timed_cmd(cmd, **kw):
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, **kw)
    return (time.perf_counter() - start) * 1000, r


class Tool:
    """One zipapp in one repository; `env` (e.g. team mode's database URL and
    project) is added to every run, timed or not."""

    def __init__(self, pyz, repo, flags, env=None):
        self.base = [PY, *flags, pyz]
        self.repo = repo
        self.env = dict(env or {})

    def run(self, args, agent="bench", stdin=None, env=None):
        return subprocess.run(
            self.base + list(args),
            cwd=self.repo,
            input=stdin,
            capture_output=True,
            env=clean_env(agent, **{**self.env, **(env or {})}),
        )

    def timed(self, args, agent="bench", stdin=None):
        return timed_cmd(self.base + list(args), cwd=self.repo, input=stdin, env=clean_env(agent, **self.env))


def venv_python():
    """A fresh venv of this interpreter (no pip, no .pth files), created once
    and cached in the temp dir; None if venv cannot be created."""
    tag = hashlib.sha256(os.path.realpath(getattr(sys, "_base_executable", PY)).encode()).hexdigest()[:10]
    path = os.path.join(
        tempfile.gettempdir(),
        f"agent-sync-bench-{os.getuid() if hasattr(os, 'getuid') else 0}",
        f"venv-{platform.python_version()}-{tag}",
    )
    exe = os.path.join(path, "Scripts" if os.name == "nt" else "bin", "python.exe" if os.name == "nt" else "python")
    if not os.path.exists(exe):
        r = subprocess.run([PY, "-m", "venv", "--clear", "--without-pip", path], capture_output=True, text=True)
        if r.returncode or not os.path.exists(exe):
            print(
                f"note: could not create a venv for the floor ({r.stderr.strip()[-200:]}); "
                f"using this interpreter's `python -c pass` instead",
                flush=True,
            )
            return None
    return exe


def floors_cmds():
    venv = venv_python()
    return {FLOOR_VENV: [venv or PY, "-c", "pass"], FLOOR_BARE: [PY, "-I", "-S", "-c", "pass"]}


def quartiles(values):
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def payload(repo, tool, **tool_input):
    return json.dumps(
        {"session_id": "bench", "cwd": repo, "hook_event_name": "x", "tool_name": tool, "tool_input": tool_input}
    ).encode()


def scenarios(tool, repo):
    """{name: (argv, stdin, setup before each run)} for every hook and command."""
    os.makedirs(os.path.join(repo, "src"), exist_ok=True)
    for name in ("mine.py", "theirs.py"):
        with open(os.path.join(repo, "src", name), "w") as f:
            f.write("x = 1\n")
    tool.run(["register", "--name", "bench"])
    tool.run(["register", "--name", "peer"], agent="peer")
    tool.run(["lock", "src/theirs.py", "src/held/", "src/**/*.sql", "--reason", "bench"], agent="peer")
    mine = payload(repo, "Edit", file_path=os.path.join(repo, "src", "mine.py"), old_string="x", new_string="y")
    theirs = payload(repo, "Edit", file_path=os.path.join(repo, "src", "theirs.py"), old_string="x", new_string="y")
    under_dir = payload(repo, "Edit", file_path=os.path.join(repo, "src", "held", "deep", "x.py"))
    bash = payload(repo, "Bash", command="ls -la && echo hi > /tmp/agent-sync-bench")
    prompt = json.dumps({"session_id": "bench", "cwd": repo, "prompt": "go"}).encode()
    tool.run(["hook", "pre-tool-use"], stdin=mine)
    free, held = shell_repos(tool, repo)
    snapshot = lambda: tool.run(["hook", "pre-tool-use"], stdin=held)  # noqa: E731

    def send_ten():
        for i in range(10):
            tool.run(["send", "--to", "bench", "--message", f"note {i}"], agent="peer")

    return {
        "pre-tool-use allow": (["hook", "pre-tool-use"], mine, None),
        "pre-tool-use deny": (["hook", "pre-tool-use"], theirs, None),
        "pre-tool-use deny (dir lock)": (["hook", "pre-tool-use"], under_dir, None),
        "pre-tool-use Bash": (["hook", "pre-tool-use"], bash, None),
        "pre-tool-use Bash, nothing held": (["hook", "pre-tool-use"], free, None),
        "post-tool-use Bash, nothing held": (["hook", "post-tool-use"], free, None),
        "pre-tool-use Bash, 20 held files": (["hook", "pre-tool-use"], held, None),
        "post-tool-use Bash, 20 held files": (["hook", "post-tool-use"], held, snapshot),
        "post-tool-use": (["hook", "post-tool-use"], mine, None),
        "user-prompt-submit, 0 msgs": (["hook", "user-prompt-submit"], prompt, None),
        "user-prompt-submit, 10 msgs": (["hook", "user-prompt-submit"], prompt, send_ten),
        "session-start": (["hook", "session-start"], prompt, None),
        "stop": (["hook", "stop"], prompt, None),
        "status": (["status"], None, None),
        "status --compact": (["status", "--compact"], None, None),
        "send": (["send", "--to", "peer", "--message", "hello"], None, None),
        "lock": (["lock", "src/lockme.py"], None, lambda: tool.run(["unlock", "src/lockme.py"])),
        "claim-next": (["claim-next"], None, lambda: tool.run(["create-task", "bench task", "--priority", "1000000"])),
    }


#: the after-check's load: files another agent holds, and their size in bytes
HELD_FILES, HELD_BYTES = 20, 20_000


def shell_repos(tool, repo):
    """Two repositories beside `repo` for a shell call's hooks (Bash payloads):
    one where nobody holds anything, one where a peer holds 20 files of 20 KB
    (each shell call then snapshots them before and checks them after)."""
    made = []
    for name, files in (("free", 0), ("held", HELD_FILES)):
        other = f"{repo}-{name}"
        subprocess.run(["git", "init", "-q", other], check=True)
        here = Tool(tool.base[-1], other, tool.base[1:-1], tool.env)
        here.run(["init"])
        os.makedirs(os.path.join(other, "src"), exist_ok=True)
        for i in range(files):
            with open(os.path.join(other, "src", f"held{i}.py"), "w") as f:
                f.write(("x = 1  # held\n" * (HELD_BYTES // 14 + 1))[:HELD_BYTES])
        if files:
            here.run(["register", "--name", "peer"], agent="peer")
            here.run(["lock", *(f"src/held{i}.py" for i in range(files))], agent="peer")
        made.append(payload(other, "Bash", command="ls -la src | wc -l"))
    return made


def measure_all(setups, floors, runs):
    """Every scenario of every setup ({(variant, db): (tool, repo)}) and both
    floors, `runs` rounds each; inside a round every command runs once, in an
    order rotated from round to round.  Returns (samples, floor samples), the
    samples as {(variant, db): {name: [ms per round]}}, the floors as
    {floor: {name: [ms per round]}} so each hook sample has floor samples
    from its own round to be divided by."""
    plans = {key: scenarios(tool, repo) for key, (tool, repo) in setups.items()}
    names = list(next(iter(plans.values())))
    notes = check_scenarios(setups, plans)
    samples = {key: {name: [] for name in names} for key in setups}
    floor_samples = {f: {name: [] for name in names} for f in floors}
    jobs = [("floor", f) for f in floors] + [("tool", key) for key in setups]
    for name in names:
        for r in range(runs):
            shift = r % len(jobs)
            for kind, key in jobs[shift:] + jobs[:shift]:
                if kind == "floor":
                    floor_samples[key][name].append(timed_cmd(floors[key])[0])
                    continue
                tool, _ = setups[key]
                argv, stdin, before = plans[key][name]
                if before:
                    before()
                samples[key][name].append(tool.timed(argv, stdin=stdin)[0])
    return samples, floor_samples, notes


def check_scenarios(setups, plans):
    """Run every scenario of every setup once, untimed, and return a note for
    each that fails: a traceback, an exit code other than 0 or 2 (a hook's
    deny), or an outcome unlike the first setup's (the empty SQLite database)
    for the same scenario: another exit code, or output on stdout or stderr
    where it had none or the other way round (a hook that fails open exits 0
    but says so on stderr).  The notes are printed at once too."""
    results = {}
    for key, plan in plans.items():
        tool, _ = setups[key]
        for name, (argv, stdin, before) in plan.items():
            if before:
                before()
            r = tool.run(argv, stdin=stdin)
            results[key, name] = (r.returncode, bool(r.stdout.strip()), r.stderr.decode(errors="replace"))
    first = next(iter(plans))
    notes = []
    for (key, name), (code, out, err) in results.items():
        ref_code, ref_out, ref_err = results[first, name]
        if (
            "Traceback" in err
            or code not in (0, 2)
            or (code, out, bool(err.strip())) != (ref_code, ref_out, bool(ref_err.strip()))
        ):
            tail = " ".join(err.split())[-300:]
            notes.append(
                f"note: {'/'.join(key)} `{name}` exited {code}, {'some' if out else 'no'} stdout "
                f"(empty SQLite: {ref_code}, {'some' if ref_out else 'no'} stdout); stderr: {tail or '(none)'}"
            )
            print(notes[-1], flush=True)
    return notes


def paired_ratio(a, b):
    """Median of per-round ratios a[i] / b[i], and their quartiles."""
    ratios = [x / y for x, y in zip(a, b)]
    return statistics.median(ratios), quartiles(ratios)


def importtime_top(tool, repo, runs, top=10):
    """-X importtime of the pre-tool-use hook (allowed edit): the `top`
    modules by cumulative time, medians over `runs` runs, in microseconds."""
    data = payload(repo, "Edit", file_path=os.path.join(repo, "src", "mine.py"), old_string="x", new_string="y")
    per = {}
    for _ in range(runs):
        r = subprocess.run(
            [PY, "-X", "importtime", *tool.base[1:], "hook", "pre-tool-use"],
            cwd=repo,
            input=data,
            capture_output=True,
            env=clean_env("bench"),
        )
        for line in r.stderr.decode(errors="replace").splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (.*)$", line)
            if m:
                per.setdefault(m.group(3).strip(), []).append((int(m.group(1)), int(m.group(2))))
    rows = [(name, statistics.median(s for s, _ in v), statistics.median(c for _, c in v)) for name, v in per.items()]
    return sorted(rows, key=lambda row: -row[2])[:top]


def fill_large(db, sizes):
    """Bulk rows straight into the tool's own schema."""
    now = time.time()
    conn = sqlite3.connect(db)
    agents = [f"agent{i}" for i in range(sizes["agents"])]
    with conn:
        conn.executemany(
            "INSERT INTO agents (id, name, role, status, created_at, last_seen) VALUES (?, ?, 'r', 'active', ?, ?)",
            [(a, a, now, now) for a in agents],
        )
        statuses = ("open", "in_progress", "blocked", "done")
        conn.executemany(
            "INSERT INTO tasks (title, status, priority, owner, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (f"task {i}", statuses[i % 4], i % 7, agents[i % len(agents)] if i % 4 else None, now, now)
                for i in range(sizes["tasks"])
            ],
        )
        conn.executemany(
            "INSERT INTO locks (kind, key, path, owner, reason, created_at, expires_at) VALUES ('file', ?, ?, ?, 'bulk', ?, ?)",
            [
                (f"gen/f{i}.py", f"gen/f{i}.py", agents[i % len(agents)], now, now + 86400)
                for i in range(sizes["locks"])
            ],
        )
        conn.executemany(
            "INSERT INTO messages (id, sender, recipient, kind, body, created_at) VALUES (?, ?, ?, 'direct', 'bulk message', ?)",
            [(i + 1, agents[i % len(agents)], agents[(i + 1) % len(agents)], now) for i in range(sizes["messages"])],
        )
        conn.executemany(
            "INSERT INTO message_deliveries (agent_id, message_id, directed, pushed_at, read_at) VALUES (?, ?, 1, ?, ?)",
            [(agents[(i + 1) % len(agents)], i + 1, now, now) for i in range(sizes["messages"])],
        )
        batch = 100_000
        for start in range(0, sizes["activity"], batch):
            conn.executemany(
                "INSERT INTO activity (agent, type, message, path, created_at) VALUES (?, 'edit', 'Edit x', 'x', ?)",
                [(agents[i % len(agents)], now) for i in range(start, min(start + batch, sizes["activity"]))],
            )
    conn.close()


WORKER = r"""
import json, os, random, subprocess, sys, time
base, repo, agent, ops, paths = json.loads(sys.argv[1])
env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_SYNC_", "CLAUDE_"))}
env["AGENT_SYNC_ID"] = agent
env["AGENT_SYNC_AUTO_LOCK"] = "0"
log = {"lat": [], "errors": [], "claims": [], "holds": [], "sent": []}
def run(args, stdin=None):
    t = time.perf_counter()
    r = subprocess.run(base + args, cwd=repo, env=env, input=stdin, capture_output=True, text=True)
    log["lat"].append((time.perf_counter() - t) * 1000)
    if "Traceback" in r.stderr or "database is locked" in r.stderr or r.returncode not in (0, 1):
        log["errors"].append([args[:2], r.returncode, r.stderr[-300:]])
    return r
rng = random.Random(agent)
for i in range(ops):
    op = i % 5
    if op == 0:
        path = rng.choice(paths)
        r = run(["lock", path])
        if r.returncode == 0:
            got = time.time()
            time.sleep(0.01)
            release = time.time()
            run(["unlock", path])
            log["holds"].append([path, got, release])
        elif "locked by" not in r.stderr:
            log["errors"].append([["lock"], r.returncode, r.stderr[-300:]])
    elif op == 1:
        r = run(["claim-next", "--json"])
        if r.returncode == 0:
            log["claims"].append(json.loads(r.stdout)["task"]["id"])
    elif op == 2:
        r = run(["send", "--to", "all", "--message", f"{agent} {i}", "--json"])
        if r.returncode == 0:
            log["sent"].append(json.loads(r.stdout)["id"])
    elif op == 3:
        data = json.dumps({"session_id": agent, "cwd": repo, "tool_name": "Edit",
                           "tool_input": {"file_path": os.path.join(repo, rng.choice(paths))}})
        run(["hook", "pre-tool-use"], data)
    else:
        run(["status"])
print(json.dumps(log))
"""


def concurrency(pyz, flags, procs, ops):
    with tempfile.TemporaryDirectory() as repo:
        subprocess.run(["git", "init", "-q", repo], check=True)
        tool = Tool(pyz, repo, flags)
        for i in range(procs):
            tool.run(["register", "--name", f"w{i}"], agent=f"w{i}")
        for i in range(procs * ops // 5):
            tool.run(["create-task", f"job {i}"], agent="w0")
        paths = [f"src/shared{i}.py" for i in range(5)]
        base = [PY, *flags, pyz]
        start = time.perf_counter()
        workers = [
            subprocess.Popen(
                [PY, "-c", WORKER, json.dumps([base, repo, f"w{i}", ops, paths])], stdout=subprocess.PIPE, text=True
            )
            for i in range(procs)
        ]
        logs = [json.loads(w.communicate()[0]) for w in workers]
        elapsed = time.perf_counter() - start
        lat = sorted(x for log in logs for x in log["lat"])
        claims = [c for log in logs for c in log["claims"]]
        breaks = len(claims) - len(set(claims))
        holds = {}
        for agent, log in enumerate(logs):
            for path, got, release in log["holds"]:
                holds.setdefault(path, []).append((got, release, agent))
        for spans in holds.values():
            spans.sort()
            breaks += sum(1 for a, b in zip(spans, spans[1:]) if b[0] < a[1] and b[2] != a[2])
        sent = [s for log in logs for s in log["sent"]]
        conn = sqlite3.connect(os.path.join(repo, ".claude", "coordination", "state.sqlite"))
        stored = {r[0] for r in conn.execute("SELECT id FROM messages")}
        breaks += sum(1 for s in sent if s not in stored) + len(sent) - len(set(sent))
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        conn.close()
        return {
            "processes": procs,
            "ops": len(lat),
            "seconds": round(elapsed, 2),
            "throughput": round(len(lat) / elapsed, 1),
            "p50_ms": round(lat[len(lat) // 2], 1),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1),
            "errors": sum(len(log["errors"]) for log in logs),
            "invariant_breaks": breaks,
            "integrity": integrity,
            "error_samples": [e for log in logs for e in log["errors"]][:3],
        }


GROWTH_FULL, GROWTH_QUICK = 100_000, 5_000
#: AGENT_SYNC_KEEP_MESSAGES_DAYS for the growth run (8.64 s; --quick: 0.864 s, as its run lasts ~5 s)
GROWTH_KEEP_DAYS, GROWTH_KEEP_DAYS_QUICK = 0.0001, 0.00001
GROWTH_CHECKPOINTS = (0.1, 0.5, 1.0)


class McpClient:
    """One `agent-sync mcp` server as `agent`, spoken to over stdio; requests
    are pipelined: `call_many` writes them all (from a thread, so neither pipe
    can fill up and stall both sides), then reads one reply per request."""

    def __init__(self, tool, agent, env):
        self.proc = subprocess.Popen(
            [*tool.base, "mcp"],
            cwd=tool.repo,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=clean_env(agent, **env),
            text=True,
            encoding="utf-8",
        )
        self.next_id = 0
        self.send(
            {
                "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "clientInfo": {"name": "bench"}, "capabilities": {}},
            },
            reply=True,
        )
        self.send({"method": "notifications/initialized"})
        self.proc.stdin.flush()

    def send(self, msg, reply=False):
        msg = {"jsonrpc": "2.0", **msg}
        if reply:
            msg["id"] = self.next_id
            self.next_id += 1
        self.proc.stdin.write(json.dumps(msg) + "\n")
        if reply:
            self.proc.stdin.flush()
            return self.reply()
        return None

    def reply(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the MCP server exited")
        return json.loads(line)

    def call_many(self, tool, arguments):
        """tools/call `tool` once per item of `arguments`; the replies' results, in order."""
        first = self.next_id
        self.next_id += len(arguments)
        lines = [
            json.dumps(
                {"jsonrpc": "2.0", "id": first + i, "method": "tools/call", "params": {"name": tool, "arguments": a}}
            )
            + "\n"
            for i, a in enumerate(arguments)
        ]

        def write():
            self.proc.stdin.write("".join(lines))
            self.proc.stdin.flush()

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        replies = [self.reply() for _ in arguments]
        writer.join()
        results = []
        for i, r in enumerate(replies):
            result = r.get("result") or {}
            if r.get("id") != first + i or "error" in r or result.get("isError"):
                raise RuntimeError(f"{tool}: unexpected reply {json.dumps(r)[:300]}")
            results.append(result)
        return results

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def state_size(repo):
    """(KiB of state.sqlite plus its -wal file, row counts), read-only."""
    db = os.path.join(repo, ".claude", "coordination", "state.sqlite")
    size = sum(os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p))
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("messages", "message_deliveries", "activity")
        }
    finally:
        conn.close()
    return size / 1024, rows


def growth(pyz, total, keep_days=GROWTH_KEEP_DAYS, batch=500):
    """Stream `total` messages writer -> reader, each read at once, through two
    MCP servers (one per agent), and record the state file's size and row
    counts at each checkpoint: read messages past retention get pruned, so the
    file should stay bounded.  A dict for the table; "error" when it failed."""
    with tempfile.TemporaryDirectory() as repo:
        subprocess.run(["git", "init", "-q", repo], check=True)
        tool = Tool(pyz, repo, hook_flags(pyz))
        for name in ("writer", "reader"):
            tool.run(["register", "--name", name], agent=name)
        env = {"AGENT_SYNC_KEEP_MESSAGES_DAYS": repr(keep_days)}
        clients = []
        checkpoints = []
        done = 0
        try:
            writer, reader = McpClient(tool, "writer", env), None
            clients.append(writer)
            reader = McpClient(tool, "reader", env)
            clients.append(reader)
            marks = [max(1, round(total * f)) for f in GROWTH_CHECKPOINTS]
            start = time.perf_counter()
            while done < total:
                n = min(batch, total - done, next(m for m in marks if m > done) - done)
                sent = writer.call_many(
                    "send", [{"to": "reader", "message": f"growth message {done + i}"} for i in range(n)]
                )
                reader.call_many("read_message", [{"id": s["structuredContent"]["id"]} for s in sent])
                done += n
                if done in marks:
                    elapsed = time.perf_counter() - start
                    kib, rows = state_size(repo)
                    checkpoints.append(
                        {"messages_sent": done, "seconds": round(elapsed, 2), "kib": round(kib, 1), **rows}
                    )
            elapsed = time.perf_counter() - start
        except (OSError, RuntimeError, ValueError, KeyError, TypeError, sqlite3.Error) as e:
            return {
                "error": f"{type(e).__name__}: {e}"[:400],
                "messages": done,
                "keep_messages_days": keep_days,
                "checkpoints": checkpoints,
            }
        finally:
            for c in clients:
                c.close()
    first, last = checkpoints[0]["kib"], checkpoints[-1]["kib"]
    return {
        "messages": total,
        "keep_messages_days": keep_days,
        "seconds": round(elapsed, 2),
        "throughput": round(total / elapsed, 1),
        "checkpoints": checkpoints,
        "bounded": last <= 2 * first,
    }


def growth_table(g):
    """Markdown lines for the growth run."""
    head = (
        f"State-file growth: {g['messages']:,} messages sent and read one by one through two `agent-sync mcp` "
        f"servers (writer -> reader, pipelined), AGENT_SYNC_KEEP_MESSAGES_DAYS={g['keep_messages_days']} "
        f"({g['keep_messages_days'] * 86400:.3g} s) for both, so read messages are pruned during the run; "
        "size = state.sqlite + its -wal file."
    )
    if "error" in g:
        return [head, "", f"(the growth run failed after {g['messages']:,} messages: {g['error']})"]
    lines = [
        head,
        "",
        "| after | messages sent | seconds | size KiB | messages | message_deliveries | activity |",
        "|---|---|---|---|---|---|---|",
    ]
    for f, c in zip(GROWTH_CHECKPOINTS, g["checkpoints"]):
        lines.append(
            f"| {f:.0%} | {c['messages_sent']:,} | {c['seconds']} | {c['kib']:,.1f} | {c['messages']:,} | "
            f"{c['message_deliveries']:,} | {c['activity']:,} |"
        )
    first, last = g["checkpoints"][0]["kib"], g["checkpoints"][-1]["kib"]
    lines += [
        "",
        f"Throughput {g['throughput']:,} messages/s (send + read); size at 100% {last / first:.2f}x the size at "
        f"10%: bounded: {'yes' if g['bounded'] else 'no'} (within 2x).",
    ]
    return lines


def with_sslmode(url, mode):
    """`url` with its sslmode query parameter set to `mode` (None: removed,
    so libpq's default, prefer, applies)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "sslmode"]
    if mode:
        query.append(("sslmode", mode))
    return urlunsplit(parts._replace(query=urlencode(query)))


def shown_url(url):
    """The URL without its password, for headings and notes."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.split(':', 1)[0]}@{host}"))


def postgres_server(args):
    """(url, where it came from, stop) of the server for the PostgreSQL
    column: --postgres, else AGENT_SYNC_TEST_DATABASE_URL, else a throw-away
    server started by tests/pgserver.py (stop() stops it and removes it);
    (None, why not, None) when there is none."""
    if args.no_postgres:
        return None, "skipped with --no-postgres", None
    if args.postgres:
        return args.postgres, "--postgres", None
    if os.environ.get("AGENT_SYNC_TEST_DATABASE_URL", "").strip():
        return os.environ["AGENT_SYNC_TEST_DATABASE_URL"].strip(), "AGENT_SYNC_TEST_DATABASE_URL", None
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    try:
        import pgserver
    except ImportError as e:
        return None, f"tests/pgserver.py cannot be imported ({e})", None
    finally:
        sys.path.pop(0)
    if not pgserver.find_bin("initdb"):
        return None, "no PostgreSQL here (initdb not found on PATH or in /usr/lib/postgresql/*/bin)", None
    import shutil

    folder = tempfile.mkdtemp(prefix="asb-pg-")
    try:
        info = pgserver.start(folder)
    except (pgserver.PgServerError, OSError) as e:
        shutil.rmtree(folder, ignore_errors=True)
        return None, f"tests/pgserver.py could not start a server ({' '.join(str(e).split())[:300]})", None

    def stop():
        try:
            pgserver.stop(info)
        except (pgserver.PgServerError, OSError) as e:
            print(f"note: could not stop the throw-away PostgreSQL server in {folder}: {e}", flush=True)
            return
        shutil.rmtree(folder, ignore_errors=True)

    return info["url"], "a throw-away local server (tests/pgserver.py: fsync off)", stop


PG_BREAKDOWN = r"""
import sys, time
pyz, url, prefer, project, data = sys.argv[1:6]
sys.path.insert(0, pyz)
import agent_sync_boot
m = agent_sync_boot.load()
imported = time.time()
t = time.perf_counter()
m.pg_driver()
driver = time.perf_counter() - t
t = time.perf_counter()
m.PgStore.open(url, project, 5.0).close()
connect = time.perf_counter() - t
opens, real_open = [], m.PgStore.open.__func__
def timed_open(cls, *args, **kwargs):
    t = time.perf_counter()
    try:
        return real_open(cls, *args, **kwargs)
    finally:
        opens.append(time.perf_counter() - t)
m.PgStore.open = classmethod(timed_open)
import io
stdin, stdout = sys.stdin, sys.stdout
sys.stdin = io.TextIOWrapper(io.BytesIO(data.encode()), encoding="utf-8")
sys.stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
t = time.perf_counter()
code = m.run_hook(["pre-tool-use"])  # main() would end the process at once (leave_now)
hook = time.perf_counter() - t
sys.stdin, sys.stdout = stdin, stdout
m.PgStore.open = classmethod(real_open)
t = time.perf_counter()
m.PgStore.open(prefer, project, 5.0).close()
prefer_connect = time.perf_counter() - t
import json
print(json.dumps({"imported": imported, "driver": driver * 1000, "connect": connect * 1000, "hook": hook * 1000,
                  "hook_connect": sum(opens) * 1000, "hook_opens": len(opens), "code": code,
                  "prefer_connect": prefer_connect * 1000}))
"""
PG_STEPS = {
    "start": "interpreter start + agent_sync import",
    "driver": "driver import (`pg_driver()`)",
    "connect": "connection set-up, `sslmode=disable`",
    "queries": "the hook's queries",
    "prefer_connect": "connection set-up, default `sslmode` (prefer)",
}


def pg_breakdown(tool, repo, url, runs):
    """Where the team-mode pre-tool-use hook (allowed edit) spends its time,
    medians over `runs` runs of `python -I -S -c PG_BREAKDOWN`, in ms; None
    (and a note) when the probe fails."""
    data = payload(repo, "Edit", file_path=os.path.join(repo, "src", "mine.py"), old_string="x", new_string="y")
    pyz = tool.base[-1]
    project = tool.env["AGENT_SYNC_PROJECT"]
    per = {step: [] for step in (*PG_STEPS, "hook_connect")}
    for _ in range(runs):
        launched = time.time()
        r = subprocess.run(
            [PY, "-I", "-S", "-c", PG_BREAKDOWN, pyz, url, with_sslmode(url, None), project, data.decode()],
            cwd=repo,
            capture_output=True,
            env=clean_env("bench", **tool.env),
        )
        try:
            got = json.loads(r.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            print(f"note: the team-mode breakdown failed: {' '.join(r.stderr.decode(errors='replace').split())[-400:]}")
            return None
        if got["code"] not in (0, None) or got["hook_opens"] != 1:
            print(f"note: breakdown: the hook exited {got['code']} after {got['hook_opens']} connection set-ups")
        per["start"].append((got["imported"] - launched) * 1000)
        per["queries"].append(got["hook"] - got["hook_connect"])
        for step in ("driver", "connect", "prefer_connect", "hook_connect"):
            per[step].append(got[step])
    return {step: statistics.median(v) for step, v in per.items()}


def pg_breakdown_table(breakdown, total):
    """The breakdown as markdown lines; `total` is the main table's median."""
    lines = [
        f"| {'pre-tool-use allow, team mode':<48} | {'ms':>6} |",
        f"|{'-' * 50}|{'-' * 8}|",
    ]
    for step in ("start", "driver", "connect", "queries"):
        lines.append(f"| {PG_STEPS[step]:<48} | {breakdown[step]:6.1f} |")
    shown = sum(breakdown[step] for step in ("start", "driver", "connect", "queries"))
    lines.append(f"| {'sum of the above (whole hook in the table: ' + f'{total:.1f})':<48} | {shown:6.1f} |")
    lines.append(f"| {PG_STEPS['prefer_connect']:<48} | {breakdown['prefer_connect']:6.1f} |")
    return lines


DROP_PROJECT = r"""
import sys
sys.path.insert(0, sys.argv[1])
import agent_sync_boot
m = agent_sync_boot.load()
store = m.PgStore.open(sys.argv[2], sys.argv[3], 5.0)
store.run('DROP SCHEMA IF EXISTS "%s" CASCADE' % m.project_schema(sys.argv[3]))
store.close()
"""


def drop_project(tool):
    """Drop the schema of the bench's own random project from a server that
    outlives the run (CI's, --postgres)."""
    env = tool.env
    r = subprocess.run(
        [PY, "-I", "-S", "-c", DROP_PROJECT, tool.base[-1], env["AGENT_SYNC_DATABASE_URL"], env["AGENT_SYNC_PROJECT"]],
        capture_output=True,
    )
    if r.returncode:
        err = " ".join(r.stderr.decode(errors="replace").split())[-300:]
        print(f"note: could not drop the bench project's schema: {err}", flush=True)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.machine()}"


#: the four shell-call rows whose per-round differences are the after-check's cost
AFTER_CHECK_ROWS = (
    ("pre-tool-use Bash, 20 held files", "pre-tool-use Bash, nothing held"),
    ("post-tool-use Bash, 20 held files", "post-tool-use Bash, nothing held"),
)


def after_check_lines(samples, dbs):
    """What snapshot + check add to one shell call with 20 held files: per
    round, (pre held - pre free) + (post held - post free); the median."""
    lines = []
    for db in dbs:
        s = samples[("current", db)]
        if not all(a in s and b in s for a, b in AFTER_CHECK_ROWS):
            return []
        per_round = [sum(s[a][i] - s[b][i] for a, b in AFTER_CHECK_ROWS) for i in range(len(s[AFTER_CHECK_ROWS[0][0]]))]
        lines.append(
            f"After-check, {db} database: snapshot + check of {HELD_FILES} held files of {HELD_BYTES:,} bytes add "
            f"{statistics.median(per_round):.1f} ms to a shell call (median of per-round differences, budget 3 ms)."
        )
    return ["", *lines]


def rtt_table(args, pg_url, runs):
    """bench/rtt.py's table at --rtt (lines), on the team-mode column's server;
    [] when there is none or --rtt is empty."""
    rtts = [int(x) for x in args.rtt.split(",") if x.strip()]
    if not pg_url or not rtts:
        return []
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    try:
        import rtt
    finally:
        sys.path.pop(0)
    counted, samples, denied = rtt.measure(args.pyz, pg_url, rtts, max(3, runs // 3))
    return rtt.table(counted, samples, rtts, max(3, runs // 3), denied)


def results_table(args, flags, runs, sizes, samples, floor_samples, conc, pg):
    """The main table, the team-mode breakdown and the concurrency table as
    markdown lines; `pg` describes the PostgreSQL column (see main)."""
    floor_all = {f: statistics.median(x for v in by_name.values() for x in v) for f, by_name in floor_samples.items()}
    dbs = [db for variant, db in samples if variant == "current" and db != "postgresql"]
    team = samples.get(("current", "postgresql"))
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {machine()}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), hooks run as in hooks.json (`{shown_flags(flags)}`), "
        f"medians of {runs} interleaved runs{' (--quick)' if args.quick else ''}. "
        f"Floors: `{FLOOR_VENV}` {floor_all[FLOOR_VENV]:.1f} ms (a fresh venv, so `site` without third-party "
        f'.pth files), `{FLOOR_BARE}` {floor_all[FLOOR_BARE]:.1f} ms. "x venv" and "x -I -S" are medians '
        f"of each run divided by the floor run of the same round."
        + (f' "large": {", ".join(f"{n:,} {k}" for k, n in sizes.items())}.' if len(dbs) == 2 else "")
        + (
            f' "postgresql": team mode (AGENT_SYNC_DATABASE_URL and a fresh random AGENT_SYNC_PROJECT, empty) '
            f"against {pg['source']}, PostgreSQL {pg['server']}, over {pg['via']} with `sslmode=disable` added "
            f'to the URL (no TLS probe; see the breakdown below); "x sqlite" is the median of per-round ratios '
            f"to the empty SQLite run of the same round."
            if team
            else f" No PostgreSQL column: {pg['skipped']}."
        ),
        "",
    ]
    head = "| measurement                  |"
    rule = "|------------------------------|"
    for db in dbs:
        head += f" {db + ' ms':>8} | x venv | x -I -S |"
        rule += "----------|--------|---------|"
    if len(dbs) == 2:
        head += f" {dbs[1] + ' vs ' + dbs[0]:>14} |"
        rule += "----------------|"
    if team:
        head += " postgresql ms | x sqlite |"
        rule += "---------------|----------|"
    lines += [head, rule]
    for name in samples[("current", dbs[0])]:
        row = f"| {name:<28} |"
        for db in dbs:
            v = samples[("current", db)][name]
            rv = paired_ratio(v, floor_samples[FLOOR_VENV][name])[0]
            rb = paired_ratio(v, floor_samples[FLOOR_BARE][name])[0]
            row += f" {statistics.median(v):8.1f} | {rv:6.2f} | {rb:7.2f} |"
        if len(dbs) == 2:
            a, b = (statistics.median(samples[("current", db)][name]) for db in dbs)
            row += f" {(b / a - 1) * 100:+13.1f}% |"
        if team:
            ratio = paired_ratio(team[name], samples[("current", "empty")][name])[0]
            row += f" {statistics.median(team[name]):13.1f} | {ratio:8.2f} |"
        lines.append(row)
    lines += after_check_lines(samples, dbs)
    if team and pg.get("breakdown"):
        lines += [
            "",
            f"Team mode, pre-tool-use (allowed edit) step by step: medians of {runs} runs of `python -I -S -c CODE` "
            f"that imports the zipapp's module and times each step in-process (the first row by the wall clock "
            f"from launch). \"The hook's queries\" is the hook's in-process run time minus its own connection "
            f"set-up (connect, then the schema version check). The last row is the same set-up with the URL's "
            f"default `sslmode` (prefer): pg8000 then imports ssl and builds a default TLS context to ask the "
            f"server for TLS.",
            "",
            *pg_breakdown_table(pg["breakdown"], statistics.median(team["pre-tool-use allow"])),
        ]
    if conc:
        lines += [
            "",
            "| processes | ops | throughput ops/s | p50 ms | p99 ms | errors | invariant breaks | integrity |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in conc:
            lines.append(
                f"| {c['processes']} | {c['ops']} | {c['throughput']} | {c['p50_ms']} | {c['p99_ms']} | "
                f"{c['errors']} | {c['invariant_breaks']} | {c['integrity']} |"
            )
    return lines, floor_all


def compare_table(samples, old):
    """Before/after medians and the median of paired ratios per scenario."""
    lines = [
        f"before = {old}, after = current; ratio = median of per-round after/before (quartiles in brackets)",
        "",
        f"| {'measurement':<28} | {'db':<5} | {'before ms':>9} | {'after ms':>8} | {'after/before':>12} | "
        f"{'quartiles':>11} |",
        f"|{'-' * 30}|{'-' * 7}|{'-' * 11}|{'-' * 10}|{'-' * 14}|{'-' * 13}|",
    ]
    all_ratios = []
    for (variant, db), by_name in samples.items():
        if variant != "current" or ("old", db) not in samples:
            continue
        for name, after in by_name.items():
            before = samples[("old", db)][name]
            ratio, (q1, q3) = paired_ratio(after, before)
            all_ratios += [a / b for a, b in zip(after, before)]
            lines.append(
                f"| {name:<28} | {db:<5} | {statistics.median(before):9.1f} | {statistics.median(after):8.1f}"
                f" | {ratio:12.3f} | {q1:.2f}-{q3:.2f}   |"
            )
    if all_ratios:
        q1, q3 = quartiles(all_ratios)
        lines.append(
            f"\noverall: median after/before {statistics.median(all_ratios):.3f} over {len(all_ratios)} "
            f"paired runs (quartiles {q1:.3f}-{q3:.3f})"
        )
    return lines


def rewrite_readme(block):
    """Replace the text between the markers; False if they are missing."""
    try:
        with open(README, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return False
    i, j = text.find(START), text.find(END)
    if i < 0 or j < i:
        return False
    new = text[: i + len(START)] + "\n" + "\n".join(block) + "\n" + text[j:]
    if new != text:
        with open(README + ".tmp", "w", encoding="utf-8") as f:
            f.write(new)
        os.replace(README + ".tmp", README)
    return True


def ensure_pyz(path):
    if not os.path.exists(path):
        subprocess.run([PY, os.path.join(ROOT, "build.py"), "-o", path], check=True)


def measure_setups(args, variants, sizes, floors, runs, pg_url, pg):
    """Build every setup (each zipapp on an empty and a large SQLite database,
    the current one in team mode on `pg_url` too), measure them all, and
    return (samples, floor samples, notes, importtime rows, pg)."""
    with tempfile.TemporaryDirectory() as base:
        setups = {}
        for variant, pyz in variants.items():
            for label in ("empty", "large"):
                repo = os.path.join(base, f"{variant}-{label}")
                subprocess.run(["git", "init", "-q", repo], check=True)
                tool = Tool(pyz, repo, hook_flags(pyz))
                tool.run(["init"])
                if label == "large":
                    t = time.perf_counter()
                    try:
                        fill_large(os.path.join(repo, ".claude", "coordination", "state.sqlite"), sizes)
                    except sqlite3.Error as e:
                        print(f"note: could not fill a large database for {pyz} ({e}); skipping it", flush=True)
                        continue
                    print(f"large database ({variant}) built in {time.perf_counter() - t:.1f}s: {sizes}", flush=True)
                setups[(variant, label)] = (tool, repo)
        if pg_url:
            team = team_setup(base, args.pyz, with_sslmode(pg_url, "disable"), hook_flags(args.pyz))
            if team:
                setups[("current", "postgresql")] = team[:2]
                pg = {**team[2], "source": pg_source_text(pg["skipped"]), "via": via(pg_url)}
            else:
                pg = {"skipped": "team mode failed to initialize (see the note above)"}
        samples, floor_samples, notes = measure_all(setups, floors, runs)
        imports = importtime_top(*setups[("current", "empty")], runs=3 if args.quick else 9)
        if ("current", "postgresql") in setups:
            tool, repo = setups[("current", "postgresql")]
            pg["breakdown"] = pg_breakdown(tool, repo, tool.env["AGENT_SYNC_DATABASE_URL"], runs)
            if pg["source"] != PG_SOURCES[None]:
                drop_project(tool)
    return samples, floor_samples, notes, imports, pg


PG_SOURCES = {
    "--postgres": "the server given by --postgres",
    "AGENT_SYNC_TEST_DATABASE_URL": "the server in AGENT_SYNC_TEST_DATABASE_URL",
    None: "a throw-away local server (tests/pgserver.py, fsync off)",
}


def pg_source_text(source):
    return PG_SOURCES.get(source, PG_SOURCES[None])


def via(url):
    """How the bench reaches the server, for the heading."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    if (parts.hostname or "").startswith("/") or parse_qs(parts.query).get("host", [""])[0].startswith("/"):
        return "a unix socket"
    if parts.hostname in ("127.0.0.1", "::1", "localhost"):
        return "loopback TCP"
    return f"TCP to {parts.hostname}"


def team_setup(base, pyz, url, flags):
    """(tool, repo, facts) for team mode on `url` with a fresh random project;
    None (and a note) when `init` fails there."""
    import secrets

    repo = os.path.join(base, "current-postgresql")
    subprocess.run(["git", "init", "-q", repo], check=True)
    env = {"AGENT_SYNC_DATABASE_URL": url, "AGENT_SYNC_PROJECT": f"bench/{secrets.token_hex(6)}"}
    tool = Tool(pyz, repo, flags, env)
    r = tool.run(["init"])
    if r.returncode:
        err = " ".join(r.stderr.decode(errors="replace").split())[-400:]
        print(f"note: team mode on {shown_url(url)}: `init` exited {r.returncode}: {err}", flush=True)
        return None
    try:
        status = json.loads(tool.run(["team", "status", "--json"]).stdout)
    except ValueError:
        status = {}
    server = str(status.get("server") or "?").split(" (")[0]
    return tool, repo, {"server": server, "url": shown_url(url), "project": env["AGENT_SYNC_PROJECT"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few runs, small database, small concurrency")
    parser.add_argument("--runs", type=int, help="runs per measurement (default 30, quick 7)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--pyz", default=os.path.join(ROOT, "dist", "agent-sync.pyz"))
    parser.add_argument("--compare", metavar="OLD.pyz", help="also time this older zipapp, interleaved, before/after")
    parser.add_argument("--readme", action="store_true", help=f"rewrite docs/internals.md between {START} and {END}")
    parser.add_argument("--no-concurrency", action="store_true", help="skip the concurrency run")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="PostgreSQL server for the team-mode column (default: AGENT_SYNC_TEST_DATABASE_URL, "
        "else a throw-away server from tests/pgserver.py when PostgreSQL is installed)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip the team-mode (PostgreSQL) column")
    parser.add_argument("--no-growth", action="store_true", help="skip the state-file growth run")
    parser.add_argument(
        "--rtt",
        default="0,50",
        help="team mode through a delaying proxy at these round trip times (ms, comma-separated; "
        "round trips counted at the largest; '' skips it); default 0,50",
    )
    args = parser.parse_args()
    ensure_pyz(args.pyz)
    if args.compare and not os.path.exists(args.compare):
        parser.error(f"--compare: {args.compare} does not exist")
    runs = args.runs or (7 if args.quick else 30)
    sizes = {k: v // 20 for k, v in FULL.items()} if args.quick else FULL
    flags = hook_flags(args.pyz)
    started = time.time()
    floors = floors_cmds()
    variants = {"current": args.pyz, **({"old": args.compare} if args.compare else {})}
    pg_url, pg_source, pg_stop = postgres_server(args)
    pg = {"skipped": pg_source}
    if not pg_url:
        print(f"note: no PostgreSQL column: {pg_source}", flush=True)
    try:
        samples, floor_samples, notes, imports, pg = measure_setups(args, variants, sizes, floors, runs, pg_url, pg)
        network = rtt_table(args, pg_url, runs)
    finally:
        if pg_stop:
            pg_stop()
    conc = (
        []
        if args.no_concurrency
        else [
            concurrency(args.pyz, flags, p, 10 if args.quick else 15)
            for p in ((8, 16) if args.quick else (16, 64, 100))
        ]
    )
    grown = (
        None
        if args.no_growth
        else growth(
            args.pyz,
            GROWTH_QUICK if args.quick else GROWTH_FULL,
            GROWTH_KEEP_DAYS_QUICK if args.quick else GROWTH_KEEP_DAYS,
        )
    )
    lines, floor_all = results_table(args, flags, runs, sizes, samples, floor_samples, conc, pg)
    if grown:
        lines += ["", *growth_table(grown)]
    print(f"\nagent-sync benchmark ({args.pyz})\n")
    print("\n".join(lines))
    for note in notes:
        print(note)
    for c in conc:
        for sample in c["error_samples"]:
            print(f"  error sample ({c['processes']} processes): {sample}")
    print(f"\n-X importtime, pre-tool-use allow, top {len(imports)} by cumulative (medians, us):\n")
    print(f"| {'module':<32} | {'self us':>8} | {'cumul. us':>9} |")
    print(f"|{'-' * 34}|{'-' * 10}|{'-' * 11}|")
    for name, self_us, cum_us in imports:
        print(f"| {name:<32} | {self_us:8.0f} | {cum_us:9.0f} |")
    if network:
        print("\n" + "\n".join(network))
    comp = compare_table(samples, args.compare) if args.compare else []
    if comp:
        print("\ncomparison:\n")
        print("\n".join(comp))
    if args.readme:
        if rewrite_readme(lines):
            print(f"\n{README}: rewrote the block between {START} and {END}")
        else:
            print(f"\n{README}: markers {START} / {END} not found; left unchanged (table above)")
    print(f"\n(benchmark took {time.time() - started:.0f}s)")
    if args.json:
        med = {f"{v}/{db}": {n: statistics.median(x) for n, x in by.items()} for (v, db), by in samples.items()}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "date": datetime.date.today().isoformat(),
                    "machine": machine(),
                    "python": platform.python_version(),
                    "flags": flags,
                    "runs": runs,
                    "sizes": sizes,
                    "floors": floor_all,
                    "medians": med,
                    "empty": med.get("current/empty"),
                    "large": med.get("current/large"),
                    "samples": {f"{v}/{db}": by for (v, db), by in samples.items()},
                    "floor_samples": floor_samples,
                    "importtime": imports,
                    "concurrency": conc,
                    "growth": grown,
                    "postgresql": pg,
                    "notes": notes,
                    "compare": args.compare,
                },
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
