"""Issue 7: the MCP server (driven by the official MCP Python SDK), other
agents' hook dialects, directory and glob locks in hooks, and the git guard."""

import asyncio
import json
import subprocess

import pytest

from conftest import PY, clean_env, denied, edit_payload

mcp = pytest.importorskip("mcp", reason="the MCP SDK is a test-time dependency (pip install mcp)")
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

# MCP ------------------------------------------------------------------------


async def with_session(pyz, repo, agent, body):
    params = StdioServerParameters(
        command=PY[0],
        args=PY[1:] + [str(pyz), "mcp"],
        env=clean_env(AGENT_SYNC_ID=agent, CLAUDE_PROJECT_DIR=str(repo)),
        cwd=str(repo),
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await body(session)


def field(obj, snake, camel):
    """The SDK renamed fields to snake_case in 2.x; accept either."""
    return getattr(obj, snake) if hasattr(obj, snake) else getattr(obj, camel)


def text_of(result):
    return "".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def test_mcp_sdk_lists_tools_and_two_clients_coordinate(cli):
    (cli.repo / "src").mkdir()
    (cli.repo / "src" / "a.py").write_text("x\n")
    expected = {
        "whoami",
        "register",
        "status",
        "tasks",
        "create_task",
        "claim_task",
        "claim_next",
        "complete_task",
        "block_task",
        "release_task",
        "lock",
        "unlock",
        "locks",
        "send",
        "inbox",
        "read_message",
        "ack",
        "decision",
        "decisions",
        "log",
    }

    async def alice(session):
        tools = await session.list_tools()
        names = {t.name for t in tools.tools}
        assert expected <= names
        for tool in tools.tools:
            assert field(tool, "input_schema", "inputSchema")["type"] == "object" and tool.description
        who = await session.call_tool("whoami", {})
        assert not field(who, "is_error", "isError") and "alice" in text_of(who)
        registered = await session.call_tool("register", {"name": "alice", "role": "api"})
        assert not field(registered, "is_error", "isError")
        created = await session.call_tool("create_task", {"title": "Ship API", "file": ["src/a.py"]})
        assert not field(created, "is_error", "isError"), text_of(created)
        claimed = await session.call_tool("claim_next", {})
        assert not field(claimed, "is_error", "isError") and "Ship API" in text_of(claimed)
        locked = await session.call_tool("lock", {"paths": ["src/b.py"], "reason": "mine"})
        assert not field(locked, "is_error", "isError")
        return field(claimed, "structured_content", "structuredContent")["task"]["id"]

    task_id = asyncio.run(with_session(cli.pyz, cli.repo, "alice", alice))

    async def bob(session):
        stolen = await session.call_tool("claim_task", {"task": str(task_id)})
        assert field(stolen, "is_error", "isError") and "owned by alice" in text_of(stolen)
        conflict = await session.call_tool("lock", {"paths": ["src/a.py"]})
        assert field(conflict, "is_error", "isError") and 'locked by "alice"' in text_of(conflict)
        bad = await session.call_tool("lock", {"paths": "src/a.py"})
        assert field(bad, "is_error", "isError") and "paths" in text_of(bad)
        sent = await session.call_tool("send", {"to": "alice", "message": "may I have src/a.py?"})
        assert not field(sent, "is_error", "isError")
        nobody = await session.call_tool("send", {"to": "nobody-here", "message": "hi"})
        assert field(nobody, "is_error", "isError") and "nothing was sent" in text_of(nobody)

    asyncio.run(with_session(cli.pyz, cli.repo, "bob", bob))

    async def alice_again(session):
        inbox = await session.call_tool("inbox", {})
        assert "may I have src/a.py?" in text_of(inbox)
        done = await session.call_tool("complete_task", {"task": str(task_id)})
        assert not field(done, "is_error", "isError")

    asyncio.run(with_session(cli.pyz, cli.repo, "alice", alice_again))
    rc, doc = cli.json("lock", "src/a.py", agent="bob")
    assert rc == 0, doc


def test_mcp_protocol_edges(cli):
    lines = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": "2099-01-01", "clientInfo": {"name": "probe client"}, "capabilities": {}},
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "ping"},
        {"jsonrpc": "2.0", "id": 3, "method": "server/discover"},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}},
    ]
    data = "\n".join(json.dumps(m) for m in lines) + "\nnot json\n"
    r = subprocess.run(
        PY + [str(cli.pyz), "mcp"],
        input=data,
        capture_output=True,
        text=True,
        cwd=cli.repo,
        env=clean_env(),
        timeout=30,
    )
    replies = [json.loads(line) for line in r.stdout.splitlines()]
    assert [m.get("id") for m in replies] == [1, 2, 3, 4, None]
    assert replies[0]["result"]["protocolVersion"] == "2025-11-25"
    assert replies[1]["result"] == {}
    assert replies[2]["error"]["code"] == -32601
    assert "probe-client-" in replies[3]["result"]["content"][0]["text"]
    assert replies[4]["error"]["code"] == -32700


