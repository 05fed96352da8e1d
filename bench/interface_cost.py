#!/usr/bin/env python3
"""What interface drift costs the edit hooks, against the issue's targets.

    python3 bench/interface_cost.py [--pyz dist/agent-sync.pyz] [--compare OLD.pyz]
                                    [--runs N] [--json OUT]

The scene, one scratch git repository per zipapp (the older one has an older
schema, so each keeps its own state): src/auth.py, a ~300-line Python module
with `def login(user):` among 30 other functions, and 200 files in 5 folders
(pkg1..pkg5, 40 each); every tenth file of a folder (the last of each ten)
calls `login`, the rest do not mention it.  Agents agent1..agent5 each hold
their folder's 40 files through one `agent-sync lock` call (AGENT_SYNC_ID
set), so they are live agents with 40 working files each, 200 in all.  The
editing agent is `editor`.

Each measurement is one edit tool call's hooks, pre-tool-use then
post-tool-use, launched as the zipapp's own hooks.json launches them
(`python3 -I -S -c LAUNCHER PYZ hook EVENT`: the flags read from the
zipapp's hooks.json, bench/bench.py's Tool), with payloads as the client sends them (tool_use_id included); the
file is written between the two, untimed.  A pair's time is the sum of the
two hook runs.  In every round these run once each, in an order rotated from
round to round:

  new body   Edit of a body line of src/auth.py (`limit = 100` <-> `101`), new zipapp
  old body   the same with --compare's zipapp (if given)
  new sig    Edit of `def login(user):` <-> `def login(user, otp):` (alternating,
             so every run is a signature change), new zipapp: the post-tool-use
             compares definitions, reads the other agents' working files and
             writes a notice to each agent whose files use `login`
  floor      python -I -S -c pass

Differences are medians of per-round differences (each sample against the
other one of its own round), quartiles in brackets; the difference of the
medians is shown beside.  Targets (from the issue):
  (1) body-only edit pair, new - old <= 0.2 ms (median of per-round differences)
  (2) signature change with 5 live agents and 200 working files <= 20 ms more
      than a body-only edit pair of the same zipapp in the same rounds
An in-process timing of the check a body-only edit pays (language_of and
touches_definition on the Edit's strings) is printed as well, its first call
in a fresh interpreter (what a hook pays: lazy imports such as `re` and the
pattern's compilation included) and once warm: a subprocess's noise is
larger than 0.2 ms, those numbers are not.
After the rounds, `agent-sync interfaces --json` (new zipapp) must list the
change of `login` with the agents told; their count is printed (5 expected).

The older zipapp (commit 2c570fe, before the feature), built without
touching the checkout:

    rm -rf /tmp/old-as && mkdir -p /tmp/old-as/build
    git -C /work/main archive 2c570fe | tar -x -C /tmp/old-as
    cp -r /work/main/build/vendor-cache /tmp/old-as/build/   # optional: no pip download
    (cd /tmp/old-as && python3 build.py -o /tmp/old-as/dist/agent-sync.pyz)
    python3 bench/interface_cost.py --compare /tmp/old-as/dist/agent-sync.pyz

(`git worktree add /tmp/old-as 2c570fe` then the same build works too.)
It reports; it never fails because something is slow.
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def load_bench():
    """bench/bench.py as a module: its hook launching (Tool,
    clean_env, timed_cmd), floors and quartiles."""
    spec = importlib.util.spec_from_file_location("agent_sync_bench", os.path.join(HERE, "bench.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


B = load_bench()

AGENTS = [f"agent{i}" for i in range(1, 6)]
FILES_PER_AGENT = 40
USE_EVERY = 10  #: one file in USE_EVERY calls login (the last of each block)
EDITOR = "editor"
AUTH = "src/auth.py"
BODY = ("    limit = 100  # page size\n", "    limit = 101  # page size\n")
SIG = ("def login(user):", "def login(user, otp):")
TARGET_BODY_MS, TARGET_SIG_MS = 0.2, 20.0


# ---------------------------------------------------------------- the scene


def auth_module():
    """~300 lines: login among 30 other functions; BODY[0] is a body line far from any header."""
    parts = ['"""Authentication helpers (benchmark fixture)."""\n', "import hashlib\nimport time\n\n\n"]
    parts.append(
        "def login(user):\n"
        '    """Log a user in."""\n'
        "    if not user:\n"
        "        return None\n"
        "    token = hashlib.sha256(str(user).encode()).hexdigest()\n"
        "    stamp = time.time()\n"
        "    return {'user': user, 'token': token, 'at': stamp}\n\n\n"
    )
    for i in range(28):
        parts.append(
            f"def helper_{i}(value, scale={i}):\n"
            f'    """Helper number {i}."""\n'
            f"    total = 0\n"
            f"    for step in range(scale):\n"
            f"        total += step * value\n"
            f"    if total > {i * 100}:\n"
            f"        total -= {i}\n"
            f"    return total\n\n\n"
        )
    parts.append(
        "def audit_trail(events):\n"
        '    """The last events, newest first."""\n'
        "    ordered = sorted(events, key=lambda e: e['at'], reverse=True)\n"
        "    seen = set()\n"
        "    kept = []\n"
        "    for event in ordered:\n"
        "        if event['id'] in seen:\n"
        "            continue\n"
        "        seen.add(event['id'])\n"
        "        kept.append(event)\n"
        "    # trim to one page\n" + BODY[0] + "    return kept[:limit]\n\n\n"
        "def logout(session):\n"
        "    session.clear()\n"
        "    return True\n"
    )
    return "".join(parts)


def user_file(agent, i, uses):
    head = "from auth import login\n\n\n" if uses else "import os\n\n\n"
    body = "".join(
        f"def step_{k}(value):\n    result = value * {k} + {i}\n    return os.fspath(str(result)) if {k} else result\n\n\n"
        if not uses
        else f"def step_{k}(value):\n    result = value * {k} + {i}\n    return str(result)\n\n\n"
        for k in range(8)
    )
    tail = "def handle(user):\n    session = login(user)\n    return session\n" if uses else ""
    return f'"""{agent} module {i}."""\n' + head + body + tail


def write(repo, rel, text):
    path = os.path.join(repo, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def build_scene(base, name, pyz):
    """A scratch repository for one zipapp: files committed, `init`, the five
    agents' locks.  Returns (Tool, repo)."""
    repo = os.path.join(base, name)
    subprocess.run(["git", "init", "-q", repo], check=True)
    write(repo, AUTH, auth_module())
    held = {}
    for n, agent in enumerate(AGENTS, 1):
        held[agent] = []
        for i in range(FILES_PER_AGENT):
            rel = f"pkg{n}/mod_{i:02d}.py"
            write(repo, rel, user_file(agent, i, i % USE_EVERY == USE_EVERY - 1))
            held[agent].append(rel)
    git = ["git", "-C", repo, "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "scene"], check=True)
    tool = B.Tool(pyz, repo, hook_flags(pyz))
    must(tool.run(["init"]), f"{name}: init")
    for agent in AGENTS:
        must(tool.run(["lock", *held[agent], "--reason", "bench"], agent=agent), f"{name}: lock by {agent}")
    return tool, repo


def hook_flags(pyz):
    """What the zipapp's own hooks.json puts between the interpreter and the
    zipapp's path.  bench.py's hook_flags takes every word after the resident
    server's stand-down test, which since the recorded-interpreter prefix
    (`p=python3; { read -r p < ...; } || p=python3; "$p" ...`) includes that
    shell code too; here the words are taken back from the zipapp's path: the
    launcher, `-c` and the flags before it."""
    import shlex
    import zipfile

    try:
        with zipfile.ZipFile(pyz) as z:
            command = json.loads(z.read("hooks.json"))["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
        words = shlex.split(command.split("&& exit 0; ", 1)[-1])
        end = next(i for i, w in enumerate(words) if w.endswith("agent-sync.pyz"))
        start = end - 1 if end >= 2 and words[end - 2] == "-c" else end
        start = start - 1 if start < end else start
        while start > 0 and words[start - 1].startswith("-"):
            start -= 1
        return words[start:end]
    except (OSError, ValueError, KeyError, StopIteration, zipfile.BadZipFile):
        return ["-I", "-S"]


def must(r, what):
    if r.returncode:
        err = r.stderr.decode(errors="replace").strip()[-500:]
        sys.exit(f"interface_cost: {what} exited {r.returncode}: {err}")
    return r


# ------------------------------------------------------------ one edit call


class Editor:
    """One kind of edit in one repository: `pair()` runs pre-tool-use, applies
    the edit, runs post-tool-use, and flips the direction for the next call."""

    def __init__(self, tool, repo, strings, label):
        self.tool, self.repo, self.strings, self.label = tool, repo, strings, label
        self.forward, self.calls = True, 0

    def payloads(self):
        old, new = self.strings if self.forward else self.strings[::-1]
        self.calls += 1
        base = {
            "session_id": EDITOR,
            "cwd": self.repo,
            "tool_name": "Edit",
            "tool_input": {"file_path": os.path.join(self.repo, AUTH), "old_string": old, "new_string": new},
            "tool_use_id": f"toolu_{self.label}_{self.calls}",
        }
        pre = json.dumps({**base, "hook_event_name": "PreToolUse"}).encode()
        post = json.dumps({**base, "hook_event_name": "PostToolUse"}).encode()
        return old, new, pre, post

    def apply(self, old, new):
        path = os.path.join(self.repo, AUTH)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        assert text.count(old) == 1, (self.label, old)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new, 1))
        self.forward = not self.forward

    def pair(self):
        """(pre ms, post ms) of one call, timed as hooks run."""
        old, new, pre, post = self.payloads()
        t_pre, r_pre = self.tool.timed(["hook", "pre-tool-use"], agent=EDITOR, stdin=pre)
        self.apply(old, new)
        t_post, r_post = self.tool.timed(["hook", "post-tool-use"], agent=EDITOR, stdin=post)
        self.last = (r_pre, r_post)
        return t_pre, t_post

    def checked(self):
        """One untimed call; its post-tool-use's additionalContext.  Exits on a failure."""
        self.pair()
        for event, r in zip(("pre-tool-use", "post-tool-use"), self.last):
            err = r.stderr.decode(errors="replace")
            if r.returncode or "Traceback" in err or b'"deny"' in r.stdout:
                sys.exit(f"interface_cost: {self.label} {event} exited {r.returncode}: {r.stdout[-300:]} {err[-500:]}")
        out = self.last[1].stdout.decode(errors="replace").strip()
        return (json.loads(out).get("hookSpecificOutput", {}).get("additionalContext", "") if out else "") or ""


