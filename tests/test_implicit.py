"""Issue 8: coordination that works when the model forgets -- implicit locks,
the stale-write guard, mid-turn delivery with receipts, "now free" notices,
atomic counters, git reset guards and decisions at session start."""

import json
import re
import subprocess
import time

from conftest import MIDTURN_SECONDS, PY, clean_env, denied, edit_payload

FRAME_OPEN = '<agent-sync-state trust="untrusted">'
FRAME_CLOSE = "</agent-sync-state>"


def make_files(repo, *names):
    for n in names:
        p = repo / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("original\n")


def start(cli, *agents):
    for a in agents:
        rc, out, err = cli.hook("session-start", {"source": "startup"}, agent=a)
        assert rc == 0 and out is not None, err


def edit(cli, agent, path, tool="Edit", **env):
    return cli.hook("pre-tool-use", edit_payload(cli.repo / path, tool=tool, cwd=cli.repo), agent=agent, env=env)


def post(cli, agent, path, tool, **env):
    p = {
        "hook_event_name": "PostToolUse",
        "cwd": str(cli.repo),
        "tool_name": tool,
        "tool_input": {"file_path": str(cli.repo / path)},
        "tool_response": {"success": True},
    }
    return cli.hook("post-tool-use", p, agent=agent, env=env)


def post_bash(cli, agent, **env):
    p = {
        "hook_event_name": "PostToolUse",
        "cwd": str(cli.repo),
        "tool_name": "Bash",
        "tool_input": {"command": "ls"},
        "tool_response": {"stdout": "", "stderr": "", "interrupted": False},
    }
    return cli.hook("post-tool-use", p, agent=agent, env=env)


def reason_of(out):
    assert denied(out), out
    return out["hookSpecificOutput"]["permissionDecisionReason"]


def locks(cli):
    return {lk["path"]: lk for lk in cli.json("locks", agent="observer")[1]["locks"]}


def context_of(out, event_name):
    assert out is not None
    assert out["hookSpecificOutput"]["hookEventName"] == event_name
    ctx = out["hookSpecificOutput"]["additionalContext"]
    assert ctx.startswith(FRAME_OPEN) and ctx.endswith(FRAME_CLOSE)
    return ctx


# implicit locks --------------------------------------------------------------


def test_implicit_lock_from_an_edit(cli):
    make_files(cli.repo, "src/a.py")
    start(cli, "A", "B")
    rc, out, err = edit(cli, "A", "src/a.py")
    assert rc == 0 and out is None, out
    lk = locks(cli)
    assert set(lk) == {"src/a.py"} and lk["src/a.py"]["owner"] == "A" and lk["src/a.py"]["auto"] is True
    ttl = lk["src/a.py"]["expires_at"] - time.time()
    assert 13 * 60 < ttl <= 15 * 60 + 5, ttl  # AGENT_SYNC_AUTO_LOCK_MINUTES defaults to 15
    # A's further edits pass
    rc, out, err = edit(cli, "A", "src/a.py", tool="Write")
    assert out is None
    # B's edit is denied, naming A
    for tool in ("Edit", "Write", "MultiEdit"):
        rc, out, err = edit(cli, "B", "src/a.py", tool=tool)
        assert rc == 0
        reason = reason_of(out)
        assert "src/a.py" in reason and 'locked by "A"' in reason
    # and so is B's shell write
    rc, out, err = cli.hook(
        "pre-tool-use",
        {"cwd": str(cli.repo), "tool_name": "Bash", "tool_input": {"command": "echo x > src/a.py"}},
        agent="B",
    )
    assert denied(out)
    # A's session ends: the automatic lock goes, B's edit passes (and now B holds it)
    rc, out, err = cli.hook("session-end", {"reason": "prompt_input_exit"}, agent="A")
    assert rc == 0
    assert locks(cli) == {}
    rc, out, err = edit(cli, "B", "src/a.py")
    assert rc == 0 and out is None, out
    assert locks(cli)["src/a.py"]["owner"] == "B"


def test_auto_lock_minutes_setting(cli):
    make_files(cli.repo, "src/a.py")
    start(cli, "A")
    edit(cli, "A", "src/a.py", AGENT_SYNC_AUTO_LOCK_MINUTES="3")
    ttl = locks(cli)["src/a.py"]["expires_at"] - time.time()
    assert 2 * 60 < ttl <= 3 * 60 + 5, ttl


