"""Helpers for the end-to-end tests (fixtures are in conftest.py).

The REAL agent clients (Claude Code, Gemini CLI, Codex; and, for issue 27,
Copilot CLI, Qwen Code and opencode) run offline against tests/e2e/model_server.py, in a scratch git repository
where the built zipapp was installed the way the README says.

Clients are npm-installed once, pinned, into a cache outside the repository
(``$AGENT_SYNC_E2E_CACHE``, default ``~/.cache/agent-sync-e2e/<pkg>@<ver>``)
and reused. Without node/npm every e2e test is skipped with the reason; any
other failure (npm install, a client crash) fails the test.
"""

import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .model_server import ModelServer  # noqa: F401 (re-exported)

CLAUDE_VERSIONS = ("2.1.332", "2.1.197")
GEMINI_VERSION = "0.61.0"
CODEX_VERSION = "0.169.0"
COPILOT_VERSION = "1.0.102"
QWEN_VERSION = "0.24.4"
OPENCODE_VERSION = "1.18.33"
CLIENT_TIMEOUT = 120  # seconds for one client run
CACHE = Path(os.environ.get("AGENT_SYNC_E2E_CACHE") or Path.home() / ".cache" / "agent-sync-e2e")
PYZ_IN_REPO = ".claude/skills/agent-sync/agent-sync.pyz"
ROOT = Path(__file__).resolve().parents[2]


# ---- clients ---------------------------------------------------------------


def npm_client(package, version, binary):
    """Path of `binary` from package@version, npm-installed into the cache once."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"e2e: {' and '.join(missing)} not on PATH; the real clients cannot be installed")
    prefix = CACHE / f"{package.replace('/', '+')}@{version}"
    exe = prefix / "node_modules" / ".bin" / binary
    if exe.exists():
        return exe
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".install.lock", "w") as lock:  # parallel pytest processes install once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not exe.exists():
            prefix.mkdir(parents=True, exist_ok=True)
            r = subprocess.run(
                [
                    "npm",
                    "install",
                    "--prefix",
                    str(prefix),
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    f"{package}@{version}",
                ],
                cwd=prefix,  # npm reads "pkg@ver" as a folder when the cwd holds one of that name
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert r.returncode == 0 and exe.exists(), f"npm install {package}@{version} failed:\n{r.stderr[-3000:]}"
    return exe


# ---- scratch world -------------------------------------------------------


def base_env(home, **extra):
    """`env -i` plus what a login shell minimally has: no user config, no
    AGENT_SYNC_* or CLAUDE_* from the caller's environment."""
    path_dirs = [os.path.dirname(sys.executable)]  # hooks run `python3`: the test's own
    for tool in ("node", "git", "sh"):
        found = shutil.which(tool)
        if found and os.path.dirname(found) not in path_dirs:
            path_dirs.append(os.path.dirname(found))
    for d in ("/usr/local/bin", "/usr/bin", "/bin"):
        if d not in path_dirs:
            path_dirs.append(d)
    env = {
        "PATH": os.pathsep.join(path_dirs),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "USER": "e2e",
        "TERM": "dumb",
        "TMPDIR": str(home / "tmp"),
    }
    (home / "tmp").mkdir(exist_ok=True)
    env.update({k: str(v) for k, v in extra.items()})
    return env


