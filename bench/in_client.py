"""What agent-sync's hooks cost inside the real Claude Code, per tool call.

Claude Code (the pinned version the e2e layer installs) runs in print mode
against the scripted model server (tests/e2e/model_server.py, TCP_NODELAY),
which answers with N Bash tool calls (`true`) and then text.  Three settings
run in the same rounds, in an order rotated from round to round:

  * none:     no hooks at all;
  * resident: `agent-sync install` as shipped (the session's MCP server
              answers the tool events through mcp_tool hooks; the command
              hooks stand down while it lives);
  * command:  the same install with the MCP server unregistered, so every
              event runs the command hooks (Python per call);
  * mcp-only: the same install without the command hooks of the events the
              server answers (no fallback: what the client's `sh` starts for
              the stand-down test cost, by difference with `resident`).

With `--floor`, two more settings measure what the design costs the client
whatever the server does: the same install with a trivial stdio MCP server
in agent-sync's place (every hook call answered at once with nothing):

  * floor-mcp:    its mcp_tool hooks only (like mcp-only);
  * floor-mcp+sh: and the command hooks beside them, each only `exit 0`
                  (the cheapest command a fallback can be);
  * floor-sh:     those `exit 0` command hooks alone (no MCP server): what
                  a design without mcp_tool hooks would start from.

With `--cycles` each session also writes Claude Code's debug log, and a
second table gives the client's own account of each tool call: from the
model reply's first chunk to the tool's dispatch (PreToolUse runs there),
and from the tool's end to the next request (PostToolUse), medians over
every call of every round, less the same for `none`.  The debug log costs
every setting its own lines, so these figures run higher than the slope's.

Each setting runs a session of N calls and one of 2N calls in every round,
so what a session costs once (starting, SessionStart, the MCP server's
start, Stop) cancels out: the overhead of a setting per tool call is
((T(2N) - T(N)) - the same for `none` in that round) / N.  The table gives
medians over the rounds, and the characters the MCP server's tools add to
every model request.

With `--team-rtt 0,50` the repositories are in team mode (`team join`) on a
real PostgreSQL reached through tests/netproxy.py, one proxy per round trip
time, the tool calls are Writes of new files (an edit tool: the edit guard
and its automatic lock before, the record after), and the settings are
none, resident at each RTT and command at the largest: what an edit costs a
session when the server is far, against the same on loopback.

    python3 bench/in_client.py [--calls 20] [--rounds 7] [--pyz dist/agent-sync.pyz] [--team-rtt 0,50] [--floor] [--cycles]"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from e2e.harness import CLAUDE_VERSIONS, npm_client  # noqa: E402
from e2e.model_server import ModelServer  # noqa: E402

SETTINGS = ("none", "resident", "command", "mcp-only")
FLOOR_SETTINGS = ("floor-mcp", "floor-mcp+sh", "floor-sh")

#: the trivial MCP server of the floor settings: one tool, every call answered
#: at once with empty text (a hook that has nothing to say)
TRIVIAL_MCP = """import json, sys
tool = {"name": "agent_sync_hook", "description": "", "inputSchema": {"type": "object"}}
for line in sys.stdin:
    m = json.loads(line)
    if "id" not in m:
        continue
    r = {"protocolVersion": m.get("params", {}).get("protocolVersion"), "capabilities": {"tools": {}},
         "serverInfo": {"name": "trivial", "version": "1"}} if m["method"] == "initialize" else (
        {"tools": [tool]} if m["method"] == "tools/list" else {"content": [{"type": "text", "text": ""}]})
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": r}) + "\\n")
    sys.stdout.flush()