def first_check_cost(pyz, processes=9, runs=2000):
    """What a body-only edit's pre-tool-use pays for the check, in process:
    (median ms of the first language_of + touches_definition call in a fresh
    interpreter, as a hook makes it: lazy imports and pattern compilation
    included; `re` before and after that call, in a median process (3: before,
    1: imported by the call, 0: not at all); best us of a call once warm).  None when the zipapp has no
    touches_definition."""
    code = (
        "import sys, time\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import agent_sync_boot as b\n"
        "m = b.load()\n"
        "old, new, path, n = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])\n"
        "f = getattr(m, 'touches_definition', None)\n"
        "if f is None: print('none'); sys.exit()\n"
        "had_re = 're' in sys.modules\n"
        "t = time.perf_counter()\n"
        "m.language_of(path) and f(old, new, path)\n"
        "cold = (time.perf_counter() - t) * 1e3\n"
        "had_re = had_re * 2 + ('re' in sys.modules)\n"
        "best = None\n"
        "for _ in range(3):\n"
        "    t = time.perf_counter()\n"
        "    for _ in range(n):\n"
        "        m.language_of(path) and f(old, new, path)\n"
        "    d = (time.perf_counter() - t) / n * 1e6\n"
        "    best = d if best is None else min(best, d)\n"
        "print(cold, int(had_re), best)\n"
    )
    found = []
    for i in range(processes):
        r = subprocess.run(
            [
                B.PY,
                "-I",
                "-S",
                "-c",
                code,
                pyz,
                BODY[0].rstrip("\n"),
                BODY[1].rstrip("\n"),
                "/x/src/auth.py",
                str(runs if i == 0 else 1),
            ],
            capture_output=True,
            text=True,
        )
        try:
            cold, had_re, warm = r.stdout.split()
        except ValueError:
            return None
        found.append((float(cold), int(had_re), float(warm) if i == 0 else None))
    cold = statistics.median(c for c, _, _ in found)
    return cold, sorted(found)[len(found) // 2][1], found[0][2]


# -------------------------------------------------------------- the rounds


def measure(jobs, floor_cmd, runs):
    """{job: [(pre, post)]} and floor samples, `runs` rounds, order rotated per round."""
    names = list(jobs) + ["floor"]
    samples = {name: [] for name in names}
    for r in range(runs):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            if name == "floor":
                samples[name].append(B.timed_cmd(floor_cmd)[0])
            else:
                samples[name].append(jobs[name].pair())
    return samples


def q(values):
    a, b = B.quartiles(values)
    return f"{a:.2f} .. {b:.2f}"


def paired(a, b):
    d = [x - y for x, y in zip(a, b)]
    return statistics.median(d), d


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pyz", default=os.path.join(ROOT, "dist", "agent-sync.pyz"), help="the zipapp with the feature"
    )
    parser.add_argument("--compare", metavar="OLD.pyz", help="an older zipapp without the feature (e.g. 2c570fe)")
    parser.add_argument("--runs", type=int, default=21, help="rounds (default 21)")
    parser.add_argument("--json", help="also write the samples and results here")
    args = parser.parse_args()
    # absolute: the hooks run with a scratch repository as their working directory
    args.pyz = os.path.abspath(args.pyz)
    args.compare = args.compare and os.path.abspath(args.compare)
    B.ensure_pyz(args.pyz)
    if args.compare and not os.path.exists(args.compare):
        parser.error(f"--compare: {args.compare} does not exist")
    started = time.time()
    floor_cmd = B.floors_cmds()[B.FLOOR_BARE]
    with tempfile.TemporaryDirectory(prefix="agent-sync-interface-cost-") as base:
        new_tool, new_repo = build_scene(base, "new", args.pyz)
        jobs = {"new body": Editor(new_tool, new_repo, BODY, "new-body")}
        if args.compare:
            old_tool, old_repo = build_scene(base, "old", args.compare)
            jobs["old body"] = Editor(old_tool, old_repo, BODY, "old-body")
        # the signature changes in a repository of their own: their notices and messages must not
        # weigh on the body-only edits compared new against old
        sig_tool, sig_repo = build_scene(base, "sig", args.pyz)
        jobs["new sig"] = Editor(sig_tool, sig_repo, SIG, "new-sig")
        # untimed: every call once each way (bytecode caches warm, registration done), checked
        for name, job in jobs.items():
            for _ in range(2):
                note = job.checked()
                if name == "new sig" and not note:
                    print("note: the signature change's post-tool-use told the editor of no dependents", flush=True)
        before = json.loads(must(sig_tool.run(["interfaces", "--json"], agent="x"), "interfaces").stdout)
        warm_changes = len(before.get("changes", []))
        samples = measure(jobs, floor_cmd, args.runs)
        listed = json.loads(must(sig_tool.run(["interfaces", "--json"], agent="x"), "interfaces").stdout)
        heard = must(
            sig_tool.run(
                ["hook", "user-prompt-submit"],
                agent=AGENTS[0],
                stdin=json.dumps({"session_id": AGENTS[0], "cwd": sig_repo, "prompt": "go"}).encode(),
            ),
            "user-prompt-submit",
        ).stdout.decode(errors="replace")
    check = first_check_cost(args.pyz)

    pair = {k: [a + b for a, b in v] for k, v in samples.items() if k != "floor"}
    users = {a for a in AGENTS}  # every folder has files using login
    login = [c for c in listed.get("changes", []) if c.get("name") == "login" and c.get("path") == AUTH]
    told = sorted({t.get("agent") for c in login for t in c.get("told", [])})
    body_changes = [c for c in listed.get("changes", []) if c.get("name") != "login"]

    labels = {
        "new body": f"body-only Edit, new ({os.path.basename(args.pyz)})",
        "old body": f"body-only Edit, old ({args.compare})",
        "new sig": "signature change of login, new",
    }
    lines = [
        f"interface drift cost: {B.machine()}, Python {sys.version.split()[0]}, hooks as hooks.json runs them "
        f"(`{B.shown_flags(hook_flags(args.pyz))}`), {args.runs} interleaved rounds; "
        f"{len(AGENTS)} live agents x {FILES_PER_AGENT} held files, 1 in {USE_EVERY} uses login",
        "",
        "| measurement (pre + post of one Edit) | pre ms | post ms | pair ms | pair quartiles |",
        "|---|---:|---:|---:|---|",
    ]
    for k, v in samples.items():
        if k == "floor":
            continue
        lines.append(
            f"| {labels[k]} | {statistics.median(a for a, _ in v):.2f} | {statistics.median(b for _, b in v):.2f} "
            f"| {statistics.median(pair[k]):.2f} | {q(pair[k])} |"
        )
    lines.append(
        f"| floor: `python -I -S -c pass` (one run) | | | {statistics.median(samples['floor']):.2f} | {q(samples['floor'])} |"
    )
    lines += [
        "",
        "| difference | median of per-round differences ms | quartiles | difference of medians ms |",
        "|---|---:|---|---:|",
    ]
    results = {}
    if args.compare:
        d_body, ds = paired(pair["new body"], pair["old body"])
        dm = statistics.median(pair["new body"]) - statistics.median(pair["old body"])
        lines.append(f"| body-only Edit: new - old | {d_body:+.2f} | {q(ds)} | {dm:+.2f} |")
        results["body_new_minus_old_ms"] = d_body
    d_sig, ds = paired(pair["new sig"], pair["new body"])
    dm = statistics.median(pair["new sig"]) - statistics.median(pair["new body"])
    lines.append(f"| signature change - body-only Edit (new) | {d_sig:+.2f} | {q(ds)} | {dm:+.2f} |")
    results["sig_extra_ms"] = d_sig
    lines += [
        "",
        "the check a body-only edit's pre-tool-use pays (language_of + touches_definition), in process: "
        + (
            f"first call in a fresh interpreter {check[0]:.2f} ms (median of 9; `re` "
            f"{ {3: 'already imported', 1: 'imported by the call', 0: 'never imported'}[check[1]] }), "
            f"once warm {check[2]:.1f} us"
            if check
            else "not measured"
        ),
        f"interfaces --json: {len(login)} change(s) of login listed, told agents: {len(told)} "
        f"({', '.join(told) or 'none'}; expected {len(users)}: {', '.join(sorted(users))}); "
        f"{warm_changes} change(s) after the untimed calls, {len(body_changes)} other than login (expected 0)",
        f"{AGENTS[0]}'s next prompt: {'an interface change notice' if 'interface change' in heard else 'NO interface change notice'}",
        "",
    ]
    if args.compare:
        ok = results["body_new_minus_old_ms"] <= TARGET_BODY_MS
        lines.append(
            f"target 1 (body-only edit <= {TARGET_BODY_MS} ms more than before): "
            f"{results['body_new_minus_old_ms']:+.2f} ms -> {'met' if ok else 'MISSED'}"
        )
    else:
        lines.append(f"target 1 (body-only edit <= {TARGET_BODY_MS} ms more than before): not measured (no --compare)")
    ok = results["sig_extra_ms"] <= TARGET_SIG_MS and len(told) == len(users)
    lines.append(
        f"target 2 (signature change, {len(AGENTS)} agents, {len(AGENTS) * FILES_PER_AGENT} files, <= {TARGET_SIG_MS:g} ms): "
        f"{results['sig_extra_ms']:+.2f} ms extra, {len(told)}/{len(users)} agents told -> {'met' if ok else 'MISSED'}"
    )
    print("\n".join(lines))
    print(f"\n(took {time.time() - started:.0f}s)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(
                {"samples": samples, "results": results, "told": told, "first_check": check, "compare": args.compare},
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
