"""Prevented conflicts are recorded, counted and reported (`report`, `status`),
through the built zipapp and real hooks."""

import json
import threading
import time

from conftest import denied, edit_payload


def bash(command, session, cwd):
    return {"session_id": session, "cwd": str(cwd), "tool_name": "Bash", "tool_input": {"command": command}}


def test_every_denial_is_recorded_with_its_rule_and_counted(cli):
    (cli.repo / "a.py").write_text("x\n")
    (cli.repo / "lib").mkdir()
    (cli.repo / "lib" / "b.py").write_text("y\n")
    cli.ok("lock", "a.py", "lib/", agent="alice")
    assert denied(cli.hook("pre-tool-use", edit_payload(cli.repo / "a.py", session="bob"))[1])
    assert denied(cli.hook("pre-tool-use", edit_payload(cli.repo / "lib" / "b.py", session="bob"))[1])
    assert denied(cli.hook("pre-tool-use", bash("echo z > a.py", "bob", cli.repo))[1])
    assert denied(cli.hook("pre-tool-use", bash("git reset --hard", "bob", cli.repo))[1])
    assert (
        cli.hook("pre-tool-use", edit_payload(cli.repo / "free.py", session="bob"))[1] is None
    )  # allowed: not counted
    _, activity = cli.json("activity", agent="alice")
    rules = [a["message"] for a in activity["activity"] if a["type"] == "denied"]
    assert rules == [
        "lock: a.py held by alice",
        "directory lock: lib/b.py held by alice",
        "lock: a.py held by alice",
        "shell guard: git reset --hard held by alice",
    ]
    _, status = cli.json("status", agent="alice")
    assert status["conflicts_today"] == 4
    assert "conflicts prevented today: 4" in cli.ok("status", agent="alice").stdout
    _, report = cli.json("report", "--since", "1h", agent="alice")
    bob = cli.json("whoami", env={"CLAUDE_CODE_SESSION_ID": "bob"})[1]["id"]
    assert report["conflicts_prevented"] == 4 and report["agents"][bob]["denied"] == 4
    assert report["agents"]["alice"]["locks"] == 1
    assert report["files"]["a.py"] == {"denied": 2, "edits": 0, "waits": 0, "agents": [bob]}
    text = cli.ok("report", agent="alice").stdout
    assert text.startswith("since 1d ago: 4 conflicts prevented") and "a.py: 2 / 0 / 0" in text


def test_an_edit_allowed_past_a_gone_holder_is_not_counted(cli):
    """Team mode writes a denial's bookkeeping before it knows the edit is
    denied (on the condition that another agent holds the file) and takes it
    back when the holder turns out to be gone: nothing is counted, nobody waits."""
    (cli.repo / "o.py").write_text("x\n")
    cli.ok("lock", "o.py", agent="gone")
    time.sleep(0.8)
    offline = {"AGENT_SYNC_OFFLINE_MINUTES": "0.01", "AGENT_SYNC_STALE_MINUTES": "0.005"}
    rc, out, err = cli.hook("pre-tool-use", edit_payload(cli.repo / "o.py", session="bob"), env=offline)
    assert rc == 0 and not denied(out), (out, err)
    _, activity = cli.json("activity", agent="x")
    assert [a for a in activity["activity"] if a["type"] == "denied"] == []
    assert cli.json("status", agent="x", env=offline)[1]["conflicts_today"] == 0
    cli.ok("unlock", "o.py", "--force", agent="x")
    rc, out, _ = cli.hook("user-prompt-submit", {"session_id": "bob", "cwd": str(cli.repo), "prompt": "x"})
    assert "o.py" not in json.dumps(out)  # no "now free" notice: it never waited


def test_a_stale_write_denial_is_recorded(cli):
    target = cli.repo / "s.py"
    target.write_text("v1\n")
    for session in ("reader", "writer"):
        cli.hook("session-start", {"session_id": session, "cwd": str(cli.repo)})
    read = {"session_id": "reader", "cwd": str(cli.repo), "tool_name": "Read", "tool_input": {"file_path": str(target)}}
    cli.hook("post-tool-use", read)
    edit = edit_payload(target, session="writer")
    cli.hook("pre-tool-use", edit)
    target.write_text("v2, longer\n")
    cli.hook("post-tool-use", {**edit, "hook_event_name": "PostToolUse"})
    cli.hook("session-end", {"session_id": "writer", "cwd": str(cli.repo)})
    assert denied(cli.hook("pre-tool-use", edit_payload(target, session="reader"))[1])
    _, activity = cli.json("activity", agent="x")
    assert any(a["type"] == "denied" and a["message"].startswith("stale write: s.py") for a in activity["activity"])


def test_a_lock_got_by_waiting_is_reported_as_a_wait(cli):
    cli.ok("lock", "w.py", agent="holder")
    release = threading.Timer(1.0, lambda: cli.ok("unlock", "w.py", agent="holder"))
    release.start()
    start = time.monotonic()
    cli.ok("lock", "w.py", "--wait", "20", agent="waiter")
    assert time.monotonic() - start >= 0.9
    _, report = cli.json("report", agent="x")
    assert report["agents"]["waiter"]["waits"] == 1 and report["files"]["w.py"]["waits"] == 1


def test_report_refuses_a_bad_duration(cli):
    r = cli("report", "--since", "yesterday")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "90m, 24h or 7d" in r.stderr
    assert json.loads(cli("report", "--json", "--since", "5m").stdout)["ok"]


def test_one_conflict_is_one_and_gc_says_nothing_of_a_false(cli):
    (cli.repo / "a.py").write_text("x\n")
    cli.ok("lock", "a.py", agent="alice")
    assert denied(cli.hook("pre-tool-use", edit_payload(cli.repo / "a.py", session="bob"))[1])
    assert ": 1 conflict prevented (denied edits)" in cli.ok("report", agent="alice").stdout
    out = cli.ok("gc", agent="alice").stdout
    assert "False" not in out and "True" not in out, out
