"""One working tree, many agents: HEAD-moving git is guarded, uncommitted
changes are tracked per agent, and `agent-sync commit` commits only the
committer's own files.  Real hooks, real git, scratch repositories."""

import json
import os
import subprocess

import pytest

from conftest import clean_env, denied, edit_payload


def git(cwd, *args, env=None):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env)


@pytest.fixture
def repo_cli(cli):
    for name in ("a.py", "b.py", "m.py"):
        (cli.repo / name).write_text(f"{name}\n")
    git(cli.repo, "add", "-A")
    git(cli.repo, "commit", "-qm", "init")
    git(cli.repo, "branch", "other")
    return cli


def start(cli, session, cwd=None, env=None):
    cli.hook("session-start", {"session_id": session, "cwd": str(cwd or cli.repo), "source": "startup"}, env=env)


def bash(cli, session, command, cwd=None):
    payload = {
        "session_id": session,
        "cwd": str(cwd or cli.repo),
        "tool_name": "Bash",
        "tool_input": {"command": command},
    }
    return cli.hook("pre-tool-use", payload)[1]


def edit(cli, session, name, text):
    """An edit through the hooks, as Claude Code makes it: PreToolUse, the write, PostToolUse."""
    payload = edit_payload(cli.repo / name, session=session, cwd=cli.repo)
    out = cli.hook("pre-tool-use", payload)[1]
    assert out is None, out
    (cli.repo / name).write_text(text)
    cli.hook("post-tool-use", {**payload, "hook_event_name": "PostToolUse"})


def reason(out):
    return out["hookSpecificOutput"]["permissionDecisionReason"]


HEAD_MOVERS = [
    "git checkout other",
    "git checkout -b feature",
    "git switch other",
    "git pull",
    "git merge other",
    "git rebase other",
    "git reset HEAD~1",
    "git reset --soft HEAD~1",
    "git cherry-pick abc123",
    "git revert abc123",
    "git worktree remove ../wt",
    "git stash",
    "git reset --hard",
    "git clean -fd",
]
READ_ONLY = [
    "git status",
    "git log --oneline",
    "git diff",
    "git show HEAD",
    "git branch",
    "git fetch",
    "git stash list",
]


@pytest.mark.parametrize("command", HEAD_MOVERS)
def test_head_moving_git_is_denied_while_another_agent_works_in_the_tree(repo_cli, command):
    start(repo_cli, "A")
    start(repo_cli, "B")
    repo_cli.ok("register", "--name", "bob", env={"CLAUDE_CODE_SESSION_ID": "B"})
    out = bash(repo_cli, "A", command)
    assert denied(out), command
    text = reason(out)
    assert "bob" in text and "working tree" in text, text
    assert "agent-sync send --to" in text and "git worktree add" in text


@pytest.mark.parametrize("command", READ_ONLY + ["git checkout a.py"])
def test_read_only_git_and_file_checkout_are_never_denied(repo_cli, command):
    start(repo_cli, "A")
    start(repo_cli, "B")
    assert bash(repo_cli, "A", command) is None, command


def test_head_moves_are_allowed_alone_after_the_other_left_or_died(repo_cli):
    start(repo_cli, "A")
    assert bash(repo_cli, "A", "git checkout other") is None  # alone
    start(repo_cli, "B")
    assert denied(bash(repo_cli, "A", "git checkout other"))
    repo_cli.hook("session-end", {"session_id": "B", "cwd": str(repo_cli.repo), "reason": "other"})
    assert bash(repo_cli, "A", "git checkout other") is None  # B's session ended
    gone = subprocess.Popen(["true"])
    gone.wait()
    start(repo_cli, "C", env={"CLAUDE_PID": str(gone.pid)})  # C's client process no longer exists
    assert bash(repo_cli, "A", "git checkout other") is None


def test_agents_in_another_linked_worktree_do_not_block_a_branch_switch(repo_cli):
    wt = repo_cli.repo.parent / "wt"
    assert git(repo_cli.repo, "worktree", "add", "-q", str(wt), "other").returncode == 0
    start(repo_cli, "A")
    start(repo_cli, "B", cwd=wt)
    assert bash(repo_cli, "A", "git switch -c feature") is None
    start(repo_cli, "C", cwd=wt)
    assert denied(bash(repo_cli, "B", "git checkout main", cwd=wt))


def test_changes_lists_each_agents_uncommitted_files_until_a_commit_includes_them(repo_cli):
    for s in ("A", "B"):
        start(repo_cli, s)
    edit(repo_cli, "A", "a.py", "a changed\n")
    edit(repo_cli, "B", "b.py", "b changed\n")
    edit(repo_cli, "A", "new.py", "brand new\n")
    _, doc = repo_cli.json("changes", env={"CLAUDE_CODE_SESSION_ID": "A"})
    files = {a: sorted(v["files"]) for a, v in doc["agents"].items()}
    a_id, b_id = (repo_cli.json("whoami", env={"CLAUDE_CODE_SESSION_ID": s})[1]["id"] for s in ("A", "B"))
    assert files == {a_id: ["a.py", "new.py"], b_id: ["b.py"]}
    git(repo_cli.repo, "commit", "-qm", "by hand", "--", "b.py", env=clean_env(AGENT_SYNC_ALLOW_COMMIT="1"))
    _, doc = repo_cli.json("changes", env={"CLAUDE_CODE_SESSION_ID": "A"})
    assert set(doc["agents"]) == {a_id}


