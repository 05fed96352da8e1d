"""Real opencode (pinned, see harness; npm offline with a dead registry) with
agent-sync installed as a user would: `install` (the zipapp) and
`install --agent opencode` (the in-process plugin .opencode/plugins/agent-sync.js).
Issue 27."""

import json

import pytest

from .harness import PYZ_IN_REPO, install, run_opencode
from .test_copilot_agent_sync import CLOBBER, DENIED, held, results

pytestmark = pytest.mark.e2e


@pytest.fixture
def oc(world):
    install(world)  # the zipapp the plugin runs lives in .claude/skills/agent-sync
    install(world, "--agent", "opencode")
    assert (world.root / ".opencode" / "plugins" / "agent-sync.js").exists()
    return world


def read(path):
    return {"tool": "read", "input": {"filePath": str(path)}}  # opencode edits only files it has read


def shell(command):
    return {"tool": "bash", "input": {"command": command, "description": "run"}}


def errors(server):
    return [
        b
        for m in server.main_requests()[-1]["body"]["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result" and b.get("is_error")
    ]


@pytest.mark.capability(
    "opencode",
    "tool.execute.before",
    "denies edit, write and shell writes to a file another live agent holds; the reason is the tool result",
)
@pytest.mark.parametrize("tool", ["edit", "write", "bash"])
def test_edit_of_a_locked_file_is_denied(opencode_bin, oc, server, tool):
    target = held(oc)
    attempt = {
        "edit": {"tool": "edit", "input": {"filePath": str(target), "oldString": "original", "newString": "clobbered"}},
        "write": {"tool": "write", "input": {"filePath": str(target), "content": "clobbered\n"}},
        "bash": shell("echo clobbered > locked.txt"),
    }[tool]
    server.script = [read(target), attempt, {"text": "ok"}]
    run_opencode(opencode_bin, oc, server)
    assert target.read_text() == "original\n"
    last = results(server)[-1]
    assert last.startswith(DENIED) and "other is editing" in last, last
    assert [b["content"] for b in errors(server)] == [last]
    assert not (oc.root / ".opencode" / "node_modules").exists()  # npm offline: the plugin needs none


@pytest.mark.capability(
    "opencode",
    "experimental.chat.system.transform",
    "registers the session and puts who is here and their locks into the system prompt of every model call",
)
def test_session_start_context_reaches_the_model(opencode_bin, oc, server):
    oc.agent_sync("register", "--name", "backend", agent="other")
    oc.agent_sync("lock", "src/api.py", "--reason", "writing the API", agent="other")
    server.script = [{"text": "ok"}]
    run_opencode(opencode_bin, oc, server)
    system = json.dumps(server.main_requests()[0]["body"]["system"])
    assert "agent-sync-state" in system and "src/api.py" in system and "writing the API" in system, system[-3000:]
    assert system.count("writing the API") == 1, system


@pytest.mark.capability(
    "opencode", "tool.execute.after", "pushes a message that arrived mid-turn with the next tool result"
)
def test_message_sent_mid_turn_arrives_with_the_next_tool_result(opencode_bin, oc, server):
    oc.agent_sync("register", "--name", "backend", agent="other")

    def send():  # while the model thinks about its tool call
        me = [a["id"] for a in oc.json("status")["agents"] if a["id"] != "other"]
        assert len(me) == 1, me
        oc.agent_sync("send", "--to", me[0], "--message", "stop touching the schema", agent="other")

    server.script = [dict(shell("true"), before=send), {"text": "ok"}]
    run_opencode(opencode_bin, oc, server)
    reqs = server.main_requests()
    assert "stop touching the schema" not in json.dumps(reqs[0]["body"])
    last = results(server)[-1]
    assert "stop touching the schema" in last and "agent-sync-state" in last, last


@pytest.mark.capability(
    "opencode",
    "tool.execute.before",
    "locks a file automatically on the session's first edit; the shell's agent-sync is the same agent",
)
def test_own_edit_of_a_free_file_is_allowed_and_takes_the_lock(opencode_bin, oc, server):
    notes = oc.write("notes.txt", "original\n")
    pyz = oc.root / PYZ_IN_REPO
    server.script = [
        read(notes),
        {"tool": "edit", "input": {"filePath": str(notes), "oldString": "original", "newString": "edited"}},
        shell(f"python3 {pyz} locks --json"),
        shell(f"python3 {pyz} whoami --json"),
        {"text": "ok"},
    ]
    run_opencode(opencode_bin, oc, server)
    assert notes.read_text() == "edited\n"
    out = results(server)
    assert "Edit applied" in out[1], out[1]
    locks = json.loads(out[2][out[2].index("{") : out[2].rindex("}") + 1])["locks"]
    who = json.loads(out[3][out[3].index("{") : out[3].rindex("}") + 1])
    assert [(lk["path"], lk["owner"]) for lk in locks] == [("notes.txt", who["id"])], (locks, who)
    assert who["source"] == "client process"  # no session id in opencode's shell: its process names the agent


@pytest.mark.capability(
    "opencode",
    "tool.execute.after",
    "puts back a held file that a shell command changed (a script, an interpreter: what no reader sees),"
    " keeps the writer's version and tells the model in the tool result",
)
def test_write_no_reader_sees_is_put_back_and_the_model_told(opencode_bin, oc, server):
    target = held(oc)
    server.script = [shell(CLOBBER), {"text": "ok"}]
    run_opencode(opencode_bin, oc, server)
    assert target.read_text() == "original\n"
    kept = list((oc.root / ".claude" / "coordination" / "undone").rglob("locked.txt"))
    assert [p.read_text() for p in kept] == ["clobbered\n"], kept
    reqs = server.main_requests()
    assert len(reqs) == 2
    assert "put back to the holder" not in json.dumps(reqs[0]["body"])
    last = results(server)[-1]
    assert "put back to the holder" in last and "locked.txt" in last, last
    assert "locked.txt" in oc.agent_sync("inbox", agent="other").stdout
