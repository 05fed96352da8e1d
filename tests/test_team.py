"""Team mode (issue 16): agents in two clones on "two machines" (AGENT_SYNC_HOST)
share one project on a real PostgreSQL server, through the real zipapp, hooks
and git; the server is stopped and started again under them."""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import PY, Runner, clean_env, denied, edit_payload, git_init, pg_sql

sys.path.insert(0, str(Path(__file__).parent))
import pgserver  # noqa: E402

ORIGINS = ("https://github.com/Acme/widget.git", "git@GitHub.com:Acme/widget.git")


class Clone(Runner):
    """One clone of the shared repository, on a host of its own, joined to the team."""

    def __init__(self, pyz, repo, host, home):
        super().__init__(pyz, repo)
        self.host, self.home = host, home

    def env(self, agent=None, **extra):
        base = {"AGENT_SYNC_HOST": self.host, "HOME": str(self.home), "PGPASSFILE": str(self.home / ".pgpass")}
        return super().env(agent, **{**base, **extra})


def clone(pyz, tmp_path, name, origin, host):
    repo = git_init(tmp_path / name)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", origin], check=True)
    home = tmp_path / f"home-{name}"
    home.mkdir()
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("x\n")
    (repo / "src" / "other.py").write_text("x\n")
    return Clone(pyz, repo, host, home)


@pytest.fixture
def clones(pyz, tmp_path, pg_url):
    """Two clones of one repository (its origin spelled two ways) on hosts
    alpha and beta, both joined to a project of their own on the server."""
    a = clone(pyz, tmp_path, "alice", ORIGINS[0], "alpha")
    b = clone(pyz, tmp_path, "bob", ORIGINS[1], "beta")
    project = f"test/{os.urandom(6).hex()}"
    for c in (a, b):
        c.ok("team", "join", pg_url, "--project", project)
        c.team = {"AGENT_SYNC_DATABASE_URL": pg_url, "AGENT_SYNC_PROJECT": project}
    return a, b


def one_line_error(r, code=1):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    return r.stderr


def test_both_spellings_of_the_origin_are_one_project(pyz, tmp_path, pg_url):
    a = clone(pyz, tmp_path, "alice", ORIGINS[0], "alpha")
    b = clone(pyz, tmp_path, "bob", ORIGINS[1], "beta")
    for c in (a, b):
        c.ok("team", "join", pg_url)
    _, status_a = a.json("team", "status")
    _, status_b = b.json("team", "status")
    assert status_a["project"] == status_b["project"] == "github.com/Acme/widget"
    _, who = a.json("whoami", agent="a1")
    assert who["engine"] == "postgresql" and who["project"] == "github.com/Acme/widget"
    a.ok("team", "leave")
    _, who = a.json("whoami", agent="a1")
    assert who["engine"] == "sqlite" and who["project"] is None


def test_a_lock_in_one_clone_denies_the_edit_in_the_other(clones):
    a, b = clones
    a.ok("register", "--name", "alice", agent="alice")
    a.ok("lock", "src/app.py", "--reason", "refactor", agent="alice")
    rc, out, err = b.hook("pre-tool-use", edit_payload(b.repo / "src" / "app.py", session="bob-1", cwd=b.repo))
    assert rc == 0 and denied(out), (out, err)
    assert '"alice"' in out["hookSpecificOutput"]["permissionDecisionReason"]
    rc, out, err = b.hook("pre-tool-use", edit_payload(b.repo / "src" / "other.py", session="bob-1", cwd=b.repo))
    assert rc == 0 and out is None, err
    # the edit took bob's automatic lock: alice's edit of it is denied in her clone
    rc, out, _ = a.hook("pre-tool-use", edit_payload(a.repo / "src" / "other.py", session="alice-1", cwd=a.repo))
    assert denied(out)
    _, status = a.json("team", "status")
    assert set(status["hosts"]) == {"alpha", "beta"}
    assert status["this_host"] == "alpha" and status["round_trip_ms"] < 1000


