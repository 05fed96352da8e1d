"""Issue 2: the CLI and storage contract, through the built zipapp."""

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import PY, ROOT, Runner, clean_env, denied, edit_payload, find_interpreter, git_init

COMMANDS = [
    "init",
    "register",
    "heartbeat",
    "whoami",
    "status",
    "tasks",
    "create-task",
    "depend",
    "claim-task",
    "claim-next",
    "release-task",
    "complete-task",
    "block-task",
    "lock",
    "unlock",
    "locks",
    "send",
    "inbox",
    "read-message",
    "ack",
    "sent",
    "decision",
    "decisions",
    "log",
    "activity",
    "gc",
    "next",
    "console",
    "install",
    "uninstall",
    "doctor",
    "mcp",
    "check-commit",
    "hook",
]


def db_rows(cli, sql, *args):
    return cli.sql(sql, args)


def one_line_error(r, code):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    return r.stderr


# Quickstart, help, JSON --------------------------------------------------------


def test_reference_quickstart(cli):
    (cli.repo / "src").mkdir()
    steps = [
        ["init"],
        ["register", "--name", "frontend", "--role", "React UI"],
        ["create-task", "Update login UI", "--file", "src/login.tsx"],
        ["claim-task", "Update login UI"],
        ["lock", "src/login.tsx", "--reason", "editing login page"],
        ["status"],
        ["status", "--compact"],
        ["send", "--to", "all", "--message", "Login UI task started"],
        ["decision", "Use SQLite for coordination state"],
        ["complete-task", "Update login UI"],
        ["unlock", "src/login.tsx"],
        ["gc"],
    ]
    for step in steps:
        cli.ok(*step)
    assert db_rows(cli, "SELECT title, status FROM tasks") == [("Update login UI", "done")]
    assert db_rows(cli, "SELECT count(*) FROM locks") == [(0,)]
    assert db_rows(cli, "SELECT text FROM decisions") == [("Use SQLite for coordination state",)]
    assert db_rows(cli, "SELECT name, role FROM agents") == [("frontend", "React UI")]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(cli, command):
    r = cli(command, "--help")
    assert r.returncode == 0 and "usage:" in r.stdout


def test_json_output_is_one_document_for_success_and_error(cli):
    rc, doc = cli.json("register", "--name", "a", agent="a")
    assert rc == 0 and doc["ok"] and doc["id"] == "a" and doc["presence"] == "active"
    rc, doc = cli.json("claim-task", "nope", agent="a")
    assert rc == 1 and doc["ok"] is False and "no task" in doc["error"] and doc["exit_code"] == 1
    rc, doc = cli.json("lock", "x", "--ttl", "0", agent="a")
    assert rc == 2 and doc["exit_code"] == 2
    for args in (["status"], ["tasks"], ["locks"], ["inbox"], ["decisions"], ["activity"], ["whoami"], ["sent"]):
        rc, doc = cli.json(*args, agent="a")
        assert rc == 0 and doc["ok"], args


# Identity ----------------------------------------------------------------------


def test_session_env_and_hook_payload_give_the_same_agent(cli):
    (cli.repo / "f.py").write_text("x\n")
    r = cli("whoami", "--json", env={"CLAUDE_CODE_SESSION_ID": "sess-42"})
    doc = json.loads(r.stdout)
    assert doc["id"].startswith("cc-") and doc["source"] == "CLAUDE_CODE_SESSION_ID"
    cli.hook("session-start", {"session_id": "sess-42", "cwd": str(cli.repo)})
    cli.hook("pre-tool-use", edit_payload(cli.repo / "f.py", session="sess-42"))
    owners = db_rows(cli, "SELECT owner, auto FROM locks")
    assert owners == [(doc["id"], 1)]
    r = cli("whoami", "--json", agent="explicit", env={"CLAUDE_CODE_SESSION_ID": "sess-42"})
    assert json.loads(r.stdout)["id"] == "explicit"
    r = cli("whoami", "--json")
    assert json.loads(r.stdout)["id"].startswith("local-")


def test_read_only_command_does_not_invent_an_identity(cli):
    for command in ("status", "whoami", "locks", "tasks", "inbox", "report", "changes"):
        cli.ok(command, agent="ghost")
    assert not (cli.repo / ".claude").exists()  # looking creates no state at all
    cli.ok("register", "--name", "real", agent="real")
    cli.ok("status", agent="ghost")
    assert db_rows(cli, "SELECT id FROM agents") == [("real",)]


