"""Claude Code's hooks answered by the session's own agent-sync process: the
MCP server (`agent-sync mcp`, which Claude Code starts for the session)
answers the mcp_tool hooks `install` writes, with the same decisions as the
command hooks, and the command hooks stand down while it lives.  Run as the
client runs them: the built zipapp's server over stdio, and the installed
hooks' shell commands through `sh -c` with the client's environment."""

import json
import subprocess

import pytest

from conftest import PY, McpServer, clean_env, denied, edit_payload

SESSION = "0b9c5a0e-1111-4222-8333-944455556666"


def Server(cli, env=None):
    """The session's MCP server in `cli`'s repository."""
    environment = clean_env(CLAUDE_PROJECT_DIR=str(cli.repo), CLAUDE_CODE_SESSION_ID=SESSION, **(env or {}))
    return McpServer(cli.pyz, cli.repo, environment)


def hook_input(cli, payload, event):
    """The installed mcp_tool hook's input for `payload`, with Claude Code's substitutions."""
    settings = json.loads((cli.repo / ".claude" / "settings.json").read_text())
    [handler] = [h for g in settings["hooks"][event] for h in g["hooks"] if h["type"] == "mcp_tool"]
    assert handler["server"] == "agent-sync" and handler["tool"] == "agent_sync_hook"
    values = {
        "hook_event_name": event,
        "session_id": payload["session_id"],
        "cwd": payload["cwd"],
        "tool_name": payload.get("tool_name", ""),
        "tool_input": json.dumps(payload.get("tool_input", "")) if "tool_input" in payload else "",
        "tool_use_id": payload.get("tool_use_id", ""),
    }
    out = {}
    for key, template in handler["input"].items():
        for name, value in values.items():
            template = template.replace("${" + name + "}", value)
        out[key] = template
    return out