def test_messages_cross_clones_with_receipts(clones):
    a, b = clones
    a.ok("register", "--name", "alice", agent="alice")
    b.ok("register", "--name", "bob", agent="bob")
    a.ok("send", "--to", "bob", "-m", "rebasing main at 3pm", agent="alice")
    rc, out, _ = b.hook("user-prompt-submit", {"session_id": "s", "cwd": str(b.repo), "prompt": "go"}, agent="bob")
    assert "rebasing main at 3pm" in out["hookSpecificOutput"]["additionalContext"]
    _, sent = a.json("sent", agent="alice")
    assert sent["messages"][0]["receipts"][0]["pushed_at"] is not None


def test_a_dead_process_is_judged_only_on_its_own_host(clones):
    a, b = clones
    dead = subprocess.Popen(["true"])
    dead.wait()
    env = {"CLAUDE_PID": str(dead.pid)}
    rc, out, err = a.hook("session-start", {"session_id": "gone", "cwd": str(a.repo)}, env=env)
    assert rc == 0, err
    agent = a.json("whoami", env={"CLAUDE_CODE_SESSION_ID": "gone"})[1]["id"]
    on_alpha = {x["id"] for x in a.json("team", "status")[1]["hosts"].get("alpha", [])}
    on_beta = {x["id"]: x["presence"] for x in b.json("team", "status")[1]["hosts"]["alpha"]}
    assert agent not in on_alpha  # alpha sees that its process is gone
    assert on_beta[agent] == "active"  # beta cannot look at alpha's processes: its heartbeat is recent


def test_join_needs_a_project_and_keeps_the_password_out_of_the_repository(pyz, tmp_path, pg_url):
    c = clone(pyz, tmp_path, "lone", ORIGINS[0], "alpha")
    subprocess.run(["git", "-C", str(c.repo), "remote", "remove", "origin"], check=True)
    err = one_line_error(c("team", "join", pg_url), 2)
    assert "--project" in err and "origin" in err
    password = "agentsync-test"
    assert password in pg_url
    r = c.ok("team", "join", pg_url, "--project", f"test/{os.urandom(4).hex()}")
    assert password not in r.stdout + r.stderr
    pgpass = c.home / ".pgpass"
    assert oct(pgpass.stat().st_mode & 0o777) == "0o600" and password in pgpass.read_text()
    for path in c.repo.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert password.encode() not in path.read_bytes(), path
    team = c.repo / ".claude" / "coordination" / "team.json"
    assert oct(team.stat().st_mode & 0o777) == "0o600"
    status = subprocess.run(["git", "-C", str(c.repo), "status", "--porcelain"], capture_output=True, text=True)
    assert ".claude" not in status.stdout
    # the stored URL has no password: it comes from ~/.pgpass from now on
    _, status = c.json("team", "status")
    assert password not in json.dumps(status)
    c.ok("lock", "src/app.py", agent="x")


def race_script(repo, pyz, i):
    py = " ".join(PY)
    return (
        f"cd {repo} && {py} {pyz} claim-next --json; {py} {pyz} lock contested.py --json;"
        f" {py} {pyz} send --to all -m 'hello from {i}' --json; {py} {pyz} next ticket --json"
    )


@pytest.mark.slow  # 64 processes at once, like test_robustness's sixty-four: CI's slow layer
def test_sixty_four_processes_across_two_clones(clones):
    a, b = clones
    for i in range(40):
        a.ok("create-task", f"task {i}", agent="planner")
    procs = []
    for i in range(64):
        c = (a, b)[i % 2]
        env = c.env(f"racer-{i}")
        procs.append(subprocess.Popen(["sh", "-c", race_script(c.repo, c.pyz, i)], env=env, stdout=subprocess.PIPE))
    docs = [json.loads(line) for p in procs for line in p.communicate(timeout=300)[0].decode().splitlines()]
    claims = [d["task"]["id"] for d in docs if d.get("ok") and "task" in d]
    assert sorted(claims) == sorted(set(claims)) and len(claims) == 40
    assert sum(1 for d in docs if d.get("ok") and d.get("locked")) == 1
    _, tasks = a.json("tasks", agent="planner")
    owners = [t["owner"] for t in tasks["tasks"]]
    assert len(set(owners)) == 40 and None not in owners
    _, locks = b.json("locks", agent="watcher")
    assert len(locks["locks"]) == 1
    bodies = [row[0] for row in pg_sql(a.team, "SELECT body FROM messages WHERE kind='broadcast'")]
    assert sorted(bodies) == sorted(f"hello from {i}" for i in range(64))
    tickets = sorted(d["value"] for d in docs if d.get("ok") and "value" in d)
    assert tickets == list(range(1, 65))


