#!/usr/bin/env python3
"""Which SQL statements agent-sync issues on PostgreSQL, from the log of a
server started by tests/pgserver.py with log_statements (standard library only).

The default test run puts every contract test on SQLite and only a slice of
them (tests/pg_slice.txt) on PostgreSQL too; `--engines rest` runs the
PostgreSQL half outside the slice.  This script measures that the slice loses
no statement: every distinct statement the full PostgreSQL matrix issues is
issued by the default run.

Statements are agent-sync's own (application_name "agent-sync"; the tests'
pg8000 connections are not counted), normalised: whitespace collapsed, each
project's schema "agent_sync_<16 hex>" one name, `SET LOCAL lock_timeout = N`
one statement whatever N, and a run of parameters ($3, $4, $5) one `$?`, so a
statement with an IN list of any length is one statement.

    python3 tests/pg_statements.py size LOG
        the log's size in bytes now: a mark between two runs (CI)
    python3 tests/pg_statements.py list LOG [FROM[:TO]]
        the distinct statements logged between two marks, with their counts
    python3 tests/pg_statements.py check LOG DEFAULT_FROM REST_FROM REST_TO
        fails unless every statement of the `rest` run ([REST_FROM, REST_TO))
        was issued by the default run ([DEFAULT_FROM, REST_FROM)), and unless
        every node id in tests/pg_slice.txt is a test; prints the numbers
    python3 tests/pg_statements.py choose [--write] [--reuse FOLDER] [PYTEST ARGS...]
        runs the whole PostgreSQL half (--engines postgresql, one process) on a
        logging server of its own, charges each statement to the test running
        when it was logged, and picks a slice that covers them all (greedy set
        cover, cheapest tests first, then pruned) beside the PINNED tests;
        --write saves it to tests/pg_slice.txt; --reuse picks again from the
        log and timeline an earlier choose left in FOLDER (tests since gone
        or marked slow left out)
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from calendar import timegm
from pathlib import Path

HERE = Path(__file__).resolve().parent
SLICE = HERE / "pg_slice.txt"
#: in the slice whatever the statements: concurrency on PostgreSQL (the writers' turn on the `meta` row
#: under 50 racing processes), which a count of distinct statements cannot see
PINNED = ("tests/test_cli.py::test_fifty_processes_race_for_one_lock[postgresql]",)
APP = "agent-sync"

RECORD = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(\.\d+)? \w+ \[(\d+)\] app=(\S*) (\w+):  (.*)$")
STATEMENT = re.compile(r"^(?:statement|execute [^:]*): (.*)$", re.S)
NORMALISE = (
    (re.compile(r"\s+"), " "),
    (re.compile(r"agent_sync_[0-9a-f]{16}"), "agent_sync_<project>"),
    (re.compile(r"lock_timeout = \d+"), "lock_timeout = <ms>"),
    (re.compile(r"\$\d+(?:\s*,\s*\$\d+)*"), "$?"),
)


def normalise(sql):
    for pattern, replacement in NORMALISE:
        sql = pattern.sub(replacement, sql)
    return sql.strip()


def records(log, start=0, end=None):
    """(time, pid, app, level, text) for each log record in bytes [start, end)."""
    with open(log, "rb") as f:
        f.seek(start)
        data = f.read(None if end is None else end - start)
    current = None
    for line in data.decode("utf-8", "replace").split("\n"):
        m = RECORD.match(line)
        if m:
            if current:
                yield current
            stamp = timegm(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + float(m.group(2) or 0)
            current = [stamp, int(m.group(3)), m.group(4), m.group(5), m.group(6)]
        elif current and line.startswith("\t"):
            current[4] += "\n" + line[1:]
    if current:
        yield current


def statements(log, start=0, end=None):
    """(time, normalised statement) for each statement agent-sync ran."""
    for stamp, _pid, app, level, text in records(log, start, end):
        if app == APP and level == "LOG":
            m = STATEMENT.match(text)
            if m:
                yield stamp, normalise(m.group(1))


def distinct(log, start=0, end=None):
    counts = {}
    for _, sql in statements(log, start, end):
        counts[sql] = counts.get(sql, 0) + 1
    return counts


def read_slice():
    return sorted(line.strip() for line in SLICE.read_text().splitlines() if line.strip() and not line.startswith("#"))


def collect(*args):
    """The node ids pytest collects with `args` (in tests/'s parent folder)."""
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        sys.exit("pytest --collect-only failed:\n" + r.stdout[-2000:] + r.stderr[-2000:])
    return {line for line in r.stdout.splitlines() if "::" in line and not line.startswith(" ")}


def check(log, default_from, rest_from, rest_to):
    default = distinct(log, default_from, rest_from)
    rest = distinct(log, rest_from, rest_to)
    full = set(default) | set(rest)
    missing = sorted(set(rest) - set(default))
    print(
        f"PostgreSQL statements (distinct, normalised): full matrix {len(full)}, "
        f"default run {len(default)} ({100 * len(default) / max(1, len(full)):.1f}%), "
        f"the `rest` run {len(rest)}; missing from the default run: {len(missing)}"
    )
    stale = sorted(set(read_slice()) - collect("--engines", "both", "-m", "not slow and not e2e", "tests"))
    for sql in missing:
        print(f"  missing: {sql[:300]}")
    for nodeid in stale:
        print(f"  tests/pg_slice.txt names no test: {nodeid}")
    if not default:
        print("  the default run logged no statement: is the server logging (pgserver --log-statements)?")
    return 1 if missing or stale or not default else 0


def choose(write, args, reuse=None):
    sys.path.insert(0, str(HERE))
    import pgserver

    folder = reuse or tempfile.mkdtemp(prefix="agent-sync-pgstmt-")
    timeline = os.path.join(folder, "timeline.tsv")
    if reuse:
        info = pgserver.load(folder)
    else:
        info = pgserver.start(folder, log_statements=True)
        try:
            env = {**os.environ, "AGENT_SYNC_TEST_DATABASE_URL": info["url"], "AGENT_SYNC_TEST_TIMELINE": timeline}
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--engines", "postgresql"]
            cmd += ["-p", "no:xdist"] + (args or ["tests"])
            print("running:", " ".join(cmd[1:]), flush=True)
            subprocess.run(cmd, cwd=HERE.parent, env=env, check=True)
        finally:
            pgserver.stop(info)
        print(f"the log and the timeline are in {folder} (choose --reuse {folder} picks again from them)")
    spans = sorted(
        (float(a), float(b), nodeid)
        for a, b, nodeid in (line.split("\t") for line in open(timeline).read().splitlines())
    )
    per_test = {nodeid: set() for _, _, nodeid in spans}
    duration = {nodeid: b - a for a, b, nodeid in spans}
    everything, outside = set(), set()
    i = 0
    for stamp, sql in statements(info["log"]):
        everything.add(sql)
        while i < len(spans) and spans[i][1] < stamp:
            i += 1
        if i < len(spans) and spans[i][0] <= stamp:
            per_test[spans[i][2]].add(sql)
        else:
            outside.add(sql)
    # tests that are no longer in the default selection (renamed, or marked slow since) charge nothing
    current = collect("--engines", "postgresql", *(args or ["tests"]))
    for nodeid in set(per_test) - current:
        del per_test[nodeid]
    everything = set().union(outside, *per_test.values())
    # the tests that use PostgreSQL in the default run whatever the slice (no `engine` parameter)
    always = {n for n in per_test if not re.search(r"[\[-]postgresql[\]-]", n)}
    chosen = [n for n in PINNED if n in per_test]
    covered = set().union(*(per_test[n] for n in always), *(per_test[n] for n in chosen))
    while True:
        gain = {n: len(per_test[n] - covered) for n in per_test if n not in always and n not in chosen}
        best = max((n for n in gain if gain[n]), key=lambda n: gain[n] / max(duration[n], 0.05), default=None)
        if best is None:
            break
        chosen.append(best)
        covered |= per_test[best]
    for n in sorted(set(chosen) - set(PINNED), key=lambda n: -duration[n]):  # prune: drop a test the others cover
        rest = set().union(*(per_test[m] for m in always), *(per_test[m] for m in chosen if m != n))
        if per_test[n] <= rest:
            chosen.remove(n)
    print(
        f"{len(everything)} distinct statements from {len(per_test)} tests ({len(always)} always on PostgreSQL); "
        f"the slice: {len(chosen)} tests, {sum(duration[n] for n in chosen):.0f} s of "
        f"{sum(duration[n] for n in per_test if n not in always):.0f} s; "
        f"uncovered: {len(everything - covered)} ({len(outside)} logged between tests)"
    )
    for sql in sorted(everything - covered):
        print(f"  uncovered: {sql[:300]}")
    if write:
        head = "# The tests that also run on PostgreSQL in the default run (tests/pg_statements.py choose --write).\n"
        SLICE.write_text(head + "".join(n + "\n" for n in sorted(chosen)))
        print(f"wrote {SLICE}")
    return 1 if everything - covered else 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "size" and len(argv) == 3:
        print(os.path.getsize(argv[2]))
        return 0
    if len(argv) in (3, 4) and argv[1] == "list":
        start, _, end = (argv[3] if len(argv) == 4 else "0").partition(":")
        for sql, n in sorted(distinct(argv[2], int(start), int(end) if end else None).items()):
            print(f"{n:6d}  {sql}")
        return 0
    if len(argv) == 6 and argv[1] == "check":
        return check(argv[2], *map(int, argv[3:]))
    if len(argv) >= 2 and argv[1] == "choose":
        args, reuse = argv[2:], None
        if "--reuse" in args:
            i = args.index("--reuse")
            reuse, args = args[i + 1], args[:i] + args[i + 2 :]
        return choose("--write" in args, [a for a in args if a != "--write"], reuse)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
