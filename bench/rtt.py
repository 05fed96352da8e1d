"""What a hook costs in team mode at a given network round trip time.

Each hook runs as the client runs it (the built zipapp, a fresh process,
`-I -S`) against a real PostgreSQL server reached through tests/netproxy.py,
a TCP proxy on 127.0.0.1 that delays every chunk by half the round trip
each way and counts round trips (TCP connect + client bursts the client
waited for).  Round trip times are measured in one run, interleaved: every
round runs every hook once at every delay.  Prints a markdown table of
medians (ms) and the round trips of each hook.

    python3 bench/rtt.py [--rtt 0,1,20,50,100] [--runs 7] [--pyz dist/agent-sync.pyz]

The server is AGENT_SYNC_TEST_DATABASE_URL (on 127.0.0.1), else a throw-away
one from tests/pgserver.py.  `sslmode=disable` is added to the URL: the
handshake is then TCP connect, startup and the two SCRAM legs (4 round
trips), and the target of a hook is that plus one."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import netproxy  # noqa: E402
import pgserver  # noqa: E402

PY = sys.executable


def server():
    """(url, stop) of the PostgreSQL server to measure against."""
    url = os.environ.get("AGENT_SYNC_TEST_DATABASE_URL")
    if url:
        return url, lambda: None
    info = pgserver.start(tempfile.mkdtemp(prefix="agent-sync-rtt-"))
    return info["url"], lambda: pgserver.stop(info)


class Setup:
    """One repository and team project, reached through a proxy with `delay`."""

    def __init__(self, pyz, url, rtt_ms, base):
        self.pyz, self.proxy = pyz, netproxy.Proxy(urlsplit(url).port, delay=rtt_ms / 2000).__enter__()
        self.repo = os.path.join(base, f"repo-{rtt_ms}")
        subprocess.run(["git", "init", "-q", self.repo], check=True)
        os.makedirs(os.path.join(self.repo, "src"))
        for name in ("a.py", "b.py"):
            with open(os.path.join(self.repo, "src", name), "w") as f:
                f.write("x = 1\n")
        proxied = self.proxy.url(url)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": base,
            "AGENT_SYNC_DATABASE_URL": proxied + ("&" if "?" in proxied else "?") + "sslmode=disable",
            "AGENT_SYNC_PROJECT": f"bench-rtt-{os.getpid()}-{rtt_ms}",
        }

    def run(self, args, agent, payload=None):
        env = {**self.env, "AGENT_SYNC_ID": agent}
        start = time.perf_counter()
        r = subprocess.run(
            [PY, "-I", "-S", self.pyz, *args],
            cwd=self.repo,
            env=env,
            input=json.dumps(payload).encode() if payload is not None else None,
            capture_output=True,
        )
        if r.returncode != 0:
            raise SystemExit(f"{args}: {r.stderr.decode()[-300:]}")
        return (time.perf_counter() - start) * 1000, r.stdout.decode()

    def scenarios(self):
        """{name: (argv, agent, payload)}; alice holds src/a.py (her automatic lock), bob is denied it."""
        base = {"cwd": self.repo}
        edit = lambda session: {  # noqa: E731
            **base,
            "session_id": session,
            "hook_event_name": "PreToolUse",
            "tool_name": "Edit",
            "tool_input": {"file_path": os.path.join(self.repo, "src", "a.py"), "old_string": "x", "new_string": "y"},
        }
        post = {**edit("alice-1"), "hook_event_name": "PostToolUse", "tool_response": {"success": True}}
        return {
            "session-start": (
                ["hook", "session-start"],
                "alice",
                {**base, "session_id": "alice-1", "source": "startup"},
            ),
            "user-prompt-submit": (
                ["hook", "user-prompt-submit"],
                "alice",
                {**base, "session_id": "alice-1", "prompt": "go"},
            ),
            "pre-tool-use Edit (allow)": (["hook", "pre-tool-use"], "alice", edit("alice-1")),
            "pre-tool-use Edit (deny)": (["hook", "pre-tool-use"], "bob", edit("bob-1")),
            "post-tool-use after an Edit": (["hook", "post-tool-use"], "alice", post),
            "stop": (["hook", "stop"], "alice", {**base, "session_id": "alice-1", "stop_hook_active": False}),
        }

    def prepare(self):
        for args, agent, payload in self.scenarios().values():
            if agent == "alice":
                self.run(args, agent, payload)  # the schema made, alice registered and holding src/a.py
        self.run(["hook", "session-start"], "bob", {"cwd": self.repo, "session_id": "bob-1", "source": "startup"})

    def round_trips(self, args, agent, payload):
        self.proxy.settle(5)
        self.proxy.reset()
        _, out = self.run(args, agent, payload)
        self.proxy.settle(5)
        return self.proxy.round_trips(), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rtt", default="0,1,20,50,100", help="round trip times in ms, comma-separated")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pyz", default=os.path.join(ROOT, "dist", "agent-sync.pyz"))
    args = parser.parse_args()
    rtts = [int(x) for x in args.rtt.split(",")]
    url, stop = server()
    base = tempfile.mkdtemp(prefix="agent-sync-rtt-")
    try:
        setups = {rtt: Setup(args.pyz, url, rtt, base) for rtt in rtts}
        for s in setups.values():
            s.prepare()
        names = list(next(iter(setups.values())).scenarios())
        counted = {n: setups[rtts[-1]].round_trips(*setups[rtts[-1]].scenarios()[n]) for n in names}
        denied = '"deny"' in counted["pre-tool-use Edit (deny)"][1]
        samples = {(n, r): [] for n in names for r in rtts}
        for i in range(args.runs):
            for r in rtts[i % len(rtts) :] + rtts[: i % len(rtts)]:
                plans = setups[r].scenarios()
                for n in names:
                    samples[n, r].append(setups[r].run(*plans[n])[0])
    finally:
        for s in locals().get("setups", {}).values():
            s.proxy.__exit__(None, None, None)
        stop()
    print(
        f"\nTeam-mode hooks through a delaying proxy, medians of {args.runs} interleaved runs (ms); "
        f"round trips counted at {rtts[-1]} ms (connect + startup + 2 SCRAM legs = 4, then the hook's own); "
        f"the deny denied: {denied}.\n"
    )
    print("| hook | round trips | " + " | ".join(f"{r} ms RTT" for r in rtts) + " |")
    print("|---|---|" + "---|" * len(rtts))
    for n in names:
        cells = " | ".join(f"{statistics.median(samples[n, r]):.0f}" for r in rtts)
        print(f"| {n} | {counted[n][0]} | {cells} |")


if __name__ == "__main__":
    main()
