"""Real Codex CLI (pinned, see conftest) with `install --agent codex`: its
hooks in .codex/hooks.json and the MCP server in .codex/config.toml.

Codex runs project hooks only after the user trusted the project and each
hook; the scratch CODEX_HOME gets exactly what those answers write, with the
hashes agent-sync's doctor computes.  If they differed from Codex's own, Codex
would skip the hooks silently and the tests here would fail.
"""

import json

import pytest

from .harness import ModelServer, base_env, codex_hook_trust, install, run, run_until_killed

pytestmark = pytest.mark.e2e

LOCKED = 'agent-sync: edit denied. "locked.txt" is locked by "other"'


def codex_env(world, server, model, trust_hooks=True):
    chome = world.home / "codex"
    chome.mkdir(exist_ok=True)
    (chome / "config.toml").write_text(
        f'model_provider = "fake"\nmodel = "{model}"\n'
        "[model_providers.fake]\n"
        f'name = "fake"\nbase_url = "{server.url}/v1"\nenv_key = "FAKE_KEY"\nwire_api = "responses"\n'
        f'[projects."{world.root}"]\ntrust_level = "trusted"\n' + (codex_hook_trust(world.root) if trust_hooks else "")
    )
    return base_env(world.home, CODEX_HOME=chome, FAKE_KEY="dummy")


def codex(codex_bin, world, server, model, *extra, prompt="go", trust_hooks=True):
    """`-m fake-model` gets MCP tools as a `namespace` tool; a real slug
    (gpt-5.5) gets the freeform apply_patch tool but defers MCP tools."""
    r = run(
        [codex_bin, "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", *extra, prompt],
        world.root,
        codex_env(world, server, model, trust_hooks),
        input="",
    )
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    return r


def outputs(server):
    """call_id -> tool output text, over every request the model got."""
    out = {}
    for req in server.main_requests():
        for item in req["body"].get("input", []):
            if item.get("type") in ("function_call_output", "custom_tool_call_output"):
                o = item.get("output")
                out[item["call_id"]] = o if isinstance(o, str) else json.dumps(o)
    return list(out.values())


@pytest.fixture
def cx(world):
    install(world)
    r = install(world, "--agent", "codex")
    assert "One step left" in r.stdout and "codex" in r.stdout  # the trust step is printed
    return world


@pytest.mark.capability("codex", "MCP", "the agent-sync tools are offered to the model and act for the session")
def test_mcp_lock_call_reaches_agent_sync(codex_bin, cx, server):
    server.script = [
        {"tool": "lock", "namespace": "mcp__agent_sync", "input": {"paths": ["src/a.py"], "reason": "codex editing"}},
        {"text": "ok"},
    ]
    codex(codex_bin, cx, server, "fake-model")
    tools = {t.get("name"): t for t in server.main_requests()[0]["body"]["tools"]}
    assert "lock" in {t["name"] for t in tools["mcp__agent_sync"]["tools"]}
    locks = cx.json("locks")["locks"]
    assert [(lk["path"], lk["reason"]) for lk in locks] == [("src/a.py", "codex editing")]
    assert '"locked":["src/a.py"]' in outputs(server)[-1].replace(" ", "")


def test_mcp_lock_of_a_held_file_is_refused(codex_bin, cx, server):
    cx.agent_sync("lock", "src/a.py", "--reason", "other is editing", agent="other")
    server.script = [{"tool": "lock", "namespace": "mcp__agent_sync", "input": {"paths": ["src/a.py"]}}, {"text": "ok"}]
    codex(codex_bin, cx, server, "fake-model")
    out = outputs(server)[-1]
    assert "other" in out and "src/a.py" in out, out
    assert [lk["owner"] for lk in cx.json("locks")["locks"]] == ["other"]


@pytest.mark.capability(
    "codex", "MCP", "a lock taken through MCP is the session's own: its hooks never deny the session its own edit"
)
def test_mcp_lock_never_blocks_the_same_sessions_own_edit(codex_bin, cx, server):
    target = cx.write("shared.txt", "original\n")
    server.script = [
        {"tool": "lock", "namespace": "mcp__agent_sync", "input": {"paths": ["shared.txt"], "reason": "mine"}},
        {"tool": "exec_command", "input": {"cmd": "echo mine > shared.txt"}},
        {"text": "ok"},
    ]
    codex(codex_bin, cx, server, "fake-model")
    assert target.read_text() == "mine\n", outputs(server)
    agents = [a for a in cx.json("status")["agents"]]
    assert len(agents) == 1, agents  # hooks, MCP server and shell: one agent
    assert [lk["owner"] for lk in cx.json("locks")["locks"]] == [agents[0]["id"]]