@pytest.fixture
def own_server():
    """A PostgreSQL server of this test's own, to stop and start again."""
    info = pgserver.start(tempfile.mkdtemp(prefix="agent-sync-pg-"))
    yield info
    pgserver.stop(info)


def test_the_server_stopped_and_started_again(pyz, tmp_path, own_server):
    a = clone(pyz, tmp_path, "alice", ORIGINS[0], "alpha")
    a.ok("team", "join", own_server["url"], "--project", "restart/test")
    a.ok("lock", "src/app.py", "--reason", "held across the outage", agent="alice")
    pgserver.stop(own_server)
    err = one_line_error(a("status", agent="bob"))
    assert "postgresql://" in err and "agentsync-test" not in err
    start = time.monotonic()
    rc, out, err = a.hook("pre-tool-use", edit_payload(a.repo / "src" / "app.py", session="bob", cwd=a.repo))
    assert rc == 0 and out is None and time.monotonic() - start < 5  # fails open, at once
    assert err.count("\n") == 1 and "allowed, unguarded" in err and "Traceback" not in err
    pgserver.restart(own_server)
    time.sleep(5)  # the hooks' next try of the server
    rc, out, err = a.hook("pre-tool-use", edit_payload(a.repo / "src" / "app.py", session="bob", cwd=a.repo))
    assert denied(out), err  # nothing was lost
    _, locks = a.json("locks", agent="bob")
    assert [lk["reason"] for lk in locks["locks"]] == ["held across the outage"]


def test_a_server_that_never_answers_fails_open_within_the_budget(pyz, tmp_path):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    url = f"postgresql://u:p@127.0.0.1:{silent.getsockname()[1]}/db?sslmode=disable"
    a = clone(pyz, tmp_path, "alice", ORIGINS[0], "alpha")
    env = {"AGENT_SYNC_DATABASE_URL": url, "AGENT_SYNC_HOOK_BUDGET": "2"}
    start = time.monotonic()
    rc, out, err = a.hook("pre-tool-use", edit_payload(a.repo / "src" / "app.py", cwd=a.repo), env=env)
    assert rc == 0 and out is None and time.monotonic() - start < 3, err
    assert err.count("\n") == 1 and "Traceback" not in err
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    port = refused.getsockname()[1]
    refused.close()
    err = one_line_error(a("status", env={"AGENT_SYNC_DATABASE_URL": f"postgresql://u@127.0.0.1:{port}/db"}))
    assert "connection" in err.lower()
    silent.close()


