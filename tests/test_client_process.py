"""The agent client's process as the anchor of an agent's identity and presence.

No real client here (tests/e2e has those): a copy of /bin/sh named `claude`,
`codex` or `gemini` plays the client.  Hooks, commands and the MCP server run
as its children, the way a client starts them, and nobody sets CLAUDE_PID, so
agent-sync must find the client by climbing the real process tree.
"""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import PY, denied, edit_payload

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


class FakeClient:
    """A long-lived process named like a client that runs what it is told."""

    def __init__(self, tmp_path, name, runner):
        folder = tmp_path / "clients" / f"{name}-{len(list(tmp_path.glob('clients/*')))}"
        folder.mkdir(parents=True)
        self.exe = folder / name
        shutil.copy(os.path.realpath(shutil.which("sh")), self.exe)
        self.runner, self.folder, self.n = runner, folder, 0
        self.proc = subprocess.Popen(
            [str(self.exe)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=runner.repo,
            env=runner.env(),
            text=True,
        )

    def run(self, *args, payload=None, text=""):
        """Run the zipapp with `args` as a child of this client: (exit code, stdout)."""
        self.n += 1
        stdin, out = self.folder / f"in-{self.n}", self.folder / f"out-{self.n}"
        stdin.write_text(json.dumps(payload) if payload is not None else text)
        argv = " ".join(f"'{a}'" for a in [*PY, self.runner.pyz, *args])
        self.proc.stdin.write(f"{argv} < '{stdin}' > '{out}' 2>> '{self.folder}/stderr'; echo \"rc=$?\"\n")
        self.proc.stdin.flush()
        rc = int(self.proc.stdout.readline().strip().split("=")[1])
        return rc, out.read_text()

    def hook(self, event, payload):
        rc, text = self.run("hook", event, payload=payload)
        assert rc == 0, text
        return json.loads(text) if text.strip() else None

    def kill(self, reap=True):
        self.proc.send_signal(signal.SIGKILL)
        if reap:
            self.proc.wait()
        else:  # a zombie until its parent waits, as under a container init that never reaps
            while proc_stat(self.proc.pid)[0] != "Z":
                pass

    def close(self):
        """End the client (reaping a zombie too) and close its pipes."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            pipe.close()


def proc_stat(pid):
    """The fields of /proc/PID/stat after the command name (state first)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


@pytest.fixture
def client(tmp_path, cli):
    made = []

    def make(name="claude"):
        made.append(FakeClient(tmp_path, name, cli))
        return made[-1]

    yield make
    for c in made:
        c.close()


def start(c, cli, session):
    return c.hook("session-start", {"session_id": session, "cwd": str(cli.repo), "source": "startup"})


def test_session_start_records_the_client_process_without_claude_pid(cli, client):
    c = client("claude")
    start(c, cli, "s1")
    row = cli.sql("SELECT pid, pid_start, client FROM agents")[0]
    assert row[0] == c.proc.pid and row[2] == "claude"
    assert row[1] == proc_stat(c.proc.pid)[19]


def test_a_new_session_id_in_the_same_client_keeps_its_locks(cli, client):
    """/clear, compact, resume and fork: same process, new session id."""
    (cli.repo / "mine.py").write_text("x\n")
    c = client("claude")
    start(c, cli, "before-clear")
    assert c.run("lock", "mine.py", "--json")[0] == 0  # CLI under the client: the session's agent
    out = c.hook("session-start", {"session_id": "after-clear", "cwd": str(cli.repo), "source": "clear"})
    assert "are now yours" in out["hookSpecificOutput"]["additionalContext"]
    assert c.hook("pre-tool-use", edit_payload(cli.repo / "mine.py", session="after-clear")) is None
    other = client("claude")
    start(other, cli, "someone-else")
    assert denied(other.hook("pre-tool-use", edit_payload(cli.repo / "mine.py", session="someone-else")))


@pytest.mark.parametrize("reaped", [True, False], ids=["reaped", "zombie"])
def test_a_killed_client_stops_holding_its_locks_at_once(cli, client, reaped):
    (cli.repo / "auto.py").write_text("x\n")
    victim, other = client("claude"), client("claude")
    start(victim, cli, "victim")
    start(other, cli, "other")
    assert victim.hook("pre-tool-use", edit_payload(cli.repo / "auto.py", session="victim")) is None  # auto lock
    assert denied(other.hook("pre-tool-use", edit_payload(cli.repo / "auto.py", session="other")))
    victim.kill(reap=reaped)
    assert other.hook("pre-tool-use", edit_payload(cli.repo / "auto.py", session="other")) is None
    _, status = cli.json("status", agent="observer")
    assert {a["id"]: a["presence"] for a in status["agents"]}[cli_id(cli, "victim")] == "offline"


def cli_id(cli, session):
    return cli.json("whoami", env={"CLAUDE_CODE_SESSION_ID": session})[1]["id"]


def test_a_reused_pid_is_not_the_client(cli, client):
    """A pid now held by a process that started at another time is not the agent's client."""
    (cli.repo / "auto.py").write_text("x\n")
    holder, other = client("claude"), client("claude")
    start(holder, cli, "holder")
    start(other, cli, "other")
    holder.hook("pre-tool-use", edit_payload(cli.repo / "auto.py", session="holder"))
    assert denied(other.hook("pre-tool-use", edit_payload(cli.repo / "auto.py", session="other")))
    # as if the pid had been recycled: same number, another start time
    cli.sql("UPDATE agents SET pid_start = pid_start || '0' WHERE session_id='holder'")
    assert other.hook("pre-tool-use", edit_payload(cli.repo / "auto.py", session="other")) is None


def test_mcp_server_and_hooks_of_one_codex_session_are_one_agent(cli, client):
    (cli.repo / "shared.py").write_text("x\n")
    codex = client("codex")
    codex.hook("session-start", {"session_id": "codex-session", "cwd": str(cli.repo)})
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"clientInfo": {"name": "codex-mcp-client"}}},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "lock", "arguments": {"paths": ["shared.py"]}},
        },
    ]
    rc, text = codex.run("mcp", text="".join(json.dumps(r) + "\n" for r in requests))
    replies = [json.loads(line) for line in text.splitlines()]
    assert rc == 0 and replies[1]["result"]["isError"] is False, replies
    payload = {
        "session_id": "codex-session",
        "turn_id": "t1",
        "cwd": str(cli.repo),
        "tool_name": "apply_patch",
        "tool_input": {"command": "*** Begin Patch\n*** Update File: shared.py\n@@\n-x\n+y\n*** End Patch\n"},
    }
    assert codex.hook("pre-tool-use", payload) is None  # its own MCP lock
    _, locks = cli.json("locks", agent="observer")
    assert [lk["owner"] for lk in locks["locks"]] == [cli_id_of_row(cli, "codex-session")]


