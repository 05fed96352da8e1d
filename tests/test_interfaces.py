"""Interface drift through the hooks: an edit that changes a definition's
signature, renames or removes it reaches the live agents whose working files
use the name (a directed notice with file and old/new signature), and the
editor hears who depends; a body-only or comment-only edit, and an agent
whose files do not use the name, hear nothing.  The built zipapp, real
files, real hooks, both engines."""

import json

import pytest

from conftest import denied

#: (the definition's file before, after; the dependent's file; the words the notice names)
CASES = {
    "python signature": (
        "src/auth.py",
        "def login(user):\n    return user\n",
        "def login(user, otp):\n    return user\n",
        ("src/client.py", "from auth import login\n\nlogin('x')\n"),
        ("def login(user)", "def login(user, otp)", "src/client.py"),
    ),
    "python rename": (
        "src/auth.py",
        "def login(user):\n    return user\n",
        "def signin(user):\n    return user\n",
        ("src/client.py", "from auth import login\n\nlogin('x')\n"),
        ("def login(user)", "def signin(user)"),
    ),
    "python method": (
        "src/session.py",
        "class Session:\n    def open(self, path):\n        return path\n",
        "class Session:\n    def open(self, path, mode):\n        return path\n",
        ("src/use.py", "import session\n\ns = session.Session()\ns.open('f')\n"),
        ("def open(self, path)", "def open(self, path, mode)"),
    ),
    "typescript export": (
        "web/api.ts",
        "export function fetchUser(id: string): User {\n  return get(id);\n}\n",
        "export function fetchUser(id: string, opts: Opts): User {\n  return get(id);\n}\n",
        ("web/view.ts", "import { fetchUser } from './api';\nconst u = fetchUser('1');\n"),
        ("fetchUser(id: string): User", "fetchUser(id: string, opts: Opts): User"),
    ),
    "go function": (
        "store/store.go",
        "package store\n\nfunc Load(path string) error {\n\treturn nil\n}\n",
        "package store\n\nfunc Load(path string, strict bool) error {\n\treturn nil\n}\n",
        ("cmd/main.go", 'package main\n\nfunc main() {\n\t_ = store.Load("x")\n}\n'),
        ("func Load(path string) error", "func Load(path string, strict bool) error"),
    ),
}


def write(repo, rel, text):
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def edit(cli, agent, rel, old, new, call, tool="Edit"):
    """One edit tool call as the client makes it: pre-tool-use, the write, post-tool-use."""
    path = cli.repo / rel
    tool_input = (
        {"file_path": str(path), "content": new}
        if tool == "Write"
        else {
            "file_path": str(path),
            "old_string": old,
            "new_string": new,
        }
    )
    payload = {"session_id": agent, "cwd": str(cli.repo), "tool_name": tool, "tool_input": tool_input}
    payload["tool_use_id"] = call
    rc, out, err = cli.hook("pre-tool-use", {**payload, "hook_event_name": "PreToolUse"}, agent=agent)
    assert rc == 0 and not denied(out), (out, err)
    text = path.read_text()
    path.write_text(new if tool == "Write" else text.replace(old, new, 1))
    rc, out, err = cli.hook("post-tool-use", {**payload, "hook_event_name": "PostToolUse"}, agent=agent)
    assert rc == 0 and "Traceback" not in err, err
    return (out or {}).get("hookSpecificOutput", {}).get("additionalContext", "")


def heard(cli, agent):
    """What `agent`'s next prompt brings (its directed messages)."""
    rc, out, err = cli.hook(
        "user-prompt-submit", {"session_id": agent, "cwd": str(cli.repo), "prompt": "go"}, agent=agent
    )
    assert rc == 0 and "Traceback" not in err, err
    return (out or {}).get("hookSpecificOutput", {}).get("additionalContext", "")


def scene(cli, rel, before, dependent):
    """alice will edit `rel`; bob holds the dependent file; carol holds a file that does not use the name."""
    write(cli.repo, rel, before)
    write(cli.repo, *dependent)
    write(cli.repo, "docs/other.py", "def unrelated():\n    return 1\n")
    cli.ok("lock", dependent[0], agent="bob")
    cli.ok("lock", "docs/other.py", agent="carol")


@pytest.mark.parametrize("case", list(CASES))
def test_a_changed_definition_reaches_the_agent_whose_file_uses_it(cli, case):
    rel, before, after, dependent, words = CASES[case]
    scene(cli, rel, before, dependent)
    note = edit(cli, "alice", rel, before, after, "call-1")
    assert "bob" in note and dependent[0] in note and "uses" in note, note  # the editor hears who depends
    told = heard(cli, "bob")
    assert "interface change" in told and rel in told and dependent[0] in told, told
    for word in words:
        assert word in told, (word, told)
    assert 'trust="untrusted"' in told  # framed: agents' text
    assert heard(cli, "bob") == ""  # once
    assert "interface change" not in heard(cli, "carol")
    _, listed = cli.json("interfaces", agent="x")
    [change] = listed["changes"]
    assert change["path"] == rel and change["agent"] == "alice" and [t["agent"] for t in change["told"]] == ["bob"]
    assert cli.json("report", agent="x")[1]["interface_changes"] == 1


def test_a_write_that_rewrites_the_whole_file_is_seen(cli):
    rel, before, after, dependent, words = CASES["python signature"]
    scene(cli, rel, before, dependent)
    note = edit(cli, "alice", rel, None, "# rewritten\n\n" + after, "call-w", tool="Write")
    assert "bob" in note, note
    told = heard(cli, "bob")
    assert all(word in told for word in words[:2]), told


@pytest.mark.parametrize(
    "after",
    [
        "def login(user):\n    return user.strip()\n",  # the body only
        "def login(user):\n    # who logs in\n    return user\n",  # a comment only
        "def login( user ):\n    return user\n",  # spacing only
    ],
    ids=["body", "comment", "formatting"],
)
def test_an_edit_that_changes_no_signature_is_not_an_interface_change(cli, after):
    rel, before, _, dependent, _ = CASES["python signature"]
    scene(cli, rel, before, dependent)
    assert edit(cli, "alice", rel, before, after, "call-2") == ""
    assert "interface change" not in heard(cli, "bob")
    assert cli.json("interfaces", agent="x")[1]["changes"] == []


def test_repeated_changes_of_one_signature_merge_into_one_notice(cli):
    rel, before, after, dependent, _ = CASES["python signature"]
    scene(cli, rel, before, dependent)
    edit(cli, "alice", rel, before, after, "call-1")
    edit(cli, "alice", rel, after, after.replace("otp", "otp, device"), "call-2")
    told = heard(cli, "bob")
    assert told.count("interface change") == 1, told
    assert "def login(user)" in told and "def login(user, otp, device)" in told, told
    _, listed = cli.json("interfaces", agent="x")
    assert len(listed["changes"]) == 1 and listed["changes"][0]["new"] == "def login(user, otp, device)"
    assert json.dumps(listed).count('"bob"') == 1