PATCH = """*** Begin Patch
*** Update File: locked.txt
@@
-original
+clobbered
*** End Patch
"""


@pytest.mark.capability(
    "codex",
    "PreToolUse",
    "denies apply_patch and shell writes to a file another live agent holds; the reason is the tool output",
)
@pytest.mark.parametrize("attempt", ["apply_patch", "shell"])
def test_installed_hooks_deny_writes_to_a_locked_file(codex_bin, cx, server, attempt):
    target = cx.write("locked.txt", "original\n")
    cx.agent_sync("lock", "locked.txt", "--reason", "other is editing", agent="other")
    step = {
        "apply_patch": {"tool": "apply_patch", "custom": True, "input": PATCH},
        "shell": {"tool": "exec_command", "input": {"cmd": "echo clobbered > locked.txt"}},
    }[attempt]
    server.script = [step, {"text": "ok"}]
    codex(codex_bin, cx, server, "gpt-5.5")
    assert target.read_text() == "original\n"
    out = outputs(server)
    assert out and LOCKED in out[-1], out


def test_untrusted_hooks_are_skipped_and_doctor_says_so(codex_bin, cx, server):
    """What the trust check is for: without the user's trust Codex runs none of our hooks."""
    target = cx.write("locked.txt", "original\n")
    cx.agent_sync("lock", "locked.txt", "--reason", "other is editing", agent="other")
    server.script = [{"tool": "exec_command", "input": {"cmd": "echo clobbered > locked.txt"}}, {"text": "ok"}]
    codex(codex_bin, cx, server, "gpt-5.5", trust_hooks=False)
    assert target.read_text() == "clobbered\n"  # nothing stopped it
    doctor = cx.agent_sync("doctor", "--json", check=False, env={"CODEX_HOME": cx.home / "codex"})
    checks = {c["check"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert not checks["codex trusts this folder"]["ok"] and "Trust all" in checks["codex trusts this folder"]["detail"]
    codex_env(cx, server, "gpt-5.5", trust_hooks=True)
    doctor = cx.agent_sync("doctor", "--json", env={"CODEX_HOME": cx.home / "codex"})
    assert json.loads(doctor.stdout)["ok"]


def add_probe(world, probe):
    hooks_file = world.root / ".codex" / "hooks.json"
    hooks = json.loads(hooks_file.read_text())
    for ev in ("SessionStart", "PreToolUse", "PostToolUse", "Stop"):
        hooks["hooks"][ev].append({"hooks": [{"type": "command", "command": probe(ev), "timeout": 10}]})
    hooks_file.write_text(json.dumps(hooks, indent=1))


def test_hook_probe_payloads_env_and_parent_chain(codex_bin, cx, server, probe):
    add_probe(cx, probe)
    server.script = [
        {"tool": "apply_patch", "custom": True, "input": "*** Begin Patch\n*** Add File: new.txt\n+x\n*** End Patch\n"},
        {"tool": "exec_command", "input": {"cmd": "true"}},
        {"text": "ok"},
    ]
    codex(codex_bin, cx, server, "gpt-5.5")
    recs = probe.records()
    for r in recs:
        print(r["event"], " <- ".join(r["chain"]), sorted(r["env"]), json.dumps(r["payload"])[:600])
    assert {r["event"] for r in recs} >= {"SessionStart", "PreToolUse", "Stop"}, recs
    assert any("codex" in c for c in recs[0]["chain"]), recs[0]["chain"]


@pytest.mark.capability(
    "codex", "SessionStart", "registers the session and puts who is here and their locks into the model's context"
)
def test_session_start_context_reaches_the_model(codex_bin, cx, server):
    cx.agent_sync("lock", "src/api.py", "--reason", "writing the API", agent="other")
    server.script = [{"text": "ok"}]
    codex(codex_bin, cx, server, "gpt-5.5")
    first = json.dumps(server.main_requests()[0]["body"]["input"])
    assert "agent-sync-state" in first and "src/api.py" in first and "writing the API" in first, first[-3000:]


@pytest.mark.capability("codex", "Stop", "blocks the stop once while a message addressed to the agent is unread")
def test_stop_blocks_once_while_a_directed_message_is_pending(codex_bin, cx, server):
    cx.agent_sync("register", "--name", "backend", agent="other")

    def send():  # the session registered at SessionStart; message it while the model answers
        me = [a["id"] for a in cx.json("status")["agents"] if a["id"] != "other"]
        assert len(me) == 1, me
        cx.agent_sync("send", "--to", me[0], "--message", "wait, schema changed", agent="other")

    server.script = [{"text": "all done", "before": send}, {"text": "acknowledged"}]
    codex(codex_bin, cx, server, "gpt-5.5")
    reqs = server.main_requests()
    assert len(reqs) == 2, "Stop should block exactly once"
    last = json.dumps(reqs[1]["body"]["input"][-1])
    assert "before you stop, react to these messages" in last and "wait, schema changed" in last, last


def my_id(world):
    me = [a["id"] for a in world.json("status")["agents"] if a["id"] != "other"]
    assert len(me) == 1, me
    return me[0]


@pytest.mark.capability("codex", "PostToolUse", "pushes a message that arrived mid-turn right after the next tool call")
def test_message_sent_mid_turn_arrives_after_the_next_tool_call(codex_bin, cx, server):
    cx.agent_sync("register", "--name", "backend", agent="other")

    def send():
        cx.agent_sync("send", "--to", my_id(cx), "--message", "stop touching the schema", agent="other")

    server.script = [{"tool": "exec_command", "input": {"cmd": "true"}, "before": send}, {"text": "ok"}]
    codex(codex_bin, cx, server, "gpt-5.5")
    reqs = server.main_requests()
    assert "stop touching the schema" not in json.dumps(reqs[0]["body"]["input"])
    assert "stop touching the schema" in json.dumps(reqs[1]["body"]["input"]), json.dumps(reqs[1]["body"]["input"])[
        -2000:
    ]


@pytest.mark.capability(
    "codex", "PreToolUse", "a session killed with SIGKILL stops holding its locks at once (its process is gone)"
)
def test_after_kill_9_another_session_edits_its_auto_locked_file(codex_bin, cx, server):
    notes = cx.root / "notes.txt"
    add = {
        "tool": "apply_patch",
        "custom": True,
        "input": "*** Begin Patch\n*** Add File: notes.txt\n+from A\n*** End Patch\n",
    }
    cmd = [codex_bin, "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "go"]
    run_until_killed(cmd, cx, codex_env(cx, server, "gpt-5.5"), server, add)
    with ModelServer() as second:
        second.script = [{"tool": "exec_command", "input": {"cmd": "echo from B > notes.txt"}}, {"text": "ok"}]
        codex(codex_bin, cx, second, "gpt-5.5")
    assert notes.read_text() == "from B\n", outputs(second)


#: a write no shell reader can see (a program does it): left to the after-check
CLOBBER = r'''python3 -c "open('locked.txt','w').write('clobbered\n')"'''


@pytest.mark.capability(
    "codex",
    "PostToolUse",
    "puts back a held file that a shell command changed (a script, an interpreter: what no reader sees),"
    " keeps the writer's version and tells the model in a developer message beside the tool output",
)
def test_write_no_reader_sees_is_put_back_and_the_model_told(codex_bin, cx, server):
    target = cx.write("locked.txt", "original\n")
    cx.agent_sync("lock", "locked.txt", "--reason", "other is editing", agent="other")
    server.script = [{"tool": "exec_command", "input": {"cmd": CLOBBER}}, {"text": "ok"}]
    codex(codex_bin, cx, server, "gpt-5.5")
    assert target.read_text() == "original\n", outputs(server)
    kept = list((cx.root / ".claude" / "coordination" / "undone").rglob("locked.txt"))
    assert [p.read_text() for p in kept] == ["clobbered\n"], kept
    reqs = server.main_requests()
    assert len(reqs) == 2
    after = json.dumps(reqs[-1]["body"])
    assert "put back to the holder" in after and "locked.txt" in after, after[-3000:]
    assert "put back to the holder" not in json.dumps(reqs[0]["body"])
    # Codex 0.169.0 adds PostToolUse context as a developer message just before the function_call_output
    carriers = [i for i in reqs[-1]["body"]["input"] if "put back to the holder" in json.dumps(i)]
    assert [(i.get("type"), i.get("role")) for i in carriers] == [("message", "developer")], carriers
    assert "locked.txt" in cx.agent_sync("inbox", agent="other").stdout
