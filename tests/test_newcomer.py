"""Rough edges a newcomer hit by following the README, each fixed (issue 13)."""

import json
import os
import subprocess

import pytest

from conftest import PY


def one_line(r, code):
    assert r.returncode == code and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r
    return r.stderr


def test_a_second_live_agent_cannot_take_a_live_agents_name(cli):
    cli.ok("register", "--name", "backend", agent="a")
    err = one_line(cli("register", "--name", "Backend", agent="b"), 1)
    assert "taken by live agent a" in err
    cli.ok("register", "--name", "backend", agent="a")  # renaming yourself to your own name is fine


def test_usage_errors_say_it_once_and_guess_the_command(cli):
    err = one_line(cli("stauts"), 2)
    assert err == "agent-sync: unknown command 'stauts'; did you mean status?\n"
    err = one_line(cli("lock", "--bogus"), 2)
    assert err.startswith("agent-sync: lock: unknown option --bogus")
    r = cli("--json", "lock", "--bogus")
    assert json.loads(r.stdout)["error"].startswith("lock: unknown option --bogus")
    assert "agent-sync: agent-sync" not in cli("lock").stderr


def test_message_and_decision_from_standard_input(cli):
    cli.ok("register", "--name", "reader", agent="reader")
    big = "x" * 300_000  # past what one command-line argument can carry
    cli.ok("send", "--to", "reader", "--message", "-", agent="writer", input=big)
    _, inbox = cli.json("inbox", agent="reader")
    assert len(inbox["messages"]) == 1
    _, msg = cli.json("read-message", str(inbox["messages"][0]["id"]), agent="reader")
    assert msg["message"]["body"] == big
    cli.ok("decision", "-", agent="writer", input="use UTC everywhere\n")
    assert cli.json("decisions", agent="x")[1]["decisions"][-1]["text"] == "use UTC everywhere"
    err = one_line(cli("send", "--to", "reader", "-m", "-", agent="writer", input="y" * 1_000_001), 2)
    assert "at most 1000000" in err


def test_commands_exit_quietly_when_the_reader_goes_away(cli):
    calls = [("log", {"type": "t", "message": f"entry {i} " + "z" * 150}) for i in range(60)]
    assert not any(r["result"]["isError"] for r in cli.mcp_calls("a", calls))  # one process, not sixty
    command = " ".join(f"'{a}'" for a in [*PY, cli.pyz, "console", "--plain"]) + " | head -1"
    pipe = subprocess.run(
        ["sh", "-c", command], cwd=cli.repo, env=cli.env("a"), input="quit\n", capture_output=True, text=True
    )
    assert pipe.stdout.count("\n") == 1 and pipe.stderr == "", pipe.stderr


def test_status_json_compact_is_the_compact_text(cli):
    cli.ok("register", "--name", "a", agent="a")
    _, doc = cli.json("status", "--compact", agent="a")
    assert set(doc) == {"ok", "compact"} and "agent-sync-state" in doc["compact"]


def test_unknown_hook_event_names_the_event_not_none(cli):
    rc, out, err = cli.hook("pre-tool-uze", {"session_id": "s"})
    assert rc == 0 and out is None and "unknown hook event 'pre-tool-uze'" in err and "None" not in err


def test_a_task_without_files_logs_no_empty_lock(cli):
    cli.ok("create-task", "think hard", agent="a")
    cli.ok("claim-task", "think hard", agent="a")
    _, doc = cli.json("activity", agent="a")
    assert not [e for e in doc["activity"] if e["type"] == "lock"], doc["activity"]


def test_interpreters_older_than_3_10_get_one_plain_line(cli):
    from conftest import find_interpreter

    old = [exe for exe in (find_interpreter(m) for m in (9, 8, 7)) if exe]
    if not old:
        import pytest

        (pytest.fail if os.environ.get("CI") else pytest.skip)("no Python older than 3.10 found on this machine")
    r = subprocess.run([old[0], str(cli.pyz), "status"], capture_output=True, text=True, cwd=cli.repo)
    assert r.returncode == 1 and r.stderr.startswith("agent-sync needs Python 3.10 or newer, not 3.")
    assert r.stderr.count("\n") == 1


def test_doctor_lists_every_check_on_failure_and_marks_advice(cli):
    r = cli("doctor")
    assert r.returncode == 1 and "[!!] zipapp installed" in r.stdout and "[ok] hooks' python" in r.stdout
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("agent-sync: doctor: ")
    cli.ok("install")
    r = cli.ok("doctor")
    assert "[--] subdirectory launches" in r.stdout


@pytest.mark.sqlite_only
def test_uninstall_with_state_kept_leaves_git_status_clean(cli):
    cli.ok("install")
    cli.ok("lock", "x.py", agent="a")
    cli.ok("uninstall")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=cli.repo, capture_output=True, text=True).stdout
    assert ".claude" not in status and (cli.repo / ".claude" / "coordination" / "state.sqlite").exists()


def test_launcher_works_through_a_symlink_and_skips_an_old_python3(cli, tmp_path):
    import os
    import sys

    from conftest import find_interpreter

    out = cli.ok("install").stdout
    assert "install --link" in out and "not on your PATH" in out  # how to get it on PATH (test_cli: --link itself)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "agent-sync").symlink_to(cli.repo / ".claude" / "skills" / "agent-sync" / "agent-sync")
    old = find_interpreter(8) or find_interpreter(9)
    if old:  # python3 on PATH is too old: the launcher must go on to `python`
        (bin_dir / "python3").symlink_to(old)
    (bin_dir / "python").symlink_to(sys.executable)
    env = cli.env("via-link", PATH=f"{bin_dir}{os.pathsep}/usr/bin:/bin")
    r = subprocess.run([str(bin_dir / "agent-sync"), "whoami"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "via-link" in r.stdout, r.stderr


def test_hook_messages_name_commands_the_agent_can_run_as_written(cli):
    import re

    cli.ok("install")
    (cli.repo / "a.py").write_text("x\n")
    cli.ok("lock", "a.py", agent="holder")
    installed = cli.repo / ".claude" / "skills" / "agent-sync" / "agent-sync.pyz"
    payload = json.dumps(
        {"session_id": "s", "cwd": str(cli.repo), "tool_name": "Edit", "tool_input": {"file_path": "a.py"}}
    )
    r = subprocess.run(
        [*PY, str(installed), "hook", "pre-tool-use"],
        input=payload,
        capture_output=True,
        text=True,
        cwd=cli.repo,
        env=cli.env(),
    )
    reason = json.loads(r.stdout)["hookSpecificOutput"]["permissionDecisionReason"]
    command = re.search(r"`([^`]*agent-sync send --to holder[^`]*)`", reason).group(1)
    assert command.startswith(str(cli.repo / ".claude" / "skills" / "agent-sync" / "agent-sync") + " ")
    command = command.replace('"..."', '"may I have a.py?"')
    sent = subprocess.run(
        ["sh", "-c", command], cwd=cli.repo / ".claude", env=cli.env("asker"), capture_output=True, text=True
    )
    assert sent.returncode == 0 and "sent #" in sent.stdout, sent.stderr


def test_install_outside_git_says_what_needs_git(cli, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    out = cli.ok("install", str(plain)).stdout
    assert f"{plain} is not a git repository: agents coordinate here all the same" in out, out
    assert "is not a git repository" not in cli.ok("install").stdout  # the test's own repository is one
