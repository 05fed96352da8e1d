"""Real Codex CLI (pinned, see conftest).

`install --agent codex` registers only the MCP server today; the hook tests
wire `.codex/hooks.json` by hand (Claude-compatible JSON) to check what
`hook --agent codex` enforces when a user does that.
"""

import json

import pytest

from .harness import PYZ_IN_REPO, base_env, install, run

pytestmark = pytest.mark.e2e

LOCKED = 'agent-sync: edit denied. "locked.txt" is locked by "other"'


def codex_env(world, server, model):
    chome = world.home / "codex"
    chome.mkdir(exist_ok=True)
    (chome / "config.toml").write_text(
        f'model_provider = "fake"\nmodel = "{model}"\n'
        "[model_providers.fake]\n"
        f'name = "fake"\nbase_url = "{server.url}/v1"\nenv_key = "FAKE_KEY"\nwire_api = "responses"\n'
        f'[projects."{world.root}"]\ntrust_level = "trusted"\n'
    )
    return base_env(world.home, CODEX_HOME=chome, FAKE_KEY="dummy")


def codex(codex_bin, world, server, model, *extra, prompt="go"):
    """`-m fake-model` gets MCP tools as a `namespace` tool; a real slug
    (gpt-5.5) gets the freeform apply_patch tool but defers MCP tools."""
    r = run(
        [codex_bin, "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", *extra, prompt],
        world.root,
        codex_env(world, server, model),
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
    install(world, "--agent", "codex")
    return world


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
    assert locks[0]["owner"].startswith("codex"), locks[0]  # one id per MCP server process
    assert '"locked":["src/a.py"]' in outputs(server)[-1].replace(" ", "")


def test_mcp_lock_of_a_held_file_is_refused(codex_bin, cx, server):
    cx.agent_sync("lock", "src/a.py", "--reason", "other is editing", agent="other")
    server.script = [{"tool": "lock", "namespace": "mcp__agent_sync", "input": {"paths": ["src/a.py"]}}, {"text": "ok"}]
    codex(codex_bin, cx, server, "fake-model")
    out = outputs(server)[-1]
    assert "other" in out and "src/a.py" in out, out
    assert [lk["owner"] for lk in cx.json("locks")["locks"]] == ["other"]


def wire_hooks(world, probe=None):
    """What a user would write: agent-sync's Claude hooks block, --agent codex."""
    cmd = f'python3 -I -S "{world.root / PYZ_IN_REPO}" hook {{}} --agent codex || exit 1'
    events = {
        "SessionStart": "session-start",
        "UserPromptSubmit": "user-prompt-submit",
        "PreToolUse": "pre-tool-use",
        "PostToolUse": "post-tool-use",
        "Stop": "stop",
    }
    hooks = {
        ev: [{"hooks": [{"type": "command", "command": cmd.format(name), "timeout": 10}]}]
        for ev, name in events.items()
    }
    if probe:
        for ev in ("SessionStart", "PreToolUse", "PostToolUse", "Stop"):
            hooks[ev].append({"hooks": [{"type": "command", "command": probe(ev), "timeout": 10}]})
    (world.root / ".codex" / "hooks.json").write_text(json.dumps({"hooks": hooks}, indent=1))


PATCH = """*** Begin Patch
*** Update File: locked.txt
@@
-original
+clobbered
*** End Patch
"""


@pytest.mark.parametrize("attempt", ["apply_patch", "shell"])
def test_hand_wired_hooks_deny_writes_to_a_locked_file(codex_bin, cx, server, attempt):
    wire_hooks(cx)
    target = cx.write("locked.txt", "original\n")
    cx.agent_sync("lock", "locked.txt", "--reason", "other is editing", agent="other")
    step = {
        "apply_patch": {"tool": "apply_patch", "custom": True, "input": PATCH},
        "shell": {"tool": "exec_command", "input": {"cmd": "echo clobbered > locked.txt"}},
    }[attempt]
    server.script = [step, {"text": "ok"}]
    codex(codex_bin, cx, server, "gpt-5.5", "--dangerously-bypass-hook-trust")
    assert target.read_text() == "original\n"
    out = outputs(server)
    assert out and LOCKED in out[-1], out


def test_hook_probe_payloads_env_and_parent_chain(codex_bin, cx, server, probe):
    wire_hooks(cx, probe)
    server.script = [
        {"tool": "apply_patch", "custom": True, "input": "*** Begin Patch\n*** Add File: new.txt\n+x\n*** End Patch\n"},
        {"tool": "exec_command", "input": {"cmd": "true"}},
        {"text": "ok"},
    ]
    codex(codex_bin, cx, server, "gpt-5.5", "--dangerously-bypass-hook-trust")
    recs = probe.records()
    for r in recs:
        print(r["event"], " <- ".join(r["chain"]), sorted(r["env"]), json.dumps(r["payload"])[:600])
    assert {r["event"] for r in recs} >= {"SessionStart", "PreToolUse", "Stop"}, recs
    assert any("codex" in c for c in recs[0]["chain"]), recs[0]["chain"]


def test_hand_wired_session_start_context_reaches_the_model(codex_bin, cx, server):
    wire_hooks(cx)
    cx.agent_sync("lock", "src/api.py", "--reason", "writing the API", agent="other")
    server.script = [{"text": "ok"}]
    codex(codex_bin, cx, server, "gpt-5.5", "--dangerously-bypass-hook-trust")
    first = json.dumps(server.main_requests()[0]["body"]["input"])
    assert "agent-sync-state" in first and "src/api.py" in first and "writing the API" in first, first[-3000:]


def test_hand_wired_stop_blocks_once_while_a_directed_message_is_pending(codex_bin, cx, server):
    wire_hooks(cx)
    cx.agent_sync("register", "--name", "backend", agent="other")

    def send():  # the session registered at SessionStart; message it while the model answers
        me = [a["id"] for a in cx.json("status")["agents"] if a["id"] != "other"]
        assert len(me) == 1, me
        cx.agent_sync("send", "--to", me[0], "--message", "wait, schema changed", agent="other")

    server.script = [{"text": "all done", "before": send}, {"text": "acknowledged"}]
    codex(codex_bin, cx, server, "gpt-5.5", "--dangerously-bypass-hook-trust")
    reqs = server.main_requests()
    assert len(reqs) == 2, "Stop should block exactly once"
    last = json.dumps(reqs[1]["body"]["input"][-1])
    assert "before you stop, react to these messages" in last and "wait, schema changed" in last, last