def test_auto_lock_can_be_turned_off(cli):
    make_files(cli.repo, "src/a.py")
    start(cli, "A", "B")
    rc, out, err = edit(cli, "A", "src/a.py", AGENT_SYNC_AUTO_LOCK="0")
    assert rc == 0 and out is None
    assert locks(cli) == {}
    rc, out, err = edit(cli, "B", "src/a.py", AGENT_SYNC_AUTO_LOCK="0")
    assert rc == 0 and out is None


def test_explicit_lock_is_not_downgraded_by_an_edit(cli):
    make_files(cli.repo, "src/c.py")
    start(cli, "A", "B")
    cli.ok("lock", "src/c.py", "--reason", "big refactor", "--ttl", "120", agent="A")
    before = locks(cli)["src/c.py"]
    assert before["auto"] is False
    rc, out, err = edit(cli, "A", "src/c.py")
    assert rc == 0 and out is None
    rc, out, err = post(cli, "A", "src/c.py", "Edit")
    after = locks(cli)["src/c.py"]
    assert after["auto"] is False and after["reason"] == "big refactor"
    assert after["expires_at"] >= before["expires_at"]
    # still the explicit lock after A's session ends
    cli.hook("session-end", {"reason": "other"}, agent="A")
    assert locks(cli)["src/c.py"]["auto"] is False
    rc, out, err = edit(cli, "B", "src/c.py")
    assert "big refactor" in reason_of(out)


# stale-write guard -----------------------------------------------------------


def test_stale_write_guard(cli):
    make_files(cli.repo, "src/b.py", "src/c.py", "src/d.py")
    start(cli, "A", "B")
    cli.ok("register", "--name", "bobby", agent="B")
    noauto = {"AGENT_SYNC_AUTO_LOCK": "0"}

    # A reads src/b.py
    rc, out, err = post(cli, "A", "src/b.py", "Read")
    assert rc == 0
    # B edits it through the hooks (no automatic lock, so only the guard can stop A)
    rc, out, err = edit(cli, "B", "src/b.py", **noauto)
    assert out is None
    (cli.repo / "src/b.py").write_text("original\nchanged by B\n")
    rc, out, err = post(cli, "B", "src/b.py", "Edit", **noauto)
    assert rc == 0
    assert locks(cli) == {}
    # A's next edit is denied: B named, read it again
    rc, out, err = edit(cli, "A", "src/b.py")
    assert rc == 0
    reason = reason_of(out)
    assert "src/b.py" in reason and "bobby" in reason and "read it again" in reason.lower(), reason
    assert locks(cli) == {}  # a denied edit takes no lock
    # still denied until A reads it again
    rc, out, err = edit(cli, "A", "src/b.py", tool="Write")
    assert denied(out)
    rc, out, err = post(cli, "A", "src/b.py", "Read")
    rc, out, err = edit(cli, "A", "src/b.py")
    assert rc == 0 and out is None, out

    # a file A never read passes, whoever changed it
    rc, out, err = edit(cli, "B", "src/d.py", **noauto)
    (cli.repo / "src/d.py").write_text("B was here, longer\n")
    post(cli, "B", "src/d.py", "Edit", **noauto)
    rc, out, err = edit(cli, "A", "src/d.py")
    assert rc == 0 and out is None, out

    # A's own edits never trigger the guard
    post(cli, "A", "src/c.py", "Read")
    for i in range(3):
        rc, out, err = edit(cli, "A", "src/c.py")
        assert rc == 0 and out is None, (i, out)
        (cli.repo / "src/c.py").write_text("original\n" + "A edit\n" * (i + 1))
        post(cli, "A", "src/c.py", "Edit")
    rc, out, err = edit(cli, "A", "src/c.py")
    assert out is None


def test_stale_write_guard_after_the_writer_session_ended(cli):
    """With automatic locks on: B's edit takes a lock, B's session ends (the
    lock goes), and A is still told the file changed under it."""
    make_files(cli.repo, "src/b.py")
    start(cli, "A", "B")
    post(cli, "A", "src/b.py", "Read")
    rc, out, err = edit(cli, "B", "src/b.py")
    assert out is None and locks(cli)["src/b.py"]["owner"] == "B"
    (cli.repo / "src/b.py").write_text("rewritten by B entirely\n")
    post(cli, "B", "src/b.py", "Write")
    cli.hook("session-end", {"reason": "other"}, agent="B")
    assert locks(cli) == {}
    rc, out, err = edit(cli, "A", "src/b.py")
    reason = reason_of(out)
    assert "B" in reason and "read it again" in reason.lower()
    post(cli, "A", "src/b.py", "Read")
    rc, out, err = edit(cli, "A", "src/b.py")
    assert out is None


