"""The repository as a Claude Code plugin marketplace (.claude-plugin/), with
the real pinned Claude Code: `claude plugin validate` on the repository root,
and a marketplace add + plugin install in a scratch HOME after which a fresh
repository where agent-sync was never installed is guarded: another agent's
lock denies a real session's Edit, and the state folder ignores itself.

On both pinned versions (conftest's claude_bin)."""

import json
import shutil
import subprocess
import time

import pytest

from .harness import CLAUDE_FLAGS, ROOT, base_env, claude_env, events, run

pytestmark = pytest.mark.e2e

PLUGIN_ID = "agent-sync@agent-sync"


class Home:
    """What claude_env needs of a World: the scratch HOME."""

    def __init__(self, home):
        self.home = home


def claude_cli(claude_bin, home, server, *args, cwd=None):
    """`claude ARGS` in the scratch HOME; ANTHROPIC_BASE_URL at the local server
    (without it each plugin command hangs ~18 s on DNS retries)."""
    r = run([claude_bin, *args], cwd or home, claude_env(Home(home), server), timeout=60)
    assert r.returncode == 0, (args, r.stdout[-3000:], r.stderr[-3000:])
    return r


def repo_copy(dest):
    """The repository as a marketplace clone would have it: tracked files plus
    the new ones not ignored (no .git, dist/, build/, caches)."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def install_paths(data):
    """Every installPath in installed_plugins.json, whatever its nesting."""
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "installPath":
                yield v
            else:
                yield from install_paths(v)
    elif isinstance(data, list):
        for v in data:
            yield from install_paths(v)


def tool_results(server):
    """The text of every tool_result the model was sent."""
    out = []
    for req in server.main_requests():
        for msg in req["body"]["messages"]:
            for block in msg["content"] if isinstance(msg["content"], list) else []:
                if block.get("type") == "tool_result":
                    c = block.get("content")
                    out.append(c if isinstance(c, str) else json.dumps(c))
    return out


def version_of(claude_bin):
    """(major, minor, patch) of the npm package a client binary came from."""
    return tuple(int(x) for x in str(claude_bin).split("@")[-1].split("/")[0].split("."))


def git(root, *args):
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def test_plugin_validate_on_the_repository_root(claude_bin, tmp_path, server):
    home = tmp_path / "home"
    home.mkdir()
    r = claude_cli(claude_bin, home, server, "plugin", "validate", str(ROOT))
    out = r.stdout + r.stderr
    assert "Validation passed" in out, out
    if version_of(claude_bin) < (2, 1, 300):
        return  # 2.1.197 prints only the verdict; 2.1.332 also lists what the plugin provides
    for part in ("skills: agent-sync:agent-sync", "bin: agent-sync", "mcpServers: agent-sync stdio"):
        assert part in out, out
    assert "mcp_tool plugin:agent-sync:agent-sync agent_sync_hook" in out, out


def test_marketplace_install_guards_a_fresh_repository(claude_bin, tmp_path, server):
    home = tmp_path / "home"
    home.mkdir()
    market = repo_copy(tmp_path / "market")
    claude_cli(claude_bin, home, server, "plugin", "marketplace", "add", str(market))
    claude_cli(claude_bin, home, server, "plugin", "install", PLUGIN_ID)
    installed = json.loads((home / ".claude" / "plugins" / "installed_plugins.json").read_text())
    paths = list(install_paths(installed))
    assert len(paths) == 1, installed
    plugin = paths[0]
    launcher = f"{plugin}/bin/agent-sync"

    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "x.py").write_text("x = 1\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "e2e@example.com")
    git(repo, "config", "user.name", "e2e")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")

    # agent A takes the lock through the plugin's own CLI (its bin/ launcher)
    env = base_env(home, AGENT_SYNC_ID="A")
    r = subprocess.run(
        [launcher, "lock", "src/x.py", "--reason", "A is refactoring"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, (r.stdout, r.stderr)

    target = str(repo / "src" / "x.py")
    server.script = [
        {"tool": "Read", "input": {"file_path": target}},
        {"tool": "Edit", "input": {"file_path": target, "old_string": "x = 1", "new_string": "x = 2"}},
        {"text": "ok"},
    ]
    started = time.monotonic()
    r = run([claude_bin, "-p", "go", *CLAUDE_FLAGS], repo, claude_env(Home(home), server))
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    result = [e for e in events(r.stdout) if e.get("type") == "result"]
    assert result and not result[-1].get("is_error"), r.stdout[-3000:]
    print(f"claude -p with the plugin: {time.monotonic() - started:.1f} s")

    assert "<agent-sync-state" in server.text()  # the plugin's SessionStart hook ran
    denial = [t for t in tool_results(server) if "edit denied" in t]
    assert denial, server.text()[-3000:]
    assert 'agent-sync: edit denied. "src/x.py" is locked by "A"' in denial[0], denial
    assert "A is refactoring" in denial[0]
    assert (repo / "src" / "x.py").read_text() == "x = 1\n"
    assert (repo / ".claude" / "coordination" / ".gitignore").exists()
    assert git(repo, "status", "--porcelain") == ""