def test_install_mcp_merges_and_is_idempotent(cli):
    (cli.repo / ".mcp.json").write_text(json.dumps({"mcpServers": {"other": {"command": "x"}}}))
    cli.ok("install", "--mcp", "--no-settings")
    first = (cli.repo / ".mcp.json").read_bytes()
    servers = json.loads(first)["mcpServers"]
    assert set(servers) == {"other", "agent-sync"} and servers["agent-sync"]["args"][-1] == "mcp"
    cli.ok("install", "--mcp", "--no-settings")
    assert (cli.repo / ".mcp.json").read_bytes() == first
    cli.ok("uninstall")
    assert json.loads((cli.repo / ".mcp.json").read_text()) == {"mcpServers": {"other": {"command": "x"}}}


# Other agents' hooks -----------------------------------------------------------


@pytest.fixture
def locked(cli):
    (cli.repo / "src").mkdir()
    (cli.repo / "src" / "a.py").write_text("x\n")
    (cli.repo / "src" / "free.py").write_text("x\n")
    cli.ok("lock", "src/a.py", "--reason", "refactor", agent="holder")
    return cli


def run_hook(cli, event, payload, args=(), env=None):
    r = subprocess.run(
        PY + [str(cli.pyz), "hook", event, *args],
        input=json.dumps(payload).encode(),
        capture_output=True,
        cwd=cli.repo,
        env=clean_env(**(env or {})),
        timeout=30,
    )
    assert r.returncode == 0 and b"Traceback" not in r.stderr
    return json.loads(r.stdout) if r.stdout.strip() else None


def test_cursor_pre_tool_use_and_shell(locked):
    repo = str(locked.repo)
    base = {
        "conversation_id": "c-1",
        "generation_id": "g",
        "hook_event_name": "preToolUse",
        "cursor_version": "1.7.0",
        "workspace_roots": [repo],
    }
    out = run_hook(
        locked,
        "pre-tool-use",
        {**base, "tool_name": "Write", "tool_input": {"file_path": f"{repo}/src/a.py", "content": "y"}},
    )
    assert out["permission"] == "deny" and 'locked by "holder"' in out["agent_message"]
    out = run_hook(
        locked, "pre-tool-use", {**base, "tool_name": "Write", "tool_input": {"file_path": f"{repo}/src/free.py"}}
    )
    assert out == {"permission": "allow"}
    shell = {
        "conversation_id": "c-1",
        "hook_event_name": "beforeShellExecution",
        "cursor_version": "1.7.0",
        "command": "echo hi > src/a.py",
        "cwd": repo,
        "workspace_roots": [repo],
    }
    out = run_hook(locked, "pre-tool-use", shell, ["--agent", "cursor"])
    assert out["permission"] == "deny"
    out = run_hook(locked, "pre-tool-use", {**shell, "command": "cat src/a.py"}, ["--agent", "cursor"])
    assert out == {"permission": "allow"}


