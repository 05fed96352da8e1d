"""The fast layer: pure functions of agent_sync imported from the source, no
subprocess and no database.  Hypothesis drives the open-ended inputs."""

import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import agent_sync as a  # noqa: E402

segment = st.text(alphabet="abcxyz_.-", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))
rel_path = st.lists(segment, min_size=1, max_size=4).map("/".join)


# Globs and overlap -----------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, path, expected",
    [
        ("src/*.py", "src/a.py", True),
        ("src/*.py", "src/x/a.py", False),
        ("src/**/*.py", "src/a.py", True),
        ("src/**/*.py", "src/x/y/a.py", True),
        ("src/**", "src/x/y", True),
        ("*.md", "docs/a.md", False),
        ("a?.py", "ab.py", True),
        ("a?.py", "a/.py", False),
        ("[ab].py", "b.py", True),
        ("[!ab].py", "c.py", True),
        ("[!ab].py", "a.py", False),
    ],
)
def test_glob_regex(pattern, path, expected):
    assert bool(a.glob_regex(pattern).match(path)) is expected


@given(rel_path)
def test_double_star_matches_every_path_below_its_prefix(path):
    assert a.glob_regex("**").match(path) and a.glob_regex("src/**").match("src/" + path)


@given(rel_path, rel_path)
def test_overlap_is_symmetric_between_files_and_dirs(f, d):
    d_key = d + "/"
    assert a.targets_overlap("file", f, "dir", d_key) == a.targets_overlap("dir", d_key, "file", f)
    assert a.targets_overlap("file", f, "dir", d_key) == f.startswith(d_key)


@given(rel_path)
def test_a_file_overlaps_a_glob_exactly_when_the_glob_matches_it(path):
    for pattern in ("**/*.py", "*", "*/*", path):
        assert a.targets_overlap("file", path, "glob", pattern) == bool(a.glob_regex(pattern).match(path))


def test_resources_overlap_only_themselves():
    assert a.targets_overlap("resource", "db", "resource", "db")
    assert not a.targets_overlap("resource", "db", "file", "db")


# Shell effects ---------------------------------------------------------------


@pytest.mark.parametrize(
    "command, writes",
    [
        ("echo x > a.py", ["a.py"]),
        ("cat a >> b.py", ["b.py"]),
        ("sed -i s/a/b/ x.py", ["x.py"]),
        ("tee -a log.txt", ["log.txt"]),
        ("rm -f a.py b.py", ["a.py", "b.py"]),
        ("mv a.py b.py", ["b.py", "a.py"]),
        ("cp a.py b.py", ["b.py"]),
        ("git checkout -- a.py", ["a.py"]),
        ("dd if=x of=y.bin", ["y.bin"]),
        ("bash -c 'echo hi > z.py'", ["z.py"]),
        ("ls -la; cat a.py", []),
        ("grep -r foo .", []),
        ("echo x 2>/dev/null", []),
    ],
)
def test_shell_writes(command, writes):
    assert a.shell_effects(command)[0] == writes


@pytest.mark.parametrize(
    "command, guarded",
    [
        ("git stash", [("tree", "git stash")]),
        ("git reset --hard HEAD", [("tree", "git reset --hard")]),
        ("git clean -fd", [("tree", "git clean -f")]),
        ("git checkout -f main", [("tree", "git checkout --force")]),
        ("git stash list", []),
        ("git status", []),
        ("git log --oneline && git diff", []),
        ("git fetch && git branch", []),
        ("git switch main", [("head", "git switch")]),
        ("git checkout -b feature", [("head", "git checkout")]),
        ("git checkout no-such-file-here", [("head", "git checkout no-such-file-here")]),
        ("git -C . pull --rebase", [("head", "git pull")]),
        ("git reset --soft HEAD~1", [("head", "git reset")]),
        ("git reset -- a.py", []),
        ("git worktree remove ../wt", [("head", "git worktree remove")]),
        ("git add -A", [("stage", "git add -A")]),
        ("git add src/a.py", []),
        ("git commit -am wip", [("commit", "git commit -a", ("--all",))]),
        ("git commit -qam x", [("commit", "git commit -a", ("--all",))]),
        ("git commit -m x src", [("commit", "git commit src", ("src",))]),
        ("git commit --all -m x", [("commit", "git commit -a", ("--all",))]),
        ("git commit -m 'fix a bug'", [("commit", "git commit")]),
        ("sh -c 'git merge x'", [("head", "git merge")]),
    ],
)
def test_shell_git_guards(command, guarded):
    assert a.shell_effects(command)[1] == guarded


