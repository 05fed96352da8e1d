"""Real Claude Code (pinned versions, see conftest) with agent-sync installed
as the README says, against the scripted model server."""

import json
import uuid

import pytest

from .harness import (
    CLAUDE_FLAGS,
    PYZ_IN_REPO,
    ModelServer,
    StreamSession,
    claude_env,
    events,
    install,
    kill_tree,
    run,
)

pytestmark = pytest.mark.e2e

DENIED = 'agent-sync: edit denied. "locked.txt" is locked by "other"'
LAUNCHER = ".claude/skills/agent-sync/agent-sync"


@pytest.fixture
def cc(world, server):
    install(world)
    return world


def claude(claude_bin, world, server, prompt="go", *extra, env=None):
    r = run([claude_bin, "-p", prompt, *CLAUDE_FLAGS, *extra], world.root, claude_env(world, server, **(env or {})))
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    result = [e for e in events(r.stdout) if e.get("type") == "result"]
    assert result and not result[-1].get("is_error"), r.stdout[-3000:]
    return r


def tool_results(server):
    """tool_use_id -> tool_result text, over every request the model got."""
    out = {}
    for req in server.main_requests():
        for msg in req["body"]["messages"]:
            if msg["role"] != "user" or not isinstance(msg["content"], list):
                continue
            for block in msg["content"]:
                if block.get("type") == "tool_result":
                    c = block.get("content")
                    out[block["tool_use_id"]] = c if isinstance(c, str) else json.dumps(c)
    return list(out.values())


def version_of(claude_bin):
    """(major, minor, patch) of the npm package a client binary came from."""
    return tuple(int(x) for x in str(claude_bin).split("@")[-1].split("/")[0].split("."))