def test_gemini_before_tool(locked):
    repo = str(locked.repo)
    base = {"session_id": "g-1", "cwd": repo, "hook_event_name": "BeforeTool", "timestamp": "2026-11-24T00:00:00Z"}
    out = run_hook(
        locked,
        "pre-tool-use",
        {**base, "tool_name": "replace", "tool_input": {"file_path": "src/a.py", "old_string": "x", "new_string": "y"}},
        ["--agent", "gemini"],
    )
    assert out["decision"] == "deny" and "src/a.py" in out["reason"]
    out = run_hook(
        locked,
        "pre-tool-use",
        {**base, "tool_name": "run_shell_command", "tool_input": {"command": "sed -i s/x/y/ src/a.py"}},
    )
    assert out["decision"] == "deny"
    assert (
        run_hook(
            locked,
            "pre-tool-use",
            {**base, "tool_name": "write_file", "tool_input": {"file_path": "src/free.py", "content": "z"}},
            ["--agent", "gemini"],
        )
        is None
    )


def test_codex_apply_patch(locked):
    repo = str(locked.repo)
    patch = "*** Begin Patch\n*** Update File: src/free.py\n@@\n-x\n+y\n*** Update File: src/a.py\n@@\n-x\n+y\n*** End Patch\n"
    base = {
        "session_id": "x-1",
        "turn_id": "t-1",
        "cwd": repo,
        "hook_event_name": "PreToolUse",
        "model": "gpt",
        "permission_mode": "default",
    }
    out = run_hook(locked, "pre-tool-use", {**base, "tool_name": "apply_patch", "tool_input": {"command": patch}})
    assert out["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert "src/a.py" in out["hookSpecificOutput"]["permissionDecisionReason"]
    assert set(out["hookSpecificOutput"]) == {"hookEventName", "permissionDecision", "permissionDecisionReason"}
    free = patch.replace("src/a.py", "src/free.py")
    assert (
        run_hook(
            locked,
            "pre-tool-use",
            {**base, "tool_name": "apply_patch", "tool_input": {"command": free}},
            ["--agent", "codex"],
        )
        is None
    )


def test_install_other_agents_idempotent_and_removable(cli):
    for agent, path in (
        ("cursor", ".cursor/hooks.json"),
        ("gemini", ".gemini/settings.json"),
        ("codex", ".codex/config.toml"),
    ):
        cli.ok("install", "--agent", agent)
        first = (cli.repo / path).read_bytes()
        cli.ok("install", "--agent", agent)
        assert (cli.repo / path).read_bytes() == first, agent
    cursor = json.loads((cli.repo / ".cursor/hooks.json").read_text())
    assert cursor["version"] == 1 and "preToolUse" in cursor["hooks"]
    assert all(set(e) == {"command"} for entries in cursor["hooks"].values() for e in entries)
    gemini = json.loads((cli.repo / ".gemini/settings.json").read_text())
    assert gemini["hooks"]["BeforeTool"][0]["matcher"] == "write_file|replace|run_shell_command"
    assert "[mcp_servers.agent-sync]" in (cli.repo / ".codex/config.toml").read_text()
    cli.ok("uninstall")
    for path in (".cursor/hooks.json", ".gemini/settings.json", ".codex/config.toml"):
        assert not (cli.repo / path).exists(), path


def test_installed_cursor_command_denies(cli):
    (cli.repo / "a.py").write_text("x\n")
    cli.ok("install", "--agent", "cursor")
    cli.ok("lock", "a.py", agent="holder")
    command = json.loads((cli.repo / ".cursor/hooks.json").read_text())["hooks"]["preToolUse"][0]["command"]
    payload = {
        "conversation_id": "c-9",
        "cursor_version": "1.7.0",
        "hook_event_name": "preToolUse",
        "tool_name": "Edit",
        "tool_input": {"file_path": str(cli.repo / "a.py")},
        "workspace_roots": [str(cli.repo)],
    }
    r = subprocess.run(
        ["sh", "-c", command], input=json.dumps(payload), capture_output=True, text=True, cwd=cli.repo, env=clean_env()
    )
    assert r.returncode == 0 and json.loads(r.stdout)["permission"] == "deny"


# Directory and glob locks in hooks ------------------------------------------------


def test_directory_and_glob_locks_deny_edits_and_overlap_both_ways(cli):
    (cli.repo / "src" / "api").mkdir(parents=True)
    (cli.repo / "db").mkdir()
    cli.ok("lock", "src/api/", agent="a")
    rc, out, _ = cli.hook("pre-tool-use", edit_payload(cli.repo / "src/api/deep/x.py"), agent="b")
    assert denied(out)
    rc, out, _ = cli.hook("pre-tool-use", edit_payload(cli.repo / "src/other.py"), agent="b")
    assert not denied(out)
    r = cli("lock", "src/api/users.py", agent="b")
    assert r.returncode == 1 and 'locked by "a"' in r.stderr
    cli.ok("lock", "src/web/page.tsx", agent="b")
    r = cli("lock", "src/", agent="a")
    assert r.returncode == 1 and 'locked by "b"' in r.stderr
    cli.ok("lock", "db/**/*.sql", agent="a")
    rc, out, _ = cli.hook("pre-tool-use", edit_payload(cli.repo / "db/m/0001.sql"), agent="b")
    assert denied(out)
    rc, out, _ = cli.hook("pre-tool-use", edit_payload(cli.repo / "db/m/0001.py"), agent="b")
    assert not denied(out)
    r = cli("lock", "db/", agent="b")
    assert r.returncode == 1


# Git guard ------------------------------------------------------------------------


def git(repo, *args, env=None):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env)