@given(st.text(max_size=200))
def test_shell_effects_never_raise(command):
    writes, guarded = a.shell_effects(command)
    assert isinstance(writes, list) and all(g[0] in a.GIT_GUARDS for g in guarded)


# Dialects --------------------------------------------------------------------


def test_each_client_payload_is_recognised_and_normalised():
    gemini = {"hook_event_name": "BeforeTool", "tool_name": "write_file", "tool_input": {"file_path": "a"}}
    codex = {"turn_id": "t", "tool_name": "shell", "tool_input": {"command": "ls"}}
    cursor = {"conversation_id": "c", "command": "echo > a", "workspace_roots": ["/r"]}
    claude = {"session_id": "s", "tool_name": "Edit", "tool_input": {"file_path": "a"}}
    assert [a.detect_dialect(p).name for p in (gemini, codex, cursor, claude)] == [
        "gemini",
        "codex",
        "cursor",
        "claude",
    ]
    assert a.GEMINI.normalise(gemini)["tool_name"] == "Write"
    assert a.CODEX.normalise(codex)["tool_name"] == "Bash"
    shaped = a.CURSOR.normalise(cursor)
    assert (shaped["tool_name"], shaped["tool_input"], shaped["cwd"]) == ("Bash", {"command": "echo > a"}, "/r")
    assert a.CLAUDE.normalise(claude) is claude


def test_each_client_gets_its_own_deny_shape():
    deny = {"deny": "agent-sync: edit denied. held", "summary": "agent-sync: edit denied"}
    assert a.CLAUDE.answer("pre-tool-use", deny)["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert a.GEMINI.answer("pre-tool-use", deny) == {"decision": "deny", "reason": deny["deny"]}
    assert a.CURSOR.answer("pre-tool-use", deny)["permission"] == "deny"
    assert a.CURSOR.answer("pre-tool-use", None) == {"permission": "allow"}
    codex = a.CODEX.answer("session-start", {"context": "x"})  # Codex 0.169 takes Claude's JSON, context included
    assert codex == a.CLAUDE.answer("session-start", {"context": "x"})


def test_apply_patch_names_every_file():
    patch = "*** Begin Patch\n*** Update File: a.py\n@@\n*** Add File: b/c.py\n*** Move to: d.py\n*** End Patch"
    assert a.edited_paths("apply_patch", {"command": patch}) == ["a.py", "b/c.py", "d.py"]


# Untrusted text --------------------------------------------------------------


@given(st.text())
def test_clean_leaves_no_escape_or_control_byte(text):
    out = a.clean(text)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out) and "\n" not in out


@given(st.text())
def test_text_for_a_model_can_close_neither_the_frame_nor_the_quote(text):
    quoted = a.for_model(text, limit=10_000)
    assert a.FRAME_CLOSE not in quoted and quoted.count('"') == 2
    assert a.FRAME_CLOSE not in a.quote_block(text, 10_000)
    framed = a.frame(a.quote_block(text, 10_000))
    assert framed.count(a.FRAME_CLOSE) == 1 and framed.endswith(a.FRAME_CLOSE)


# MCP argument validation (before any handler or database is reached) ---------


@pytest.mark.parametrize(
    "name, arguments, error",
    [
        ("lock", {"paths": "a.py"}, "paths must be a list of strings"),
        ("lock", {"paths": [1]}, "paths must be a list of strings"),
        ("lock", {}, "missing paths"),
        ("send", {"to": "x", "message": "y", "reply_to": True}, "reply_to must be of type integer"),
        ("lock", {"paths": ["a"], "ttl": "5"}, "ttl must be of type number"),
        ("lock", {"paths": ["a"], "bogus": 1}, "unknown argument 'bogus'"),
        ("nope", {}, "unknown tool 'nope'"),
        (["list"], {}, "unknown tool"),
    ],
)
def test_mcp_arguments_are_checked_before_anything_runs(name, arguments, error):
    is_error, text, data = a.mcp_call(None, name, arguments)
    assert is_error and error in text and data is None


