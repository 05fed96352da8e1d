"""Real Qwen Code (pinned, see harness) with agent-sync installed as a user
would: `install` (the zipapp) and `install --agent qwen` (.qwen/settings.json).
Issue 27."""

import json

import pytest

from .harness import PYZ_IN_REPO, install, run_qwen
from .test_copilot_agent_sync import CLOBBER, DENIED, held, results

pytestmark = pytest.mark.e2e


@pytest.fixture
def qw(world):
    install(world)  # the zipapp the Qwen hooks run lives in .claude/skills/agent-sync
    install(world, "--agent", "qwen")
    assert (world.root / ".qwen" / "settings.json").exists()
    return world


def read(path):
    return {"tool": "read_file", "input": {"file_path": str(path)}}  # Qwen edits only files it has read


def shell(command):
    return {"tool": "run_shell_command", "input": {"command": command, "description": "run"}}


@pytest.mark.capability(
    "qwen",
    "PreToolUse",
    "denies edit, write_file and shell writes to a file another live agent holds; the reason is the tool result",
)
@pytest.mark.parametrize("tool", ["edit", "write_file", "run_shell_command"])
def test_edit_of_a_locked_file_is_denied(qwen_bin, qw, server, tool):
    target = held(qw)
    attempt = {
        "edit": {
            "tool": "edit",
            "input": {"file_path": str(target), "old_string": "original", "new_string": "clobbered"},
        },
        "write_file": {"tool": "write_file", "input": {"file_path": str(target), "content": "clobbered\n"}},
        "run_shell_command": shell("echo clobbered > locked.txt"),
    }[tool]
    server.script = [read(target), attempt, {"text": "ok"}]
    run_qwen(qwen_bin, qw, server)
    assert target.read_text() == "original\n"
    last = results(server)[-1]
    assert last.startswith(DENIED) and "other is editing" in last, last
    denied = [
        b
        for m in server.main_requests()[-1]["body"]["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result" and b.get("is_error")
    ]
    assert len(denied) == 1 and denied[0]["content"] == last, denied


@pytest.mark.capability(
    "qwen", "SessionStart", "registers the session and puts who is here and their locks into the model's context"
)
def test_session_start_context_reaches_the_model(qwen_bin, qw, server):
    qw.agent_sync("register", "--name", "backend", agent="other")
    qw.agent_sync("lock", "src/api.py", "--reason", "writing the API", agent="other")
    server.script = [{"text": "ok"}]
    run_qwen(qwen_bin, qw, server)
    first = server.main_requests()[0]["body"]
    system = json.dumps(first["system"])
    assert "agent-sync-state" in system and "src/api.py" in system and "writing the API" in system, system[-3000:]
    assert "<qwen:session-start-context" in system


@pytest.mark.capability(
    "qwen",
    "UserPromptSubmit",
    "pushes a message that arrived mid-turn at the continuation after the next tool result",
)
def test_message_sent_mid_turn_arrives_after_the_next_tool_call(qwen_bin, qw, server):
    qw.agent_sync("register", "--name", "backend", agent="other")

    def send():  # while the model thinks about its tool call
        me = [a["id"] for a in qw.json("status")["agents"] if a["id"] != "other"]
        assert len(me) == 1, me
        qw.agent_sync("send", "--to", me[0], "--message", "stop touching the schema", agent="other")

    server.script = [dict(shell("true"), before=send), {"text": "ok"}]
    run_qwen(qwen_bin, qw, server)
    reqs = server.main_requests()
    assert "stop touching the schema" not in json.dumps(reqs[0]["body"]["messages"])
    second = json.dumps(reqs[1]["body"]["messages"])
    assert "stop touching the schema" in second and "agent-sync-state" in second, second[-3000:]
    assert second.count("stop touching the schema") == 1, second[-3000:]  # pushed once


@pytest.mark.capability(
    "qwen",
    "PreToolUse",
    "locks a file automatically on the session's first edit; the shell's agent-sync is the same agent",
)
def test_own_edit_of_a_free_file_is_allowed_and_takes_the_lock(qwen_bin, qw, server):
    notes = qw.write("notes.txt", "original\n")
    pyz = qw.root / PYZ_IN_REPO
    server.script = [
        read(notes),
        {"tool": "edit", "input": {"file_path": str(notes), "old_string": "original", "new_string": "edited"}},
        shell(f"python3 {pyz} locks --json"),
        shell(f"python3 {pyz} whoami --json"),
        {"text": "ok"},
    ]
    run_qwen(qwen_bin, qw, server)
    assert notes.read_text() == "edited\n"
    out = results(server)
    assert "has been updated" in out[1], out[1]
    locks = json.loads(out[2][out[2].index("{") : out[2].rindex("}") + 1])["locks"]
    who = json.loads(out[3][out[3].index("{") : out[3].rindex("}") + 1])
    assert [(lk["path"], lk["owner"]) for lk in locks] == [("notes.txt", who["id"])], (locks, who)


@pytest.mark.capability(
    "qwen",
    "PostToolUse",
    "puts back a held file that a shell command changed (a script, an interpreter: what no reader sees),"
    " keeps the writer's version and tells the model in the tool result",
)
def test_write_no_reader_sees_is_put_back_and_the_model_told(qwen_bin, qw, server):
    target = held(qw)
    server.script = [shell(CLOBBER), {"text": "ok"}]
    run_qwen(qwen_bin, qw, server)
    assert target.read_text() == "original\n"
    kept = list((qw.root / ".claude" / "coordination" / "undone").rglob("locked.txt"))
    assert [p.read_text() for p in kept] == ["clobbered\n"], kept
    reqs = server.main_requests()
    assert len(reqs) == 2
    assert "put back to the holder" not in json.dumps(reqs[0]["body"])
    last = results(server)[-1]
    assert "put back to the holder" in last and "locked.txt" in last, last
    assert "locked.txt" in qw.agent_sync("inbox", agent="other").stdout
