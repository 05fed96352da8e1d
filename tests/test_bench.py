"""The in-client benchmark's own parts that decide what it measures: the
settings it builds from a real install, and its reader of the client's
debug log (lines as Claude Code 2.1.332 writes them)."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import in_client  # noqa: E402

#: one session's debug log, cut from a real run (3 Bash calls, the third's reply is text)
DEBUG_LOG = """\
2026-12-06T19:13:05.150Z [DEBUG] [API REQUEST] /v1/messages source=sdk
2026-12-06T19:13:05.156Z [DEBUG] Stream started - received first chunk
2026-12-06T19:13:05.167Z [DEBUG] Hooks: mcp_tool calling agent-sync/agent_sync_hook with 6 arg(s)
2026-12-06T19:13:05.183Z [INFO] [Stall] tool_dispatch_start tool=Bash toolUseId=toolu_0001 permissionDecisionMs=7
2026-12-06T19:13:05.206Z [INFO] [Stall] tool_dispatch_end tool=Bash toolUseId=toolu_0001 outcome=ok durationMs=23
2026-12-06T19:13:05.227Z [DEBUG] [API REQUEST] /v1/messages source=sdk
2026-12-06T19:13:05.231Z [DEBUG] Stream started - received first chunk
2026-12-06T19:13:05.242Z [INFO] [Stall] tool_dispatch_start tool=Bash toolUseId=toolu_0003 permissionDecisionMs=3
2026-12-06T19:13:05.250Z [INFO] [Stall] tool_dispatch_end tool=Bash toolUseId=toolu_0003 outcome=ok durationMs=8
2026-12-06T19:13:05.263Z [DEBUG] [API REQUEST] /v1/messages source=sdk
2026-12-06T19:13:05.306Z [DEBUG] Stream started - received first chunk
2026-12-06T19:13:05.400Z [DEBUG] Stream completed
"""


def test_a_calls_hooks_are_read_from_the_gaps_around_its_tool(tmp_path):
    log = tmp_path / "debug.log"
    log.write_text(DEBUG_LOG)
    gaps = in_client.cycle_gaps(str(log))
    assert [round(g) for g in gaps["before"]] == [27, 11]  # first chunk -> dispatch; the text reply opens none
    assert [round(g) for g in gaps["after"]] == [21, 13]  # tool end -> next request


def hooks_of(repo):
    with open(Path(repo) / ".claude" / "settings.json") as f:
        return json.load(f)["hooks"]


def kinds(hooks):
    """{event: [(type, command or tool, asyncRewake)]}."""
    return {
        e: [
            (h["type"], h.get("command", h.get("tool", ""))[:40], bool(h.get("asyncRewake")))
            for g in gs
            for h in g["hooks"]
        ]
        for e, gs in hooks.items()
    }


def test_the_floor_settings_change_only_the_hooks_they_name(pyz, tmp_path):
    made = {s: in_client.make_repo(str(tmp_path), s, str(pyz), s) for s in ("resident", *in_client.FLOOR_SETTINGS)}
    installed = kinds(hooks_of(made["resident"]))
    served = {e for e, hs in installed.items() if any(t == "mcp_tool" for t, _, _ in hs)}
    assert served == {"PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop"}
    for setting in in_client.FLOOR_SETTINGS:
        got = kinds(hooks_of(made[setting]))
        assert {e: hs for e, hs in got.items() if e not in served} == {
            e: hs for e, hs in installed.items() if e not in served
        }
        for event in served:
            kept = [h for h in installed[event] if h[2] or h[0] == "mcp_tool" and setting != "floor-sh"]
            exits = [h for h in got[event] if h[:2] == ("command", "exit 0")]
            assert [h for h in got[event] if h not in exits] == kept, (setting, event)
            assert len(exits) == (0 if setting == "floor-mcp" else 1), (setting, event)
        server = json.loads((Path(made[setting]) / ".mcp.json").read_text())["mcpServers"]["agent-sync"]
        assert server["args"][-1] == in_client.TRIVIAL_MCP
    # the PreToolUse matcher is the install's, so the floor runs on the same tool calls
    assert [g.get("matcher") for g in hooks_of(made["floor-sh"])["PreToolUse"]] == [
        g.get("matcher") for g in hooks_of(made["resident"])["PreToolUse"]
    ]


def test_the_trivial_server_answers_every_hook_call_with_nothing():
    """A floor setting's server that failed would make its mcp_tool hooks fail
    open at once, and the floor would read low."""
    import subprocess

    asks = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "agent_sync_hook", "arguments": {}}},
    ]
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", in_client.TRIVIAL_MCP],
        input="".join(json.dumps(a) + "\n" for a in asks),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[0]["result"]["protocolVersion"] == "2025-06-18"
    assert [t["name"] for t in answers[1]["result"]["tools"]] == ["agent_sync_hook"]
    assert answers[2]["result"] == {"content": [{"type": "text", "text": ""}]}