def test_git_guard_refuses_locked_files_and_chains_existing_hook(cli):
    hook = cli.repo / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text('#!/bin/sh\necho existing >> "$(git rev-parse --git-dir)/existing-ran"\n')
    hook.chmod(0o755)
    cli.ok("install", "--git-hook", "--no-settings")
    (cli.repo / "a.py").write_text("x\n")
    (cli.repo / "b.py").write_text("y\n")
    cli.ok("lock", "a.py", "--reason", "mid-refactor", agent="holder")
    git(cli.repo, "add", "a.py", "b.py")
    env = clean_env(AGENT_SYNC_ID="committer")
    r = git(cli.repo, "commit", "-qm", "x", env=env)
    assert r.returncode != 0 and '"a.py" is locked by "holder"' in r.stderr and "mid-refactor" in r.stderr
    assert (cli.repo / ".git" / "existing-ran").exists()
    r = git(cli.repo, "commit", "-qm", "x", env={**env, "AGENT_SYNC_ALLOW_COMMIT": "1"})
    assert r.returncode == 0, r.stderr
    (cli.repo / "b.py").write_text("z\n")
    git(cli.repo, "add", "b.py")
    assert git(cli.repo, "commit", "-qm", "y", env=env).returncode == 0
    cli.ok("uninstall")
    assert "existing" in hook.read_text()


def test_git_guard_in_linked_worktree(cli):
    (cli.repo / "a.py").write_text("x\n")
    git(cli.repo, "add", "a.py")
    git(cli.repo, "commit", "-qm", "init")
    cli.ok("install", "--git-hook", "--no-settings")
    wt = cli.repo.parent / "wt"
    assert git(cli.repo, "worktree", "add", "-q", str(wt)).returncode == 0
    cli.ok("lock", "a.py", agent="holder")
    (wt / "a.py").write_text("changed\n")
    git(wt, "add", "a.py")
    r = git(wt, "commit", "-qm", "x", env=clean_env(AGENT_SYNC_ID="other"))
    assert r.returncode != 0 and 'locked by "holder"' in r.stderr