def test_commit_stages_exactly_the_agents_own_files(repo_cli):
    for s in ("A", "B"):
        start(repo_cli, s)
    edit(repo_cli, "A", "a.py", "a changed\n")
    edit(repo_cli, "A", "new.py", "brand new\n")
    edit(repo_cli, "B", "b.py", "b changed\n")
    git(repo_cli.repo, "add", "b.py")  # B staged its own work
    r = repo_cli.ok("commit", "-m", "A's work", "--json", env={"CLAUDE_CODE_SESSION_ID": "A"})
    doc = json.loads(r.stdout)
    assert doc["files"] == ["a.py", "new.py"]
    committed = git(repo_cli.repo, "show", "--name-only", "--format=", "HEAD").stdout.split()
    assert sorted(committed) == ["a.py", "new.py"]
    assert git(repo_cli.repo, "diff", "--cached", "--name-only").stdout.split() == ["b.py"]  # still B's, still staged
    r = repo_cli("commit", "-m", "again", env={"CLAUDE_CODE_SESSION_ID": "A"})
    assert r.returncode == 1 and "nothing of yours to commit" in r.stderr


def test_a_file_two_live_agents_changed_is_refused_with_the_other_named(repo_cli):
    for s in ("A", "B"):
        start(repo_cli, s)
    repo_cli.ok("register", "--name", "bob", env={"CLAUDE_CODE_SESSION_ID": "B"})
    edit(repo_cli, "A", "m.py", "A was here\n")
    repo_cli.hook(
        "session-end",
        {"session_id": "A", "cwd": str(repo_cli.repo), "reason": "other"},
        env={"AGENT_SYNC_AUTO_RELEASE_LOCKS": "1"},
    )
    start(repo_cli, "A")
    edit(repo_cli, "B", "m.py", "A was here\nB too\n")
    r = repo_cli("commit", "-m", "mine", env={"CLAUDE_CODE_SESSION_ID": "A"})
    assert r.returncode == 1 and "m.py was also changed by bob" in r.stderr and "agent-sync send --to" in r.stderr
    assert r.stderr.count("\n") == 1
    git(repo_cli.repo, "add", "m.py")
    out = bash(repo_cli, "A", "git commit -m mine")
    assert denied(out) and "bob" in reason(out) and "agent-sync commit" in reason(out)
    for bulk in ("git add -A", "git add .", "git commit -am x"):
        out = bash(repo_cli, "A", bulk)
        assert denied(out) and "agent-sync commit" in reason(out), bulk


def test_the_git_guard_stops_a_human_commit_of_an_agents_uncommitted_change(repo_cli):
    repo_cli.ok("install", "--git-hook", "--no-settings")
    start(repo_cli, "B")
    edit(repo_cli, "B", "m.py", "B's unfinished work\n")
    git(repo_cli.repo, "add", "m.py")
    human = clean_env(USER="human")
    r = git(repo_cli.repo, "commit", "-qm", "sweep", env=human)
    assert r.returncode != 0 and "m.py was also changed by" in r.stderr, r.stderr
    r = git(repo_cli.repo, "commit", "-qm", "sweep", env={**human, "AGENT_SYNC_ALLOW_COMMIT": "1"})
    assert r.returncode == 0, r.stderr
    assert os.path.exists(repo_cli.repo / "m.py")


def test_commit_names_files_literally_and_reports_what_the_commit_holds(repo_cli):
    """A file named like a pathspec (`*.py`, `:!zzz`) is that file, never a
    pattern that sweeps in another agent's work or skips one's own."""
    for s in ("A", "B"):
        start(repo_cli, s)
    edit(repo_cli, "A", "*.py", "a star\n")
    edit(repo_cli, "A", ":!zzz", "a magic name\n")
    edit(repo_cli, "B", "b.py", "B's unfinished work\n")
    r = repo_cli.ok("commit", "-m", "A's odd names", "--json", env={"CLAUDE_CODE_SESSION_ID": "A"})
    committed = sorted(git(repo_cli.repo, "show", "--name-only", "--format=", "HEAD").stdout.split("\n")[:-1])
    assert committed == ["*.py", ":!zzz"]
    assert json.loads(r.stdout)["files"] == committed
    assert git(repo_cli.repo, "status", "--porcelain", "b.py").stdout.startswith(" M")  # B's, untouched


def test_a_failed_commit_unstages_what_it_staged(repo_cli):
    start(repo_cli, "A")
    edit(repo_cli, "A", "a.py", "a changed\n")
    edit(repo_cli, "A", "new.py", "brand new\n")
    git(repo_cli.repo, "add", "m.py")  # someone's staging stays
    (repo_cli.repo / "m.py").write_text("staged by hand\n")
    git(repo_cli.repo, "add", "m.py")
    hook = repo_cli.repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'no, not now' >&2\nexit 1\n")
    hook.chmod(0o755)
    r = repo_cli("commit", "-m", "A's work", env={"CLAUDE_CODE_SESSION_ID": "A"})
    assert r.returncode == 1 and "git commit failed" in r.stderr, r.stderr
    assert git(repo_cli.repo, "diff", "--cached", "--name-only").stdout.split() == ["m.py"]


@pytest.mark.parametrize(
    "command",
    ["git commit -qam x", "git commit -a -m x", "git commit --all -m x", "git commit -m x .", "git commit -m x m.py"],
)
def test_commit_all_or_by_pathspec_is_denied_when_it_takes_in_another_agents_change(repo_cli, command):
    for s in ("A", "B"):
        start(repo_cli, s)
    edit(repo_cli, "A", "a.py", "mine\n")
    edit(repo_cli, "B", "m.py", "B's unfinished work\n")
    out = bash(repo_cli, "A", command)
    assert denied(out) and "m.py" in reason(out), (command, out)
    assert bash(repo_cli, "A", "git commit -m x a.py") is None
    assert bash(repo_cli, "A", "git commit -m x -- a.py") is None
