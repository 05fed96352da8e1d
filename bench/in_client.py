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

    python3 bench/in_client.py [--calls 20] [--rounds 7] [--pyz dist/agent-sync.pyz]"""

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


def make_repo(base, name, pyz, setting):
    """A committed scratch repository set up as `setting` says."""
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--pyz", default=os.path.join(ROOT, "dist", "agent-sync.pyz"))
    args = parser.parse_args()
    claude = npm_client("@anthropic-ai/claude-code", CLAUDE_VERSIONS[0], "claude")
    base = tempfile.mkdtemp(prefix="agent-sync-in-client-")
    home = os.path.join(base, "home")
    os.makedirs(home)
    with open(os.path.join(home, ".claude.json"), "w") as f:
        json.dump({"hasCompletedOnboarding": True, "bypassPermissionsModeAccepted": True}, f)
    repos = {s: make_repo(base, s, args.pyz, s) for s in SETTINGS}
    call = {"tool": "Bash", "input": {"command": "true", "description": "nothing"}}
    seconds = {(s, n): [] for s in SETTINGS for n in (1, 2)}
    chars = {}
    for i in range(args.rounds + 1):  # the first round warms caches and is not counted
        k = i % len(SETTINGS)
        order = [(s, n) for s in SETTINGS[k:] + SETTINGS[:k] for n in (1, 2)]
        for setting, n in order:
            with ModelServer(script=[call] * (args.calls * n) + [{"text": "done"}]) as server:
                server.httpd.RequestHandlerClass.disable_nagle_algorithm = True
                took = run_claude(claude, repos[setting], home, server)
                chars[setting] = tools_chars(server)
            if i:
                seconds[setting, n].append(took)
    print(
        f"\nClaude Code {CLAUDE_VERSIONS[0]}, print mode, {args.calls} Bash tool calls a session, "
        f"{args.rounds} interleaved rounds (medians):\n"
    )
    print(
        f"| setting | session of {args.calls} calls, s | overhead per tool call ms | tools and system prompt in each request (chars) |"
    )
    print("|---|---|---|---|")
    slope = {s: [seconds[s, 2][r] - seconds[s, 1][r] for r in range(args.rounds)] for s in SETTINGS}
    for s in SETTINGS:
        per_call = [(slope[s][r] - slope["none"][r]) / args.calls * 1000 for r in range(args.rounds)]
        print(f"| {s} | {statistics.median(seconds[s, 1]):.2f} | {statistics.median(per_call):.1f} | {chars[s]:,} |")
    added = chars["resident"] - chars["none"]
    print(f"\nThe MCP server adds {added:,} characters (about {added // 4:,} tokens) to every model request.")


if __name__ == "__main__":
    main()
