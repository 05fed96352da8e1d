"""Issue 8: coordination that works when the model forgets: implicit locks,
the stale-write guard, mid-turn delivery with receipts, counters, resets."""

import subprocess
import time

import pytest

from conftest import MIDTURN_SECONDS, PY, clean_env, denied, edit_payload

NO_AUTO = {"AGENT_SYNC_AUTO_LOCK": "0"}


@pytest.fixture
def repo_files(cli):
    (cli.repo / "src").mkdir()
    for name in ("a.py", "b.py", "c.py"):
        (cli.repo / "src" / name).write_text(f"# {name}\n")
    cli.ok("init")
    return cli


def edit(cli, agent, name, env=None, write=None):
    """One full edit through the hooks: pre-tool-use, the write, post-tool-use."""
    path = cli.repo / "src" / name
    rc, out, _ = cli.hook("pre-tool-use", edit_payload(path, session=agent), agent=agent, env=env)
    if denied(out):
        return out
    if write is not None:
        path.write_text(write)
    cli.hook(
        "post-tool-use", {**edit_payload(path, session=agent), "hook_event_name": "PostToolUse"}, agent=agent, env=env
    )
    return None


def read(cli, agent, name):
    payload = {
        "session_id": agent,
        "cwd": str(cli.repo),
        "tool_name": "Read",
        "tool_input": {"file_path": str(cli.repo / "src" / name)},
    }
    cli.hook("post-tool-use", payload, agent=agent)


def end_session(cli, agent):
    cli.hook("session-end", {"session_id": agent, "cwd": str(cli.repo), "reason": "other"}, agent=agent)


def reason(out):
    return out["hookSpecificOutput"]["permissionDecisionReason"]


def test_implicit_lock_without_any_lock_call(repo_files):
    cli = repo_files
    assert edit(cli, "A", "a.py", write="A was here\n") is None
    locks = cli.json("locks")[1]["locks"]
    assert [(l["path"], l["owner"], l["auto"]) for l in locks] == [("src/a.py", "A", True)]
    assert "auto" in cli.ok("locks").stdout
    out = edit(cli, "B", "a.py")
    assert denied(out) and 'locked by "A"' in reason(out) and "automatic" in reason(out)
    assert edit(cli, "A", "a.py", write="again\n") is None
    end_session(cli, "A")
    assert edit(cli, "B", "a.py", write="B now\n") is None


def test_implicit_lock_can_be_turned_off_and_never_downgrades(repo_files):
    cli = repo_files
    assert edit(cli, "A", "a.py", env=NO_AUTO) is None
    assert cli.json("locks")[1]["locks"] == []
    cli.ok("lock", "src/b.py", "--ttl", "300", agent="A")
    before = cli.json("locks")[1]["locks"][0]
    assert edit(cli, "A", "b.py", write="x\n") is None
    after = cli.json("locks")[1]["locks"][0]
    assert after["auto"] is False and after["expires_at"] == before["expires_at"]


def test_automatic_lock_expiry_follows_the_last_edit(repo_files):
    cli = repo_files
    env = {"AGENT_SYNC_AUTO_LOCK_MINUTES": "0.02"}
    assert edit(cli, "A", "c.py", env=env, write="1\n") is None
    assert denied(edit(cli, "B", "c.py", env=env))
    time.sleep(1.5)
    assert edit(cli, "B", "c.py", env=env) is None


def test_stale_write_guard(repo_files):
    cli = repo_files
    read(cli, "A", "b.py")
    assert edit(cli, "B", "b.py", env=NO_AUTO, write="B changed it\n") is None
    out = edit(cli, "A", "b.py", env=NO_AUTO)
    assert denied(out) and "changed on disk since you last read it" in reason(out) and "B" in reason(out)
    assert "Read it again" in reason(out)
    read(cli, "A", "b.py")
    assert edit(cli, "A", "b.py", env=NO_AUTO, write="A on top\n") is None
    assert edit(cli, "A", "b.py", env=NO_AUTO, write="A again\n") is None
    assert edit(cli, "A", "c.py", env=NO_AUTO) is None


def test_stale_write_guard_with_implicit_locks_after_the_other_session_ends(repo_files):
    cli = repo_files
    read(cli, "A", "b.py")
    assert edit(cli, "B", "b.py", write="B changed it\n") is None
    assert 'locked by "B"' in reason(edit(cli, "A", "b.py"))
    end_session(cli, "B")
    assert "changed on disk" in reason(edit(cli, "A", "b.py"))
    read(cli, "A", "b.py")
    assert edit(cli, "A", "b.py") is None


