"""Fixtures for the end-to-end layer (marker `e2e`); the helpers are in harness.py.

tests/e2e is a package (it has ``__init__.py``) so that this conftest does not
shadow tests/conftest.py, which the unit tests import as ``conftest``."""

import json
import os
import subprocess

import pytest

from .harness import (
    CLAUDE_VERSIONS,
    CODEX_VERSION,
    COPILOT_VERSION,
    GEMINI_VERSION,
    OPENCODE_VERSION,
    PROBE,
    QWEN_VERSION,
    ROOT,
    ModelServer,
    World,
    npm_client,
)

# The capability table (docs/clients.md, linked from the README) is written by
# this run, not by hand: each test marked `capability(client, event, what)` is
# a row; a row names the client versions it passed on.
# AGENT_SYNC_CAPABILITIES=write rewrites it; =check (CI) fails the run when
# docs/clients.md's copy differs.
CLIENTS = {
    "claude": "Claude Code",
    "codex": "Codex",
    "gemini": "Gemini CLI",
    "copilot": "Copilot CLI",
    "qwen": "Qwen Code",
    "opencode": "opencode",
}
TABLE_START, TABLE_END = "<!-- capabilities:start -->", "<!-- capabilities:end -->"
_rows = {}  # (client, event, what) -> {"tests": set, "versions": set of the versions it passed on}


def client_version(item, client):
    params = getattr(item, "callspec", None)
    if client == "claude":
        return params.params["claude_bin"] if params else "?"
    return {
        "codex": CODEX_VERSION,
        "gemini": GEMINI_VERSION,
        "copilot": COPILOT_VERSION,
        "qwen": QWEN_VERSION,
        "opencode": OPENCODE_VERSION,
    }[client]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    mark = item.get_closest_marker("capability")
    if mark is None or not (report.when == "call" or report.outcome != "passed"):
        return
    client, event, what = mark.args
    row = _rows.setdefault((client, event, what), {"tests": set(), "versions": set()})
    row["tests"].add(item.originalname)
    if report.passed:
        row["versions"].add(client_version(item, client))


def capability_table():
    lines = ["| Client | Event | What agent-sync does there | Proven on | By |", "|---|---|---|---|---|"]
    order = list(CLIENTS)
    for (client, event, what), row in sorted(_rows.items(), key=lambda kv: order.index(kv[0][0])):
        versions = ", ".join(sorted(row["versions"], reverse=True)) or "not proven"
        tests = ", ".join(f"`{t}`" for t in sorted(row["tests"]))
        lines.append(f"| {CLIENTS[client]} | {event} | {what} | {versions} | {tests} |")
    return "\n".join(lines)


def pytest_sessionfinish(session, exitstatus):
    mode = os.environ.get("AGENT_SYNC_CAPABILITIES")
    if mode not in ("write", "check") or not _rows:
        return
    doc = ROOT / "docs" / "clients.md"
    text = doc.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    table = "\n" + capability_table() + "\n"
    if mode == "write":
        doc.write_text(text[:start] + table + text[end:])
    elif text[start:end] != table:
        print(
            f"\ndocs/clients.md's capability table differs from this run's; rerun with AGENT_SYNC_CAPABILITIES=write:{table}"
        )
        session.exitstatus = 1


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: drives the real agent clients (npm) against a scripted model server")
    config.addinivalue_line(
        "markers", "capability(client, event, what): a row of the capability table in docs/clients.md"
    )


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
def copilot_bin():
    return npm_client("@github/copilot", COPILOT_VERSION, "copilot")


@pytest.fixture
def qwen_bin():
    return npm_client("@qwen-code/qwen-code", QWEN_VERSION, "qwen")


@pytest.fixture
def opencode_bin():
    return npm_client("opencode-ai", OPENCODE_VERSION, "opencode")


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

    def answer(event, out, tool=None, once=False):
        """Make the probe print `out` for `event` (only for `tool`; only once)."""
        path = tmp_path / "probe.jsonl.answers.json"
        answers = json.loads(path.read_text()) if path.exists() else {}
        answers[event] = {"out": out, "tool": tool, "once": once}
        path.write_text(json.dumps(answers))

    command.records = lambda: [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    command.answer = answer
    command.log = log
    return command