# mid-turn delivery with receipts ---------------------------------------------


def receipts_for(cli, sender, body, recipient):
    msgs = cli.json("sent", agent=sender)[1]["messages"]
    m = next(m for m in msgs if m["body"] == body)
    return next(r for r in m["receipts"] if r["agent"] == recipient)


#: the throttle window of the test below: wide enough that a loaded machine's four commands fit in it
WINDOW = 5.0


def test_mid_turn_delivery_is_immediate_once_and_throttled(cli):
    start(cli, "A", "B")
    window = {"AGENT_SYNC_MIDTURN_SECONDS": str(WINDOW)}
    before = time.time()
    cli.ok("send", "--to", "A", "--message", "ping-1 please stop touching the schema", agent="B")
    assert receipts_for(cli, "B", "ping-1 please stop touching the schema", "A")["pushed_at"] is None
    rc, out, err = post_bash(cli, "A", **window)
    assert rc == 0
    ctx = context_of(out, "PostToolUse")
    assert ctx.count("ping-1") == 1
    rec = receipts_for(cli, "B", "ping-1 please stop touching the schema", "A")
    assert rec["pushed_at"] is not None and before <= rec["pushed_at"] <= time.time()

    # within the throttle window a new directed message waits...
    cli.ok("send", "--to", "A", "--message", "ping-2", agent="B")
    cli.ok("send", "--to", "all", "--message", "bcast-1", agent="B")
    rc, out, err = post_bash(cli, "A", **window)
    assert rc == 0 and (out is None or "ping-2" not in json.dumps(out)), out
    assert receipts_for(cli, "B", "ping-2", "A")["pushed_at"] is None
    # ...and goes out with the first tool call after it; broadcasts wait for the prompt
    time.sleep(WINDOW + 0.2)
    rc, out, err = post(cli, "A", "README.md", "Read", **window)
    ctx = context_of(out, "PostToolUse")
    assert "ping-2" in ctx and "ping-1" not in ctx and "bcast-1" not in ctx
    assert receipts_for(cli, "B", "ping-2", "A")["pushed_at"] is not None

    # never pushed again: not mid-turn (even after the throttle), not at the prompt, not at stop
    time.sleep(WINDOW + 0.2)
    rc, out, err = post_bash(cli, "A", **window)
    assert out is None, out
    rc, out, err = cli.hook("user-prompt-submit", {"prompt": "next"}, agent="A")
    ctx = context_of(out, "UserPromptSubmit")
    assert "bcast-1" in ctx and "ping-1" not in ctx and "ping-2" not in ctx
    rc, out, err = cli.hook("stop", {"stop_hook_active": False}, agent="A")
    assert rc == 0 and out is None, out
    # read and ack show up in the sender's receipts too
    msg_id = next(m["id"] for m in cli.json("sent", agent="B")[1]["messages"] if m["body"] == "ping-2")
    cli.ok("read-message", str(msg_id), agent="A")
    cli.ok("ack", str(msg_id), agent="A")
    rec = receipts_for(cli, "B", "ping-2", "A")
    assert rec["read_at"] is not None and rec["acked_at"] is not None


def test_mid_turn_push_does_not_repeat_a_prompt_push(cli):
    start(cli, "A", "B")
    cli.ok("send", "--to", "A", "--message", "only-once", agent="B")
    rc, out, err = cli.hook("user-prompt-submit", {"prompt": "x"}, agent="A")
    assert "only-once" in context_of(out, "UserPromptSubmit")
    time.sleep(MIDTURN_SECONDS + 0.2)
    rc, out, err = post_bash(cli, "A")
    assert out is None, out


# "now free" ------------------------------------------------------------------


def test_now_free_notice_after_a_denial(cli):
    make_files(cli.repo, "src/x.py", "src/y.py")
    start(cli, "A", "B")
    cli.ok("register", "--name", "alice", agent="A")
    cli.ok("lock", "src/x.py", "--reason", "mine for now", agent="A")
    rc, out, err = edit(cli, "B", "src/x.py")
    assert denied(out)
    rc, out, err = cli.hook("user-prompt-submit", {"prompt": "x"}, agent="B")
    assert out is None  # nothing yet
    cli.ok("unlock", "src/x.py", agent="A")
    rc, out, err = cli.hook("user-prompt-submit", {"prompt": "x"}, agent="B")
    ctx = context_of(out, "UserPromptSubmit")
    assert "src/x.py" in ctx and "free" in ctx.lower()
    rc, out, err = cli.hook("user-prompt-submit", {"prompt": "x"}, agent="B")
    assert out is None
    # the same for an automatic lock released by the end of the holder's session
    edit(cli, "A", "src/y.py")
    rc, out, err = edit(cli, "B", "src/y.py")
    assert denied(out)
    cli.hook("session-end", {"reason": "other"}, agent="A")
    rc, out, err = cli.hook("user-prompt-submit", {"prompt": "x"}, agent="B")
    ctx = context_of(out, "UserPromptSubmit")
    assert "src/y.py" in ctx and "free" in ctx.lower()