NOTEBOOK = json.dumps(
    {
        "cells": [
            {
                "cell_type": "code",
                "id": "c1",
                "metadata": {},
                "source": ["original"],
                "outputs": [],
                "execution_count": None,
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)


def attempt_on(tool, target):
    """One scripted tool call that would change `target`."""
    return {
        "Write": {"tool": "Write", "input": {"file_path": str(target), "content": "clobbered\n"}},
        "Edit": {
            "tool": "Edit",
            "input": {"file_path": str(target), "old_string": "original", "new_string": "clobbered"},
        },
        "MultiEdit": {
            "tool": "MultiEdit",
            "input": {"file_path": str(target), "edits": [{"old_string": "original", "new_string": "clobbered"}]},
        },
        "NotebookEdit": {
            "tool": "NotebookEdit",
            "input": {"notebook_path": str(target), "cell_id": "c1", "new_source": "clobbered", "edit_mode": "replace"},
        },
        "Bash": {"tool": "Bash", "input": {"command": f"echo clobbered > {target.name}", "description": "overwrite"}},
    }[tool]


@pytest.mark.capability(
    "claude",
    "PreToolUse",
    "denies Write, Edit, NotebookEdit and shell writes to a file another live agent holds; the reason is the tool result",
)
@pytest.mark.parametrize("tool", ["Write", "Edit", "NotebookEdit", "Bash"])
def test_edit_of_file_locked_by_another_agent_is_denied(claude_bin, cc, server, tool):
    """MultiEdit is not here: neither pinned version offers that tool any more
    (the hook still matches it, tests/test_hooks.py feeds its payload)."""
    name = "locked.ipynb" if tool == "NotebookEdit" else "locked.txt"
    original = NOTEBOOK if tool == "NotebookEdit" else "original\n"
    target = cc.write(name, original)
    cc.agent_sync("lock", name, "--reason", "other is editing", agent="other")
    # Claude Code refuses Write/Edit of a file the session has not Read; 2.1.3xx
    # loads NotebookEdit on demand, through ToolSearch.
    steps = [{"tool": "Read", "input": {"file_path": str(target)}}, attempt_on(tool, target), {"text": "ok"}]
    if tool == "NotebookEdit" and version_of(claude_bin) >= (2, 1, 300):
        steps.insert(1, {"tool": "ToolSearch", "input": {"query": "select:NotebookEdit", "max_results": 1}})
    server.script = steps
    claude(claude_bin, cc, server)
    results = tool_results(server)[-2:]
    assert len(results) == 2, results
    assert f'agent-sync: edit denied. "{name}" is locked by "other"' in results[1], results[1]
    assert "other is editing" in results[1]
    assert target.read_text() == original
    assert len(server.main_requests()) == len(steps)


@pytest.mark.capability(
    "claude",
    "SessionStart",
    "registers the session and puts who is here, their locks and tasks into the model's context",
)
def test_session_start_context_reaches_the_model(claude_bin, cc, server):
    cc.agent_sync("register", "--name", "backend", agent="other")
    cc.agent_sync("lock", "src/api.py", "--reason", "writing the API", agent="other")
    sid = str(uuid.uuid4())
    me = cc.id_for_session(sid)
    server.script = [{"text": "ok"}]
    claude(claude_bin, cc, server, "go", "--session-id", sid)
    first = server.main_requests()[0]["body"]
    ctx = [m for m in first["messages"] if "SessionStart hook additional context:" in json.dumps(m)]
    assert ctx, "SessionStart context missing from the first request"
    text = json.dumps(ctx[0])
    assert ctx[0]["role"] == "system"
    assert "agent-sync-state" in text and f"`{me}`" in text
    assert "src/api.py" in text and "backend" in text
    # the hook registered the session under its session-derived id
    agents = {a["id"]: a for a in cc.json("status")["agents"]}
    assert me in agents


@pytest.mark.capability(
    "claude", "UserPromptSubmit", "pushes messages that arrived since the last turn, framed as untrusted"
)
def test_message_sent_between_prompts_is_pushed_framed(claude_bin, cc, server):
    sid = str(uuid.uuid4())
    me = cc.id_for_session(sid)
    cc.agent_sync("register", "--name", "backend", agent="other")
    server.script = [{"text": "first done"}, {"text": "second done"}]
    s = StreamSession(
        [claude_bin, "-p", "--input-format", "stream-json", *CLAUDE_FLAGS, "--session-id", sid],
        cc.root,
        claude_env(cc, server),
    )
    try:
        s.prompt("first")
        cc.agent_sync("send", "--to", me, "--message", "api moved to /v2, rebase please", agent="other")
        s.prompt("second")
    finally:
        rc = s.close()
    assert rc == 0
    reqs = server.main_requests()
    assert len(reqs) == 2
    assert "rebase please" not in json.dumps(reqs[0]["body"]["messages"])
    carrier = [m for m in reqs[1]["body"]["messages"] if "rebase please" in json.dumps(m)]
    assert len(carrier) == 1, carrier
    pushed = json.dumps(carrier[0])
    # 2.1.332: a system-role "UserPromptSubmit hook additional context: ..." message;
    # 2.1.197: a <system-reminder> text in the user turn.
    assert (
        "UserPromptSubmit hook additional context:" in pushed and carrier[0]["role"] == "system"
    ) or "<system-reminder>" in pushed, pushed
    assert '<agent-sync-state trust=\\"untrusted\\">' in pushed and "</agent-sync-state>" in pushed
    assert "agent-sync: messages from other agents since your last turn:" in pushed
    assert "api moved to /v2, rebase please" in pushed and "(`other`)" in pushed


@pytest.mark.capability("claude", "Stop", "blocks the stop once while a message addressed to the agent is unread")
def test_stop_blocks_once_while_a_directed_message_is_pending(claude_bin, cc, server):
    sid = str(uuid.uuid4())
    me = cc.id_for_session(sid)
    cc.agent_sync("register", "--name", "backend", agent="other")

    def send():  # arrives while the model writes its final answer: only Stop can deliver it
        cc.agent_sync("send", "--to", me, "--message", "wait, schema changed", agent="other")

    server.script = [{"text": "all done", "before": send}, {"text": "acknowledged"}]
    r = claude(claude_bin, cc, server, "go", "--session-id", sid)
    reqs = server.main_requests()
    assert len(reqs) == 2, "Stop should block exactly once"
    last = reqs[1]["body"]["messages"]
    feedback = json.dumps(last[-1])
    # 2.1.197: user text "Stop hook feedback: ..."; 2.1.332: system "Stop hook blocking error from command: ..."
    assert "Stop hook feedback" in feedback or "Stop hook blocking error" in feedback, feedback
    assert "before you stop, react to these messages" in feedback and "wait, schema changed" in feedback
    assert [e for e in events(r.stdout) if e.get("type") == "result"][-1]["result"] == "acknowledged"


@pytest.mark.capability("claude", "SessionEnd", "marks the agent idle and releases its automatic locks")
def test_session_end_releases_the_sessions_auto_locks(claude_bin, cc, server):
    sid = str(uuid.uuid4())
    me = cc.id_for_session(sid)
    new = cc.root / "notes.txt"
    server.script = [
        {"tool": "Write", "input": {"file_path": str(new), "content": "mine\n"}},
        {
            "tool": "Bash",
            "input": {
                "command": f"python3 {cc.root}/.claude/skills/agent-sync/agent-sync.pyz locks --json",
                "description": "list locks",
            },
        },
        {"text": "ok"},
    ]
    claude(claude_bin, cc, server, "go", "--session-id", sid)
    assert new.read_text() == "mine\n"
    during = json.loads(tool_results(server)[-1])
    assert [(lk["path"], lk["owner"]) for lk in during["locks"] if lk["path"] == "notes.txt"] == [("notes.txt", me)]
    assert cc.json("locks")["locks"] == []
    agents = {a["id"]: a for a in cc.json("status")["agents"]}
    assert agents[me]["presence"] != "active", agents[me]


def test_hook_probe_env_and_parent_chain(claude_bin, cc, server, probe):
    """Records what Claude Code hands a hook; asserts the chain reaches claude."""
    settings = {
        "hooks": {
            ev: [{"hooks": [{"type": "command", "command": probe(ev)}]}]
            for ev in ("SessionStart", "PreToolUse", "Stop", "SessionEnd")
        }
    }
    (cc.root / ".claude" / "settings.local.json").write_text(json.dumps(settings))
    server.script = [{"tool": "Bash", "input": {"command": "true", "description": "noop"}}, {"text": "ok"}]
    claude(claude_bin, cc, server)
    recs = probe.records()
    assert {r["event"] for r in recs} >= {"SessionStart", "PreToolUse", "Stop", "SessionEnd"}, recs
    for r in recs:
        print(r["event"], " <- ".join(r["chain"]), sorted(r["env"]))
        assert any(c.split(":", 1)[1].startswith("claude") for c in r["chain"]), r["chain"]
        assert "CLAUDE_CODE_SESSION_ID" in r["env"] or "CLAUDE_PROJECT_DIR" in r["env"]


def stream(claude_bin, world, server, *extra):
    return StreamSession(
        [claude_bin, "-p", "--input-format", "stream-json", *CLAUDE_FLAGS, *extra],
        world.root,
        claude_env(world, server),
    )


@pytest.mark.capability(
    "claude", "PostToolUse", "pushes a message that arrived mid-turn right after the next tool call"
)
def test_message_sent_mid_turn_arrives_after_the_next_tool_call(claude_bin, cc, server):
    sid = str(uuid.uuid4())
    me = cc.id_for_session(sid)
    cc.agent_sync("register", "--name", "backend", agent="other")

    def send():  # while the model is busy with its tool call
        cc.agent_sync("send", "--to", me, "--message", "stop touching the schema", agent="other")

    server.script = [
        {"tool": "Bash", "input": {"command": "true", "description": "noop"}, "before": send},
        {"text": "ok"},
    ]
    claude(claude_bin, cc, server, "go", "--session-id", sid)
    reqs = server.main_requests()
    assert "stop touching the schema" not in json.dumps(reqs[0]["body"]["messages"])
    second = json.dumps(reqs[1]["body"]["messages"])
    assert "stop touching the schema" in second and "agent-sync-state" in second, second[-2000:]


def session_a_writes_notes(claude_bin, world, server):
    """A live session (stream-json) that wrote notes.txt, so holds its automatic lock."""
    notes = world.root / "notes.txt"
    server.script = [{"tool": "Write", "input": {"file_path": str(notes), "content": "from A\n"}}, {"text": "A done"}]
    a = stream(claude_bin, world, server)
    a.prompt("write the notes")
    assert notes.read_text() == "from A\n"
    assert [lk["path"] for lk in world.json("locks")["locks"]] == ["notes.txt"]
    return a, notes


def session_b_writes_notes(claude_bin, world, notes):
    """Another session's Read + Write of notes.txt; the tool results it got."""
    with ModelServer() as second:
        second.script = [
            {"tool": "Read", "input": {"file_path": str(notes)}},
            {"tool": "Write", "input": {"file_path": str(notes), "content": "from B\n"}},
            {"text": "B done"},
        ]
        claude(claude_bin, world, second)
        return tool_results(second)


@pytest.mark.capability(
    "claude",
    "PreToolUse",
    "locks a file automatically on a session's first edit, so a second live session's edit is denied",
)
def test_automatic_lock_between_two_live_sessions(claude_bin, cc, server):
    a, notes = session_a_writes_notes(claude_bin, cc, server)
    try:
        results = session_b_writes_notes(claude_bin, cc, notes)
        assert 'agent-sync: edit denied. "notes.txt" is locked by' in results[-1], results
        assert notes.read_text() == "from A\n"
    finally:
        assert a.close() == 0


#: the session locks mine.txt through the skill's launcher, as the skill teaches
LOCK_MINE = [
    {"tool": "Bash", "input": {"command": f"{LAUNCHER} lock mine.txt --reason mine", "description": "lock"}},
    {"text": "locked"},
]


def rewrite(path, content):
    """Steps that Read then Write `path` (Claude Code refuses a Write of an unread file)."""
    return [
        {"tool": "Read", "input": {"file_path": str(path)}},
        {"tool": "Write", "input": {"file_path": str(path), "content": content}},
        {"text": "edited"},
    ]


@pytest.mark.capability(
    "claude", "SessionStart", "after /clear (new session id, same process) the agent keeps its locks and tasks"
)
def test_after_clear_the_session_edits_its_own_locked_file(claude_bin, cc, server):
    mine = cc.write("mine.txt", "original\n")
    sid = str(uuid.uuid4())
    server.play(LOCK_MINE)
    s = stream(claude_bin, cc, server, "--session-id", sid)
    try:
        s.prompt("lock it")
        assert [lk["owner"] for lk in cc.json("locks")["locks"]] == [cc.id_for_session(sid)]
        s.prompt("/clear")
        server.play(rewrite(mine, "edited after clear\n"))
        s.prompt("edit it")
    finally:
        assert s.close() == 0
    assert mine.read_text() == "edited after clear\n", tool_results(server)[-1]
    owners = {lk["owner"] for lk in cc.json("locks")["locks"]}
    assert len(owners) == 1 and owners != {cc.id_for_session(sid)}, owners  # the new session id holds it


@pytest.mark.capability(
    "claude", "PreToolUse", "a session killed with SIGKILL stops holding its locks at once (its process is gone)"
)
def test_after_kill_9_another_session_edits_its_auto_locked_file(claude_bin, cc, server):
    a, notes = session_a_writes_notes(claude_bin, cc, server)
    kill_tree(a.proc.pid)
    a.close(timeout=30)  # reaped, its pipes closed
    results = session_b_writes_notes(claude_bin, cc, notes)
    assert notes.read_text() == "from B\n", results


@pytest.mark.capability(
    "claude", "SessionStart", "--resume continues as the same agent: its explicit locks stay its own"
)
def test_resumed_session_keeps_its_explicit_lock(claude_bin, cc, server):
    mine = cc.write("mine.txt", "original\n")
    sid = str(uuid.uuid4())
    server.play(LOCK_MINE)
    claude(claude_bin, cc, server, "lock it", "--session-id", sid)
    holder = cc.json("locks")["locks"][0]["owner"]
    cc.agent_sync("register", "--name", "watcher", agent="other")  # another live agent is around
    # the resumed history already holds two model turns: the new steps come after them
    server.play([{"text": "-"}, {"text": "-"}, *rewrite(mine, "resumed\n")])
    claude(claude_bin, cc, server, "edit it", "--resume", sid)
    assert mine.read_text() == "resumed\n", tool_results(server)[-1]
    assert [lk["owner"] for lk in cc.json("locks")["locks"]] == [holder]


@pytest.mark.capability("claude", "all", "with the zipapp deleted every hook fails open: the session works, unguarded")
def test_zipapp_deleted_fails_open(claude_bin, cc, server):
    (cc.root / PYZ_IN_REPO).unlink()
    new = cc.root / "free.txt"
    server.script = [{"tool": "Write", "input": {"file_path": str(new), "content": "written\n"}}, {"text": "ok"}]
    claude(claude_bin, cc, server)
    assert new.read_text() == "written\n"


@pytest.mark.capability("claude", "PreToolUse", "a session started in a subdirectory is guarded with `install --local`")
def test_session_started_in_a_subdirectory_with_local_install(claude_bin, world, server):
    if version_of(claude_bin) < (2, 1, 211):
        pytest.skip("Claude Code reads the repo-root settings.local.json from a subdirectory only from 2.1.211")
    install(world, "--local")
    target = world.write("locked.txt", "original\n")
    world.agent_sync("lock", "locked.txt", "--reason", "other is editing", agent="other")
    sub = world.root / "pkg" / "deep"
    sub.mkdir(parents=True)
    server.script = [
        {"tool": "Bash", "input": {"command": "echo clobbered > ../../locked.txt", "description": "overwrite"}},
        {"text": "ok"},
    ]
    r = run([claude_bin, "-p", "go", *CLAUDE_FLAGS], sub, claude_env(world, server))
    assert r.returncode == 0, r.stderr[-2000:]
    assert target.read_text() == "original\n", tool_results(server)
    assert DENIED in tool_results(server)[-1]


#: a write no shell reader can see (a program does it): left to the after-check
CLOBBER = r'''python3 -c "open('locked.txt','w').write('clobbered\n')"'''


@pytest.mark.capability(
    "claude",
    "PostToolUse",
    "puts back a held file that a shell command changed (a script, an interpreter: what no reader sees),"
    " keeps the writer's version and tells the model with the tool result",
)
def test_write_no_reader_sees_is_put_back_and_the_model_told(claude_bin, cc, server):
    target = cc.write("locked.txt", "original\n")
    cc.agent_sync("lock", "locked.txt", "--reason", "other is editing", agent="other")
    server.script = [{"tool": "Bash", "input": {"command": CLOBBER, "description": "overwrite"}}, {"text": "ok"}]
    claude(claude_bin, cc, server)
    assert target.read_text() == "original\n", tool_results(server)
    kept = list((cc.root / ".claude" / "coordination" / "undone").rglob("locked.txt"))
    assert [p.read_text() for p in kept] == ["clobbered\n"], kept
    reqs = server.main_requests()
    assert len(reqs) == 2
    after = json.dumps(reqs[-1]["body"])
    assert "put back to the holder" in after and "locked.txt" in after, after[-3000:]
    assert "put back to the holder" not in json.dumps(reqs[0]["body"])
    # 2.1.332: a system-role "PostToolUse:Bash hook additional context: ..." message
    # after the tool result; 2.1.197: a <system-reminder> text beside the tool_result
    assert "PostToolUse:Bash hook additional context:" in after
    assert "locked.txt" in cc.agent_sync("inbox", agent="other").stdout
