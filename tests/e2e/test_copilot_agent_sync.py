"""Real GitHub Copilot CLI (pinned, see harness) with agent-sync installed as
a user would: `install` (the zipapp and the Claude-format hooks, which Copilot
also runs) and `install --agent copilot` (its own .github/hooks). Issue 27."""

import json

import pytest

from .harness import PYZ_IN_REPO, install, run_copilot

pytestmark = pytest.mark.e2e

DENIED = 'agent-sync: edit denied. "locked.txt" is locked by "other"'
#: a write no shell reader can see (a program does it): left to the after-check
CLOBBER = r'''python3 -c "open('locked.txt','w').write('clobbered\n')"'''


@pytest.fixture
def cp(world):
    install(world)  # the zipapp, and Claude Code's hooks: Copilot runs those too
    install(world, "--agent", "copilot")
    assert (world.root / ".claude" / "settings.json").exists()
    assert (world.root / ".github" / "hooks" / "agent-sync.json").exists()
    return world


def results(server):
    """Every tool_result block the model was given, in order (deduplicated by id)."""
    seen = {}
    for req in server.main_requests():
        for msg in req["body"]["messages"]:
            if msg["role"] == "user" and isinstance(msg["content"], list):
                for block in msg["content"]:
                    if block.get("type") == "tool_result":
                        c = block.get("content")
                        seen[block["tool_use_id"]] = c if isinstance(c, str) else json.dumps(c)
    return list(seen.values())


def held(world):
    target = world.write("locked.txt", "original\n")
    world.agent_sync("lock", "locked.txt", "--reason", "other is editing", agent="other")
    return target


@pytest.mark.capability(
    "copilot",
    "preToolUse",
    "denies edit, create and shell writes to a file another live agent holds; the reason is the tool result",
)
@pytest.mark.parametrize("tool", ["edit", "create", "bash"])
def test_edit_of_a_locked_file_is_denied(copilot_bin, cp, server, tool):
    target = held(cp)
    attempt = {
        "edit": {"tool": "edit", "input": {"path": str(target), "old_str": "original", "new_str": "clobbered"}},
        "create": {"tool": "create", "input": {"path": str(target), "file_text": "clobbered\n"}},
        "bash": {"tool": "bash", "input": {"command": "echo clobbered > locked.txt", "description": "overwrite"}},
    }[tool]
    server.script = [{"tool": "view", "input": {"path": str(target)}}, attempt, {"text": "ok"}]
    run_copilot(copilot_bin, cp, server)
    assert target.read_text() == "original\n"
    last = results(server)[-1]
    assert last.startswith("Denied by preToolUse hook: ") and DENIED in last, last
    assert "other is editing" in last
    assert last.count(DENIED) == 1  # the Claude-format hook stood down: one answer, not two
    assert len(server.main_requests()) == 3


@pytest.mark.capability(
    "copilot", "sessionStart", "registers the session and puts who is here and their locks into the model's context"
)
def test_session_start_context_reaches_the_model(copilot_bin, cp, server):
    cp.agent_sync("register", "--name", "backend", agent="other")
    cp.agent_sync("lock", "src/api.py", "--reason", "writing the API", agent="other")
    server.script = [{"text": "ok"}]
    run_copilot(copilot_bin, cp, server)
    first = json.dumps(server.main_requests()[0]["body"]["messages"])
    assert "agent-sync-state" in first and "src/api.py" in first and "writing the API" in first, first[-3000:]
    assert first.count("writing the API") == 1, first  # once: the Claude-format SessionStart stood down


@pytest.mark.capability("copilot", "postToolUse", "pushes a message that arrived mid-turn with the next tool result")
def test_message_sent_mid_turn_arrives_with_the_next_tool_result(copilot_bin, cp, server):
    cp.agent_sync("register", "--name", "backend", agent="other")

    def send():  # while the model thinks about its tool call
        me = [a["id"] for a in cp.json("status")["agents"] if a["id"] != "other"]
        assert len(me) == 1, me
        cp.agent_sync("send", "--to", me[0], "--message", "stop touching the schema", agent="other")

    server.script = [
        {"tool": "bash", "input": {"command": "true", "description": "noop"}, "before": send},
        {"text": "ok"},
    ]
    run_copilot(copilot_bin, cp, server)
    reqs = server.main_requests()
    assert "stop touching the schema" not in json.dumps(reqs[0]["body"]["messages"])
    last = results(server)[-1]
    assert "stop touching the schema" in last and "agent-sync-state" in last, last


@pytest.mark.capability(
    "copilot",
    "preToolUse",
    "locks a file automatically on the session's first edit; the shell's agent-sync is the same agent",
)
def test_own_edit_of_a_free_file_is_allowed_and_takes_the_lock(copilot_bin, cp, server):
    notes = cp.write("notes.txt", "original\n")
    pyz = cp.root / PYZ_IN_REPO
    server.script = [
        {"tool": "view", "input": {"path": str(notes)}},
        {"tool": "edit", "input": {"path": str(notes), "old_str": "original", "new_str": "edited"}},
        {"tool": "bash", "input": {"command": f"python3 {pyz} locks --json", "description": "locks"}},
        {"tool": "bash", "input": {"command": f"python3 {pyz} whoami --json", "description": "who"}},
        {"text": "ok"},
    ]
    run_copilot(copilot_bin, cp, server)
    assert notes.read_text() == "edited\n"
    out = results(server)
    assert "updated with changes" in out[1], out[1]
    locks = json.loads(out[2][out[2].index("{") : out[2].rindex("}") + 1])["locks"]
    who = json.loads(out[3][out[3].index("{") : out[3].rindex("}") + 1])
    assert [(lk["path"], lk["owner"]) for lk in locks] == [("notes.txt", who["id"])], (locks, who)


@pytest.mark.capability(
    "copilot",
    "postToolUse",
    "puts back a held file that a shell command changed (a script, an interpreter: what no reader sees),"
    " keeps the writer's version and tells the model in the tool result",
)
def test_write_no_reader_sees_is_put_back_and_the_model_told(copilot_bin, cp, server):
    target = held(cp)
    server.script = [{"tool": "bash", "input": {"command": CLOBBER, "description": "overwrite"}}, {"text": "ok"}]
    run_copilot(copilot_bin, cp, server)
    assert target.read_text() == "original\n"
    kept = list((cp.root / ".claude" / "coordination" / "undone").rglob("locked.txt"))
    assert [p.read_text() for p in kept] == ["clobbered\n"], kept
    reqs = server.main_requests()
    assert len(reqs) == 2
    assert "put back to the holder" not in json.dumps(reqs[0]["body"])
    last = results(server)[-1]
    assert "put back to the holder" in last and "locked.txt" in last, last
    assert last.count("put back to the holder") == 1, last
    assert "locked.txt" in cp.agent_sync("inbox", agent="other").stdout