"""


#: a proxy in a process of its own (its threads must not take turns with the
#: model server's for this process's GIL): it prints its port, and stops when
#: its stdin closes
PROXY_PROCESS = (
    "import sys, netproxy; p = netproxy.Proxy(int(sys.argv[1]), delay=float(sys.argv[2])); "
    "print(p.port, flush=True); sys.stdin.read(); p.close()"
)


def team_server(rtts):
    """({rtt: PostgreSQL URL through a proxy with that round trip (ms)}, stop)."""
    from urllib.parse import urlsplit, urlunsplit

    import pgserver

    url, info = os.environ.get("AGENT_SYNC_TEST_DATABASE_URL"), None
    if not url:
        info = pgserver.start(tempfile.mkdtemp(prefix="agent-sync-in-client-pg-"))
        url = info["url"]
    parts = urlsplit(url)
    proxies = {
        r: subprocess.Popen(
            [sys.executable, "-c", PROXY_PROCESS, str(parts.port), str(r / 2000)],
            cwd=os.path.join(ROOT, "tests"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for r in rtts
    }
    ports = {r: int(p.stdout.readline()) for r, p in proxies.items()}

    def stop():
        for proxy in proxies.values():
            proxy.stdin.close()
            proxy.wait()
            proxy.stdout.close()
        if info:
            pgserver.stop(info)

    netloc = parts.netloc.rpartition(":")[0]
    urls = {r: urlunsplit(parts._replace(netloc=f"{netloc}:{port}")) for r, port in ports.items()}
    return {r: u + ("&" if "?" in u else "?") + "sslmode=disable" for r, u in urls.items()}, stop


def make_repo(base, name, pyz, setting, team_url=None):
    """A committed scratch repository set up as `setting` (its part before any `@RTT`)
    says, in team mode at `team_url`."""
    setting = setting.split("@")[0]
    repo = os.path.join(base, name)
    os.makedirs(repo)
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.email", "b@e"],
        ["git", "config", "user.name", "b"],
    ):
        subprocess.run(cmd, cwd=repo, check=True)
    with open(os.path.join(repo, "README.md"), "w") as f:
        f.write("bench\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=repo, check=True)
    if setting != "none":
        subprocess.run([sys.executable, pyz, "install"], cwd=repo, check=True, capture_output=True)
    if setting != "none" and team_url:
        join = [sys.executable, pyz, "team", "join", team_url, "--project", f"in-client-{os.getpid()}-{name}"]
        home = {**os.environ, "HOME": os.path.join(base, "home")}  # the password goes where the client's HOME is
        subprocess.run(join, cwd=repo, check=True, capture_output=True, env=home)
    if setting == "command":
        os.remove(os.path.join(repo, ".mcp.json"))
    if setting in ("mcp-only", *FLOOR_SETTINGS):
        rewire(repo, setting)
    return repo


def rewire(repo, setting):
    """Drop the standing-down command hooks (mcp-only, floor-mcp) or make
    each `exit 0` (floor-mcp+sh, floor-sh, which drops the mcp_tool hooks);
    a floor setting also puts the trivial server in agent-sync's place."""
    path = os.path.join(repo, ".claude", "settings.json")
    with open(path) as f:
        settings = json.load(f)
    for groups in settings["hooks"].values():  # the events the server answers have an mcp_tool hook
        for group in (g for g in groups if any(h["type"] == "mcp_tool" for h in g["hooks"])):
            standing_down = [h for h in group["hooks"] if h["type"] == "command" and not h.get("asyncRewake")]
            group["hooks"] = [h for h in group["hooks"] if h not in standing_down]
            if setting == "floor-sh":
                group["hooks"] = [h for h in group["hooks"] if h["type"] != "mcp_tool"]
            if setting in ("floor-mcp+sh", "floor-sh"):
                group["hooks"] += [{**h, "command": "exit 0"} for h in standing_down]
    with open(path, "w") as f:
        json.dump(settings, f)
    if setting in FLOOR_SETTINGS:
        with open(os.path.join(repo, ".mcp.json"), "w") as f:
            server = {"type": "stdio", "command": sys.executable, "args": ["-I", "-S", "-c", TRIVIAL_MCP]}
            json.dump({"mcpServers": {"agent-sync": server}}, f)


def run_claude(claude, repo, home, server, debug=None):
    """Seconds one print-mode session takes (its debug log written to `debug`)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "ANTHROPIC_BASE_URL": server.url,
        "ANTHROPIC_API_KEY": "dummy",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "IS_SANDBOX": "1",
    }
    log = ["--debug-file", debug] if debug else []
    start = time.perf_counter()
    r = subprocess.run(
        [claude, "-p", "go", *log, "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    seconds = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"claude failed in {repo}: {r.stderr[-500:]}")
    return seconds


def tools_chars(server):
    """Characters of the tools and the system prompt of the last main request
    (where a client lists MCP tools, or names them for a tool search)."""
    body = server.main_requests()[-1]["body"]
    return len(json.dumps(body.get("tools", []))) + len(json.dumps(body.get("system", "")))


def script(repo, calls, team):
    """The model's tool calls: Bash `true`, or in team mode Writes of new files."""
    if not team:
        return [{"tool": "Bash", "input": {"command": "true", "description": "nothing"}}] * calls
    stamp = time.time_ns()
    return [
        {"tool": "Write", "input": {"file_path": os.path.join(repo, "gen", f"f{stamp}-{i}.py"), "content": "x = 1\n"}}
        for i in range(calls)
    ]


#: the debug log's lines that bound a tool call's hooks: (marks the start, marks the end, which gap)
CYCLE_MARKS = (("Stream started", "tool_dispatch_start", "before"), ("tool_dispatch_end", "[API REQUEST]", "after"))


