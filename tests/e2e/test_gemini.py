"""Real Gemini CLI (pinned, see conftest) with `install --agent gemini`."""

import json

import pytest

from .harness import ModelServer, gemini_env, install, run, run_until_killed

pytestmark = pytest.mark.e2e


def gemini(gemini_bin, world, server, prompt="go"):
    r = run([gemini_bin, "--yolo", "-p", prompt], world.root, gemini_env(world, server))
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    return r


@pytest.fixture
def gm(world):
    install(world)  # the zipapp the gemini hooks run lives in .claude/skills/agent-sync
    r = install(world, "--agent", "gemini")
    assert "One step left" in r.stdout and "Trust folder" in r.stdout
    return world


def test_doctor_sees_the_folder_trust_gemini_acts_on(gemini_bin, gm, server):
    env = {"GEMINI_CLI_HOME": gm.home}
    assert "gemini trusts this folder: Gemini CLI runs" in gm.agent_sync("doctor", check=False, env=env).stderr
    server.script = [{"text": "ok"}]
    gemini(gemini_bin, gm, server)  # writes trustedFolders.json the way the dialog does
    assert "[ok] gemini trusts this folder" in gm.agent_sync("doctor", env=env).stdout


@pytest.mark.capability(
    "gemini", "SessionStart", "registers the session and puts who is here and their locks into the model's context"
)
def test_session_start_context_reaches_the_model(gemini_bin, gm, server):
    gm.agent_sync("lock", "src/api.py", "--reason", "writing the API", agent="other")
    server.script = [{"text": "ok"}]
    gemini(gemini_bin, gm, server)
    first = json.dumps(server.main_requests()[0]["body"]["contents"])
    assert "agent-sync-state" in first and "src/api.py" in first and "writing the API" in first, first[-3000:]


@pytest.mark.capability(
    "gemini",
    "BeforeTool",
    "denies write_file, replace and shell writes to a file another live agent holds; the reason is the tool result",
)
@pytest.mark.parametrize("tool", ["write_file", "replace", "run_shell_command"])
def test_edit_of_a_locked_file_is_denied(gemini_bin, gm, server, tool):
    target = gm.write("locked.txt", "original\n")
    gm.agent_sync("lock", "locked.txt", "--reason", "other is editing", agent="other")
    args = {
        "write_file": {"file_path": str(target), "content": "clobbered\n"},
        "replace": {
            "file_path": str(target),
            "old_string": "original",
            "new_string": "clobbered",
            "instruction": "clobber",
        },
        "run_shell_command": {"command": "echo clobbered > locked.txt", "description": "clobber"},
    }[tool]
    server.script = [{"tool": tool, "input": args}, {"text": "ok"}]
    gemini(gemini_bin, gm, server)
    assert target.read_text() == "original\n"
    responses = [
        p["functionResponse"]
        for r in server.main_requests()
        for c in r["body"].get("contents", [])
        for p in c.get("parts", [])
        if "functionResponse" in p
    ]
    assert responses, "no tool result reached the model"
    text = json.dumps(responses[-1], ensure_ascii=False).replace('\\"', '"')
    assert 'agent-sync: edit denied. "locked.txt" is locked by "other"' in text, text
    assert "other is editing" in text


def test_hook_probe_env_and_parent_chain(gemini_bin, gm, server, probe):
    settings_path = gm.root / ".gemini" / "settings.json"
    settings = json.loads(settings_path.read_text())
    for ev in ("SessionStart", "BeforeTool", "AfterAgent", "SessionEnd"):
        settings["hooks"].setdefault(ev, []).append(
            {"hooks": [{"name": f"probe-{ev}", "type": "command", "command": probe(ev), "timeout": 10000}]}
        )
    settings_path.write_text(json.dumps(settings))
    server.script = [
        {"tool": "write_file", "input": {"file_path": str(gm.root / "new.txt"), "content": "x\n"}},
        {"text": "ok"},
    ]
    gemini(gemini_bin, gm, server)
    recs = probe.records()
    assert {r["event"] for r in recs} >= {"SessionStart", "BeforeTool", "AfterAgent"}, recs
    for r in recs:
        print(r["event"], " <- ".join(r["chain"]), sorted(r["env"]))
    assert any("gemini" in c or "node" in c for c in recs[0]["chain"]), recs[0]["chain"]


