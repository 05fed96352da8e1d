"""The repository as a Claude Code plugin (.claude-plugin/, hooks/, bin/,
skills/) and as a Python package (pyproject.toml).

Fast: the generated plugin files are what tools/plugin_files.py makes of
hooks.json and skill/SKILL.md, the manifests agree with each other and with
agent_sync.VERSION, and bin/agent-sync runs the module.  Slow (`-m slow`): a
fresh venv pip-installs the repository and gets an `agent-sync` command.  The
real-client checks (claude plugin validate, marketplace install) are in
tests/e2e/test_plugin_claude.py."""

import ast
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import plugin_files  # noqa: E402


def version_constant():
    """agent_sync.VERSION, read the way setuptools' `attr:` reads it (no import)."""
    for node in ast.parse((ROOT / "agent_sync.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["VERSION"]:
            return ast.literal_eval(node.value)
    raise AssertionError("no VERSION = ... in agent_sync.py")


def manifest(name):
    return json.loads((ROOT / ".claude-plugin" / name).read_text(encoding="utf-8"))


def test_generated_plugin_files_are_up_to_date():
    for rel, text in plugin_files.generated().items():
        path = ROOT / rel
        assert path.exists(), f"{rel} missing: run python3 tools/plugin_files.py"
        assert path.read_text(encoding="utf-8") == text, f"{rel} is stale: run python3 tools/plugin_files.py"


def test_plugin_hooks_mirror_the_install_hooks():
    """Same events, matchers and handler settings as hooks.json; only how the
    command reaches agent_sync and the MCP server's name differ."""
    source = json.loads((ROOT / "hooks.json").read_text())["hooks"]
    plugin = json.loads((ROOT / "hooks" / "hooks.json").read_text())["hooks"]
    assert list(plugin) == list(source)
    for event, groups in source.items():
        assert [g.get("matcher") for g in plugin[event]] == [g.get("matcher") for g in groups]
        for group, pgroup in zip(groups, plugin[event]):
            assert len(pgroup["hooks"]) == len(group["hooks"])
            for h, ph in zip(group["hooks"], pgroup["hooks"]):
                assert {k: v for k, v in ph.items() if k not in ("command", "server")} == {
                    k: v for k, v in h.items() if k not in ("command", "server")
                }
                if h["type"] == "command":
                    assert "agent-sync.pyz" not in ph["command"] and '"${CLAUDE_PLUGIN_ROOT}"' in ph["command"]
                    # the resident stand-down prefix and the trailing `|| exit 1` are kept as they are
                    assert ph["command"].split("python3", 1)[0] == h["command"].split("python3", 1)[0]
                    assert ph["command"].endswith(h["command"].rsplit('"', 1)[1])
                else:
                    assert ph["server"] == plugin_files.SERVER


def test_plugin_manifests_agree():
    plugin, market = manifest("plugin.json"), manifest("marketplace.json")
    assert plugin["version"] == version_constant()
    assert [p["name"] for p in market["plugins"]] == [plugin["name"]] == [plugin_files.PLUGIN]
    assert market["plugins"][0]["source"] == "./"  # the repository itself, run from source
    assert plugin_files.SERVER == f"plugin:{plugin['name']}:{next(iter(plugin['mcpServers']))}"
    args = plugin["mcpServers"]["agent-sync"]["args"]
    assert args[-2:] == ["${CLAUDE_PLUGIN_ROOT}", "mcp"]


def test_pyproject_version_is_the_module_constant():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "agent_sync.VERSION"}
    assert project["project"]["scripts"] == {"agent-sync": "agent_sync:main"}


def test_bin_launcher_runs_the_module(tmp_path):
    launcher = ROOT / "bin" / "agent-sync"
    assert os.access(launcher, os.X_OK)
    env = {"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    r = subprocess.run([str(launcher), "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"agent-sync {version_constant()}"


def test_build_outputs_stay_ignored():
    paths = ["dist/agent-sync.pyz", "build/lib/agent_sync.py", "agent_sync.egg-info/PKG-INFO", "__pycache__/x.pyc"]
    r = subprocess.run(["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True)
    assert r.stdout.split() == paths


# ---- pip install (slow) ----------------------------------------------------


def repo_copy(dest):
    """Tracked files plus new ones not ignored: a pip build writes its
    egg-info and build/ into the source tree, so it builds a copy."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for rel in filter(None, files.split("\0")):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    cache = ROOT / "build" / "vendor-cache"  # the vendored driver's wheels: the build needs no network
    if cache.is_dir():
        shutil.copytree(cache, dest / "build" / "vendor-cache")
    return dest


@pytest.fixture(scope="module")
def pip_installed(tmp_path_factory):
    """(bin folder of a fresh venv with the repository pip-installed, a scratch HOME)."""
    base = tmp_path_factory.mktemp("pip")
    source = repo_copy(base / "src")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    r = subprocess.run(
        [str(bindir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    home = base / "home"
    home.mkdir()
    return bindir, home


def agent_sync(pip_installed, *args, cwd=None):
    bindir, home = pip_installed
    env = {"PATH": f"{bindir}{os.pathsep}/usr/bin:/bin", "HOME": str(home)}
    return subprocess.run(
        [str(bindir / "agent-sync"), *args], cwd=cwd or home, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
def test_pip_install_gives_the_agent_sync_command(pip_installed):
    r = agent_sync(pip_installed, "--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"agent-sync {version_constant()}"
    r = agent_sync(pip_installed, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: agent-sync" in r.stdout and "install" in r.stdout


@pytest.mark.slow
def test_install_from_the_pip_package(pip_installed, tmp_path, pyz):
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    r = agent_sync(pip_installed, "install", "--repo", str(repo))
    assert r.returncode == 0, r.stdout + r.stderr
    skill = repo / ".claude" / "skills" / "agent-sync"
    assert (skill / "SKILL.md").exists() and (skill / "agent-sync").exists()
    assert (skill / "agent-sync.pyz").exists()
    settings = json.loads((repo / ".claude" / "settings.json").read_text())
    assert set(settings["hooks"]) >= set(json.loads((ROOT / "hooks.json").read_text())["hooks"])
    # exactly as the zipapp sets one up: the same files, the same settings, and a zipapp that works
    other = tmp_path / "other"
    other.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=other, check=True)
    r = subprocess.run([sys.executable, str(pyz), "install", "--repo", str(other)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

    def written(root):
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if ".git" not in p.parts)

    assert written(repo) == written(other)
    for rel in (".claude/settings.json", ".gitignore", ".mcp.json", ".claude/skills/agent-sync/SKILL.md"):
        assert (repo / rel).read_text() == (other / rel).read_text(), rel
    r = agent_sync(pip_installed, "doctor", "--repo", str(repo))
    assert "[ok] zipapp up to date" in r.stdout, r.stdout + r.stderr
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AGENT_SYNC_ID": "alice"}
    installed = [sys.executable, str(skill / "agent-sync.pyz")]
    assert subprocess.run([*installed, "lock", "a.py"], cwd=repo, env=env, capture_output=True).returncode == 0
    payload = {"session_id": "s-bob", "cwd": str(repo), "tool_name": "Write", "hook_event_name": "PreToolUse"}
    payload["tool_input"] = {"file_path": str(repo / "a.py"), "content": "x"}
    r = subprocess.run(
        [*installed, "hook", "pre-tool-use"],
        cwd=repo,
        env={**env, "AGENT_SYNC_ID": ""},
        input=json.dumps(payload),
        capture_output=True,
        text=True,
    )
    assert '"permissionDecision": "deny"' in r.stdout, r.stdout + r.stderr