# The agent client's process ---------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["/usr/lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe", "-p", "x"], "claude"),
        (["claude", "--resume", "abc"], "claude"),
        (["node", "/x/node_modules/@openai/codex/bin/codex.js", "exec", "go"], "codex"),
        (["/usr/bin/node", "--max-old-space-size=4096", "/x/@google/gemini-cli/dist/index.js", "--yolo"], "gemini"),
        (["node", "/x/.bin/gemini", "-p", "write claude code"], "gemini"),
        (["cursor-agent"], "cursor"),
        (["sh", "-c", "python3 /home/me/claude/x.pyz hook pre-tool-use"], None),  # a folder name is not a client
        (["/home/me/codex/.venv/bin/python3", "app.py"], None),
        (["node", "server.js", "claude"], None),  # only the script names the client, never its arguments
        ([], None),
    ],
)
def test_client_of_reads_the_executable_or_the_node_script(argv, expected):
    assert a.client_of(argv) == expected


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and procps ps")
@pytest.mark.parametrize("source", ["proc", "ps"])
def test_find_client_climbs_a_real_process_tree(tmp_path, source):
    """/proc on Linux and one `ps -A` elsewhere find the same client ancestor."""
    import os
    import shutil
    import subprocess
    import time

    fake = tmp_path / "codex"
    shutil.copy(os.path.realpath(shutil.which("sh")), fake)
    proc = subprocess.Popen([str(fake), "-c", "sleep 30; true"], start_new_session=True)
    try:
        child = None
        for _ in range(100):
            kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            # the child, once it runs sleep: until its exec it is a copy of the fake client itself
            if kids and Path(f"/proc/{kids[0]}/cmdline").read_bytes().startswith(b"sleep"):
                child = int(kids[0])
                break
            time.sleep(0.02)
        lookup = a._proc_entry if source == "proc" else a._ps_table().get
        assert lookup(child), (child, lookup(proc.pid))
        pid, start, name = a.find_client(child, lookup)
        assert (pid, name) == (proc.pid, "codex") and start
        assert a.find_client(os.getpid(), lookup) is None or a.find_client(os.getpid(), lookup)[0] != proc.pid
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
    assert a.process_start(proc.pid) is None


# Terminal cells ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, width, encoding, expected",
    [
        ("docs/résumé.md", 20, "ascii", "docs/r\\xe9sum\\xe9.md"),
        ("docs/résumé.md", 20, "utf-8", "docs/résumé.md"),
        ("設計者 ok", 5, "utf-8", "設計 "),  # wide characters take two columns; no half character
        ("e\u0301x", 2, "utf-8", "e\u0301x"),  # a combining mark takes none
    ],
)
def test_fit_cells_measures_columns_and_escapes_what_the_terminal_lacks(text, width, encoding, expected):
    out = a.fit_cells(text, width, encoding)
    assert out.rstrip(" ") == expected.rstrip(" ")
    assert sum(a.cell_width(c) for c in out) == width


# JSON through the C scanner and encoder alone (hooks skip the json package) ---

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_json_loads_and_dumps_agree_with_the_json_package(value):
    import json

    assert a.json_dumps(value) == json.dumps(value)
    assert a.json_loads(json.dumps(value, ensure_ascii=False)) == json.loads(json.dumps(value))
    assert a.json_loads(" \n" + json.dumps(value, indent=2) + "\t") == json.loads(json.dumps(value))


@pytest.mark.parametrize("text", ["", "   ", "{", '{"a": 1} x', '{"a": 1}{}', "nul", "'x'", "[1,]", '{"a" 1}'])
def test_json_loads_refuses_what_is_not_one_document(text):
    with pytest.raises(ValueError):
        a.json_loads(text)


@given(st.text(max_size=40))
def test_valid_id_is_the_id_pattern(text):
    assert a.valid_id(text) == bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@:+-]{0,63}", text))


@given(st.text(max_size=40))
def test_clean_without_re_is_clean_with_it(text):
    one_line = text.replace("\r\n", "\n").replace("\t", "    ").replace("\n", " ")
    assert a.clean(text) == re.sub(a._TERMINAL_UNSAFE, "", one_line)


glob_pattern = st.text(alphabet="ab/.*?[]!", min_size=1, max_size=8)


@settings(max_examples=settings().max_examples * 4)  # the profile's (conftest), four times: a wide space
@given(glob_pattern, st.text(alphabet="ab/.", max_size=8))
def test_glob_matches_is_the_regex_match(pattern, key):
    assert a.glob_matches(pattern, key) == bool(a.glob_regex(pattern).match(key))


@pytest.mark.parametrize(
    "pattern, key",
    [
        ("**/", ""),
        ("src/**/x.py", "src/x.py"),
        ("**/*.md", "a.md"),
        ("src/**", "src/a/b"),
        ("a*a", "a"),
        ("[ab]x", "bx"),
    ],
)
def test_glob_matches_where_a_literal_part_is_optional(pattern, key):
    assert a.glob_matches(pattern, key) == bool(a.glob_regex(pattern).match(key))


@pytest.mark.parametrize("pattern", ["docs/[a[]*.rst", "x[&&]y", "x[~~]y", "x[||]y", "x[a--]y", "a[\\]b"])
def test_a_glob_with_set_operators_compiles_without_a_warning(pattern):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert a.glob_regex(pattern) is not None
