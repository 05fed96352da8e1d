#!/usr/bin/env python3
"""Work lost with and without agent-sync, measured with real agent sessions.

N real agent sessions (Claude Code by default; --clients mixes vendors) work in
one checkout.  Each is driven by a local scripted model (tests/e2e/model_server.py)
that behaves like a well-behaved agent: it makes K read-modify-write edits to a
few shared files, each leaving a line that names its session and counter, with
a pause between reading and writing.  Edits come the ways real agents make
them: the client's own edit tool, a shell read-modify-write
(`c=$(cat f); ...; printf ... > f`), `sed -i` and `printf >>`.

It answers what comes back as an agent would: after an agent-sync denial it
takes other work (another file) and, when every file is held, waits for one
with `agent-sync lock FILE --wait` as the denial suggests (and unlocks it
after its edit); after a client error such as "file modified since read" it
reads again and retries.  It never peeks at another session's progress.

The same workload runs twice: with agent-sync installed, and with no hooks.
Counted per run: edits intended, present at the end, lost; client retries;
agent-sync denials and waits; wall time; and `agent-sync report`'s conflicts
prevented.  `--json` prints one document; `--readme` writes the table into
README.md; `--check` fails when the with-agent-sync run lost an edit.
"""

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.e2e.harness import (  # noqa: E402
    CLAUDE_FLAGS,
    CLAUDE_VERSIONS,
    CODEX_VERSION,
    COPILOT_VERSION,
    GEMINI_VERSION,
    OPENCODE_VERSION,
    PYZ_IN_REPO,
    QWEN_VERSION,
    World,
    base_env,
    claude_env,
    codex_hook_trust,
    copilot_env,
    gemini_env,
    kill_tree,
    npm_client,
    opencode_env,
    qwen_env,
)
from tests.e2e.model_server import ModelServer  # noqa: E402

PACKAGES = {
    "claude": ("@anthropic-ai/claude-code", CLAUDE_VERSIONS[0], "claude"),
    "gemini": ("@google/gemini-cli", GEMINI_VERSION, "gemini"),
    "codex": ("@openai/codex", CODEX_VERSION, "codex"),
    "copilot": ("@github/copilot", COPILOT_VERSION, "copilot"),
    "qwen": ("@qwen-code/qwen-code", QWEN_VERSION, "qwen"),
    "opencode": ("opencode-ai", OPENCODE_VERSION, "opencode"),
}
#: the wire format each client speaks to the model (Copilot CLI, Qwen Code and
#: opencode speak Anthropic's Messages API, as Claude Code does)
WIRE = {
    "claude": "claude",
    "gemini": "gemini",
    "codex": "codex",
    "copilot": "claude",
    "qwen": "claude",
    "opencode": "claude",
}
#: (read tool, its path argument), (edit tool, path, old, new), shell tool of the clients with Anthropic-style tools
TOOLS = {
    "claude": (("Read", "file_path"), ("Edit", "file_path", "old_string", "new_string"), "Bash"),
    "copilot": (("view", "path"), ("edit", "path", "old_str", "new_str"), "bash"),
    "qwen": (("read_file", "file_path"), ("edit", "file_path", "old_string", "new_string"), "run_shell_command"),
    "opencode": (("read", "filePath"), ("edit", "filePath", "oldString", "newString"), "bash"),
}
#: seconds an agent "thinks" between reading a file and writing it back
PAUSE = 0.3
#: a line an edit leaves, and the first line of a shared file
MARK = r"(?:edit s\d+-\d+|shared file \d+)"
#: the ways an edit is made, in turn
METHODS = ("tool", "shell-rmw", "sed", "append")
#: words of a tool result that say the client itself refused a stale edit
CLIENT_ERRORS = ("modified since", "has been modified", "not found", "failed to find", "did not match", "error:")
#: model turns a session may take per intended edit before it gives up (a runaway guard)
TURNS_PER_EDIT = 12


# ---- one vendor's tools ---------------------------------------------------------


