"""Fixtures for the end-to-end layer (marker `e2e`); the helpers are in harness.py.

tests/e2e is a package (it has ``__init__.py``) so that this conftest does not
shadow tests/conftest.py, which the unit tests import as ``conftest``."""

import json
import subprocess

import pytest

from .harness import CLAUDE_VERSIONS, CODEX_VERSION, GEMINI_VERSION, PROBE, ModelServer, World, npm_client


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: drives the real agent clients (npm) against a scripted model server")
    config.addinivalue_line("markers", "capability(client, event, what): a row of the README's capability table")


@pytest.fixture(params=CLAUDE_VERSIONS, ids=lambda v: f"claude-{v}")
def claude_bin(request):
    return npm_client("@anthropic-ai/claude-code", request.param, "claude")


@pytest.fixture
def gemini_bin():
    return npm_client("@google/gemini-cli", GEMINI_VERSION, "gemini")


@pytest.fixture
def codex_bin():
    return npm_client("@openai/codex", CODEX_VERSION, "codex")


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def server():
    with ModelServer() as s:
        yield s


@pytest.fixture
def world(tmp_path, home, pyz):
    """A committed scratch git repository (agent-sync not yet installed: tests
    run `install` as the README says). `pyz` is tests/conftest.py's build."""
    root = tmp_path / "repo"
    root.mkdir()
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.email", "e2e@example.com"],
        ["git", "config", "user.name", "e2e"],
    ):
        subprocess.run(cmd, cwd=root, check=True)
    w = World(root, home, pyz)
    w.write("README.md", "scratch\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=root, check=True)
    return w


@pytest.fixture
def probe(tmp_path):
    """probe(EVENT) -> a hook command that logs payload, env and /proc parent chain."""
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    log = tmp_path / "probe.jsonl"

    def command(event):
        return f"python3 {script} {log} {event} || exit 1"  # same shape as agent-sync's hooks

    command.records = lambda: [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return command
