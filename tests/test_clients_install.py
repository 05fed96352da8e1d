"""install, uninstall and doctor for Codex and Gemini CLI (hooks, MCP, trust)
and for linked worktrees, through the built zipapp in scratch repositories.
The clients' own settings live in scratch homes (CODEX_HOME, GEMINI_CLI_HOME)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, denied, edit_payload, git_init

sys.path.insert(0, str(ROOT))
import agent_sync  # noqa: E402  (codex_hook_hash: what a user's "trust" writes)

PATCH = "*** Begin Patch\n*** Update File: held.py\n@@\n-x\n+y\n*** End Patch\n"


@pytest.fixture
def homes(tmp_path):
    codex, gemini = tmp_path / "codex-home", tmp_path / "gemini-home"
    codex.mkdir()
    (gemini / ".gemini").mkdir(parents=True)
    return {"CODEX_HOME": str(codex), "GEMINI_CLI_HOME": str(gemini)}


def run(cli, homes, *args, ok=True, cwd=None):
    r = cli(*args, env=homes, cwd=cwd)
    if ok:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def doctor(cli, homes, cwd=None):
    r = run(cli, homes, "doctor", "--json", ok=False, cwd=cwd)
    return {c["check"]: c for c in json.loads(r.stdout)["checks"]} if r.stdout else json.loads(r.stderr)


def test_codex_install_writes_hooks_beside_mcp_and_uninstall_takes_exactly_them(cli, homes):
    user_hook = {"hooks": [{"type": "command", "command": "./audit.sh", "timeout": 5}]}
    (cli.repo / ".codex").mkdir()
    (cli.repo / ".codex" / "hooks.json").write_text(json.dumps({"hooks": {"PreToolUse": [user_hook]}}))
    run(cli, homes, "install")
    run(cli, homes, "install", "--agent", "codex")
    hooks = json.loads((cli.repo / ".codex" / "hooks.json").read_text())["hooks"]
    assert set(hooks) == {"SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop"}
    assert hooks["PreToolUse"][0] == user_hook
    ours = hooks["PreToolUse"][1]["hooks"][0]["command"]
    assert str(cli.repo / ".claude/skills/agent-sync/agent-sync.pyz") in ours and "--agent codex" in ours
    config = (cli.repo / ".codex" / "config.toml").read_text()
    assert "[mcp_servers.agent-sync]" in config and 'env_vars = ["AGENT_SYNC_ID", "AGENT_SYNC_NAME"]' in config
    # the installed command, as Codex runs it ($SHELL -lc), denies an apply_patch of a held file
    (cli.repo / "held.py").write_text("x\n")
    cli.ok("lock", "held.py", agent="holder")
    payload = {
        "session_id": "cx",
        "turn_id": "t",
        "cwd": str(cli.repo),
        "hook_event_name": "PreToolUse",
        "tool_name": "apply_patch",
        "tool_input": {"command": PATCH},
    }
    r = subprocess.run(
        ["sh", "-lc", ours], input=json.dumps(payload), capture_output=True, text=True, cwd=cli.repo, env=cli.env()
    )
    assert json.loads(r.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny", r
    run(cli, homes, "uninstall")
    assert json.loads((cli.repo / ".codex" / "hooks.json").read_text()) == {"hooks": {"PreToolUse": [user_hook]}}
    assert not (cli.repo / ".codex" / "config.toml").exists()


def trust_codex_project(homes, root, hooks=None):
    """What the user's answers in Codex write to $CODEX_HOME/config.toml."""
    lines = [f'[projects."{root}"]', 'trust_level = "trusted"']
    hooks_file = f"{root}/.codex/hooks.json"
    for event, groups in (hooks or {}).items():
        label = agent_sync.CODEX_TRUST_LABELS[event]
        for g, group in enumerate(groups):
            for h, handler in enumerate(group["hooks"]):
                lines += [
                    f'[hooks.state."{hooks_file}:{label}:{g}:{h}"]',
                    f'trusted_hash = "{agent_sync.codex_hook_hash(event, group, handler)}"',
                ]
    Path(homes["CODEX_HOME"], "config.toml").write_text("\n".join(lines) + "\n")


