"""Interface drift with two real Claude Code sessions in one repository:
alice's Edit changes `def login(user):` to `def login(user, otp):`; bob,
who Read src/client.py (which uses `login`) and is still running, hears of
it on his next prompt, and alice's own next request names bob's file.

bob stays one live process (`--input-format stream-json`, prompt by prompt):
a notice goes only to live agents, and a `claude -p` that has exited is not
one. Each session has its own scripted model server, so the two scripts
(indexed by the turns in each conversation) never mix."""

import json
import uuid

import pytest

from .harness import CLAUDE_FLAGS, CLAUDE_VERSIONS, ModelServer, StreamSession, claude_env, events, install, run

pytestmark = pytest.mark.e2e

AUTH = "def login(user):\n    return user\n"
CLIENT = "from auth import login\n\nlogin('x')\n"


def turns(body):
    return sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")


def request_after(server, n):
    """The JSON text of the first main-loop request whose history holds `n` model turns."""
    for r in server.main_requests():
        if turns(r["body"]) == n:
            return json.dumps(r["body"])
    raise AssertionError(f"no request after {n} model turns: {[turns(r['body']) for r in server.main_requests()]}")


def test_an_edit_that_changes_a_signature_reaches_the_session_that_read_its_user(claude_bin, world, server):
    if CLAUDE_VERSIONS[0] not in str(claude_bin):
        pytest.skip(f"run on Claude Code {CLAUDE_VERSIONS[0]} only")
    install(world)
    auth, client = world.write("src/auth.py", AUTH), world.write("src/client.py", CLIENT)
    bob_sid, alice_sid = str(uuid.uuid4()), str(uuid.uuid4())
    with ModelServer() as bob_server:
        # bob: a first turn that Reads src/client.py, then (second prompt) a plain answer
        bob_server.script = [
            {"tool": "Read", "input": {"file_path": str(client)}},
            {"text": "read it"},
            {"text": "noted"},
        ]
        bob = StreamSession(
            [claude_bin, "-p", "--input-format", "stream-json", *CLAUDE_FLAGS, "--session-id", bob_sid],
            world.root,
            claude_env(world, bob_server, AGENT_SYNC_NAME="bob"),
        )
        try:
            assert not bob.prompt("read the client").get("is_error")
            bob_id = world.id_for_session(bob_sid)
            assert world.json("locks")["locks"] == []  # bob holds nothing: his Read alone makes client.py his

            # alice: Read src/auth.py, Edit the signature, then a plain answer
            server.script = [
                {"tool": "Read", "input": {"file_path": str(auth)}},
                {
                    "tool": "Edit",
                    "input": {
                        "file_path": str(auth),
                        "old_string": "def login(user):",
                        "new_string": "def login(user, otp):",
                    },
                },
                {"text": "edited"},
            ]
            r = run(
                [claude_bin, "-p", "change login", *CLAUDE_FLAGS, "--session-id", alice_sid],
                world.root,
                claude_env(world, server, AGENT_SYNC_NAME="alice"),
            )
            assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
            assert [e for e in events(r.stdout) if e.get("type") == "result"], r.stdout[-3000:]
            assert auth.read_text() == "def login(user, otp):\n    return user\n"

            # alice's request after the Edit: the editor's note names bob's file
            after_edit = request_after(server, 2)
            assert "src/client.py" in after_edit and "bob" in after_edit, after_edit[-3000:]
            assert "Other agents' files use it" in after_edit, after_edit[-3000:]

            # bob's next prompt carries the notice
            assert not bob.prompt("carry on").get("is_error")
        finally:
            assert bob.close() == 0
        told = request_after(bob_server, 2)
    for word in ("interface change", "src/auth.py", "def login(user)", "def login(user, otp)", "src/client.py"):
        assert word in told, (word, told[-3000:])
    assert told.count("interface change") == 1, told[-3000:]
    assert "interface change" not in request_after(bob_server, 1)  # not before alice's edit
    [change] = world.json("interfaces")["changes"]
    assert change["path"] == "src/auth.py", change
    assert [t["agent"] for t in change["told"]] == [bob_id], change