def test_changes_outside_agents_do_not_trigger_the_guard(repo_files):
    cli = repo_files
    read(cli, "A", "c.py")
    (cli.repo / "src" / "c.py").write_text("the human edited this\n")
    assert edit(cli, "A", "c.py", env=NO_AUTO) is None


def test_mid_turn_delivery_once_with_receipts(repo_files):
    cli = repo_files
    for name in ("A", "S"):
        cli.ok("register", "--name", name, agent=name)
    rc, doc = cli.json("send", "--to", "A", "-m", "stop touching the schema", agent="S")
    payload = {"session_id": "A", "cwd": str(cli.repo), "tool_name": "Grep", "tool_input": {"pattern": "x"}}
    rc, out, _ = cli.hook("post-tool-use", payload, agent="A")
    assert out["hookSpecificOutput"]["hookEventName"] == "PostToolUse"
    assert "stop touching the schema" in out["hookSpecificOutput"]["additionalContext"]
    receipts = [m for m in cli.json("sent", agent="S")[1]["messages"] if m["id"] == doc["id"]][0]["receipts"]
    assert receipts[0]["agent"] == "A" and receipts[0]["pushed_at"]
    time.sleep(MIDTURN_SECONDS + 0.2)
    assert cli.hook("post-tool-use", payload, agent="A")[1] is None
    assert cli.hook("user-prompt-submit", {"session_id": "A", "cwd": str(cli.repo)}, agent="A")[1] is None
    assert cli.hook("stop", {"session_id": "A", "cwd": str(cli.repo)}, agent="A")[1] is None


def test_mid_turn_push_is_throttled_not_lost(repo_files):
    cli = repo_files
    for name in ("A", "S"):
        cli.ok("register", "--name", name, agent=name)
    payload = {"session_id": "A", "cwd": str(cli.repo), "tool_name": "Grep", "tool_input": {}}
    cli.ok("send", "--to", "A", "-m", "first", agent="S")
    assert "first" in cli.hook("post-tool-use", payload, agent="A")[1]["hookSpecificOutput"]["additionalContext"]
    cli.ok("send", "--to", "A", "-m", "second", agent="S")
    assert cli.hook("post-tool-use", payload, agent="A")[1] is None
    rc, out, _ = cli.hook("stop", {"session_id": "A", "cwd": str(cli.repo)}, agent="A")
    assert "second" in out["reason"] and "first" not in out["reason"]


def test_now_free_notice(repo_files):
    cli = repo_files
    cli.ok("lock", "src/a.py", agent="A")
    assert denied(edit(cli, "B", "a.py"))
    cli.ok("unlock", "src/a.py", agent="A")
    rc, out, _ = cli.hook("user-prompt-submit", {"session_id": "B", "cwd": str(cli.repo)}, agent="B")
    assert "src/a.py is free now" in out["hookSpecificOutput"]["additionalContext"]


def test_session_start_carries_recent_decisions(cli):
    cli.ok("decision", "All timestamps are UTC", agent="lead")
    rc, out, _ = cli.hook("session-start", {"session_id": "new", "cwd": str(cli.repo)})
    assert "All timestamps are UTC" in out["hookSpecificOutput"]["additionalContext"]


def test_counter_race(cli):
    cli.ok("init")
    procs = [
        subprocess.Popen(
            PY + [str(cli.pyz), "next", "adr"],
            cwd=cli.repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(AGENT_SYNC_ID=f"n{i}"),
        )
        for i in range(20)
    ]
    values = sorted(int(p.communicate()[0]) for p in procs)
    assert values == list(range(1, 21))
    assert cli.ok("next", "migration").stdout.strip() == "1"


@pytest.mark.parametrize(
    "command",
    [
        "git stash",
        "git stash push -m wip",
        "git reset --hard HEAD~1",
        "git checkout -- .",
        "git restore .",
        "git clean -fd",
    ],
)
def test_worktree_resets_denied_while_others_hold_locks(repo_files, command):
    cli = repo_files
    payload = {"session_id": "B", "cwd": str(cli.repo), "tool_name": "Bash", "tool_input": {"command": command}}
    assert cli.hook("pre-tool-use", payload, agent="B")[1] is None
    cli.ok("lock", "src/a.py", agent="holder")
    rc, out, _ = cli.hook("pre-tool-use", payload, agent="B")
    assert denied(out) and "holder" in reason(out) and "src/a.py" in reason(out)
    assert cli.hook("pre-tool-use", payload, agent="holder")[1] is None
    safe = {**payload, "tool_input": {"command": "git stash list"}}
    assert cli.hook("pre-tool-use", safe, agent="B")[1] is None
