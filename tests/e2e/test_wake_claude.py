"""Real Claude Code, interactive in tmux, woken by agent-sync's waiter (the
asyncRewake hook `install` adds on SessionStart and Stop): an idle session
gets a directed message as a new turn, a broadcast wakes nobody, one
message wakes once, and nothing of agent-sync outlives the client."""

import json
import shlex
import subprocess
import time
import uuid

import pytest

from .harness import CLAUDE_VERSIONS, claude_env, install

pytestmark = pytest.mark.e2e

#: the first version with asyncRewake, CLAUDE_PID and CLAUDE_CODE_SESSION_ATTENDED (observed)
WAKEABLE = "2.1.332"


class Tmux:
    """One client in a detached tmux session of its own server."""

    def __init__(self, cwd, env, argv, width=120, height=40):
        self.socket = f"agent-sync-e2e-{uuid.uuid4().hex[:8]}"
        assign = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in env.items())
        command = f"env -i {assign} {' '.join(shlex.quote(str(a)) for a in argv)}"
        self.run("new-session", "-d", "-x", str(width), "-y", str(height), "-s", "c", "-c", str(cwd), command)
        self.run("set-option", "-t", "c", "remain-on-exit", "on")

    def run(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)

    def screen(self):
        return self.run("capture-pane", "-p", "-t", "c").stdout

    def keys(self, *keys, literal=False):
        self.run("send-keys", "-t", "c", *(["-l"] if literal else []), *keys)

    def dead(self):
        return self.run("list-panes", "-t", "c", "-F", "#{pane_dead}").stdout.strip() == "1"

    def close(self):
        self.run("kill-server")


def wait(what, timeout, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = what()
        if got:
            return got
        time.sleep(step)
    return None


def main_texts(server):
    """The JSON text of every main-loop request the model got."""
    return [json.dumps(r["body"]) for r in server.main_requests()]


def wakeable(world):
    """The id of the agent a waiter armed, or None."""
    agents = world.json("status")["agents"]
    return next((a["id"] for a in agents if a["wakeable_by"] == "claude"), None)


@pytest.fixture
def session(claude_bin, world, server):
    if WAKEABLE not in str(claude_bin):
        pytest.skip(f"asyncRewake is observed on Claude Code {WAKEABLE}; {CLAUDE_VERSIONS} are tested")
    install(world)
    server.respond = lambda vendor, turns, body: {"text": f"done with turn {turns}"}
    env = claude_env(world, server, TERM="xterm-256color")
    state = json.loads((world.home / ".claude.json").read_text())
    state["customApiKeyResponses"] = {"approved": ["dummy"], "rejected": []}
    state["projects"] = {str(world.root): {"hasTrustDialogAccepted": True}}
    (world.home / ".claude.json").write_text(json.dumps(state))
    t = Tmux(world.root, env, [claude_bin, "--dangerously-skip-permissions"])
    try:
        assert wait(lambda: "bypass" in t.screen().lower() or ">" in t.screen(), 30), t.screen()
        time.sleep(2)
        t.keys("hello", literal=True)
        t.keys("Enter")
        assert wait(lambda: "done with turn" in t.screen(), 30), t.screen()
        agent = wait(lambda: wakeable(world), 15)
        assert agent, world.agent_sync("status").stdout
        yield t, agent
    finally:
        t.keys("C-c")
        t.keys("C-c")
        wait(t.dead, 10)
        t.close()


@pytest.mark.capability("claude", "Stop (asyncRewake)", "an idle session is woken by a message directed to it, once")
def test_an_idle_session_is_woken_by_a_directed_message_once(session, world, server):
    t, agent = session
    before = len(main_texts(server))
    world.agent_sync("send", "--to", "all", "--message", "BROADCAST-7731 lunch", agent="peer")
    time.sleep(5)
    assert len(main_texts(server)) == before, "a broadcast woke the session"
    start = time.monotonic()
    world.agent_sync("send", "--to", agent, "--message", "WAKE-4412 stop, main is broken", agent="peer")
    woke = wait(lambda: any("WAKE-4412" in text for text in main_texts(server)[before:]), 15)
    seconds = time.monotonic() - start
    assert woke and seconds < 5, (seconds, t.screen())
    assert wait(lambda: wakeable(world), 15), "the woken turn's Stop did not arm a new waiter"
    count = len(main_texts(server))
    time.sleep(5)
    assert len(main_texts(server)) == count, "one message woke the session twice"
    feed = world.json("activity")["activity"]
    assert any(a["type"] == "wake" and a["agent"] == agent for a in feed), feed


def test_no_waiter_outlives_the_client(session, world):
    t, _ = session
    t.keys("C-c")
    t.keys("C-c")
    assert wait(t.dead, 15), t.screen()
    leftover = wait(
        lambda: not subprocess.run(["pgrep", "-f", f"{world.root}.*hook wait"], capture_output=True).stdout, 10
    )
    assert leftover, subprocess.run(["pgrep", "-af", "hook wait"], capture_output=True, text=True).stdout
    assert wakeable(world) is None
