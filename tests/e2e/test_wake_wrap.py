"""`agent-sync wrap -- CLIENT` around the REAL interactive Codex CLI and Gemini
CLI, in tmux, against the scripted model server (a reactive model that ends
every turn with text).

The client runs one turn, goes idle (its Stop hook writes
`.claude/coordination/wrapped/<token>`), and then: a broadcast wakes nobody; a
directed message makes the wrapper type its pointer line, pause, and press
Enter, so the client starts a new turn whose request carries the message text
(pushed by agent-sync's UserPromptSubmit hook) -- once; and after `/quit`
neither the wrapper nor the client is left running.

Facts the tests rely on (Codex 0.169.0, Gemini CLI 0.61.0):
* Codex's first-run screens (a model-migration notice for gpt-5.5, a
  model-availability notice, a screen-reader probe) swallow the first prompt
  unless the tables they write are already in config.toml: FIRST_RUN below,
  found by answering the screens once in a scratch CODEX_HOME and diffing.
* Interactive Codex runs its sessions (and so their hooks and MCP servers) in
  an app-server daemon it starts in a session of its own under
  CODEX_HOME/packages/app-server-daemon; the daemon inherits the starting
  client's environment (AGENT_SYNC_WRAP included) and outlives the client on
  purpose ("Any running work continues"), so a later wrap's hooks would name
  the first wrapper.  wrap therefore starts Codex with `--disable
  daemon_auto_start` (the Codex dialect's wrap_args): each client runs its
  sessions itself.  Teardown still stops any daemon.
* Every Codex turn makes a second /responses request (the task title), with
  a single tool; the agent loop's requests carry all the tools.
"""

import json
import os
import shlex
import subprocess
import sys
import time
import uuid

import pytest

from .harness import PYZ_IN_REPO, gemini_env, install, kill_tree
from .test_codex import codex_env

pytestmark = pytest.mark.e2e

MODEL = "gpt-5.5"
#: what answering Codex's first-run screens writes to config.toml
FIRST_RUN = (
    "[tui]\nscreen_reader_detection_done = true\n"
    '[tui.model_availability_nux]\n"gpt-6.1-sol" = 1\n'
    f'[notice.model_migrations]\n"{MODEL}" = "gpt-6-sol"\n'
)
MESSAGE = "schema changed, rebase now"
BROADCAST = "lunch break at noon"
WAKE_LINE = "agent-sync: 1 new message(s) from other; run `agent-sync inbox` and act on them"
#: the wake must reach the model within this many seconds of `send`
WAKE_WITHIN = 15.0


