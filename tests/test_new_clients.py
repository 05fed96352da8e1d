"""Copilot CLI, Qwen Code and opencode (issue 27): install, doctor and
uninstall through the built zipapp, and each client's installed hook run as
the client runs it, with the payload shapes observed on the real binaries
(docs/clients-copilot-qwen-opencode.md); opencode's plugin runs in node."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import clean_env, denied


@pytest.fixture
def held(cli):
    (cli.repo / "src").mkdir()
    for name in ("a.py", "b.py"):
        (cli.repo / "src" / name).write_text("original\n")
    cli.ok("register", "--name", "holder", agent="holder")
    cli.ok("lock", "src/a.py", "--reason", "big refactor", agent="holder")
    return cli


def doctor(cli):
    r = cli("doctor", "--json")
    return {c["check"]: c for c in json.loads(r.stdout or r.stderr)["checks"]}


def run_installed(command, payload, env):
    """A hook command as the client runs it: through bash, payload on stdin."""
    r = subprocess.run(["bash", "-c", command], input=json.dumps(payload), capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    return json.loads(r.stdout) if r.stdout.strip() else None


def test_copilot_install_hooks_answer_in_copilots_shape_and_uninstall(held):
    held.ok("install", "--agent", "copilot")
    config = json.loads((held.repo / ".github" / "hooks" / "agent-sync.json").read_text())
    assert config["version"] == 1
    assert set(config["hooks"]) == {
        "sessionStart",
        "userPromptSubmitted",
        "preToolUse",
        "postToolUse",
        "agentStop",
        "sessionEnd",
    }
    assert doctor(held)["copilot hooks present"]["ok"]
    env = clean_env(COPILOT_PROJECT_DIR=str(held.repo), COPILOT_CLI="1")
    pre = config["hooks"]["preToolUse"][0]["bash"]
    edit = {"sessionId": "cp-1", "timestamp": 1, "cwd": str(held.repo), "toolName": "edit"}
    out = run_installed(
        pre, {**edit, "toolArgs": {"path": str(held.repo / "src/a.py"), "old_str": "o", "new_str": "x"}}, env
    )
    assert out["permissionDecision"] == "deny" and "big refactor" in out["permissionDecisionReason"], out
    shell = {**edit, "toolName": "bash", "toolArgs": {"command": "echo x > src/a.py", "description": "w"}}
    assert run_installed(pre, shell, env)["permissionDecision"] == "deny"
    assert run_installed(pre, {**edit, "toolArgs": {"path": str(held.repo / "src/b.py")}}, env) is None
    start = run_installed(config["hooks"]["sessionStart"][0]["bash"], {"sessionId": "cp-1", "cwd": str(held.repo)}, env)
    assert "agent-sync-state" in start["additionalContext"] and "src/a.py" in start["additionalContext"]
    held.ok("uninstall")
    assert not (held.repo / ".github" / "hooks" / "agent-sync.json").exists()


def test_under_copilot_the_claude_format_hooks_stand_down_for_its_own(held):
    held.ok("install")
    held.ok("install", "--agent", "copilot")
    payload = {"session_id": "cp-1", "cwd": str(held.repo), "tool_name": "Edit"}
    payload["tool_input"] = {"path": str(held.repo / "src/a.py")}
    copilot = {"COPILOT_CLI": "1", "COPILOT_PROJECT_DIR": str(held.repo)}
    rc, out, _ = held.hook("pre-tool-use", payload, agent="cp", env=copilot)
    assert rc == 0 and out is None  # the native hook answers for this call
    rc, out, _ = held.hook("pre-tool-use", payload, agent="cp")
    assert denied(out)  # outside Copilot, Claude Code's hooks are ours as ever


def test_qwen_install_and_its_tools_denied_and_uninstall(held):
    held.ok("install", "--agent", "qwen")
    hooks = json.loads((held.repo / ".qwen" / "settings.json").read_text())["hooks"]
    assert {"SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop"} <= set(hooks)
    assert doctor(held)["qwen hooks present"]["ok"]
    env = clean_env(QWEN_PROJECT_DIR=str(held.repo), QWEN_CODE_SESSION_ID="qw-1")
    pre = hooks["PreToolUse"][0]["hooks"][0]["command"]
    base = {"session_id": "qw-1", "cwd": str(held.repo), "hook_event_name": "PreToolUse"}
    for tool, args in (
        ("edit", {"file_path": str(held.repo / "src/a.py"), "old_string": "o", "new_string": "x"}),
        ("write_file", {"file_path": str(held.repo / "src/a.py"), "content": "x"}),
        ("run_shell_command", {"command": "sed -i s/o/x/ src/a.py", "description": "w"}),
    ):
        out = run_installed(pre, {**base, "tool_name": tool, "tool_input": args}, env)
        assert denied(out) and "big refactor" in out["hookSpecificOutput"]["permissionDecisionReason"], tool
    # the shell's agent-sync is the hooks' agent: QWEN_CODE_SESSION_ID names the same session
    run_installed(hooks["SessionStart"][0]["hooks"][0]["command"], {**base, "hook_event_name": "SessionStart"}, env)
    who = held.json("whoami", env={"QWEN_CODE_SESSION_ID": "qw-1"})[1]
    assert who["id"] == held.json("whoami", env={"CLAUDE_CODE_SESSION_ID": "qw-1"})[1]["id"]
    held.ok("uninstall")
    assert not (held.repo / ".qwen" / "settings.json").exists()


def test_qwens_empty_continuation_prompt_does_not_start_a_new_turn(held):
    held.ok("register", "--name", "qw", agent="qw")
    for i in range(12):
        held.ok("send", "--to", "qw", "--message", f"flood-{i} " + "y" * 1000, agent="holder")
    base = {"session_id": "s", "cwd": str(held.repo), "hook_event_name": "UserPromptSubmit"}
    pushed = 0
    for prompt in ("go", "", "", "", ""):
        rc, out, _ = held.hook("user-prompt-submit", {**base, "prompt": prompt}, agent="qw")
        pushed += json.dumps(out).count("flood-") if out else 0
    assert pushed <= 7, pushed  # one sender: half of one turn's budget


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_opencode_plugin_denies_adds_context_and_fails_open_in_node(held, tmp_path):
    held.ok("install", "--agent", "opencode")
    plugin = held.repo / ".opencode" / "plugins" / "agent-sync.js"
    assert 'from "node:child_process"' in plugin.read_text() and "@opencode-ai" not in plugin.read_text()
    assert doctor(held)["opencode plugin present"]["ok"]
    driver = tmp_path / "drive.mjs"
    driver.write_text(
        """
