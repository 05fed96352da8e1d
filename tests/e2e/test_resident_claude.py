"""Real Claude Code with the session's own agent-sync process answering its
hooks (`install` as shipped: the MCP server registered, mcp_tool hooks for the
tool events, command hooks that stand down while that server lives).

A `python3` shim first on PATH logs every interpreter the hooks start, so
the tests see which path answered: with the server running no Python is
started per tool call; with it refused (unregistered) or killed mid-session
the command hooks still deny an edit of a held file."""

import json
import os
import stat
import sys

import pytest

from .harness import claude_env, install, run

pytestmark = pytest.mark.e2e

SHIM = """#!/bin/sh
echo "$*" >> {log}
exec {python} "$@"
"""


@pytest.fixture
def shimmed(world, tmp_path):
    """(PATH with a logging python3 first, the log's path)."""
    folder, log = tmp_path / "shim", tmp_path / "python3.log"
    folder.mkdir()
    shim = folder / "python3"
    shim.write_text(SHIM.format(log=log, python=sys.executable))
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return str(folder) + os.pathsep, log


def session(claude_bin, world, server, shimmed, script):
    path, _ = shimmed
    # the hooks start the interpreter recorded for the checkout: the shim, so that it sees every start
    record = world.root / ".claude" / "coordination" / "python"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(path.rstrip(os.pathsep) + "/python3\n")
    server.script = script
    env = claude_env(world, server)
    env["PATH"] = path + env["PATH"]
    r = run(
        [claude_bin, "-p", "go", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"],
        world.root,
        env,
    )
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    return r


def started(log, event):
    """How many Python processes ran `hook EVENT`."""
    lines = log.read_text().splitlines() if log.exists() else []
    return sum(1 for line in lines if line.endswith(f" hook {event}") or f" hook {event} " in line)


def denial_reached_the_model(server):
    """Whether the Edit's result in the model's last request is agent-sync's denial."""
    for message in server.main_requests()[-1]["body"]["messages"]:
        for part in message.get("content") if isinstance(message.get("content"), list) else []:
            text = json.dumps(part.get("content", "")) if part.get("type") == "tool_result" else ""
            if "edit denied" in text and "held.py" in text:
                return True
    return False


def edit_script(world, before=()):
    held = str(world.root / "held.py")
    return [
        {"tool": "Read", "input": {"file_path": held}},
        *before,
        {"tool": "Bash", "input": {"command": "true", "description": "a"}},
        {"tool": "Bash", "input": {"command": "true", "description": "b"}},
        {"tool": "Edit", "input": {"file_path": held, "old_string": "x", "new_string": "y"}},
        {"text": "done"},
    ]


@pytest.fixture
def held(world):
    install(world)
    world.write("held.py", "x = 1\n")
    world.agent_sync("lock", "held.py", "--reason", "mine", agent="holder")
    return world


@pytest.mark.capability(
    "claude",
    "PreToolUse, PostToolUse (mcp_tool)",
    "answered by the session's agent-sync MCP server (store open, no Python started per tool call); the command hooks stand down while it lives",
)
def test_with_the_server_running_no_python_starts_per_tool_call(claude_bin, held, server, shimmed):
    session(claude_bin, held, server, shimmed, edit_script(held))
    assert denial_reached_the_model(server)
    log = shimmed[1]
    # five tool calls; the first may still run the command hook while the server answers its first call
    assert started(log, "pre-tool-use") <= 1 and started(log, "post-tool-use") <= 1, log.read_text()
    assert started(log, "session-start") == 1  # SessionStart has no MCP context: it stays a command hook


def test_with_the_server_refused_the_command_hooks_deny(claude_bin, held, server, shimmed):
    os.remove(held.root / ".mcp.json")  # as if the user never approved project MCP servers
    session(claude_bin, held, server, shimmed, edit_script(held))
    assert denial_reached_the_model(server)
    assert started(shimmed[1], "pre-tool-use") >= 3  # every tool call ran the command hook


def test_with_the_server_killed_mid_session_the_edit_is_still_denied(claude_bin, held, server, shimmed):
    kill = {"tool": "Bash", "input": {"command": "pkill -f 'agent-sync[.]pyz mcp'; sleep 0.3", "description": "kill"}}
    session(claude_bin, held, server, shimmed, edit_script(held, before=[kill]))
    assert denial_reached_the_model(server)