def tool_step(vendor, kind, path, **kw):
    """The scripted model's tool call: read, edit (old -> new) or shell (cmd)."""
    if vendor in TOOLS:
        (read, arg), (edit, path_arg, old_arg, new_arg), shell = TOOLS[vendor]
        return {
            "read": {"tool": read, "input": {arg: str(path)}},
            "edit": {"tool": edit, "input": {path_arg: str(path), old_arg: kw.get("old"), new_arg: kw.get("new")}},
            "shell": {"tool": shell, "input": {"command": kw.get("cmd"), "description": "edit"}},
        }[kind]
    if vendor == "gemini":
        return {
            "read": {"tool": "read_file", "input": {"file_path": str(path)}},
            "edit": {
                "tool": "replace",
                "input": {
                    "file_path": str(path),
                    "old_string": kw.get("old"),
                    "new_string": kw.get("new"),
                    "instruction": "append a line",
                },
            },
            "shell": {"tool": "run_shell_command", "input": {"command": kw.get("cmd"), "description": "edit"}},
        }[kind]
    if kind == "read":
        return {"tool": "exec_command", "input": {"cmd": f"cat {path.name}"}}
    if kind == "shell":
        return {"tool": "exec_command", "input": {"cmd": kw["cmd"]}}
    added = kw["new"][len(kw["old"]) + 1 :]
    patch = f"*** Begin Patch\n*** Update File: {path.name}\n@@\n {kw['old']}\n+{added}\n*** End Patch\n"
    return {"tool": "apply_patch", "custom": True, "input": patch}


def flat(value):
    """Text of a tool result's content, however the vendor nests it."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(flat(v) for v in value)
    if isinstance(value, dict):
        return "\n".join(flat(v) for k, v in value.items() if k in ("text", "content", "output", "error", "llmContent"))
    return ""


def last_result(vendor, body):
    """(text, is_error) of the last tool result the model was given (hooks
    and the client may add messages after it)."""
    if WIRE[vendor] == "claude":
        results = [
            b
            for m in body.get("messages", [])
            if m.get("role") == "user" and isinstance(m.get("content"), list)
            for b in m["content"]
            if isinstance(b, dict) and b.get("type") == "tool_result"
        ]
        return (flat(results[-1].get("content")), bool(results[-1].get("is_error"))) if results else ("", False)
    if vendor == "gemini":
        responses = [
            p["functionResponse"].get("response", {})
            for c in body.get("contents", [])
            for p in c.get("parts", [])
            if "functionResponse" in p
        ]
        return (flat(responses[-1]), "error" in responses[-1]) if responses else ("", False)
    outs = [i for i in body.get("input", []) if isinstance(i, dict) and i.get("type", "").endswith("_call_output")]
    return (flat(outs[-1].get("output")), False) if outs else ("", False)


# ---- the well-behaved agent -------------------------------------------------------


class Agent:
    """One session's model: a state machine advanced once per model turn
    (a retried request for the same turn gets the same answer)."""

    def __init__(self, sid, files, edits, launcher):
        self.sid, self.files, self.edits, self.launcher = sid, files, edits, launcher
        self.k, self.file, self.phase, self.tried, self.explicit = 0, 0, "read", set(), False
        self.counts = {"denials": 0, "client_retries": 0, "waits": 0}
        self.answers, self.lock = {}, threading.Lock()

    def __call__(self, vendor, turns, body):
        with self.lock:
            if turns not in self.answers:
                self.answers[turns] = self.advance(vendor, last_result(vendor, body))
            return self.answers[turns]

    def path(self):
        return self.files[self.file]

    def advance(self, vendor, result):
        if len(self.answers) > TURNS_PER_EDIT * self.edits:
            return {"text": "giving up"}
        if self.phase == "write":
            return self.write(vendor, result)
        if self.phase == "check":
            self.check(result)
        elif self.phase == "unlock":
            self.next_edit()
        elif self.phase == "waited":
            self.phase = "read"
        if self.k >= self.edits:
            return {"text": "all edits done"}
        if self.phase == "wait":
            self.counts["waits"] += 1
            self.phase, self.explicit = "waited", True
            return tool_step(vendor, "shell", self.path(), cmd=f"{self.launcher} lock {self.path().name} --wait 300")
        if self.phase == "unlock":
            return tool_step(vendor, "shell", self.path(), cmd=f"{self.launcher} unlock {self.path().name}")
        self.phase = "write"
        return tool_step(vendor, "read", self.path())

    def write(self, vendor, seen):
        """Write back what was read plus this edit's line, the agreed way for this edit."""
        time.sleep(PAUSE)
        lines = re.findall(MARK, seen[0])
        old, marker = (lines[-1] if lines else ""), f"edit s{self.sid}-{self.k}"
        name, method = self.path().name, METHODS[(self.k + self.sid) % len(METHODS)]
        tmp = f".{name}.s{self.sid}"
        self.phase = "check"
        if method == "tool" and old:
            return tool_step(vendor, "edit", self.path(), old=old, new=f"{old}\n{marker}")
        cmd = {
            "tool": f"printf '%s\\n' '{marker}' >> {name}",
            # no $(...): Gemini CLI refuses command substitution
            "shell-rmw": f"cat {name} > {tmp}; sleep {PAUSE}; printf '%s\\n' '{marker}' >> {tmp}; mv {tmp} {name}",
            "sed": f"sed -i '$a {marker}' {name}",
            "append": f"printf '%s\\n' '{marker}' >> {name}",
        }[method]
        return tool_step(vendor, "shell", self.path(), cmd=cmd)

    def check(self, result):
        text, is_error = result
        low = text.lower().replace("error: (none)", "")  # Qwen Code reports every shell run so
        if "agent-sync" in low and "denied" in low:
            self.counts["denials"] += 1
            self.tried.add(self.file)
            untried = [i for i in range(len(self.files)) if i not in self.tried]
            if untried:  # take other work
                self.file, self.phase = untried[0], "read"
            else:  # every file is held: wait for this one, as the denial suggests
                self.phase = "wait"
        elif is_error or any(word in low for word in CLIENT_ERRORS):
            self.counts["client_retries"] += 1
            self.phase = "read"
        elif self.explicit:
            self.phase = "unlock"
        else:
            self.next_edit()

    def next_edit(self):
        self.k, self.tried, self.explicit, self.phase = self.k + 1, set(), False, "read"
        self.file = self.k % len(self.files)  # every session on the same file: they overlap


