"""Real Claude Code (pinned versions, see conftest) with agent-sync installed
as the README says, against the scripted model server."""

import json
import uuid

import pytest

from .harness import CLAUDE_FLAGS, StreamSession, claude_env, events, install, run

pytestmark = pytest.mark.e2e

DENIED = 'agent-sync: edit denied. "locked.txt" is locked by "other"'


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


@pytest.mark.parametrize("tool", ["Write", "Edit", "Bash"])
def test_edit_of_file_locked_by_another_agent_is_denied(claude_bin, cc, server, tool):
    target = cc.write("locked.txt", "original\n")
    cc.agent_sync("lock", "locked.txt", "--reason", "other is editing", agent="other")
    attempt = {
        "Write": {"tool": "Write", "input": {"file_path": str(target), "content": "clobbered\n"}},
        "Edit": {
            "tool": "Edit",
            "input": {"file_path": str(target), "old_string": "original", "new_string": "clobbered"},
        },
        "Bash": {"tool": "Bash", "input": {"command": "echo clobbered > locked.txt", "description": "overwrite"}},
    }[tool]
    # Claude Code refuses Write/Edit of a file the session has not Read.
    server.script = [{"tool": "Read", "input": {"file_path": str(target)}}, attempt, {"text": "ok"}]
    claude(claude_bin, cc, server)
    results = tool_results(server)
    assert len(results) == 2, results
    assert DENIED in results[1], results[1]
    assert "other is editing" in results[1]
    assert target.read_text() == "original\n"
    assert len(server.main_requests()) == 3


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