def contents_text(request):
    return json.dumps(request["body"].get("contents", []), ensure_ascii=False)


@pytest.mark.capability(
    "gemini", "AfterAgent", "retries the turn once while a message addressed to the agent is unread"
)
def test_stop_blocks_once_while_a_directed_message_is_pending(gemini_bin, gm, server):
    gm.agent_sync("register", "--name", "backend", agent="other")

    def send():
        me = [a["id"] for a in gm.json("status")["agents"] if a["id"] != "other"]
        assert len(me) == 1, me
        gm.agent_sync("send", "--to", me[0], "--message", "wait, schema changed", agent="other")

    server.script = [{"text": "all done", "before": send}, {"text": "acknowledged"}]
    gemini(gemini_bin, gm, server)
    reqs = server.main_requests()
    assert len(reqs) == 2, "AfterAgent should retry exactly once"
    assert "wait, schema changed" in contents_text(reqs[1]), contents_text(reqs[1])[-2000:]


@pytest.mark.capability(
    "gemini", "BeforeTool", "a session killed with SIGKILL stops holding its locks at once (its process is gone)"
)
def test_after_kill_9_another_session_edits_its_auto_locked_file(gemini_bin, gm, server):
    notes = gm.root / "notes.txt"
    write = {"tool": "write_file", "input": {"file_path": str(notes), "content": "from A\n"}}
    run_until_killed([gemini_bin, "--yolo", "-p", "go"], gm, gemini_env(gm, server), server, write)
    with ModelServer() as second:
        second.script = [
            {"tool": "run_shell_command", "input": {"command": "echo from B > notes.txt", "description": "write"}},
            {"text": "ok"},
        ]
        gemini(gemini_bin, gm, second)
    assert notes.read_text() == "from B\n"


#: a write no shell reader can see (a program does it): left to the after-check
CLOBBER = r'''python3 -c "open('locked.txt','w').write('clobbered\n')"'''


@pytest.mark.capability(
    "gemini",
    "AfterTool",
    "puts back a held file that a shell command changed (a script, an interpreter: what no reader sees),"
    " keeps the writer's version and tells the model in the tool result",
)
def test_write_no_reader_sees_is_put_back_and_the_model_told(gemini_bin, gm, server):
    target = gm.write("locked.txt", "original\n")
    gm.agent_sync("lock", "locked.txt", "--reason", "other is editing", agent="other")
    server.script = [
        {"tool": "run_shell_command", "input": {"command": CLOBBER, "description": "overwrite"}},
        {"text": "ok"},
    ]
    gemini(gemini_bin, gm, server)
    assert target.read_text() == "original\n"
    kept = list((gm.root / ".claude" / "coordination" / "undone").rglob("locked.txt"))
    assert [p.read_text() for p in kept] == ["clobbered\n"], kept
    reqs = server.main_requests()
    assert len(reqs) == 2
    after = json.dumps(reqs[-1]["body"])
    assert "put back to the holder" in after and "locked.txt" in after, after[-3000:]
    assert "put back to the holder" not in json.dumps(reqs[0]["body"])
    # AfterTool context is appended to the tool's own result, HTML-escaped inside <hook_context>
    results = [
        p["functionResponse"]
        for c in reqs[-1]["body"]["contents"]
        for p in c.get("parts", [])
        if "functionResponse" in p
    ]
    assert "put back to the holder" in json.dumps(results) and "<hook_context>" in json.dumps(results), results
    assert "locked.txt" in gm.agent_sync("inbox", agent="other").stdout
