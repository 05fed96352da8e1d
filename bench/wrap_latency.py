"""What `agent-sync wrap` adds to typing: a key's round trip through a client
with and without the wrapper, in one run, interleaved.

A pseudo-terminal stands in for the user's terminal; the client is `cat` in
raw mode (`stty raw -echo; exec cat`), so a key comes back exactly once, from
the client itself.  Each sample writes one byte to the terminal and times
until it is read back; the wrapper's relay sits between the two when
wrapped.  Prints the medians and the 95th percentiles in microseconds.

    python3 bench/wrap_latency.py [--keys 300] [--pyz dist/agent-sync.pyz]"""

import argparse
import os
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT = ["sh", "-c", "stty raw -echo; exec cat"]


def start(argv, cwd):
    """(process, the terminal's master fd) of `argv` on a new pseudo-terminal."""
    master, slave = pty.openpty()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": cwd, "AGENT_SYNC_ID": "bench-wrap"}
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, start_new_session=True)
    os.close(slave)
    subprocess.run(["stty", "raw", "-echo"], stdin=master, check=False)  # the user's terminal: raw, as a shell's is
    return proc, master


def key_round_trip(master):
    """Seconds from writing one byte to the terminal until it comes back."""
    start = time.perf_counter()
    os.write(master, b"x")
    while True:
        if select.select([master], [], [], 2)[0] and b"x" in os.read(master, 1024):
            return time.perf_counter() - start
        if time.perf_counter() - start > 2:
            raise SystemExit("no echo within 2 s")


def settle(master):
    """Wait for the client to be ready (its first key comes back), draining what it printed."""
    for _ in range(50):
        try:
            key_round_trip(master)
            return
        except SystemExit:
            continue


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--pyz", default=os.path.join(ROOT, "dist", "agent-sync.pyz"))
    args = parser.parse_args()
    repo = tempfile.mkdtemp(prefix="agent-sync-wrap-bench-")
    subprocess.run(["git", "init", "-q", repo], check=True)
    subprocess.run([sys.executable, args.pyz, "init"], cwd=repo, capture_output=True, check=True)
    setups = {
        "client alone": start(CLIENT, repo),
        "client under wrap": start([sys.executable, args.pyz, "wrap", "--", *CLIENT], repo),
    }
    time.sleep(1.5)
    for _, master in setups.values():
        settle(master)
    samples = {name: [] for name in setups}
    try:
        for _ in range(args.keys):
            for name, (_, master) in setups.items():
                samples[name].append(key_round_trip(master) * 1e6)
                time.sleep(0.002)
    finally:
        for proc, master in setups.values():
            proc.kill()
            os.close(master)
    print(f"\nA key's round trip through the client, {args.keys} keys each, interleaved (microseconds):\n")
    print("| setup | median | p95 |")
    print("|---|---|---|")
    for name, values in samples.items():
        p95 = sorted(values)[int(len(values) * 0.95)]
        print(f"| {name} | {statistics.median(values):.0f} | {p95:.0f} |")
    added = statistics.median(samples["client under wrap"]) - statistics.median(samples["client alone"])
    print(f"\nwrap adds {added:.0f} us to a key (median), the wake watcher running beside it.")


if __name__ == "__main__":
    main()