# counters --------------------------------------------------------------------


def test_next_counter_under_a_race(cli):
    cli.ok("init")
    procs = [
        subprocess.Popen(
            PY + [str(cli.pyz), "next", "adr", "--json"],
            cwd=cli.repo,
            env=clean_env(AGENT_SYNC_ID=f"racer-{i}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(20)
    ]
    values = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0 and "Traceback" not in err, err
        values.append(json.loads(out)["value"])
    assert sorted(values) == list(range(1, 21))
    assert cli.json("next", "adr", agent="x")[1]["value"] == 21
    assert cli.json("next", "migration", agent="x")[1]["value"] == 1


# git reset guard -------------------------------------------------------------

RESETS = [
    "git stash",
    "git stash push -m wip",
    "git reset --hard",
    "git reset --hard HEAD~1",
    "git checkout -- .",
    "git restore .",
    "git clean -fd",
    "git clean -f",
]


def bash(cli, agent, command):
    return cli.hook(
        "pre-tool-use", {"cwd": str(cli.repo), "tool_name": "Bash", "tool_input": {"command": command}}, agent=agent
    )


def test_worktree_wide_git_commands_denied_while_others_work_there(cli):
    """Alone, B may rewrite its working tree; while A works there too (with or
    without locks) it may not, and the reason names A and what A holds."""
    make_files(cli.repo, "src/a.py")
    start(cli, "B")
    for cmd in RESETS:
        rc, out, err = bash(cli, "B", cmd)
        assert rc == 0 and out is None, (cmd, out)
    start(cli, "A")
    cli.ok("register", "--name", "alice", agent="A")
    cli.ok("lock", "src/a.py", "--reason", "wip", agent="A")
    for cmd in RESETS:
        rc, out, err = bash(cli, "B", cmd)
        assert rc == 0 and denied(out), (cmd, out)
        reason = reason_of(out)
        assert "alice" in reason and "src/a.py" in reason, (cmd, reason)
    # read-only git commands still pass
    for cmd in ("git status", "git stash list", "git diff", "git log -1"):
        rc, out, err = bash(cli, "B", cmd)
        assert out is None, (cmd, out)
    # once A's session has ended and its lock is gone, B may
    cli.ok("unlock", "src/a.py", agent="A")
    cli.hook("session-end", {"reason": "other"}, agent="A")
    for cmd in ("git stash", "git reset --hard"):
        rc, out, err = bash(cli, "B", cmd)
        assert out is None, (cmd, out)


# decisions at session start --------------------------------------------------


def test_session_start_includes_recent_decisions(cli):
    start(cli, "A")
    cli.ok("decision", "Use SQLite WAL for all shared state", agent="A")
    cli.ok("decision", "API errors are RFC 7807 problem+json", agent="A")
    rc, out, err = cli.hook("session-start", {"source": "startup"}, agent="newcomer")
    ctx = context_of(out, "SessionStart")
    assert "Use SQLite WAL for all shared state" in ctx
    assert "API errors are RFC 7807 problem+json" in ctx
    assert re.search(r"(?i)decision", ctx)


def test_a_shell_write_takes_the_automatic_lock_too(cli):
    """A shell read-modify-write races like an edit tool's: the first one locks the file."""
    (cli.repo / "s.py").write_text("x\n")
    start(cli, "A", "B")
    shell = {
        "session_id": "A",
        "cwd": str(cli.repo),
        "tool_name": "Bash",
        "tool_input": {"command": "c=$(cat s.py); printf '%s\\ny\\n' \"$c\" > s.py"},
    }
    rc, out, _ = cli.hook("pre-tool-use", shell, agent="A")
    assert out is None and locks(cli)["s.py"]["owner"] == "A" and locks(cli)["s.py"]["auto"]
    rc, out, _ = edit(cli, "B", "s.py")
    assert out["hookSpecificOutput"]["permissionDecision"] == "deny"
    rc, out, _ = cli.hook("pre-tool-use", {**shell, "session_id": "B"}, agent="B")
    assert out["hookSpecificOutput"]["permissionDecision"] == "deny"
