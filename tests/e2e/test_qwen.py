"""Real Qwen Code (pinned, see harness) against the scripted model server,
agent-sync NOT installed: the ground the Qwen dialect (issue 27) stands on.
See docs/clients-copilot-qwen-opencode.md."""

import json

import pytest

from .harness import run_qwen
from .test_copilot import tool_results

pytestmark = pytest.mark.e2e

EVENTS = ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop"]


def test_qwen_edits_a_free_file(qwen_bin, world, server):
    notes = world.write("notes.txt", "original\n")
    server.script = [
        {"tool": "read_file", "input": {"file_path": str(notes)}},  # Qwen edits only files it has read
        {"tool": "edit", "input": {"file_path": str(notes), "old_string": "original", "new_string": "edited"}},
        {"text": "done"},
    ]
    run_qwen(qwen_bin, world, server)
    assert notes.read_text() == "edited\n"
    assert any("has been updated" in str(r) for r in tool_results(server).values()), tool_results(server)


def test_qwen_hooks(qwen_bin, world, server, probe):
    """Claude-compatible hooks in .qwen/settings.json: deny is an is_error tool
    result, SessionStart context lands in the system prompt, UserPromptSubmit
    context (also before every tool-result continuation) in the messages, a
    Stop block forces one more turn."""
    notes = world.write("notes.txt", "original\n")
    hooks = {e: [{"matcher": "*", "hooks": [{"type": "command", "command": probe(e)}]}] for e in EVENTS}
    world.write(".qwen/settings.json", json.dumps({"hooks": hooks}))
    probe.answer(
        "PreToolUse",
        {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": "DENY-EDIT",
            }
        },
        "edit",
    )
    probe.answer(
        "SessionStart", {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": "CTX-SESSION"}}
    )
    probe.answer(
        "UserPromptSubmit",
        {"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": "CTX-PROMPT"}},
    )
    probe.answer("Stop", {"decision": "block", "reason": "STOP-AGAIN"}, once=True)
    server.script = [
        {"tool": "read_file", "input": {"file_path": str(notes)}},
        {"tool": "edit", "input": {"file_path": str(notes), "old_string": "original", "new_string": "edited"}},
        {"tool": "run_shell_command", "input": {"command": "echo hi > shell.txt", "description": "write"}},
        {"text": "done"},
    ]
    run_qwen(qwen_bin, world, server)
    assert notes.read_text() == "original\n"
    by = {}
    for r in probe.records():
        by.setdefault(r["event"], []).append(r)
    sid = by["SessionStart"][0]["payload"]["session_id"]
    assert by["SessionStart"][0]["payload"]["source"] == "startup"
    pre = {r["payload"]["tool_name"]: r["payload"] for r in by["PreToolUse"]}
    assert set(pre["edit"]["tool_input"]) == {"file_path", "old_string", "new_string"}
    assert pre["run_shell_command"]["tool_input"]["command"] == "echo hi > shell.txt"
    assert all(p["session_id"] == sid for p in pre.values())
    env = by["PreToolUse"][0]["env"]
    assert env["QWEN_CODE_SESSION_ID"] == sid and env["QWEN_PROJECT_DIR"] == str(world.root)
    assert env["CLAUDE_PROJECT_DIR"] == str(world.root) and env["QWEN_CODE_LAUNCHER_PID"].isdigit()
    assert [r["payload"]["stop_hook_active"] for r in by["Stop"]] == [False, True]
    assert len(by["UserPromptSubmit"]) > 2  # once per prompt and once per tool-result continuation
    first = server.main_requests()[0]["body"]
    assert "CTX-SESSION" in json.dumps(first["system"]) and "CTX-PROMPT" in json.dumps(first["messages"])
    denied = [
        b
        for req in server.main_requests()
        for m in req["body"]["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result" and b.get("is_error")
    ]
    assert denied and denied[0]["content"] == "DENY-EDIT", denied
    last = server.main_requests()[-1]["body"]["messages"][-1]
    assert last["role"] == "user" and "STOP-AGAIN" in json.dumps(last)
