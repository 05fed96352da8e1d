#!/usr/bin/env python3
"""Benchmark agent-sync's hooks and CLI against the interpreter's own floor.

    python3 bench/bench.py [--quick] [--runs N] [--json OUT] [--pyz PATH]
                           [--compare OLD.pyz] [--readme]

In one run: every hook as hooks.json runs it (same interpreter flags) and the
main CLI commands, each on an empty and on a large database, interleaved with
two floors: `python -c pass` in a fresh venv (created once and cached under
the temp dir: no third-party .pth files) and `python -I -S -c pass`.  Ratios
are medians of per-round ratios (each hook run divided by the floor runs of
the same round), so machine noise falls on both alike.  Then the
`-X importtime` top 10 of the pre-tool-use hook, and a concurrency run with
8, 32 and 64 processes checking that no error and no invariant break
happened.

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
    def __init__(self, pyz, repo, flags):
        self.base = [PY, *flags, pyz]
        self.repo = repo

    def run(self, args, agent="bench", stdin=None, env=None):
        return subprocess.run(
            self.base + list(args), cwd=self.repo, input=stdin, capture_output=True, env=clean_env(agent, **(env or {}))
        )

    def timed(self, args, agent="bench", stdin=None):
        return timed_cmd(self.base + list(args), cwd=self.repo, input=stdin, env=clean_env(agent))


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


def measure_all(setups, floors, runs):
    """Every scenario of every setup ({(variant, db): (tool, repo)}) and both
    floors, `runs` rounds each; inside a round every command runs once, in an
    order rotated from round to round.  Returns (samples, floor samples), the
    samples as {(variant, db): {name: [ms per round]}}, the floors as
    {floor: {name: [ms per round]}} so each hook sample has floor samples
    from its own round to be divided by."""
    plans = {key: scenarios(tool, repo) for key, (tool, repo) in setups.items()}
    names = list(next(iter(plans.values())))
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
    return samples, floor_samples


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


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.machine()}"


def results_table(args, flags, runs, sizes, samples, floor_samples, conc):
    """The main table and the concurrency table as markdown lines."""
    floor_all = {f: statistics.median(x for v in by_name.values() for x in v) for f, by_name in floor_samples.items()}
    dbs = [db for variant, db in samples if variant == "current"]
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {machine()}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), hooks run as in hooks.json (`{shown_flags(flags)}`), "
        f"medians of {runs} interleaved runs{' (--quick)' if args.quick else ''}. "
        f"Floors: `{FLOOR_VENV}` {floor_all[FLOOR_VENV]:.1f} ms (a fresh venv, so `site` without third-party "
        f'.pth files), `{FLOOR_BARE}` {floor_all[FLOOR_BARE]:.1f} ms. "x venv" and "x -I -S" are medians '
        f"of each run divided by the floor run of the same round."
        + (f' "large": {", ".join(f"{n:,} {k}" for k, n in sizes.items())}.' if len(dbs) == 2 else ""),
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
        lines.append(row)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few runs, small database, small concurrency")
    parser.add_argument("--runs", type=int, help="runs per measurement (default 30, quick 7)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--pyz", default=os.path.join(ROOT, "dist", "agent-sync.pyz"))
    parser.add_argument("--compare", metavar="OLD.pyz", help="also time this older zipapp, interleaved, before/after")
    parser.add_argument("--readme", action="store_true", help=f"rewrite docs/internals.md between {START} and {END}")
    parser.add_argument("--no-concurrency", action="store_true", help="skip the concurrency run")
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
        samples, floor_samples = measure_all(setups, floors, runs)
        imports = importtime_top(*setups[("current", "empty")], runs=3 if args.quick else 9)
    conc = (
        []
        if args.no_concurrency
        else [
            concurrency(args.pyz, flags, p, 10 if args.quick else 15)
            for p in ((8, 16) if args.quick else (16, 64, 100))
        ]
    )
    lines, floor_all = results_table(args, flags, runs, sizes, samples, floor_samples, conc)
    print(f"\nagent-sync benchmark ({args.pyz})\n")
    print("\n".join(lines))
    for c in conc:
        for sample in c["error_samples"]:
            print(f"  error sample ({c['processes']} processes): {sample}")
    print(f"\n-X importtime, pre-tool-use allow, top {len(imports)} by cumulative (medians, us):\n")
    print(f"| {'module':<32} | {'self us':>8} | {'cumul. us':>9} |")
    print(f"|{'-' * 34}|{'-' * 10}|{'-' * 11}|")
    for name, self_us, cum_us in imports:
        print(f"| {name:<32} | {self_us:8.0f} | {cum_us:9.0f} |")
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
                    "compare": args.compare,
                },
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