def command_hook(cli, event, payload, **env):
    """The installed command hook of `event`, run as Claude Code runs it: (exit code, stdout)."""
    settings = json.loads((cli.repo / ".claude" / "settings.json").read_text())
    [handler] = [
        h for g in settings["hooks"][event] for h in g["hooks"] if h["type"] == "command" and not h.get("asyncRewake")
    ]
    r = subprocess.run(
        ["sh", "-c", handler["command"]],
        cwd=str(cli.repo),
        env=clean_env(CLAUDE_PROJECT_DIR=str(cli.repo), CLAUDE_CODE_SESSION_ID=SESSION, **env),
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return r.returncode, r.stdout


@pytest.fixture
def installed(cli):
    (cli.repo / "src").mkdir()
    (cli.repo / "src" / "a.py").write_text("a\n")
    cli.ok("install")
    cli.ok("lock", "src/a.py", "--reason", "mine", agent="holder")
    return cli


@pytest.mark.sqlite_only
def test_the_server_answers_a_hook_as_the_command_hook_would_and_offers_the_model_no_hook_tool(installed):
    payload = {**edit_payload(installed.repo / "src" / "a.py", session=SESSION), "cwd": str(installed.repo)}
    server = Server(installed)
    try:
        tools = [t["name"] for t in server.ask("tools/list", {})["tools"]]
        assert "agent_sync_hook" not in tools and "status" in tools
        answer = json.loads(server.hook(hook_input(installed, payload, "PreToolUse")))
        rc, out, _ = installed.hook("pre-tool-use", payload)
        assert answer == out and denied(answer), (answer, out)
        mark = installed.repo / ".claude" / "coordination" / "resident" / SESSION
        assert mark.read_text() == f"{server.proc.pid}\n"
    finally:
        server.stop()


@pytest.mark.sqlite_only
def test_the_command_hooks_stand_down_while_the_server_lives_and_hold_when_it_is_gone(installed):
    payload = {**edit_payload(installed.repo / "src" / "a.py", session=SESSION), "cwd": str(installed.repo)}
    rc, out = command_hook(installed, "PreToolUse", payload)
    assert rc == 0 and denied(json.loads(out))  # no server yet: the command hook decides
    server = Server(installed)
    try:
        assert denied(json.loads(server.hook(hook_input(installed, payload, "PreToolUse"))))
        assert command_hook(installed, "PreToolUse", payload) == (0, "")  # the server answers: no second run
    finally:
        server.stop()
    rc, out = command_hook(installed, "PreToolUse", payload)
    assert rc == 0 and denied(json.loads(out))  # killed: the command path holds again


def test_the_server_keeps_its_store_and_pushes_messages_at_the_prompt(installed):
    installed.ok("register", "--name", "bob", agent="bob")
    server = Server(installed)
    try:
        base = {"session_id": SESSION, "cwd": str(installed.repo)}
        assert server.hook(hook_input(installed, base, "UserPromptSubmit")) == ""  # nothing waits: nothing said
        me = json.loads(installed.ok("whoami", "--json", env={"CLAUDE_CODE_SESSION_ID": SESSION}).stdout)["id"]
        installed.ok("send", "--to", me, "--message", "hello from bob", agent="bob")
        answer = json.loads(server.hook(hook_input(installed, base, "UserPromptSubmit")))
        assert "hello from bob" in answer["hookSpecificOutput"]["additionalContext"], answer
    finally:
        server.stop()


def test_doctor_says_which_path_each_event_takes_and_names_a_shim(installed, tmp_path):
    out = installed("doctor").stdout
    assert "[ok] hook path: tool events: the session's agent-sync MCP server" in out, out
    shims = tmp_path / ".pyenv" / "shims"
    shims.mkdir(parents=True)
    shim = shims / "python3"
    shim.write_text(f'#!/bin/sh\nexec {PY[0]} "$@"\n')
    shim.chmod(0o755)
    env = {"PATH": f"{shims}:{clean_env()['PATH']}"}
    (installed.repo / ".mcp.json").unlink()
    out = installed("doctor", env=env).stdout
    assert "[--] hooks' python is no shim" in out and "pyenv shim" in out, out
    assert "[--] hook path: every tool event starts Python" in out, out


@pytest.mark.sqlite_only
def test_the_command_hooks_take_over_while_the_server_is_busy_with_a_long_tool_call(installed):
    """The server answers one request at a time: while a tool call of its own
    waits (`lock` with `wait`), its session's hooks would time out and fail
    open, so it takes its mark down for that time and the command path holds."""
    import threading
    import time

    payload = {**edit_payload(installed.repo / "src" / "a.py", session=SESSION), "cwd": str(installed.repo)}
    mark = installed.repo / ".claude" / "coordination" / "resident" / SESSION
    server = Server(installed)
    try:
        assert denied(json.loads(server.hook(hook_input(installed, payload, "PreToolUse"))))
        assert mark.exists()
        answer = {}
        waiter = threading.Thread(
            target=lambda: answer.update(
                server.ask("tools/call", {"name": "lock", "arguments": {"paths": ["src/a.py"], "wait": 30}})
            )
        )
        waiter.start()
        deadline = time.time() + 10
        while mark.exists() and time.time() < deadline:
            time.sleep(0.05)
        assert not mark.exists()
        rc, out = command_hook(installed, "PreToolUse", payload)
        assert rc == 0 and denied(json.loads(out))  # the command path decides while the server waits
        installed.ok("unlock", "src/a.py", agent="holder")
        waiter.join(30)
        assert answer and not answer["isError"], answer
        assert mark.read_text() == f"{server.proc.pid}\n"  # back: the hooks stand down again
        assert command_hook(installed, "PreToolUse", payload) == (0, "")
    finally:
        server.stop()


def test_a_python3_shim_is_passed_once_not_on_every_hook(installed, tmp_path):
    """The first command hook through a version manager's shim records the
    interpreter behind it in the (ignored) state folder; the next hooks start
    that one, and a recorded interpreter that is gone falls back to python3."""
    shims = tmp_path / ".pyenv" / "shims"
    shims.mkdir(parents=True)
    log = tmp_path / "shim.log"
    (shims / "python3").write_text(f'#!/bin/sh\necho x >> {log}\nexec {PY[0]} "$@"\n')
    (shims / "python3").chmod(0o755)
    path = f"{shims}:{clean_env()['PATH']}"
    payload = {**edit_payload(installed.repo / "src" / "a.py", session=SESSION), "cwd": str(installed.repo)}
    record = installed.repo / ".claude" / "coordination" / "python"
    assert not record.exists()
    for _ in range(3):
        rc, out = command_hook(installed, "PreToolUse", payload, PATH=path)
        assert rc == 0 and denied(json.loads(out))
    assert log.read_text().count("x") == 1  # only the first hook went through the shim
    assert (
        record.read_text()
        == subprocess.run([*PY, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True).stdout
    )
    assert "is a pyenv shim; the hooks start" in installed("doctor", env={"PATH": path}).stdout
    assert (
        "record"
        not in subprocess.run(
            ["git", "status", "--porcelain"], cwd=installed.repo, capture_output=True, text=True
        ).stdout
    )
    record.write_text(str(tmp_path / "gone" / "python3") + "\n")
    before = log.read_text().count("x")
    rc, out = command_hook(installed, "PreToolUse", payload, PATH=path)
    assert rc == 0 and denied(json.loads(out)) and log.read_text().count("x") == before + 1
    assert record.read_text() != str(tmp_path / "gone" / "python3") + "\n"  # recorded anew
