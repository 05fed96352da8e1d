"""`agent-sync wrap -- CLIENT`: a client in a pseudo-terminal that agent-sync
can type into, in a real terminal (tmux), the built zipapp around a small
line-reading program standing in for a client without hooks.  It prints its
window size at start and on every SIGWINCH, and echoes each line it reads.
The real clients under wrap are in tests/e2e."""

import subprocess
import sys
import time

import pytest

from conftest import Terminal, needs_tmux

pytestmark = [needs_tmux, pytest.mark.skipif(sys.platform == "win32", reason="wrap is POSIX only")]

#: the stand-in client: its size at start and on SIGWINCH, each line read as repr, `quit` exits 3
CLIENT = """
import os, signal, sys
def size(*_):
    c, r = os.get_terminal_size(0)
    print(f"[size {c}x{r}]", flush=True)
signal.signal(signal.SIGWINCH, size)
size()
while True:
    try:
        line = input("> ")
    except EOFError:
        break
    print(f"got: {line!r}", flush=True)
    if line == "quit":
        sys.exit(3)
"""

#: seconds of silence after which the stand-in counts as idle (it has no hooks)
IDLE = 1.5


@pytest.fixture
def wrapped(cli, tmp_path):
    cli.ok("init")
    cli.ok("register", "--name", "bob", agent="bob")
    client = tmp_path / "client.py"
    client.write_text(CLIENT)
    args = ("wrap", "--idle", str(IDLE), "--", sys.executable, str(client))
    t = Terminal(cli, width=100, height=30, args=args, AGENT_SYNC_ID="w1")
    try:
        t.wait_for("[size 100x30]")
        yield t
    finally:
        t.close()


def test_a_typed_prompt_and_a_resize_reach_the_client_untouched(wrapped):
    wrapped.type("héllo ✓ \\ 'quoted' $HOME")
    wrapped.wait_for("got: \"héllo ✓ \\\\ 'quoted' $HOME\"")
    wrapped.tmux("resize-window", "-t", "c", "-x", "90", "-y", "25")
    wrapped.wait_for("[size 90x25]")


def test_the_clients_exit_code_and_the_terminal_come_back(cli, tmp_path):
    cli.ok("init")
    client = tmp_path / "client.py"
    client.write_text(CLIENT)
    script = tmp_path / "run.sh"
    script.write_text(
        f"{' '.join(Terminal.python(cli))} wrap -- {sys.executable} {client}; echo EXIT=$?; stty -a | tr ';' '\\n' | grep -c -- -icanon\n"
    )
    t = Terminal(cli, args=None, shell=f"sh {script}")
    try:
        t.wait_for("[size")
        t.type("quit")
        screen = t.wait_for(lambda screen: "EXIT=3\n" in screen and screen.split("EXIT=3\n")[1].strip(), timeout=15)
        # canonical mode again: the terminal was put back
        assert screen.split("EXIT=3\n")[1].strip().splitlines()[0] == "0", screen
    finally:
        t.close()
    leftover = subprocess.run(["pgrep", "-f", str(client)], capture_output=True, text=True).stdout
    assert not leftover.strip(), leftover


def test_an_idle_client_is_woken_once_by_a_directed_message_not_by_a_broadcast(wrapped, cli):
    time.sleep(IDLE + 1)
    cli.ok("send", "--to", "all", "--message", "lunch", agent="bob")
    time.sleep(3)
    assert "agent-sync:" not in wrapped.screen()
    status = cli.json("status", agent="bob")[1]
    assert any(a["id"] == "w1" and a["wakeable_by"] == "wrap" for a in status["agents"]), status
    start = time.monotonic()
    cli.ok("send", "--to", "w1", "--message", "main is broken", agent="bob")
    screen = wrapped.wait_for("got: 'agent-sync: 1 new message(s) from bob", timeout=10)
    assert time.monotonic() - start < 10
    time.sleep(IDLE + 3)
    assert wrapped.screen().count("new message(s)") == 2, wrapped.screen()  # typed once (and echoed once)
    assert "main is broken" not in screen  # a pointer: the text stays in the inbox, untrusted, for the agent to read


def test_it_never_types_while_the_human_types(wrapped, cli):
    time.sleep(IDLE + 1)  # idle, so the wrapper made its agent present
    wrapped.tmux("send-keys", "-t", "c", "-l", "a")
    cli.ok("send", "--to", "w1", "--message", "ping", agent="bob")
    for _ in range(6):  # a human typing slowly, a key a second, for six seconds
        time.sleep(1)
        wrapped.tmux("send-keys", "-t", "c", "-l", "b")
        assert "agent-sync:" not in wrapped.screen()
    wrapped.tmux("send-keys", "-t", "c", "Enter")
    wrapped.wait_for("got: 'abbbbbb'")
    wrapped.wait_for("got: 'agent-sync: 1 new message(s) from bob", timeout=15)
