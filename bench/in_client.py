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

    python3 bench/in_client.py [--calls 20] [--rounds 7] [--pyz dist/agent-sync.pyz] [--team-rtt 0,50]"""

import argparse
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
    if setting == "mcp-only":
        path = os.path.join(repo, ".claude", "settings.json")
        with open(path) as f:
            settings = json.load(f)
        for event in ("PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop"):
            for group in settings["hooks"][event]:
                group["hooks"] = [h for h in group["hooks"] if h["type"] != "command" or h.get("asyncRewake")]
        with open(path, "w") as f:
            json.dump(settings, f)
    return repo


def run_claude(claude, repo, home, server):
    """Seconds one print-mode session takes."""
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
    start = time.perf_counter()
    r = subprocess.run(
        [claude, "-p", "go", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"],
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


def measure(claude, home, repos, settings, args):
    """({(setting, 1 or 2): [seconds of a session of N or 2N calls]}, {setting: chars})."""
    seconds = {(s, n): [] for s in settings for n in (1, 2)}
    chars = {}
    for i in range(args.rounds + 1):  # the first round warms caches and is not counted
        k = i % len(settings)
        order = [(s, n) for s in settings[k:] + settings[:k] for n in (1, 2)]
        for setting, n in order:
            calls = script(repos[setting], args.calls * n, bool(args.team_rtt))
            with ModelServer(script=calls + [{"text": "done"}]) as server:
                server.httpd.RequestHandlerClass.disable_nagle_algorithm = True
                took = run_claude(claude, repos[setting], home, server)
                chars[setting] = tools_chars(server)
            if i:
                seconds[setting, n].append(took)
    return seconds, chars


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--pyz", default=os.path.join(ROOT, "dist", "agent-sync.pyz"))
    parser.add_argument("--team-rtt", help="team mode through proxies with these round trips (ms, comma-separated)")
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
    try:
        repos = {
            s: make_repo(base, s, args.pyz, s, urls.get(float(s.split("@")[1])) if "@" in s else None) for s in settings
        }
        seconds, chars = measure(claude, home, repos, settings, args)
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
    added = chars[settings[1]] - chars["none"]
    print(f"\nThe MCP server adds {added:,} characters (about {added // 4:,} tokens) to every model request.")


if __name__ == "__main__":
    main()
