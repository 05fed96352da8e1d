"""Real opencode (pinned, see harness) against the scripted model server,
agent-sync NOT installed: the ground the opencode dialect (issue 27) stands
on. See docs/clients-copilot-qwen-opencode.md."""

import json

import pytest

from .harness import OPENCODE_PROBE, run_opencode
from .test_copilot import tool_results

pytestmark = pytest.mark.e2e


def test_opencode_edits_a_free_file(opencode_bin, world, server):
    notes = world.write("notes.txt", "original\n")
    server.script = [
        {"tool": "read", "input": {"filePath": str(notes)}},  # opencode edits only files it has read
        {"tool": "edit", "input": {"filePath": str(notes), "oldString": "original", "newString": "edited"}},
        {"text": "done"},
    ]
    run_opencode(opencode_bin, world, server)
    assert notes.read_text() == "edited\n"
    assert any("Edit applied" in str(r) for r in tool_results(server).values()), tool_results(server)


def test_opencode_plugin(opencode_bin, world, server, tmp_path):
    """A project plugin that imports nothing from npm loads with npm offline
    (no .opencode/node_modules); a throw in tool.execute.before is an is_error
    tool result, the system transform reaches every model call, text appended
    in tool.execute.after reaches the model with the tool output."""
    log = tmp_path / "opencode-probe.jsonl"
    world.write(".opencode/plugins/probe.js", OPENCODE_PROBE.replace("__LOG__", json.dumps(str(log))))
    answers = {"deny:edit": "DENY-EDIT", "after:bash": "CTX-AFTER", "system": "CTX-SYSTEM"}
    log.with_name(log.name + ".answers.json").write_text(json.dumps(answers))
    notes = world.write("notes.txt", "original\n")
    server.script = [
        {"tool": "read", "input": {"filePath": str(notes)}},
        {"tool": "edit", "input": {"filePath": str(notes), "oldString": "original", "newString": "edited"}},
        {"tool": "bash", "input": {"command": "echo hi > shell.txt", "description": "write"}},
        {"text": "done"},
    ]
    run_opencode(opencode_bin, world, server)
    assert notes.read_text() == "original\n"
    assert not (world.root / ".opencode" / "node_modules").exists()
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    before = {r["payload"]["input"]["tool"]: r for r in recs if r["event"] == "tool.execute.before"}
    assert set(before["edit"]["payload"]["output"]["args"]) == {"filePath", "oldString", "newString"}
    assert before["bash"]["payload"]["output"]["args"]["command"] == "echo hi > shell.txt"
    sid = before["edit"]["payload"]["input"]["sessionID"]
    assert sid.startswith("ses_") and before["edit"]["payload"]["input"]["callID"]
    assert before["edit"]["env"]["OPENCODE_PID"] == str(before["edit"]["pid"])
    assert [r["payload"]["properties"]["sessionID"] for r in recs if r["event"] == "event:session.idle"] == [sid]
    results = tool_results(server)
    assert "DENY-EDIT" in results.values() and any(str(r).endswith("CTX-AFTER") for r in results.values())
    systems = [json.dumps(r["body"].get("system")) for r in server.requests if r["path"].endswith("/v1/messages")]
    assert systems and all("CTX-SYSTEM" in s for s in systems)
