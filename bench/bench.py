#!/usr/bin/env python3
"""Benchmark agent-sync's hooks and CLI against the interpreter's own floor.

    python3 bench/bench.py [--quick] [--runs N] [--json OUT] [--pyz PATH]

In one run: the floor (`python -c pass`, `python -S -c pass`), every hook as
hooks.json runs it (same interpreter flags), the main CLI commands, each on an
empty and on a large database, then a concurrency run with 8, 32 and 64
processes checking that no error and no invariant break happened.  It
reports; it never fails because something is slow.
"""
import argparse
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = sys.executable
FULL = {"activity": 1_000_000, "locks": 10_000, "agents": 1_000, "tasks": 10_000, "messages": 100_000}


def hook_flags():
    try:
        with open(os.path.join(ROOT, "hooks.json"), encoding="utf-8") as f:
            command = json.load(f)["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
        return re.match(r"\S+((?: -\w+)*) ", command).group(1).split()
    except (OSError, ValueError, KeyError, AttributeError):
        return ["-I", "-S"]


def clean_env(agent=None, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_SYNC_", "CLAUDE_"))}
    if agent:
        env["AGENT_SYNC_ID"] = agent
    env.update(extra)
    return env


class Tool:
    def __init__(self, pyz, repo, flags):
        self.base = [PY, *flags, pyz]
        self.repo = repo

    def run(self, args, agent="bench", stdin=None, env=None):
        return subprocess.run(self.base + list(args), cwd=self.repo, input=stdin, capture_output=True,
                              env=clean_env(agent, **(env or {})))

    def timed(self, args, agent="bench", stdin=None):
        start = time.perf_counter()
        r = self.run(args, agent, stdin)
        return (time.perf_counter() - start) * 1000, r


def median_ms(fn, runs, before=None):
    samples = []
    for _ in range(runs):
        if before:
            before()
        samples.append(fn())
    return statistics.median(samples)


def payload(repo, tool, **tool_input):
    return json.dumps({"session_id": "bench", "cwd": repo, "hook_event_name": "x", "tool_name": tool,
                       "tool_input": tool_input}).encode()


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

    def send_ten():
        for i in range(10):
            tool.run(["send", "--to", "bench", "--message", f"note {i}"], agent="peer")
    return {
        "pre-tool-use allow": (["hook", "pre-tool-use"], mine, None),
        "pre-tool-use deny": (["hook", "pre-tool-use"], theirs, None),
        "pre-tool-use deny (dir lock)": (["hook", "pre-tool-use"], under_dir, None),
        "pre-tool-use Bash": (["hook", "pre-tool-use"], bash, None),
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


def measure_all(setups, runs):
    """{label: {name: median ms}}, the databases measured in alternation so
    that machine noise falls on both alike."""
    plans = {label: scenarios(tool, repo) for label, (tool, repo) in setups.items()}
    samples = {label: {name: [] for name in plan} for label, plan in plans.items()}
    for name in plans["empty"]:
        for _ in range(runs):
            for label, (tool, _) in setups.items():
                argv, stdin, before = plans[label][name]
                if before:
                    before()
                samples[label][name].append(tool.timed(argv, stdin=stdin)[0])
    return {label: {name: statistics.median(v) for name, v in by_name.items()} for label, by_name in samples.items()}


def fill_large(db, sizes):
    """Bulk rows straight into the tool's own schema."""
    now = time.time()
    conn = sqlite3.connect(db)
    agents = [f"agent{i}" for i in range(sizes["agents"])]
    with conn:
        conn.executemany("INSERT INTO agents (id, name, role, status, created_at, last_seen) VALUES (?, ?, 'r', 'active', ?, ?)",
                         [(a, a, now, now) for a in agents])
        statuses = ("open", "in_progress", "blocked", "done")
        conn.executemany("INSERT INTO tasks (title, status, priority, owner, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                         [(f"task {i}", statuses[i % 4], i % 7, agents[i % len(agents)] if i % 4 else None, now, now)
                          for i in range(sizes["tasks"])])
        conn.executemany("INSERT INTO locks (kind, key, path, owner, reason, created_at, expires_at) VALUES ('file', ?, ?, ?, 'bulk', ?, ?)",
                         [(f"gen/f{i}.py", f"gen/f{i}.py", agents[i % len(agents)], now, now + 86400)
                          for i in range(sizes["locks"])])
        conn.executemany("INSERT INTO messages (id, sender, recipient, kind, body, created_at) VALUES (?, ?, ?, 'direct', 'bulk message', ?)",
                         [(i + 1, agents[i % len(agents)], agents[(i + 1) % len(agents)], now) for i in range(sizes["messages"])])
        conn.executemany("INSERT INTO message_deliveries (agent_id, message_id, directed, pushed_at, read_at) VALUES (?, ?, 1, ?, ?)",
                         [(agents[(i + 1) % len(agents)], i + 1, now, now) for i in range(sizes["messages"])])
        batch = 100_000
        for start in range(0, sizes["activity"], batch):
            conn.executemany("INSERT INTO activity (agent, type, message, path, created_at) VALUES (?, 'edit', 'Edit x', 'x', ?)",
                             [(agents[i % len(agents)], now) for i in range(start, min(start + batch, sizes["activity"]))])
    conn.close()


WORKER = r'''
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
'''


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
        workers = [subprocess.Popen([PY, "-c", WORKER, json.dumps([base, repo, f"w{i}", ops, paths])],
                                    stdout=subprocess.PIPE, text=True) for i in range(procs)]
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
        return {"processes": procs, "ops": len(lat), "seconds": round(elapsed, 2),
                "throughput": round(len(lat) / elapsed, 1), "p50_ms": round(lat[len(lat) // 2], 1),
                "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1),
                "errors": sum(len(log["errors"]) for log in logs), "invariant_breaks": breaks,
                "integrity": integrity, "error_samples": [e for log in logs for e in log["errors"]][:3]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few runs, small database, small concurrency")
    parser.add_argument("--runs", type=int, help="runs per measurement (default 30, quick 7)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--pyz", default=os.path.join(ROOT, "dist", "agent-sync.pyz"))
    args = parser.parse_args()
    if not os.path.exists(args.pyz):
        subprocess.run([PY, os.path.join(ROOT, "build.py"), "-o", args.pyz], check=True)
    runs = args.runs or (7 if args.quick else 30)
    sizes = {k: v // 20 for k, v in FULL.items()} if args.quick else FULL
    flags = hook_flags()
    started = time.time()
    floors = {}
    for name, cmd in (("python -c pass", [PY, "-c", "pass"]), ("python -S -c pass", [PY, "-S", "-c", "pass"])):
        def once(cmd=cmd):
            t = time.perf_counter()
            subprocess.run(cmd, capture_output=True)
            return (time.perf_counter() - t) * 1000
        floors[name] = median_ms(once, runs)
    floor = floors["python -c pass"]
    with tempfile.TemporaryDirectory() as base:
        setups = {}
        for label in ("empty", "large"):
            repo = os.path.join(base, label)
            subprocess.run(["git", "init", "-q", repo], check=True)
            tool = Tool(args.pyz, repo, flags)
            tool.run(["init"])
            if label == "large":
                t = time.perf_counter()
                fill_large(os.path.join(repo, ".claude", "coordination", "state.sqlite"), sizes)
                print(f"large database built in {time.perf_counter() - t:.1f}s: {sizes}", flush=True)
            setups[label] = (tool, repo)
        tables = measure_all(setups, runs)
    conc = [concurrency(args.pyz, flags, p, 10 if args.quick else 15) for p in ((8, 16) if args.quick else (8, 32, 64))]
    version = sys.version.split()[0]
    print(f"\nagent-sync benchmark, {time.strftime('%Y-%m-%d')}, Python {version}, flags {' '.join(flags)}, "
          f"{runs} runs each, medians{' (quick)' if args.quick else ''}\n")
    print(f"| {'measurement':<28} | {'empty ms':>8} | {'x floor':>7} | {'large ms':>8} | {'x floor':>7} | {'large vs empty':>14} |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 9}|{'-' * 10}|{'-' * 9}|{'-' * 16}|")
    for name, ms in floors.items():
        print(f"| {name:<28} | {ms:8.1f} | {ms / floor:7.2f} | {'':>8} | {'':>7} | {'':>14} |")
    for name, empty in tables["empty"].items():
        large = tables["large"][name]
        print(f"| {name:<28} | {empty:8.1f} | {empty / floor:7.2f} | {large:8.1f} | {large / floor:7.2f} | "
              f"{(large / empty - 1) * 100:+13.1f}% |")
    print("\n| processes | ops | throughput ops/s | p50 ms | p99 ms | errors | invariant breaks | integrity |")
    print("|---|---|---|---|---|---|---|---|")
    for c in conc:
        print(f"| {c['processes']} | {c['ops']} | {c['throughput']} | {c['p50_ms']} | {c['p99_ms']} | {c['errors']} | "
              f"{c['invariant_breaks']} | {c['integrity']} |")
        for sample in c["error_samples"]:
            print(f"  error sample: {sample}")
    print(f"\n(benchmark took {time.time() - started:.0f}s)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"date": time.strftime("%Y-%m-%d"), "python": version, "flags": flags, "runs": runs,
                       "sizes": sizes, "floors": floors, "empty": tables["empty"], "large": tables["large"],
                       "concurrency": conc}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