def test_a_silent_server_costs_a_hook_about_a_second_after_the_first_failure(pyz, tmp_path):
    """The first hook waits its time (half the budget, at most 5 s); after it,
    the checkout remembers the outage: hooks in the next few seconds allow at
    once, later ones give the server about a second."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    url = f"postgresql://u:p@127.0.0.1:{silent.getsockname()[1]}/db?sslmode=disable"
    a = clone(pyz, tmp_path, "alice", ORIGINS[0], "alpha")
    (a.repo / ".claude" / "coordination").mkdir(parents=True)
    env = {"AGENT_SYNC_DATABASE_URL": url, "AGENT_SYNC_OUTAGE_RETRY_SECONDS": "1"}
    costs = []
    for _ in range(4):
        start = time.monotonic()
        rc, out, err = a.hook("pre-tool-use", edit_payload(a.repo / "src" / "app.py", cwd=a.repo), env=env)
        costs.append(time.monotonic() - start)
        assert rc == 0 and out is None and "unguarded" in err, err
        time.sleep(1.1)
    silent.close()
    assert 3.5 < costs[0] < 5.5, costs  # the first: half of the default 8 s budget
    assert all(c < 1.4 for c in costs[1:]), costs  # 0.6 s for the server, the rest is start-up


def test_an_outage_is_told_to_the_model_once_and_its_end_too(pyz, tmp_path, own_server):
    a = clone(pyz, tmp_path, "alice", ORIGINS[0], "alpha")
    a.ok("team", "join", own_server["url"], "--project", "outage/test")
    a.ok("register", "--name", "alice", agent="alice")
    env = {"AGENT_SYNC_OUTAGE_RETRY_SECONDS": "0.2"}
    call = {"session_id": "s", "cwd": str(a.repo), "tool_name": "Bash", "tool_input": {"command": "true"}}

    def context(event="post-tool-use", payload=call):
        time.sleep(0.3)
        rc, out, err = a.hook(event, payload, agent="alice", env=env)
        assert rc == 0 and "Traceback" not in err, err
        return (out or {}).get("hookSpecificOutput", {}).get("additionalContext", "")

    assert context() == ""
    pgserver.stop(own_server)
    told = context()
    assert "coordination OFFLINE since" in told and "NOT guarded" in told, told
    assert context() == "" and context("user-prompt-submit", {**call, "prompt": "go"}) == ""
    assert "coordination offline since" in one_line_error(a("status", agent="alice", env=env))
    pgserver.restart(own_server)
    back = context()
    assert "back online" in back, back
    assert context() == ""


def test_a_server_that_refuses_the_checkout_is_an_outage_the_model_hears_of(clones):
    """A password that is missing (pg8000 crashed on the server's request)
    or wrong: the hooks allow, the model is told coordination is off and
    why, and a command says so in one line."""
    a, _ = clones
    (a.home / ".pgpass").unlink()  # what `team join` saved
    call = {"session_id": "s", "cwd": str(a.repo), "prompt": "go"}
    rc, out, err = a.hook("user-prompt-submit", call, agent="alice")
    assert rc == 0 and "Traceback" not in err, err
    told = out["hookSpecificOutput"]["additionalContext"]
    assert "coordination OFFLINE" in told and "refuses this checkout" in told and "password" in told, told
    err = one_line_error(a("status", agent="alice"))
    assert "coordination offline since" in err and "asks for a password and none was found" in err, err
    rc, out, err = a.hook("pre-tool-use", edit_payload(a.repo / "src" / "app.py", cwd=a.repo), agent="alice")
    assert rc == 0 and out is None and "unguarded" in err, err


def test_a_newer_schema_is_refused_and_left_untouched(clones):
    a, _ = clones
    a.ok("lock", "src/app.py", agent="alice")
    pg_sql(a.team, "UPDATE meta SET version=99")
    err = one_line_error(a("status", agent="bob"))
    assert "newer agent-sync" in err
    rc, out, err = a.hook("pre-tool-use", edit_payload(a.repo / "src" / "app.py", cwd=a.repo))
    assert rc == 0 and out is None and "newer" in err
    assert pg_sql(a.team, "SELECT count(*) FROM locks") == [(1,)]
    assert pg_sql(a.team, "SELECT version FROM meta") == [(99,)]


def test_bad_urls_are_one_line_errors(pyz, tmp_path):
    a = clone(pyz, tmp_path, "alice", ORIGINS[0], "alpha")
    for url, code in (
        ("mysql://x@h/db", 2),
        ("postgresql://x@h:notaport/db", 2),
        ("postgresql://x@h/db?sslmode=bogus", 2),
    ):
        one_line_error(a("status", env={"AGENT_SYNC_DATABASE_URL": url}), code)
    assert clean_env()  # the test's own environment is untouched


def faketime_library():
    """libfaketime's preload library (Debian's faketime package), or None."""
    import glob

    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + glob.glob("/usr/lib/faketime/libfaketime.so.1"))
    return found[0] if found else None


def skewed(pyz, tmp_path, pg_url, skew):
    """Alice's clone on host alpha, every process of it with its clock `skew`
    off (libfaketime, e.g. "-70m"), and Bob's on beta with the true time."""
    library = faketime_library()
    if library is None:
        if os.environ.get("CI"):
            pytest.fail("libfaketime is missing (apt-get install faketime)")
        pytest.skip("libfaketime is not installed (apt-get install faketime)")
    a = clone(pyz, tmp_path, "alice", ORIGINS[0], "alpha")
    b = clone(pyz, tmp_path, "bob", ORIGINS[1], "beta")
    base_env = a.env
    a.env = lambda agent=None, **extra: base_env(agent, **{"LD_PRELOAD": library, "FAKETIME": skew, **extra})
    project = f"test/{os.urandom(6).hex()}"
    for c in (a, b):
        c.ok("team", "join", pg_url, "--project", project)
    return a, b


