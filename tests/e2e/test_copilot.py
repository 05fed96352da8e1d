"""Real GitHub Copilot CLI (pinned, see harness) against the scripted model
server, agent-sync NOT installed: the ground the Copilot dialect (issue 27)
stands on. What each payload and answer looks like is written up in
docs/clients-copilot-qwen-opencode.md; these tests keep it true."""

import json

import pytest

from .harness import run_copilot

pytestmark = pytest.mark.e2e

CLAUDE_EVENTS = ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop"]
NATIVE_EVENTS = ["sessionStart", "userPromptSubmitted", "preToolUse", "postToolUse", "agentStop"]


def tool_results(server):
    """tool_use_id -> tool_result content over every request the model got."""
    out = {}
    for req in server.main_requests():
        for msg in req["body"]["messages"]:
            if msg["role"] == "user" and isinstance(msg["content"], list):
                for block in msg["content"]:
                    if block.get("type") == "tool_result":
                        out[block["tool_use_id"]] = block.get("content")
    return out


def test_copilot_edits_a_free_file(copilot_bin, world, server):
    notes = world.write("notes.txt", "original\n")
    server.script = [
        {"tool": "view", "input": {"path": str(notes)}},
        {"tool": "edit", "input": {"path": str(notes), "old_str": "original", "new_str": "edited"}},
        {"text": "done"},
    ]
    run_copilot(copilot_bin, world, server)
    assert notes.read_text() == "edited\n"
    assert any("updated with changes" in str(r) for r in tool_results(server).values()), tool_results(server)


def test_copilot_hooks_both_formats(copilot_bin, world, server, probe):
    """Claude-format hooks (.claude/settings.json) and native ones
    (.github/hooks/*.json) both run; a native deny reaches the model, context
    reaches it only as a top-level `additionalContext`, a Stop block forces
    one more turn with the reason as the prompt."""
    notes = world.write("notes.txt", "original\n")
    claude = {
        e: [{"matcher": "*", "hooks": [{"type": "command", "command": probe("claude:" + e)}]}] for e in CLAUDE_EVENTS
    }
    native = {e: [{"type": "command", "bash": probe("native:" + e), "timeoutSec": 30}] for e in NATIVE_EVENTS}
    world.write(".claude/settings.json", json.dumps({"hooks": claude}))
    world.write(".github/hooks/probe.json", json.dumps({"version": 1, "hooks": native}))
    probe.answer("native:preToolUse", {"permissionDecision": "deny", "permissionDecisionReason": "DENY-EDIT"}, "edit")
    probe.answer("claude:SessionStart", {"additionalContext": "CTX-SESSION-TOP"})
    probe.answer(
        "claude:UserPromptSubmit",
        {"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": "CTX-PROMPT-NESTED"}},
    )
    probe.answer("native:userPromptSubmitted", {"additionalContext": "CTX-PROMPT-NATIVE"})
    probe.answer("claude:Stop", {"decision": "block", "reason": "STOP-AGAIN"}, once=True)
    server.script = [
        {"tool": "edit", "input": {"path": str(notes), "old_str": "original", "new_str": "edited"}},
        {"tool": "bash", "input": {"command": "echo hi > shell.txt", "description": "write"}},
        {"text": "done"},
    ]
    run_copilot(copilot_bin, world, server)
    assert notes.read_text() == "original\n"
    recs = probe.records()
    by = {}
    for r in recs:
        by.setdefault(r["event"], []).append(r)
    sid = by["native:sessionStart"][0]["payload"]["sessionId"]
    assert by["claude:SessionStart"][0]["payload"]["session_id"] == sid
    pre = [r["payload"] for r in by["native:preToolUse"]]
    assert pre[0]["toolName"] == "edit" and set(pre[0]["toolArgs"]) == {"path", "old_str", "new_str"}
    assert pre[1]["toolName"] == "bash" and pre[1]["toolArgs"]["command"] == "echo hi > shell.txt"
    # the native deny short-circuits: the Claude-format PreToolUse ran for bash only
    assert [r["payload"]["tool_name"] for r in by["claude:PreToolUse"]] == ["Bash"]
    assert by["claude:PreToolUse"][0]["payload"]["tool_input"]["command"] == "echo hi > shell.txt"
    env = by["claude:SessionStart"][0]["env"]
    assert env["COPILOT_PROJECT_DIR"] == env["CLAUDE_PROJECT_DIR"] == str(world.root) and env["COPILOT_CLI"] == "1"
    assert [r["payload"]["stop_hook_active"] for r in by["claude:Stop"]] == [False, True]
    assert "Denied by preToolUse hook: DENY-EDIT" in tool_results(server).values()
    text = server.text()
    assert "CTX-SESSION-TOP" in text and "CTX-PROMPT-NATIVE" in text and "CTX-PROMPT-NESTED" not in text
    last = server.main_requests()[-1]["body"]["messages"][-1]
    assert last["role"] == "user" and "STOP-AGAIN" in json.dumps(last)