# ---- one run ----------------------------------------------------------------------


def scratch_repo(base, n_files, pyz, installed, clients):
    root = base / "repo"
    root.mkdir(parents=True)
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.email", "c@x"],
        ["git", "config", "user.name", "c"],
    ):
        subprocess.run(cmd, cwd=root, check=True)
    files = []
    for i in range(n_files):
        files.append(root / f"shared{i}.txt")
        files[-1].write_text(f"shared file {i}\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=root, check=True)
    home = base / "home"
    home.mkdir()
    if installed:
        for agent in ["claude"] + sorted(set(clients) - {"claude"}):
            subprocess.run(
                [sys.executable, str(pyz), "install", "--repo", str(root), "--agent", agent],
                check=True,
                capture_output=True,
                env=base_env(home),
            )
    return World(root, home, pyz), files


def client_command(vendor, binary, world, server):
    """(argv, env) of one headless session of `vendor` against `server`."""
    if vendor == "claude":
        return [binary, "-p", "make the edits", *CLAUDE_FLAGS], claude_env(world, server)
    if vendor == "gemini":
        return [binary, "--yolo", "-p", "make the edits"], gemini_env(world, server)
    if vendor == "copilot":
        return [binary, "-p", "make the edits", "--allow-all-tools", "--no-auto-update"], copilot_env(world, server)
    if vendor == "qwen":
        return [binary, "--auth-type", "anthropic", "--yolo", "make the edits"], qwen_env(world, server)
    if vendor == "opencode":  # npm offline, a dead registry: its plugin npm install fails at once
        return [binary, "run", "make the edits"], opencode_env(world, server)
    chome = world.home / f"codex-{server.port}"
    chome.mkdir()
    config = (
        f'model_provider = "fake"\nmodel = "gpt-5.5"\n[model_providers.fake]\nname = "fake"\n'
        f'base_url = "{server.url}/v1"\nenv_key = "FAKE_KEY"\nwire_api = "responses"\n'
        f'[projects."{world.root}"]\ntrust_level = "trusted"\n' + codex_hook_trust(world.root)
    )
    (chome / "config.toml").write_text(config)
    cmd = [binary, "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "make the edits"]
    return cmd, base_env(world.home, CODEX_HOME=chome, FAKE_KEY="dummy")


def run_workload(vendors, edits, n_files, pyz, installed, base):
    world, files = scratch_repo(base, n_files, pyz, installed, vendors)
    launcher = f"python3 {world.root / PYZ_IN_REPO}" if installed else "true"
    agents = [Agent(i, files, edits, launcher) for i in range(len(vendors))]
    # the server names the wire format; the agent answers in its client's tools
    servers = [
        ModelServer(respond=lambda _wire, turns, body, a=agent, v=vendor: a(v, turns, body))
        for agent, vendor in zip(agents, vendors)
    ]
    procs = []
    started = time.monotonic()
    for vendor, server in zip(vendors, servers):
        server.__enter__()
        argv, env = client_command(vendor, npm_client(*PACKAGES[vendor]), world, server)
        procs.append(
            subprocess.Popen(
                [str(a) for a in argv],
                cwd=world.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        )
    try:
        errors = [p.communicate(timeout=1800)[1] for p in procs]
    finally:
        for p in procs:  # a client left running (a timeout, an exception): its whole tree goes
            if p.poll() is None:
                kill_tree(p.pid)
    wall = time.monotonic() - started
    for server in servers:
        server.__exit__(None, None, None)
    failed = [f"{v}: {e[-500:]}" for v, p, e in zip(vendors, procs, errors) if p.returncode != 0]
    present = {m for f in files for m in re.findall(r"edit s\d+-\d+", f.read_text())}
    lost = sorted({f"edit s{i}-{k}" for i in range(len(vendors)) for k in range(edits)} - present)
    result = {
        "intended": len(vendors) * edits,
        "present": len(present),
        "lost": len(vendors) * edits - len(present),
        "client_retries": sum(a.counts["client_retries"] for a in agents),
        "denials": sum(a.counts["denials"] for a in agents),
        "waits": sum(a.counts["waits"] for a in agents),
        "unfinished": sum(a.k < edits for a in agents),
        "wall_s": round(wall, 1),
        "lost_edits": [
            f"{m} ({METHODS[(int(m.split('-')[1]) + int(m.split('s')[1].split('-')[0])) % len(METHODS)]})" for m in lost
        ],
    }
    if installed:
        report = world.json("report", agent="collide-observer")
        result["conflicts_prevented"] = report["conflicts_prevented"]
    if failed:
        result["client_failures"] = failed
    return result


# ---- the document and the table ---------------------------------------------------------


def measure(args):
    vendors = args.clients.split(",") if args.clients else ["claude"] * args.sessions
    unknown = sorted(set(vendors) - set(PACKAGES))
    if unknown:
        sys.exit(f"collide: unknown client(s) {', '.join(unknown)}; choose from {', '.join(PACKAGES)}")
    pyz = Path(args.pyz)
    if not pyz.exists():
        sys.exit(f"collide: {pyz} missing: run python3 build.py first")
    doc = {"clients": [f"{v} {PACKAGES[v][1]}" for v in vendors], "edits_per_session": args.edits, "files": args.files}
    for label, installed in (("with", True), ("without", False)):
        base = Path(tempfile.mkdtemp(prefix=f"collide-{label}-"))
        try:
            doc[label] = run_workload(vendors, args.edits, args.files, pyz, installed, base)
        finally:
            shutil.rmtree(base, ignore_errors=True)
    doc["machine"] = (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    doc["date"] = time.strftime("%Y-%m-%d")
    return doc


def table(docs):
    lines = [
        "| sessions | edits intended | lost without agent-sync | lost with agent-sync | client retries (without / with) "
        "| agent-sync denials / waits / conflicts prevented (`report`) | wall time (without / with) |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in docs:
        w, o = d["with"], d["without"]
        lines.append(
            f"| {', '.join(d['clients'])} | {w['intended']} | {o['lost']} | {w['lost']} | "
            f"{o['client_retries']} / {w['client_retries']} | {w['denials']} / {w['waits']} / {w['conflicts_prevented']} | "
            f"{o['wall_s']} s / {w['wall_s']} s |"
        )
    first = docs[0]
    lines.append("")
    lines.append(
        f"Measured {first['date']} on {first['machine']}: {first['edits_per_session']} read-modify-write edits "
        f"per session on {first['files']} shared files (`python3 bench/collide.py --readme`)."
    )
    return "\n".join(lines)


def write_readme(docs):
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- collide:start -->", "<!-- collide:end -->"
    i, j = text.index(start) + len(start), text.index(end)
    readme.write_text(text[:i] + "\n" + table(docs) + "\n" + text[j:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=3)
    ap.add_argument("--edits", type=int, default=10)
    ap.add_argument("--files", type=int, default=3)
    ap.add_argument(
        "--clients", help="comma-separated vendors, one session each: claude,gemini,codex,copilot,qwen,opencode"
    )
    ap.add_argument("--pyz", default=str(ROOT / "dist" / "agent-sync.pyz"))
    ap.add_argument("--json", action="store_true", help="print exactly one JSON document")
    ap.add_argument("--readme", action="store_true", help="run the default and the mixed workload; write README.md")
    ap.add_argument("--check", action="store_true", help="exit 1 when the run with agent-sync lost an edit")
    args = ap.parse_args()
    if shutil.which("node") is None or shutil.which("npm") is None:
        sys.exit("collide: node and npm are needed to install the real clients")
    docs = [measure(args)]
    if args.readme:
        docs.append(measure(argparse.Namespace(**{**vars(args), "clients": "claude,gemini,codex"})))
        write_readme(docs)
    if args.json:
        print(json.dumps(docs[0] if len(docs) == 1 else docs))
    else:
        print(table(docs))
    bad = [d for d in docs if d["with"]["lost"] or d["with"]["unfinished"] or d["with"].get("client_failures")]
    return 1 if args.check and bad else 0


if __name__ == "__main__":
    sys.exit(main())