def test_codex_trust_is_printed_by_install_and_checked_by_doctor(cli, homes):
    r = run(cli, homes, "install", "--agent", "codex")
    assert "One step left: Codex ignores this project's hooks and MCP server until you trust it" in r.stdout
    assert f"run `codex` in {cli.repo}" in r.stdout
    checks = doctor(cli, homes)
    assert checks["codex hooks present"]["ok"] and not checks["codex trusts this folder"]["ok"]
    trust_codex_project(homes, cli.repo)
    detail = doctor(cli, homes)["codex trusts this folder"]
    assert not detail["ok"] and "skips 5 agent-sync hook(s)" in detail["detail"] and "Trust all" in detail["detail"]
    hooks = json.loads((cli.repo / ".codex" / "hooks.json").read_text())["hooks"]
    trust_codex_project(homes, cli.repo, hooks)
    assert doctor(cli, homes)["codex trusts this folder"]["ok"]
    hooks["Stop"][0]["hooks"][0]["timeout"] = 99  # a changed hook needs trusting again
    (cli.repo / ".codex" / "hooks.json").write_text(json.dumps({"hooks": hooks}))
    assert "skips 1 agent-sync hook(s)" in doctor(cli, homes)["codex trusts this folder"]["detail"]


@pytest.mark.parametrize(
    "rules, trusted",
    [
        ({}, False),
        ({"{root}": "TRUST_FOLDER"}, True),
        ({"{root}/sub": "TRUST_PARENT"}, True),
        ({"{parent}": "TRUST_FOLDER", "{root}": "DO_NOT_TRUST"}, False),
        ({"{parent}": "DO_NOT_TRUST", "{root}": "TRUST_FOLDER"}, True),
        ({"{root}/sub": "TRUST_FOLDER"}, False),
    ],
)
def test_gemini_folder_trust_is_printed_by_install_and_checked_by_doctor(cli, homes, rules, trusted):
    r = run(cli, homes, "install", "--agent", "gemini")
    assert "One step left: Gemini CLI runs this folder's hooks only once it is trusted" in r.stdout
    fill = {"root": str(cli.repo), "parent": str(cli.repo.parent)}
    trusted_file = Path(homes["GEMINI_CLI_HOME"], ".gemini", "trustedFolders.json")
    trusted_file.write_text(json.dumps({k.format(**fill): v for k, v in rules.items()}))
    check = doctor(cli, homes)["gemini trusts this folder"]
    assert check["ok"] is trusted, check
    if not trusted:
        assert '"Trust folder"' in check["detail"] and f"run `gemini` in {cli.repo}" in check["detail"]


def test_gemini_trust_off_or_forced_by_environment(cli, homes):
    run(cli, homes, "install", "--agent", "gemini")
    assert doctor(cli, {**homes, "GEMINI_CLI_TRUST_WORKSPACE": "true"})["gemini trusts this folder"]["ok"]
    settings = Path(homes["GEMINI_CLI_HOME"], ".gemini", "settings.json")
    settings.write_text(json.dumps({"security": {"folderTrust": {"enabled": False}}}))
    assert doctor(cli, homes)["gemini trusts this folder"]["ok"]


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)


def test_install_in_a_linked_worktree_sets_up_that_worktree_with_shared_state(cli, homes, engine):
    (cli.repo / "a.py").write_text("x\n")
    git(cli.repo, "add", "a.py")
    git(cli.repo, "commit", "-qm", "init")
    run(cli, homes, "install")
    wt = cli.repo.parent / "wt"
    git(cli.repo, "worktree", "add", "-q", str(wt))
    checks = doctor(cli, homes, cwd=wt)
    assert not checks["zipapp installed"]["ok"], "doctor in a worktree must check that worktree"
    r = run(cli, homes, "install", cwd=wt)
    assert str(wt) in r.stdout
    assert (wt / ".claude" / "settings.json").exists() and (wt / ".claude/skills/agent-sync/agent-sync.pyz").exists()
    assert not (wt / ".claude" / "coordination").exists()
    cli.ok("lock", "a.py", agent="in-worktree", cwd=wt)
    assert [lk["owner"] for lk in cli.json("locks")[1]["locks"]] == ["in-worktree"]  # seen from the main checkout
    # and it holds there: the same file on another branch is one file to coordinate (README, Data storage)
    assert denied(cli.hook("pre-tool-use", edit_payload(cli.repo / "a.py", session="in-main"))[1])
    checks = doctor(cli, homes, cwd=wt)
    assert all(c["ok"] is not False for c in checks.values()), checks
    where = "project test/" if engine == "postgresql" else str(cli.repo / ".claude" / "coordination")
    assert where in checks["database healthy"]["detail"]
    run(cli, homes, "uninstall", cwd=wt)
    assert not (wt / ".claude").exists()
    assert engine == "postgresql" or (cli.repo / ".claude" / "coordination" / "state.sqlite").exists()


def test_doctor_outside_the_worktree_install_still_reports_the_main_checkout(tmp_path, pyz, homes):
    from conftest import Runner

    repo = git_init(tmp_path / "solo")
    r = Runner(pyz, repo)
    run(r, homes, "install")
    assert all(c["ok"] is not False for c in doctor(r, homes).values())