def cycle_gaps(path):
    """{"before": [ms], "after": [ms]}: for each tool call of a session's debug
    log, the time before the tool's dispatch (PreToolUse) and after its end
    (PostToolUse) until the next model request."""
    gaps, opened = {gap: [] for _, _, gap in CYCLE_MARKS}, {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            for start, end, gap in CYCLE_MARKS:
                if start in line:
                    opened[gap] = line[:23]
                elif end in line and gap in opened:
                    begun = datetime.datetime.fromisoformat(opened.pop(gap))
                    gaps[gap].append((datetime.datetime.fromisoformat(line[:23]) - begun).total_seconds() * 1000)
    return gaps


def measure(claude, home, repos, settings, args):
    """({(setting, 1 or 2): [seconds of a session of N or 2N calls]}, {setting: chars},
    {setting: {gap: [ms]}} with --cycles)."""
    seconds = {(s, n): [] for s in settings for n in (1, 2)}
    chars, gaps = {}, {s: {gap: [] for _, _, gap in CYCLE_MARKS} for s in settings}
    for i in range(args.rounds + 1):  # the first round warms caches and is not counted
        k = i % len(settings)
        order = [(s, n) for s in settings[k:] + settings[:k] for n in (1, 2)]
        for setting, n in order:
            calls = script(repos[setting], args.calls * n, bool(args.team_rtt))
            with ModelServer(script=calls + [{"text": "done"}]) as server:
                server.httpd.RequestHandlerClass.disable_nagle_algorithm = True
                debug = os.path.join(home, f"debug-{setting}.log") if args.cycles else None
                took = run_claude(claude, repos[setting], home, server, debug)
                chars[setting] = tools_chars(server)
            if i:
                seconds[setting, n].append(took)
            if debug and i:
                for gap, ms in cycle_gaps(debug).items():
                    gaps[setting][gap] += ms
            if debug:
                os.remove(debug)  # each session's log on its own (the warm-up round's too)
    return seconds, chars, gaps


def print_cycles(gaps, settings):
    """The client's own account of a tool call's hooks, from its debug log."""
    print("\nFrom the client's debug log (every call of every round; medians, ms; the log's own cost included):\n")
    print("| setting | calls | before the tool | after the tool | overhead per tool call ms |")
    print("|---|---|---|---|---|")
    base = {gap: statistics.median(ms) for gap, ms in gaps["none"].items()}
    for s in settings:
        median = {gap: statistics.median(ms) for gap, ms in gaps[s].items()}
        extra = sum(median.values()) - sum(base.values())
        print(f"| {s} | {len(gaps[s]['before'])} | {median['before']:.0f} | {median['after']:.0f} | {extra:.0f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--pyz", default=os.path.join(ROOT, "dist", "agent-sync.pyz"))
    parser.add_argument("--team-rtt", help="team mode through proxies with these round trips (ms, comma-separated)")
    parser.add_argument(
        "--floor", action="store_true", help="also the floor settings (floor-mcp, floor-mcp+sh, floor-sh)"
    )
    parser.add_argument("--cycles", action="store_true", help="also each call's hooks from the client's debug log")
    args = parser.parse_args()
    claude = npm_client("@anthropic-ai/claude-code", CLAUDE_VERSIONS[0], "claude")
    base = tempfile.mkdtemp(prefix="agent-sync-in-client-")
    home = os.path.join(base, "home")
    os.makedirs(home)
    with open(os.path.join(home, ".claude.json"), "w") as f:
        json.dump({"hasCompletedOnboarding": True, "bypassPermissionsModeAccepted": True}, f)
    rtts = [float(x) for x in args.team_rtt.split(",")] if args.team_rtt else []
    urls, stop = team_server(rtts) if rtts else ({}, lambda: None)
    settings = ("none", *(f"resident@{r:g}" for r in rtts), f"command@{rtts[-1]:g}") if rtts else SETTINGS
    settings += FLOOR_SETTINGS if args.floor else ()
    try:
        repos = {
            s: make_repo(base, s, args.pyz, s, urls.get(float(s.split("@")[1])) if "@" in s else None) for s in settings
        }
        seconds, chars, gaps = measure(claude, home, repos, settings, args)
    finally:
        stop()
    tool = "Write (a new file)" if rtts else "Bash"
    where = ", team mode (ms of RTT after @)" if rtts else ""
    print(
        f"\nClaude Code {CLAUDE_VERSIONS[0]}, print mode, {args.calls} {tool} tool calls a session{where}, "
        f"{args.rounds} interleaved rounds (medians):\n"
    )
    print(
        f"| setting | session of {args.calls} calls, s | overhead per tool call ms | tools and system prompt in each request (chars) |"
    )
    print("|---|---|---|---|")
    slope = {s: [seconds[s, 2][r] - seconds[s, 1][r] for r in range(args.rounds)] for s in settings}
    for s in settings:
        per_call = [(slope[s][r] - slope["none"][r]) / args.calls * 1000 for r in range(args.rounds)]
        print(f"| {s} | {statistics.median(seconds[s, 1]):.2f} | {statistics.median(per_call):.1f} | {chars[s]:,} |")
    if len(rtts) > 1:
        lo, hi = (f"resident@{r:g}" for r in (rtts[0], rtts[-1]))
        cost = {
            s: statistics.median((slope[s][r] - slope["none"][r]) / args.calls * 1000 for r in range(args.rounds))
            for s in (lo, hi)
        }
        bound = 2 * (rtts[-1] - rtts[0]) + cost[lo]
        verdict = "met" if cost[hi] <= bound else "MISSED"
        print(
            f"\nAn edit at {rtts[-1]:g} ms RTT: {cost[hi]:.1f} ms, target 2 RTT + its cost at {rtts[0]:g} ms = {bound:.1f} ms: {verdict}."
        )
    if args.cycles:
        print_cycles(gaps, settings)
    added = chars[settings[1]] - chars["none"]
    print(f"\nThe MCP server adds {added:,} characters (about {added // 4:,} tokens) to every model request.")


if __name__ == "__main__":
    main()