class World:
    """A scratch repository with agent-sync installed, and a way to run it."""

    def __init__(self, root, home, pyz):
        self.root, self.home, self.pyz = root, home, pyz

    def agent_sync(self, *args, agent=None, check=True, env=None):
        e = base_env(self.home, **(env or {}))
        if agent:
            e["AGENT_SYNC_ID"] = agent
        r = subprocess.run(
            [sys.executable, "-I", "-S", str(self.root / PYZ_IN_REPO), *map(str, args)],
            cwd=self.root,
            env=e,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    def json(self, *args, **kw):
        return json.loads(self.agent_sync(*args, "--json", **kw).stdout)

    def id_for_session(self, session_id):
        return self.json("whoami", env={"CLAUDE_CODE_SESSION_ID": session_id})["id"]

    def write(self, rel, text):
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p


def install(world, *args):
    r = subprocess.run(
        [sys.executable, str(world.pyz), "install", "--repo", str(world.root), *args],
        env=base_env(world.home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return r


# ---- running a client ------------------------------------------------------


def run(cmd, cwd, env, timeout=CLIENT_TIMEOUT, input=None):
    """Run a client to completion in its own process group (killed whole on timeout)."""
    proc = subprocess.Popen(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        text=True,
        start_new_session=True,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        raise AssertionError(f"{cmd[0]} timed out after {timeout}s:\n{out[-2000:]}\n{err[-2000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill_tree(pid):
    """SIGKILL a process and all its descendants, whatever group they are in (Linux /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    doomed, todo = [], [pid]
    while todo:
        p = todo.pop()
        doomed.append(p)
        todo += children.get(p, [])
    for p in doomed:
        try:
            os.kill(p, 9)
        except ProcessLookupError:
            pass


def run_until_killed(cmd, world, env, server, edit):
    """Run a client whose first step, `edit`, writes notes.txt (taking its
    automatic lock), then SIGKILL its whole process tree while it waits on
    the model: a session that crashed holding a lock."""
    victim = []

    def kill():
        assert [lk["path"] for lk in world.json("locks")["locks"]] == ["notes.txt"]
        kill_tree(victim[0].pid)

    server.script = [edit, {"text": "-", "before": kill}]
    victim.append(
        subprocess.Popen(
            [str(c) for c in cmd],
            cwd=world.root,
            env=env,
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    victim[0].wait(timeout=CLIENT_TIMEOUT)


def gemini_env(world, server):
    """A scratch Gemini CLI home against `server`, the folder trusted the way
    choosing "Trust folder" records it (doctor reads the same file)."""
    gdir = world.home / ".gemini"
    gdir.mkdir(exist_ok=True)
    settings = {
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "telemetry": {"enabled": False},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
        "privacy": {"usageStatisticsEnabled": False},
    }
    (gdir / "settings.json").write_text(json.dumps(settings))
    (gdir / "trustedFolders.json").write_text(json.dumps({str(world.root): "TRUST_FOLDER"}))
    return base_env(world.home, GEMINI_CLI_HOME=world.home, GEMINI_API_KEY="dummy", GOOGLE_GEMINI_BASE_URL=server.url)


def codex_hook_trust(root):
    """The [hooks.state] entries Codex writes when the user trusts our hooks,
    with the hashes agent-sync's doctor computes (Codex skips hooks whose hash
    differs, so a wrong hash fails every Codex hook test)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import agent_sync

    hooks_file = root / ".codex" / "hooks.json"
    hooks = json.loads(hooks_file.read_text())["hooks"] if hooks_file.exists() else {}
    lines = []
    for event, groups in hooks.items():
        for g, group in enumerate(groups):
            for h, handler in enumerate(group["hooks"]):
                key = f"{hooks_file}:{agent_sync.CODEX_TRUST_LABELS[event]}:{g}:{h}"
                digest = agent_sync.codex_hook_hash(event, group, handler)
                lines.append(f'[hooks.state."{key}"]\ntrusted_hash = "{digest}"\n')
    return "".join(lines)


def claude_env(world, server, **extra):
    (world.home / ".claude.json").write_text(
        json.dumps({"hasCompletedOnboarding": True, "bypassPermissionsModeAccepted": True})
    )
    return base_env(
        world.home,
        ANTHROPIC_BASE_URL=server.url,
        ANTHROPIC_API_KEY="dummy",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1,
        DISABLE_TELEMETRY=1,
        DISABLE_AUTOUPDATER=1,
        IS_SANDBOX=1,
        **extra,
    )


# ---- Copilot CLI, Qwen Code, opencode (issue 27) ---------------------------
# All three speak the Anthropic Messages API to the scripted server. Facts and
# observed hook payloads: docs/clients-copilot-qwen-opencode.md.


def copilot_env(world, server, **extra):
    """Copilot CLI offline (BYOK provider = the scripted server). COPILOT_ALLOW_ALL
    exactly "true" also trusts the folder, which loads .github/hooks and the
    Claude-format hooks in .claude/settings.json. The native binary unpacks a
    ~235 MB package on first start: into the shared cache, not every scratch HOME."""
    return base_env(
        world.home,
        COPILOT_OFFLINE="true",
        COPILOT_PROVIDER_BASE_URL=server.url,
        COPILOT_PROVIDER_TYPE="anthropic",
        COPILOT_PROVIDER_API_KEY="dummy",
        COPILOT_MODEL="claude-sonnet-4.5",
        COPILOT_ALLOW_ALL="true",
        COPILOT_AUTO_UPDATE="false",
        COPILOT_PKG_CACHE_HOME=CACHE / "copilot-pkg",
        **extra,
    )


def run_copilot(copilot_bin, world, server, prompt="go", env=None):
    """One non-interactive Copilot CLI session (`-p`) in world.root."""
    r = run(
        [copilot_bin, "-p", prompt, "--allow-all-tools", "--no-auto-update"],
        world.root,
        copilot_env(world, server, **(env or {})),
    )
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    return r


def qwen_env(world, server, **extra):
    """Qwen Code with `--auth-type anthropic`. Its managed auto-memory and
    auto-dream are off: otherwise a memory sub-agent replays the conversation
    to the model after each turn."""
    qdir = world.home / ".qwen"
    qdir.mkdir(exist_ok=True)
    settings = {
        "memory": {"enableManagedAutoMemory": False, "enableManagedAutoDream": False, "enableAutoSkill": False},
        "general": {"enableAutoUpdate": False},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
    }
    (qdir / "settings.json").write_text(json.dumps(settings))
    return base_env(
        world.home,
        ANTHROPIC_BASE_URL=server.url,
        ANTHROPIC_API_KEY="dummy",
        ANTHROPIC_MODEL="claude-sonnet-4-5",
        QWEN_CODE_SUPPRESS_YOLO_WARNING=1,
        **extra,
    )


def run_qwen(qwen_bin, world, server, prompt="go", env=None):
    """One non-interactive Qwen Code session (positional prompt, --yolo)."""
    r = run(
        [qwen_bin, "--auth-type", "anthropic", "--yolo", prompt], world.root, qwen_env(world, server, **(env or {}))
    )
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    return r


def opencode_env(world, server, **extra):
    """opencode against the scripted server. As soon as a project has a
    `.opencode/` folder, opencode runs `npm install @opencode-ai/plugin` into it
    (whatever the plugin imports): an offline npm with a dead registry makes
    that fail at once, and the plugins still load."""
    config = {
        "provider": {"anthropic": {"options": {"baseURL": f"{server.url}/v1", "apiKey": "dummy"}}},
        "model": "anthropic/claude-sonnet-4-5",
        "autoupdate": False,
        "share": "disabled",
    }
    return base_env(
        world.home,
        OPENCODE_CONFIG_CONTENT=json.dumps(config),
        OPENCODE_DISABLE_MODELS_FETCH=1,
        OPENCODE_DISABLE_AUTOUPDATE=1,
        OPENCODE_DISABLE_LSP_DOWNLOAD=1,
        npm_config_offline="true",
        npm_config_registry="http://127.0.0.1:9/",
        **extra,
    )


def run_opencode(opencode_bin, world, server, prompt="go", env=None):
    """One non-interactive opencode session (`opencode run`)."""
    r = run([opencode_bin, "run", prompt], world.root, opencode_env(world, server, **(env or {})))
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    return r


CLAUDE_FLAGS = ["--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"]


def events(stdout):
    out = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


class StreamSession:
    """One `claude --input-format stream-json` process fed prompt by prompt."""

    def __init__(self, cmd, cwd, env):
        self.proc = subprocess.Popen(
            [str(c) for c in cmd],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines = queue.Queue()
        self.seen = []
        self.pump = threading.Thread(target=self._pump, daemon=True)
        self.pump.start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def prompt(self, text, timeout=CLIENT_TIMEOUT):
        msg = {"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": text}]}}
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no result from claude within {timeout}s") from None
            if line is None:
                raise AssertionError(f"claude exited early: {self.proc.stderr.read()[-3000:]}")
            ev = events(line)
            self.seen.extend(ev)
            if ev and ev[0].get("type") == "result":
                return ev[0]

    def close(self, timeout=60):
        """End the session (killed if it does not end in `timeout` s) and close its pipes."""
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
            self.pump.join(timeout=10)  # it reads stdout to its end: close it after
            self.proc.stdout.close()
            self.proc.stderr.close()
        return self.proc.returncode


# A hook that records its payload, a few env vars and its /proc parent chain,
# so tests (and humans) can see exactly what a client hands its hooks.
PROBE = r"""
import json, os, sys
payload = sys.stdin.read()
chain, pid = [], os.getppid()
for _ in range(12):
    try:
        comm = open(f"/proc/{pid}/comm").read().strip()
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        break
    chain.append(f"{pid}:{comm}")
    pid = int(stat.rsplit(")", 1)[1].split()[1])
    if pid <= 1:
        break
keep = sorted(k for k in os.environ if k.startswith(("CLAUDE", "GEMINI", "CODEX", "AGENT_SYNC", "COPILOT", "QWEN", "OPENCODE")))
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({"event": sys.argv[2], "chain": chain, "env": {k: os.environ[k] for k in keep},
                        "payload": json.loads(payload or "null")}) + "\n")
# An answer for this event (probe.answer in conftest): printed on stdout, for
# one tool name only if "tool" is set, and only once if "once" is.
path = sys.argv[1] + ".answers.json"
if os.path.exists(path):
    answers = json.load(open(path))
    a, data = answers.get(sys.argv[2]), json.loads(payload or "null") or {}
    if a and a.get("tool") in (None, data.get("tool_name") or data.get("toolName")):
        print(json.dumps(a["out"]))
        if a.get("once"):
            del answers[sys.argv[2]]
            json.dump(answers, open(path, "w"))
"""

# An opencode plugin (.opencode/plugins/probe.js) that logs what opencode hands
# its plugin hooks to LOG (one JSON object a line) and answers from
# LOG.answers.json: "deny:<tool>" (thrown), "after:<tool>" (appended to the
# tool output), "system" (pushed to the system prompt). Imports only node:fs.
OPENCODE_PROBE = r"""
import { appendFileSync, existsSync, readFileSync } from "node:fs";
const LOG = __LOG__;
const env = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(OPENCODE|CLAUDE|AGENT_SYNC)/.test(k)));
const log = (event, payload) => appendFileSync(LOG, JSON.stringify({ event, pid: process.pid, env: env(), payload }) + "\n");
const answers = () => (existsSync(LOG + ".answers.json") ? JSON.parse(readFileSync(LOG + ".answers.json", "utf8")) : {});
export const Probe = async (ctx) => {
  log("init", { directory: ctx.directory, worktree: ctx.worktree });
  return {
    "tool.execute.before": async (input, output) => {
      log("tool.execute.before", { input, output });
      const a = answers()["deny:" + input.tool];
      if (a) throw new Error(a);
    },
    "tool.execute.after": async (input, output) => {
      log("tool.execute.after", { input, output: { title: output.title, output: output.output } });
      const a = answers()["after:" + input.tool];
      if (a) output.output = output.output + "\n" + a;
    },
    "experimental.chat.system.transform": async (input, output) => {
      log("experimental.chat.system.transform", { sessionID: input.sessionID, model: input.model && input.model.id });
      const a = answers().system;
      if (a) output.system.push(a);
    },
    event: async ({ event }) => {
      if (["session.created", "session.idle", "session.error"].includes(event.type)) log("event:" + event.type, event);
    },
  };
};
"""