@pytest.mark.parametrize("skew", ["-70m", "+70m", "-20m"])
def test_locks_taken_on_a_machine_with_a_wrong_clock_hold_for_everyone(pyz, tmp_path, pg_url, skew):
    a, b = skewed(pyz, tmp_path, pg_url, skew)
    probe = a("--version")
    assert probe.returncode == 0, probe.stderr
    a.ok("register", "--name", "alice", agent="alice")
    a.ok("lock", "src/app.py", "--reason", "refactor", agent="alice")
    rc, out, err = b.hook("pre-tool-use", edit_payload(b.repo / "src" / "app.py", session="bob-1", cwd=b.repo))
    assert denied(out), (skew, out, err)
    assert b("lock", "src/app.py", agent="bob").returncode != 0
    # an automatic lock from alice's edit is seen by bob too
    rc, out, err = a.hook("pre-tool-use", edit_payload(a.repo / "src" / "other.py", session="alice-1", cwd=a.repo))
    assert out is None, err
    rc, out, err = b.hook("pre-tool-use", edit_payload(b.repo / "src" / "other.py", session="bob-1", cwd=b.repo))
    assert denied(out), (skew, out, err)
    _, locks = b.json("locks", agent="bob")
    explicit = [lk for lk in locks["locks"] if not lk["auto"]]
    assert len(explicit) == 1 and 59 * 60 <= explicit[0]["expires_at"] - time.time() <= 61 * 60, locks
    assert all(lk["live"] for lk in locks["locks"]), locks
    _, status = b.json("team", "status", agent="bob")
    assert abs(status["clock_offsets"]["alpha"]) > 60 * 15 and abs(status["clock_offsets"]["beta"]) < 5
    text = b.ok("team", "status", agent="bob").stdout
    assert "more than a minute off" in text


def test_one_case_rule_a_mac_lock_holds_on_linux_and_back(clones):
    """A Mac stores src/app.tsx for src/App.tsx, Linux compares as typed: keys
    fold on every machine, so neither spelling slips past the other's lock."""
    a, b = clones
    for c in (a, b):
        (c.repo / "src" / "App.tsx").write_text("x\n")
    a.ok("lock", "src/App.tsx", agent="alice")
    rc, out, err = b.hook("pre-tool-use", edit_payload(b.repo / "src" / "app.tsx", session="bob-1", cwd=b.repo))
    assert denied(out), (out, err)
    b.ok("lock", "src/other.py", agent="bob")
    rc, out, err = a.hook("pre-tool-use", edit_payload(a.repo / "SRC" / "Other.PY", session="alice-1", cwd=a.repo))
    assert denied(out), (out, err)
    assert b("lock", "Src/APP.TSX", agent="bob").returncode == 1


def test_a_team_lock_taken_outside_git_leaves_no_state_here(pyz, tmp_path, pg_url):
    """Outside a git repository state is opt-in: a team-mode command there
    writes to the server and nothing into the folder (nor above it)."""
    loose = tmp_path / "loose"
    loose.mkdir()
    runner = Runner(pyz, loose)
    env = {"AGENT_SYNC_DATABASE_URL": pg_url, "AGENT_SYNC_PROJECT": f"test/{os.urandom(6).hex()}"}
    runner.ok("lock", "x.py", agent="a", env=env)
    assert not (loose / ".claude").exists() and not (tmp_path / ".claude").exists()