def cli_id_of_row(cli, session):
    return cli.sql("SELECT id FROM agents WHERE session_id=?", (session,))[0][0]


def test_mcp_lock_taken_before_the_first_hook_is_adopted(cli, client):
    (cli.repo / "early.py").write_text("x\n")
    codex = client("codex")
    rc, _ = codex.run("lock", "early.py")  # the client's shell, before any hook: named after the client
    assert rc == 0
    rc, who = codex.run("whoami", "--json")
    assert json.loads(who)["source"] == "client process" and json.loads(who)["client"]["name"] == "codex"
    out = codex.hook("session-start", {"session_id": "late-session", "cwd": str(cli.repo)})
    assert "are now yours" in out["hookSpecificOutput"]["additionalContext"]
    rc, who = codex.run("whoami", "--json")
    assert json.loads(who)["id"] == cli_id_of_row(cli, "late-session")


def test_without_a_client_the_identity_is_the_local_one(cli):
    _, who = cli.json("whoami")
    assert who["source"].startswith("local") and who["client"] is None


def test_claude_pid_still_wins(cli, client):
    c = client("claude")
    rc, text = c.run("whoami", "--json")
    assert json.loads(text)["client"]["pid"] == c.proc.pid
    env = {"CLAUDE_PID": str(os.getpid())}
    rc, out, _ = cli.hook("session-start", {"session_id": "explicit", "cwd": str(cli.repo)}, env=env)
    row = cli.sql("SELECT pid FROM agents WHERE session_id='explicit'")[0]
    assert row[0] == os.getpid()


@pytest.mark.parametrize("variable", ["QWEN_CODE_LAUNCHER_PID", "OPENCODE_PID"])
def test_a_pid_the_client_names_is_its_process(cli, variable):
    """Qwen Code and opencode name their process as Claude Code does with CLAUDE_PID."""
    rc, out, _ = cli.hook("session-start", {"session_id": variable, "cwd": str(cli.repo)}, env={variable: os.getpid()})
    assert cli.sql("SELECT pid FROM agents WHERE session_id=?", (variable,))[0][0] == os.getpid()