class Tmux:
    """One program in a detached tmux session of its own server."""

    def __init__(self, cwd, env, argv, exit_file, width=120, height=40):
        self.socket = f"agent-sync-wrap-e2e-{uuid.uuid4().hex[:8]}"
        self.exit_file = exit_file
        assigns = [f"{k}={v}" for k, v in env.items()]
        program = " ".join(shlex.quote(str(a)) for a in argv)
        # the exit code goes to a file: tmux may not mark the pane dead while replies to the client's
        # last terminal queries sit unread in the pty, though every process is gone
        shell = f"{program}; echo $? > {shlex.quote(str(exit_file))}"
        command = " ".join(shlex.quote(str(a)) for a in ["env", "-i", *assigns, "sh", "-c", shell])
        r = self.tmux("new-session", "-d", "-x", str(width), "-y", str(height), "-s", "c", "-c", str(cwd), command)
        assert r.returncode == 0, r.stderr
        self.tmux("set-option", "-t", "c", "remain-on-exit", "on")

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "c", "-S", "-300").stdout

    def wait_for(self, check, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = check()
            if got:
                return got
            time.sleep(0.1)
        raise AssertionError(f"{what}: not within {timeout}s; screen:\n{self.screen()}")

    def type(self, line):
        """Text, a pause, then Enter: Codex and Gemini CLI drop an Enter that comes with the text."""
        self.tmux("send-keys", "-t", "c", "-l", line)
        time.sleep(0.6)
        self.tmux("send-keys", "-t", "c", "Enter")

    def exit_code(self):
        """The wrapped program's exit code once it exited, else None."""
        text = self.exit_file.read_text().strip() if self.exit_file.exists() else ""
        return text or None

    def close(self):
        self.tmux("kill-server")
        socket = os.path.join(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{os.getuid()}", self.socket)
        if os.path.exists(socket):
            os.unlink(socket)


def processes_with_home(home):
    """{pid: command line} of every process whose environment has HOME=home (this test's scratch home)."""
    found, needle = {}, f"HOME={home}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                found[int(entry)] = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
    return found


def codex_daemon(pid, procs, chome):
    """Is `pid` Codex's app-server daemon (from CODEX_HOME/packages) or a child of it?"""
    daemon = str(chome / "packages" / "app-server-daemon")
    seen = set()
    while pid in procs and pid not in seen:
        seen.add(pid)
        if procs[pid].startswith(daemon):
            return True
        try:
            pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
    return False


class Client:
    """What differs between the clients: how to start one, spot its prompt, and count its turns."""

    def __init__(self, name, argv, env, ready, turns, chome=None):
        self.name, self.argv, self.env, self.ready, self.turns, self.chome = name, argv, env, ready, turns, chome


def codex_turns(server):
    """The agent loop's requests: all the tools (the task-title request has one)."""
    return [r for r in server.main_requests() if len(r["body"].get("tools") or []) > 1]


@pytest.fixture
def codex_client(world, server, codex_bin):
    install(world)
    install(world, "--agent", "codex")
    env = codex_env(world, server, MODEL)
    chome = world.home / "codex"
    with open(chome / "config.toml", "a") as f:
        f.write(FIRST_RUN)
    env["TERM"] = "xterm-256color"
    yield Client(
        "codex",
        [codex_bin, "--dangerously-bypass-approvals-and-sandbox"],
        env,
        "Ask Codex to do anything",
        codex_turns,
        chome,
    )
    subprocess.run(  # the daemon outlives the client by design: stop it (and anything else of this test)
        [codex_bin, "app-server", "daemon", "stop"], env=env, capture_output=True, timeout=30
    )
    for pid in processes_with_home(world.home):
        kill_tree(pid)


@pytest.fixture
def gemini_client(world, server, gemini_bin):
    install(world)
    install(world, "--agent", "gemini")
    env = dict(gemini_env(world, server), TERM="xterm-256color")
    yield Client("gemini", [gemini_bin, "--yolo"], env, "Type your message", lambda s: s.main_requests())
    for pid in processes_with_home(world.home):
        kill_tree(pid)


def start_wrapped(world, client):
    exit_file = world.home / f"wrap-exit-{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, world.root / PYZ_IN_REPO, "wrap", "--", *client.argv]
    return Tmux(world.root, client.env, argv, exit_file)


def wrapped_agent(world):
    """The agent id the client's hooks told the wrapper, once they say it is idle (else None)."""
    folder = world.root / ".claude" / "coordination" / "wrapped"
    for f in folder.glob("*") if folder.is_dir() else ():
        agent, _, state = f.read_text().partition("\n")
        if state.strip() == "idle":
            return agent
    return None


def wakeable(world, agent):
    return any(a["id"] == agent and a.get("wakeable_by") == "wrap" for a in world.json("status")["agents"])


def first_turn(world, server, client, term):
    """Start the client, run one prompt, and wait until it is idle and armed: its agent id."""
    term.wait_for(lambda: client.ready in term.screen(), 60, f"{client.name}'s prompt")
    term.type("say hello")
    term.wait_for(lambda: len(client.turns(server)) == 1, 60, "the first prompt's request")
    agent = term.wait_for(lambda: wrapped_agent(world), 30, "the Stop hook's idle note")
    time.sleep(1.5)  # the watcher looks once a second
    return agent


def wake_and_quit(world, server, client, term):
    agent = first_turn(world, server, client, term)
    world.agent_sync("register", "--name", "other", agent="other")

    # a broadcast wakes nobody
    world.agent_sync("send", "--to", "all", "--message", BROADCAST, agent="other")
    time.sleep(5)
    assert len(client.turns(server)) == 1, "a broadcast woke the idle client"
    assert "agent-sync:" not in term.screen()

    # a directed message wakes it: a new turn whose request carries the message text
    start = time.monotonic()
    world.agent_sync("send", "--to", agent, "--message", MESSAGE, agent="other")
    turns = term.wait_for(lambda: len(client.turns(server)) >= 2 and client.turns(server), WAKE_WITHIN, "the wake")
    took = time.monotonic() - start
    print(f"{client.name}: send -> new model request in {took:.1f}s")
    woken = json.dumps(turns[1]["body"], ensure_ascii=False)
    assert WAKE_LINE in woken, woken[-3000:]  # the typed line was submitted as the prompt
    assert MESSAGE in woken, woken[-3000:]  # and the prompt hook pushed the message itself

    # once: no second wake for the same message
    time.sleep(6)
    turns = client.turns(server)
    assert len(turns) == 2, f"{len(turns)} turns: woken more than once"
    assert json.dumps(turns[-1]["body"], ensure_ascii=False).count(WAKE_LINE) == 1
    assert term.screen().count("agent-sync: 1 new message(s)") == 1, term.screen()

    # quit: the wrapper exits with the client, nothing of theirs is left, the agent is no longer wakeable
    term.type("/quit")
    try:
        code = term.wait_for(term.exit_code, 30, "the exit after /quit")
    except AssertionError as e:
        raise AssertionError(f"{e}\nstill running: {processes_with_home(world.home)}") from None
    assert code == "0", (code, term.screen())
    time.sleep(1)
    procs = processes_with_home(world.home)
    left = {pid: cmd for pid, cmd in procs.items() if not (client.chome and codex_daemon(pid, procs, client.chome))}
    assert not left, left
    assert not wakeable(world, agent)  # the wrapper disarmed on its way out
    return took


@pytest.mark.capability(
    "codex",
    "idle (agent-sync wrap)",
    "an idle interactive session under `agent-sync wrap` is woken by a directed message (a typed line, then Enter;"
    " the prompt hook pushes the text), once; a broadcast wakes nobody",
)
def test_codex_under_wrap_is_woken_once_by_a_directed_message(world, server, codex_client):
    server.respond = lambda vendor, turns, body: {"text": f"reply {turns}"}
    term = start_wrapped(world, codex_client)
    try:
        wake_and_quit(world, server, codex_client, term)
    finally:
        term.close()


@pytest.mark.capability(
    "gemini",
    "idle (agent-sync wrap)",
    "an idle interactive session under `agent-sync wrap` is woken by a directed message (a typed line, then Enter;"
    " the prompt hook pushes the text), once; a broadcast wakes nobody",
)
def test_gemini_under_wrap_is_woken_once_by_a_directed_message(world, server, gemini_client):
    server.respond = lambda vendor, turns, body: {"text": f"reply {turns}"}
    term = start_wrapped(world, gemini_client)
    try:
        wake_and_quit(world, server, gemini_client, term)
    finally:
        term.close()


@pytest.fixture(params=["codex", "gemini"])
def any_client(request, server):
    server.respond = lambda vendor, turns, body: {"text": f"reply {turns}"}
    return request.getfixturevalue(f"{request.param}_client")


def test_status_shows_the_wrapped_agent_idle_and_wakeable_after_every_turn(world, server, any_client):
    term = start_wrapped(world, any_client)
    try:
        first_turn(world, server, any_client, term)
        term.type("and again")
        term.wait_for(lambda: len(any_client.turns(server)) == 2, 60, "the second prompt's request")
        agent = term.wait_for(lambda: wrapped_agent(world), 30, "the Stop hook's idle note")
        term.wait_for(lambda: wakeable(world, agent), 10, "the idle agent shown wakeable by wrap")
    finally:
        term.close()


def test_a_second_codex_wrap_with_the_daemon_still_running_is_woken(world, server, codex_client):
    server.respond = lambda vendor, turns, body: {"text": f"reply {turns}"}
    term = start_wrapped(world, codex_client)
    try:
        first_turn(world, server, codex_client, term)
        term.type("/quit")
        term.wait_for(term.exit_code, 30, "the first client's exit")
    finally:
        term.close()
    folder = world.root / ".claude" / "coordination" / "wrapped"
    for f in folder.glob("*"):
        f.unlink()  # forget the first wrap's note: only the second one's hooks may write now
    term = start_wrapped(world, codex_client)
    try:
        term.wait_for(lambda: codex_client.ready in term.screen(), 60, "codex's prompt")
        term.type("second session")
        term.wait_for(lambda: len(codex_client.turns(server)) == 2, 60, "the second session's request")
        agent = term.wait_for(lambda: wrapped_agent(world), 30, "the Stop hook's idle note")
        time.sleep(1.5)
        world.agent_sync("send", "--to", agent, "--message", MESSAGE, agent="other")
        term.wait_for(lambda: len(codex_client.turns(server)) >= 3, WAKE_WITHIN, "the wake of the second session")
    finally:
        term.close()