def test_invalid_agent_id_is_a_usage_error(cli):
    one_line_error(cli("status", agent="bad id\x1b[2J"), 2)


# Storage location ----------------------------------------------------------------


@pytest.mark.sqlite_only
def test_database_location_subdirectory_and_wal(cli):
    sub = cli.repo / "a" / "b"
    sub.mkdir(parents=True)
    cli.ok("register", "--name", "x", agent="x", cwd=sub)
    assert cli.db.exists() and not (sub / ".claude").exists()
    conn = sqlite3.connect(cli.db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 7
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {
        "agents",
        "tasks",
        "task_files",
        "task_deps",
        "locks",
        "messages",
        "message_deliveries",
        "decisions",
        "activity",
    } <= tables


def test_linked_worktree_shares_the_main_database_and_keys(cli):
    (cli.repo / "src").mkdir()
    (cli.repo / "src" / "app.py").write_text("x\n")
    subprocess.run(["git", "-C", str(cli.repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(cli.repo), "commit", "-qm", "init"], check=True)
    wt = cli.repo.parent / "wt"
    subprocess.run(["git", "-C", str(cli.repo), "worktree", "add", "-q", str(wt)], check=True)
    cli.ok("lock", "app.py", agent="main-agent", cwd=wt / "src")
    assert not (wt / ".claude").exists()
    assert db_rows(cli, "SELECT key FROM locks") == [("src/app.py",)]
    rc, out, _ = cli.hook("pre-tool-use", edit_payload(wt / "src" / "app.py", cwd=wt), agent="other")
    assert denied(out)
    rc, out, _ = cli.hook("pre-tool-use", edit_payload(cli.repo / "src" / "app.py", cwd=cli.repo), agent="other")
    assert denied(out)


def test_outside_git_uses_nearest_claude_dir_but_never_home(tmp_path, pyz):
    home = tmp_path / "home"
    (home / ".claude").mkdir(parents=True)
    project = home / "proj"
    (project / ".claude").mkdir(parents=True)
    (project / "deep" / "er").mkdir(parents=True)
    loose = home / "loose"
    loose.mkdir()
    env = {"HOME": str(home)}
    runner = Runner(pyz, project)
    runner.ok("register", "--name", "p", agent="p", cwd=project / "deep" / "er", env=env)
    assert (project / ".claude" / "coordination" / "state.sqlite").exists()
    # a folder with no project marker: refused with a hint, nothing created (no silent spreading)
    r = runner("register", "--name", "l", agent="l", cwd=loose, env=env)
    assert r.returncode == 2 and "not in a git repository" in r.stderr and "agent-sync init" in r.stderr
    assert not (loose / ".claude").exists()
    runner.ok("init", cwd=loose, env=env)  # opting in keeps the state there
    runner.ok("register", "--name", "l", agent="l", cwd=loose, env=env)
    assert (loose / ".claude" / "coordination" / "state.sqlite").exists()
    assert not (home / ".claude" / "coordination").exists()


@pytest.mark.sqlite_only
def test_agent_sync_db_override(cli, tmp_path):
    target = tmp_path / "elsewhere" / "x.sqlite"
    cli.ok("register", "--name", "a", agent="a", env={"AGENT_SYNC_DB": str(target)})
    assert target.exists() and not cli.db.exists()


# Paths -----------------------------------------------------------------------------


def test_relative_path_resolves_from_callers_directory(cli):
    (cli.repo / "src").mkdir()
    (cli.repo / "app.py").write_text("root\n")
    cli.ok("lock", "app.py", agent="a", cwd=cli.repo / "src")
    assert db_rows(cli, "SELECT key FROM locks") == [("src/app.py",)]
    rc, out, _ = cli.hook("pre-tool-use", edit_payload(cli.repo / "src" / "app.py"), agent="b")
    assert denied(out)
    rc, out, _ = cli.hook("pre-tool-use", edit_payload(cli.repo / "app.py"), agent="b")
    assert not denied(out)


def test_path_spellings_name_one_lock(cli):
    (cli.repo / "a").mkdir()
    (cli.repo / "a" / "b.py").write_text("x\n")
    (cli.repo / "link.py").symlink_to(cli.repo / "a" / "b.py")
    cli.ok("lock", "a/b.py", agent="holder")
    for spelling in ("./a/b.py", "a/../a/b.py", str(cli.repo / "a" / "b.py"), "link.py", "a//b.py"):
        r = cli("lock", spelling, agent="other")
        assert r.returncode == 1 and 'locked by "holder"' in r.stderr, spelling


def test_path_outside_repo_is_refused(cli, tmp_path):
    for path in ("../outside.py", str(tmp_path / "x.py"), "/etc/passwd"):
        err = one_line_error(cli("lock", path, agent="a"), 2)
        assert "outside the repository" in err


def test_case_insensitive_file_systems(cli):
    cli.ok("lock", "Src/App.PY", agent="a", env={"AGENT_SYNC_CASE_INSENSITIVE": "1"})
    r = cli("lock", "src/app.py", agent="b", env={"AGENT_SYNC_CASE_INSENSITIVE": "1"})
    assert r.returncode == 1 and 'locked by "a"' in r.stderr


# Locks --------------------------------------------------------------------------------


def test_lock_conflict_extend_unlock_force(cli):
    cli.ok("lock", "f.py", "--reason", "mine", agent="a")
    r = cli("lock", "f.py", agent="b")
    err = one_line_error(r, 1)
    assert 'locked by "a"' in err and "mine" in err
    first = db_rows(cli, "SELECT expires_at FROM locks")[0][0]
    time.sleep(0.05)
    cli.ok("lock", "f.py", "--ttl", "120", agent="a")
    assert db_rows(cli, "SELECT expires_at, reason FROM locks")[0][0] > first + 3000
    assert db_rows(cli, "SELECT reason FROM locks") == [("mine",)]
    assert "only its owner" in one_line_error(cli("unlock", "f.py", agent="b"), 1)
    cli.ok("unlock", "f.py", "--force", agent="b")
    assert db_rows(cli, "SELECT count(*) FROM locks") == [(0,)]
    one_line_error(cli("unlock", "f.py", agent="b"), 1)


def test_expired_lock_and_offline_owner_are_taken_over(cli):
    cli.ok("lock", "e.py", "--ttl", "0.01", agent="a")
    time.sleep(0.8)
    cli.ok("lock", "e.py", agent="b")
    cli.ok("lock", "o.py", agent="c")
    time.sleep(0.8)
    assert cli("lock", "o.py", agent="d").returncode == 1
    cli.ok("lock", "o.py", agent="d", env={"AGENT_SYNC_OFFLINE_MINUTES": "0.01", "AGENT_SYNC_STALE_MINUTES": "0.005"})
    assert db_rows(cli, "SELECT owner FROM locks WHERE key='o.py'") == [("d",)]


def test_stale_owner_still_holds(cli):
    cli.ok("lock", "s.py", agent="a")
    time.sleep(0.8)
    r = cli("lock", "s.py", agent="b", env={"AGENT_SYNC_STALE_MINUTES": "0.005"})
    assert r.returncode == 1


def test_lock_wait_succeeds_and_times_out(cli):
    cli.ok("lock", "w.py", agent="a")
    r = cli("lock", "w.py", "--wait", "0.6", agent="b")
    err = one_line_error(r, 1)
    assert "still locked" in err and 'locked by "a"' in err
    releaser = subprocess.Popen(
        ["sh", "-c", f"sleep 1; {' '.join(PY)} {cli.pyz} unlock w.py"], cwd=cli.repo, env=clean_env(AGENT_SYNC_ID="a")
    )
    start = time.time()
    cli.ok("lock", "w.py", "--wait", "20", agent="b")
    releaser.wait()
    assert time.time() - start < 15
    assert db_rows(cli, "SELECT owner FROM locks") == [("b",)]


def test_multi_path_lock_is_all_or_nothing(cli):
    cli.ok("lock", "b.py", agent="a")
    assert cli("lock", "x.py", "b.py", "y.py", agent="b").returncode == 1
    assert db_rows(cli, "SELECT key FROM locks") == [("b.py",)]
    cli.ok("lock", "x.py", "y.py", agent="b")
    assert sorted(db_rows(cli, "SELECT key FROM locks WHERE owner='b'")) == [("x.py",), ("y.py",)]


def test_resource_locks(cli):
    cli.ok("lock", "--resource", "db-migrations", agent="a")
    r = cli("lock", "--resource", "DB-Migrations", agent="b")
    assert r.returncode == 1 and 'locked by "a"' in r.stderr
    cli.ok("lock", "db-migrations", agent="b")
    cli.ok("unlock", "--resource", "db-migrations", agent="a")


@pytest.mark.parametrize("ttl", ["0", "-1", "1e30", "abc", "nan", "inf"])
def test_bad_ttl(cli, ttl):
    one_line_error(cli("lock", "t.py", "--ttl", ttl, agent="a"), 2)


def test_directory_lock_overlaps_files(cli):
    (cli.repo / "src").mkdir()
    cli.ok("lock", "src/app/main.py", agent="a")
    assert cli("lock", "src/", agent="b").returncode == 1
    cli.ok("lock", "lib/", agent="b")
    assert cli("lock", "lib/x/y.py", agent="a").returncode == 1
    cli.ok("lock", "*.md", agent="c")
    assert cli("lock", "README.md", agent="a").returncode == 1
    assert cli("lock", "*/x.py", agent="c").returncode == 1
    cli.ok("lock", "docs/*.txt", agent="c")
    rc, doc = cli.json("locks", agent="a")
    assert {l["kind"] for l in doc["locks"]} == {"file", "dir", "glob"}


# Tasks ------------------------------------------------------------------------------------


def test_task_ownership_and_dependencies(cli):
    cli.ok("create-task", "base", agent="a")
    cli.ok("create-task", "top", "--depends-on", "base", agent="a")
    r = cli("claim-task", "top", agent="b")
    assert "waits on #1" in one_line_error(r, 1)
    cli.ok("claim-task", "base", agent="a")
    assert "owned by a" in one_line_error(cli("claim-task", "base", agent="b"), 1)
    assert "owned by a" in one_line_error(cli("complete-task", "1", agent="b"), 1)
    assert "owned by a" in one_line_error(cli("block-task", "#1", "--reason", "x", agent="b"), 1)
    cli.ok("complete-task", "base", agent="a")
    assert "already done" in one_line_error(cli("complete-task", "base", agent="a"), 1)
    assert "cannot be blocked" in one_line_error(cli("block-task", "base", "--reason", "r", agent="a"), 1)
    cli.ok("claim-task", "top", agent="b")
    rc, doc = cli.json("tasks", agent="b")
    assert [(t["title"], t["status"]) for t in doc["tasks"]] == [("top", "in_progress"), ("base", "done")]


def test_claim_next_order_and_dependency_cycle(cli):
    cli.ok("create-task", "low", "--priority", "1", agent="a")
    cli.ok("create-task", "high-old", "--priority", "5", agent="a")
    cli.ok("create-task", "high-new", "--priority", "5", agent="a")
    titles = [json.loads(cli("claim-next", "--json", agent=f"w{i}").stdout)["task"]["title"] for i in range(3)]
    assert titles == ["high-old", "high-new", "low"]
    assert "no task is ready" in one_line_error(cli("claim-next", agent="w9"), 1)
    cli.ok("depend", "low", "--on", "high-old", agent="a")
    r = cli("depend", "high-old", "--on", "low", agent="a")
    assert "cycle" in one_line_error(r, 1)
    assert "cycle" in one_line_error(cli("depend", "low", "--on", "low", agent="a"), 1)


def test_claim_next_reclaims_offline_owners_task(cli):
    cli.ok("create-task", "orphan", agent="a")
    cli.ok("claim-task", "orphan", agent="gone")
    assert db_rows(cli, "SELECT current_task FROM agents WHERE id='gone'") == [(1,)]
    time.sleep(0.8)
    assert cli("claim-next", agent="b").returncode == 1
    cli.ok("claim-next", agent="b", env={"AGENT_SYNC_OFFLINE_MINUTES": "0.01", "AGENT_SYNC_STALE_MINUTES": "0.005"})
    assert db_rows(cli, "SELECT owner FROM tasks") == [("b",)]
    assert db_rows(cli, "SELECT current_task FROM agents WHERE id='gone'") == [(None,)]


def test_claim_locks_task_files_all_or_nothing(cli):
    cli.ok("create-task", "multi", "--file", "a.py", "--file", "b.py", "--file", "c.py", agent="x")
    cli.ok("lock", "b.py", agent="other")
    r = cli("claim-task", "multi", agent="me")
    assert '"b.py" is locked by "other"' in one_line_error(r, 1)
    assert db_rows(cli, "SELECT key FROM locks WHERE owner='me'") == []
    assert db_rows(cli, "SELECT status, owner FROM tasks") == [("open", None)]
    cli.ok("unlock", "b.py", agent="other")
    cli.ok("claim-task", "multi", agent="me")
    assert len(db_rows(cli, "SELECT key FROM locks WHERE owner='me'")) == 3
    cli.ok("release-task", "multi", agent="me")
    assert db_rows(cli, "SELECT count(*) FROM locks") == [(0,)]
    cli.ok("claim-task", "multi", agent="me")
    cli.ok("complete-task", "multi", agent="me")
    assert db_rows(cli, "SELECT count(*) FROM locks") == [(0,)]


def test_ambiguous_title_lists_candidates(cli):
    cli.ok("create-task", "same", agent="a")
    cli.ok("create-task", "same", agent="a")
    err = one_line_error(cli("claim-task", "same", agent="a"), 1)
    assert "ambiguous" in err and "#1" in err and "#2" in err
    one_line_error(cli("claim-task", "nothing-like-it", agent="a"), 1)


# Messages -------------------------------------------------------------------------------


def test_message_routing_and_private_state(cli):
    cli.ok("register", "--name", "alpha", "--role", "api", agent="a")
    cli.ok("register", "--name", "beta", "--role", "api", agent="b")
    cli.ok("register", "--name", "gamma", "--role", "ui", agent="c")
    recipients = lambda doc: sorted(doc["recipients"])
    assert recipients(cli.json("send", "--to", "all", "-m", "hello all", agent="a")[1]) == ["b", "c"]
    assert recipients(cli.json("send", "--to", "BETA", "-m", "by name", agent="a")[1]) == ["b"]
    assert recipients(cli.json("send", "--to", "c", "-m", "by id", agent="a")[1]) == ["c"]
    assert recipients(cli.json("send", "--to", "api", "-m", "by role", agent="c")[1]) == ["a", "b"]
    before = db_rows(cli, "SELECT count(*) FROM messages")
    assert "nothing was sent" in one_line_error(cli("send", "--to", "betta", "-m", "typo", agent="a"), 1)
    assert db_rows(cli, "SELECT count(*) FROM messages") == before
    assert "hello all" not in cli.ok("inbox", agent="a").stdout
    cli.ok("read-message", "1", agent="b")
    assert "hello all" not in cli.ok("inbox", agent="b").stdout
    assert "hello all" in cli.ok("inbox", agent="c").stdout
    assert "by name" in cli.ok("inbox", "--all", agent="b").stdout
    one_line_error(cli("read-message", "2", agent="c"), 1)
    one_line_error(cli("ack", "2", agent="c"), 1)
    one_line_error(cli("read-message", "999", agent="c"), 1)
    one_line_error(cli("read-message", "abc", agent="c"), 2)
    cli.ok("ack", "2", agent="b")
    rc, doc = cli.json("send", "--to", "a", "-m", "thanks", "--reply-to", "2", agent="b")
    assert rc == 0
    assert db_rows(cli, "SELECT reply_to FROM messages WHERE id=?", doc["id"]) == [(2,)]
    assert cli("send", "--to", "a", "-m", "x", "--reply-to", "3", agent="b").returncode == 1
    sent = cli.json("sent", agent="a")[1]["messages"]
    receipt = [m for m in sent if m["id"] == 2][0]["receipts"]
    assert receipt[0]["agent"] == "b" and receipt[0]["acked_at"] and receipt[0]["read_at"]


# Decisions, activity, gc, counters --------------------------------------------------------


def test_decisions_activity_and_gc_retention(cli):
    cli.ok("decision", "Use UTC timestamps", agent="a")
    assert "Use UTC timestamps" in cli.ok("decisions", agent="a").stdout
    assert "Use UTC timestamps" in cli.ok("status", agent="a").stdout
    cli.ok("log", "--type", "note", "--message", "ran the suite", "--file", "x.py", agent="a")
    assert "ran the suite" in cli.ok("activity", "--agent", "a", agent="a").stdout
    cli.sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
        " INSERT INTO activity (agent, type, message, created_at) SELECT 'a', 't', 'm', 0 FROM n"
    )
    rc, doc = cli.json("gc", agent="a", env={"AGENT_SYNC_KEEP_ACTIVITY": "100"})
    assert rc == 0 and doc["activity_pruned"] > 2800
    assert db_rows(cli, "SELECT count(*) FROM activity")[0][0] <= 100


# Races ------------------------------------------------------------------------------------


def spawn_all(cli, argv_env):
    procs = [
        subprocess.Popen(
            PY + [str(cli.pyz), *args],
            cwd=cli.repo,
            env=clean_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args, env in argv_env
    ]
    return [(p.wait(), *p.communicate()) for p in procs]


def test_fifty_processes_race_for_one_lock(cli):
    cli.ok("init")
    results = spawn_all(cli, [(["lock", "hot.py"], {"AGENT_SYNC_ID": f"r{i}"}) for i in range(50)])
    assert sorted(rc for rc, _, _ in results) == [0] + [1] * 49
    for rc, out, err in results:
        assert "Traceback" not in err and "database is locked" not in err
        if rc:
            assert 'locked by "r' in err
    assert db_rows(cli, "SELECT count(*) FROM locks") == [(1,)]


def test_fifty_processes_claim_next_over_twenty_tasks(cli):
    for i in range(20):
        cli.ok("create-task", f"t{i}", agent="boss")
    results = spawn_all(cli, [(["claim-next", "--json"], {"AGENT_SYNC_ID": f"w{i}"}) for i in range(50)])
    claimed = [json.loads(out)["task"]["id"] for rc, out, _ in results if rc == 0]
    assert len(claimed) == 20 and len(set(claimed)) == 20
    for rc, out, err in results:
        assert "Traceback" not in err and "database is locked" not in err
        if rc:
            assert rc == 1 and "no task is ready" in err


# Migrations and broken storage ---------------------------------------------------------------


@pytest.mark.sqlite_only
def test_first_schema_database_upgrades_in_place(cli):
    sys.path.insert(0, str(ROOT))
    try:
        import agent_sync
    finally:
        sys.path.remove(str(ROOT))
    cli.db.parent.mkdir(parents=True)
    conn = sqlite3.connect(cli.db)
    conn.executescript(agent_sync.MIGRATIONS[0])
    conn.execute("PRAGMA user_version=1")
    now = time.time()
    with conn:
        conn.execute(
            "INSERT INTO agents (id, name, role, created_at, last_seen) VALUES ('old', 'oldie', 'r', ?, ?)", (now, now)
        )
        conn.execute("INSERT INTO tasks (title, created_at, updated_at) VALUES ('legacy', ?, ?)", (now, now))
        conn.execute("INSERT INTO tasks (title, created_at, updated_at) VALUES ('legacy2', ?, ?)", (now, now))
        conn.execute("INSERT INTO task_files VALUES (1, 'file', 'a.py', 'a.py')")
        conn.execute("INSERT INTO task_deps VALUES (2, 1)")
        conn.execute(
            "INSERT INTO locks (kind, key, path, owner, created_at, expires_at) VALUES ('file', 'a.py', 'a.py', 'old', ?, ?)",
            (now, now + 3600),
        )
        conn.execute(
            "INSERT INTO messages (sender, recipient, kind, body, created_at) VALUES ('old', 'x', 'direct', 'hi', ?)",
            (now,),
        )
        conn.execute("INSERT INTO message_deliveries (agent_id, message_id, directed) VALUES ('x', 1, 1)")
        conn.execute("INSERT INTO decisions (agent, text, created_at) VALUES ('old', 'keep me', ?)", (now,))
        conn.execute("INSERT INTO activity (agent, type, message, created_at) VALUES ('old', 't', 'm', ?)", (now,))
    conn.close()
    cli.ok("status", agent="x")
    conn = sqlite3.connect(cli.db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(agent_sync.MIGRATIONS)
    for table, count in (
        ("agents", 1),
        ("tasks", 2),
        ("task_files", 1),
        ("task_deps", 1),
        ("locks", 1),
        ("messages", 1),
        ("message_deliveries", 1),
        ("decisions", 1),
        ("activity", 1),
    ):
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == count, table
    assert conn.execute("SELECT auto FROM locks").fetchone()[0] == 0
    conn.close()
    assert 'locked by "oldie"' in cli("lock", "a.py", agent="x").stderr


@pytest.mark.sqlite_only
def test_newer_schema_is_refused_untouched(cli):
    cli.ok("init")
    conn = sqlite3.connect(cli.db)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    before = cli.db.read_bytes()
    for args in (["status"], ["lock", "a.py"], ["send", "--to", "all", "-m", "x"], ["init"]):
        assert "newer" in one_line_error(cli(*args, agent="a"), 1)
    assert cli.db.read_bytes() == before


@pytest.mark.sqlite_only
def test_garbage_database_and_unusable_directory(cli):
    cli.db.parent.mkdir(parents=True)
    cli.db.write_bytes(os.urandom(8192))
    for args in (["status"], ["lock", "a.py"], ["tasks"]):
        assert "database" in one_line_error(cli(*args, agent="a"), 1)
    cli.db.unlink()
    cli.db.parent.rmdir()
    cli.db.parent.write_text("not a directory")
    one_line_error(cli("status", agent="a"), 1)


def test_bad_inputs_never_trace(cli):
    cases = [
        (["claim-task", "404"], 1),
        (["read-message", "77"], 1),
        (["ack", "x"], 2),
        (["lock"], 2),
        (["create-task", ""], 2),
        (["create-task", "t", "--priority", "x"], 2),
        (["send", "--to", "all"], 2),
        (["tasks", "--status", "weird"], 2),
        (["activity", "--limit", "0"], 2),
        (["nope"], 2),
        ([], 2),
        (["register", "--name", "   "], 2),
        (["depend", "1", "--on", "2"], 1),
        (["lock", "a", "--wait", "-1"], 2),
    ]
    for args, code in cases:
        one_line_error(cli(*args, agent="a"), code)


# The zipapp ----------------------------------------------------------------------------------


def test_zipapp_runs_from_anywhere(cli, tmp_path):
    r = subprocess.run(PY + [str(cli.pyz), "--version"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("agent-sync ")


@pytest.mark.parametrize("minor", [10, 11, 12, 13])
def test_zipapp_on_each_python(cli, minor):
    exe = find_interpreter(minor)
    if exe is None:  # CI's machines have every supported Python (pyenv): a missing one there is a failure
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"no Python 3.{minor} found on PATH or under pyenv")
    version = f"3.{minor}"
    for args in (["init"], ["lock", "v.py"], ["unlock", "v.py"], ["lock", "w.py"]):
        r = subprocess.run(
            [str(exe), "-I", "-S", str(cli.pyz), *args],
            cwd=cli.repo,
            capture_output=True,
            text=True,
            env=clean_env(AGENT_SYNC_ID="v"),
        )
        assert r.returncode == 0, (version, args, r.stderr)
    r = subprocess.run(
        [str(exe), "-I", "-S", str(cli.pyz), "hook", "pre-tool-use"],
        cwd=cli.repo,
        input=json.dumps(edit_payload(cli.repo / "w.py")),
        capture_output=True,
        text=True,
        env=clean_env(AGENT_SYNC_ID="other"),
    )
    assert r.returncode == 0 and denied(json.loads(r.stdout)), (version, r.stderr)


@pytest.mark.sqlite_only
def test_path_keys_of_an_older_database_are_folded_keeping_its_locks(cli):
    """Schema v5: keys written case-sensitively (Linux, before one case rule)
    are folded; a lock taken as Src/App.PY still denies src/app.py and
    SRC/APP.py, and two rows that fold into one become one."""
    sys.path.insert(0, str(ROOT))
    try:
        import agent_sync
    finally:
        sys.path.remove(str(ROOT))
    cli.db.parent.mkdir(parents=True)
    conn = sqlite3.connect(cli.db)
    for sql in agent_sync.MIGRATIONS[:4]:
        conn.executescript(sql)
    conn.execute("PRAGMA user_version=4")
    now = time.time()
    with conn:
        for owner in ("a", "b"):
            conn.execute(
                "INSERT INTO agents (id, name, role, created_at, last_seen) VALUES (?, ?, '', ?, ?)",
                (owner, owner, now, now),
            )
        for kind, key, owner in (("file", "Src/App.PY", "a"), ("glob", "Docs/*.MD", "a"), ("file", "x.py", "b")):
            conn.execute(
                "INSERT INTO locks (kind, key, path, owner, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (kind, key, key, owner, now, now + 3600),
            )
        conn.execute("INSERT INTO file_changes VALUES ('w', 'Src/App.PY', 'a', 'Src/App.PY', ?)", (now,))
        conn.execute("INSERT INTO file_changes VALUES ('w', 'src/app.py', 'a', 'src/app.py', ?)", (now,))
    conn.close()
    (cli.repo / "src").mkdir()
    (cli.repo / "src" / "app.py").write_text("x\n")
    for name in ("src/app.py", "SRC/APP.py"):
        rc, out, _ = cli.hook("pre-tool-use", edit_payload(cli.repo / name), agent="b")
        assert denied(out), name
    assert cli("lock", "docs/readme.md", agent="b").returncode == 1
    keys = sorted(r[0] for r in cli.sql("SELECT key FROM locks WHERE owner='a'"))
    assert keys == ["docs/*.md", "src/app.py"]
    assert cli.sql("SELECT key FROM file_changes") == [("src/app.py",)]


# Habits of gh, git and docker users ------------------------------------------------


def test_help_version_and_the_commands_grouped(cli):
    out = cli.ok("help").stdout
    for group in ("daily:", "tasks:", "locks:", "messages:", "setup:", "plumbing:"):
        assert group in out, out
    assert out.count("e.g. agent-sync") == 5
    assert "usage: agent-sync lock" in cli.ok("help", "lock").stdout
    for words in (("version",), ("-V",), ("--version",)):
        assert cli.ok(*words).stdout.startswith("agent-sync ")


def test_a_group_alone_lists_its_actions_and_a_typo_gets_a_guess(cli):
    err = one_line_error(cli("team"), 2)
    assert "join, leave or status" in err, err
    err = one_line_error(cli("status", "--compat"), 2)
    assert "did you mean --compact?" in err, err
    cli.ok("register", "--name", "frontend", agent="fe")
    err = one_line_error(cli("send", "--to", "fronend", "--message", "hi", agent="x"), 1)
    assert "did you mean 'frontend'?" in err, err


def test_the_consoles_short_send_and_a_positional_install_path(cli, tmp_path):
    cli.ok("register", "--name", "frontend", agent="fe")
    cli.ok("send", "frontend", "the", "API", "changed", agent="x")
    _, inbox = cli.json("inbox", agent="fe")
    assert [m["body"] for m in inbox["messages"]] == ["the API changed"]
    other = git_init(tmp_path / "other")
    cli.ok("install", str(other))
    assert (other / ".claude" / "settings.json").exists()


def test_completion_scripts_parse_in_their_shells(cli):
    import shutil

    checks = {"bash": ["bash", "-n"], "zsh": ["zsh", "-n"], "fish": ["fish", "--no-execute"]}
    for shell, check in checks.items():
        script = cli.ok("completion", shell).stdout
        assert "agent-sync" in script and "interfaces" in script
        if shutil.which(check[0]) is None:
            assert not os.environ.get("CI"), f"{shell} is not installed; CI installs it"
            continue
        r = subprocess.run([*check], input=script, capture_output=True, text=True)
        assert r.returncode == 0, (shell, r.stderr)
    assert one_line_error(cli("completion", "tcsh"), 2)


def test_install_link_puts_the_command_on_path_and_uninstall_takes_it_back(cli, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    base = {"HOME": str(home), "SHELL": "/bin/zsh"}
    out = cli.ok("install", env=base).stdout
    assert "is not on your PATH" in out and "install --link" in out, out
    out = cli.ok("install", "--link", env=base).stdout
    link = home / ".local" / "bin" / "agent-sync"
    assert (
        link.is_symlink()
        and link.resolve() == (cli.repo / ".claude" / "skills" / "agent-sync" / "agent-sync").resolve()
    )
    assert f"""echo 'export PATH="{link.parent}:$PATH"' >> ~/.zshrc""" in out, out
    on_path = {**base, "PATH": f"{link.parent}:{clean_env()['PATH']}"}
    out = cli.ok("install", "--link", env=on_path).stdout
    assert "already runs this repository's agent-sync: `agent-sync` works in this shell" in out, out
    r = subprocess.run(["agent-sync", "whoami"], cwd=cli.repo, env=clean_env(**on_path), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # another repository's --link takes the link over, and says so; this one's uninstall then leaves it
    other = tmp_path / "other"
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    out = cli.ok("install", "--link", str(other), env=on_path).stdout
    launcher = cli.repo / ".claude" / "skills" / "agent-sync" / "agent-sync"
    assert f"(it pointed to {launcher}; uninstall here, not there, now removes it)" in out, out
    assert link.resolve() == (other / ".claude" / "skills" / "agent-sync" / "agent-sync").resolve()
    out = cli.ok("uninstall", env=base).stdout
    assert str(link) not in out and link.is_symlink(), out
    out = cli.ok("uninstall", str(other), env=base).stdout
    assert str(link) in out and not link.exists() and not link.is_symlink(), out