import { AgentSync } from %s;
const repo = %s;
const hooks = await AgentSync({ directory: repo });
const result = {};
try {
  await hooks["tool.execute.before"]({ tool: "edit", sessionID: "ses_1", callID: "c1" },
    { args: { filePath: repo + "/src/a.py", oldString: "o", newString: "x" } });
  result.edit = "allowed";
} catch (e) { result.edit = e.message; }
await hooks["tool.execute.before"]({ tool: "edit", sessionID: "ses_1", callID: "c2" },
  { args: { filePath: repo + "/src/b.py", oldString: "o", newString: "x" } });
const system = { system: ["base"] };
await hooks["experimental.chat.system.transform"]({ sessionID: "ses_1" }, system);
await hooks["experimental.chat.system.transform"]({ sessionID: "ses_1" }, system);
result.system = system.system;
console.log(JSON.stringify(result));
"""
        % (json.dumps(str(plugin)), json.dumps(str(held.repo)))
    )
    env = clean_env(HOME=os.environ.get("HOME", "/tmp"))
    r = subprocess.run(["node", str(driver)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert "edit denied" in result["edit"] and "big refactor" in result["edit"], result
    assert len(result["system"]) == 2 and "agent-sync-state" in result["system"][1], result["system"]
    (held.repo / ".claude" / "skills" / "agent-sync" / "agent-sync.pyz").unlink()  # broken install: allow
    r = subprocess.run(["node", str(driver)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout)["edit"] == "allowed", (r.stdout, r.stderr)
    held.ok("uninstall")
    assert not plugin.exists()


def test_copilot_trust_is_named_by_install_and_checked_by_doctor(held, tmp_path):
    home = tmp_path / "copilot-home"
    home.mkdir()
    env = {"COPILOT_HOME": str(home)}
    r = held.ok("install", "--agent", "copilot", env=env)
    assert "One step left" in r.stdout and "trust" in r.stdout
    checks = {c["check"]: c for c in json.loads(held("doctor", "--json", env=env).stdout)["checks"]}
    assert not checks["copilot trusts this folder"]["ok"]
    (home / "config.json").write_text(json.dumps({"trustedFolders": [str(held.repo)]}))
    checks = {c["check"]: c for c in json.loads(held("doctor", "--json", env=env).stdout)["checks"]}
    assert checks["copilot trusts this folder"]["ok"]
