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


def measure(pyz, url, rtts, runs):
    """Every hook at every round trip time, interleaved: (round trips counted
    at the largest, {(hook, rtt): [ms]}, whether the deny denied)."""
    base = tempfile.mkdtemp(prefix="agent-sync-rtt-")
    setups = {}
    try:
        setups = {rtt: Setup(pyz, url, rtt, base) for rtt in rtts}
        for s in setups.values():
            s.prepare()
        names = list(next(iter(setups.values())).scenarios())
        counted = {n: setups[rtts[-1]].round_trips(*setups[rtts[-1]].scenarios()[n]) for n in names}
        samples = {(n, r): [] for n in names for r in rtts}
        for i in range(runs):
            for r in rtts[i % len(rtts) :] + rtts[: i % len(rtts)]:
                plans = setups[r].scenarios()
                for n in names:
                    samples[n, r].append(setups[r].run(*plans[n])[0])
    finally:
        for s in setups.values():
            s.proxy.__exit__(None, None, None)
    return {n: c[0] for n, c in counted.items()}, samples, '"deny"' in counted["pre-tool-use Edit (deny)"][1]


#: the protocol's minimum for a hook on a new connection with a password: TCP connect,
#: startup, the two SCRAM legs, and one round trip for all of the hook's statements
TARGET_ROUND_TRIPS = 5


def table(counted, samples, rtts, runs, denied):
    """The markdown table of medians, and a line per hook on the target at the
    largest RTT: at most TARGET_ROUND_TRIPS round trips plus its time at 0 ms."""
    lines = [
        f"Team-mode hooks through a delaying proxy, medians of {runs} interleaved runs (ms); "
        f"round trips counted at {rtts[-1]} ms (connect + startup + 2 SCRAM legs = 4, then the hook's own); "
        f"the deny denied: {denied}.",
        "",
        "| hook | round trips | " + " | ".join(f"{r} ms RTT" for r in rtts) + " |",
        "|---|---|" + "---|" * len(rtts),
    ]
    med = {k: statistics.median(v) for k, v in samples.items()}
    for n in counted:
        lines.append(f"| {n} | {counted[n]} | " + " | ".join(f"{med[n, r]:.0f}" for r in rtts) + " |")
    if len(rtts) > 1:
        lo, hi = rtts[0], rtts[-1]
        lines.append("")
        for n in counted:
            bound = TARGET_ROUND_TRIPS * (hi - lo) + med[n, lo]
            ok = counted[n] <= TARGET_ROUND_TRIPS and med[n, hi] <= bound
            lines.append(
                f"{n}: {med[n, hi]:.0f} ms at {hi} ms RTT, {counted[n]} round trips; "
                f"target {TARGET_ROUND_TRIPS} x {hi - lo} + {med[n, lo]:.0f} = {bound:.0f} ms: {'met' if ok else 'MISSED'}"
            )
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rtt", default="0,1,20,50,100", help="round trip times in ms, comma-separated")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--pyz", default=os.path.join(ROOT, "dist", "agent-sync.pyz"))
    args = parser.parse_args()
    rtts = [int(x) for x in args.rtt.split(",")]
    url, stop = server()
    try:
        counted, samples, denied = measure(args.pyz, url, rtts, args.runs)
    finally:
        stop()
    print("\n" + "\n".join(table(counted, samples, rtts, args.runs, denied)))


if __name__ == "__main__":
    main()
