"""The module's shape, checked in-process from the source: sections in
dependency order, SQL only in storage and domain, small functions, and the
CLI, MCP and console surfaces generated from one declaration per command."""

import ast
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = (ROOT / "agent_sync.py").read_text(encoding="utf-8")
TREE = ast.parse(SOURCE)
sys.path.insert(0, str(ROOT))
import agent_sync  # noqa: E402

BANNER = re.compile(r"^# -{20,}\n# (\d+)\. ([^:]+):", re.M)


@cache
def sections():
    """[(number, title, first line)] of the section banners (read once: section_of asks for every name)."""
    return [(int(m.group(1)), m.group(2), SOURCE.count("\n", 0, m.start()) + 2) for m in BANNER.finditer(SOURCE)]


def section_of(line):
    found = 0
    for number, _, start in sections():
        if start <= line:
            found = number
    return found


def top_level_names():
    names = {}
    for node in TREE.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names[node.name] = node.lineno
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for n in ast.walk(target):
                    if isinstance(n, ast.Name):
                        names[n.id] = node.lineno
    return names


def test_banners_are_numbered_in_order_and_match_the_contents():
    found = sections()
    assert [n for n, _, _ in found] == list(range(len(found)))  # 0: start-up
    docstring = ast.get_docstring(TREE)
    listed = re.findall(r"^\s+(\d+)\. (\S.*?)\s{2,}", docstring, re.M)
    assert [(int(n), t) for n, t in listed] == [(n, t) for n, t, _ in found]


def local_names(node):
    """Names a function or class binds itself (parameters, assignments, imports)."""
    bound = set()
    for n in ast.walk(node):
        if isinstance(n, ast.arg):
            bound.add(n.arg)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            bound.add(n.id)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in n.names)
    return bound if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else set()


def test_no_name_is_used_before_its_section_defines_it():
    names = top_level_names()
    late = []
    for node in TREE.body:
        user, own = section_of(node.lineno), local_names(node)
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in names and n.id not in own:
                if section_of(names[n.id]) > user:
                    late.append(f"{n.id} (line {n.lineno}) is defined in section {section_of(names[n.id])}")
    assert not late, late


def bound_at_top(statements):
    """Names a module binds outside functions and classes, in any branch (an
    import under TYPE_CHECKING or under the hook's own condition included)."""
    names = set()
    for node in statements:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.If, ast.Try)):
            for block in ("body", "orelse", "finalbody"):
                names |= bound_at_top(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                names |= bound_at_top(handler.body)
    return names


def test_the_part_a_hook_loads_needs_nothing_after_it():
    """The zipapp's boot runs a hook with the module up to HOOK_PART_ENDS only
    (build.py): every global its functions read must be bound there, or a hook
    would fail open on a NameError."""
    import builtins
    import dis

    cut = SOURCE.index("\n" + agent_sync.HOOK_PART_ENDS + "\n") + 1
    assert cut < SOURCE.index("\n# 11. Installer")
    bound = bound_at_top(ast.parse(SOURCE[:cut]).body) | {"__file__", "__name__"}
    missing, todo = set(), [compile(SOURCE[:cut], "agent_sync.py", "exec")]
    while todo:
        code = todo.pop()
        todo += [k for k in code.co_consts if hasattr(k, "co_code")]
        for ins in dis.get_instructions(code):
            name = ins.argval
            if ins.opname == "LOAD_GLOBAL" and name not in bound and not hasattr(builtins, name):
                missing.add(name)
    assert not missing, f"a hook's part of agent_sync.py reads names bound after it: {sorted(missing)}"
    # and the check sees what it looks for: the CLI's entry point is read by nothing in the part
    assert "run_cli" not in bound and "main" not in bound


#: a call of any method of the store seam that takes SQL (or a reader of it), whatever its argument;
#: the receivers that are not a store (a subprocess, the import path) are the only ones spared
STORE_CALL = re.compile(
    r"(?<!subprocess)(?<!sys\.path)\.(execute|executemany|executescript|insert|later|run|batched)\("
)


def test_sql_runs_only_in_storage_and_domain():
    allowed = {n for n, title, _ in sections() if title in ("Storage", "Domain")}
    outside = [
        (i, line.strip())
        for i, line in enumerate(SOURCE.splitlines(), 1)
        if STORE_CALL.search(line) and section_of(i) not in allowed
    ]
    assert not outside, outside
    # and the check sees what it looks for: the domain's calls, a variable's SQL among them
    inside = [
        line for i, line in enumerate(SOURCE.splitlines(), 1) if STORE_CALL.search(line) and section_of(i) in allowed
    ]
    assert any("store.execute(f" in line for line in inside) and any(".later(olds" in line for line in inside)


def test_no_function_is_longer_than_fifty_lines():
    long = [
        (n.name, n.end_lineno - n.lineno + 1)
        for n in ast.walk(TREE)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > 50
    ]
    assert not long, long


# One declaration per command ------------------------------------------------


def cli_arguments(name):
    """{dest: default} of one subcommand, as argparse built it."""
    parser = agent_sync.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {a.dest: a.default for a in sub.choices[name]._actions if a.dest not in ("help", "json")}


@pytest.mark.parametrize("name", list(agent_sync.COMMANDS))
def test_cli_arguments_are_the_declared_ones(name):
    cmd = agent_sync.COMMANDS[name]
    declared = {a.name: (None if a.positional else a.default) for a in cmd.on("cli")}
    assert cli_arguments(name) == declared


def test_mcp_tools_are_the_declared_ones():
    tools = {t["name"]: t for t in agent_sync.mcp_tool_list()}
    expected = {n.replace("-", "_"): c for n, c in agent_sync.COMMANDS.items() if c.mcp}
    assert set(tools) == set(expected)
    for name, cmd in expected.items():
        schema = tools[name]["inputSchema"]
        assert set(schema["properties"]) == {a.name for a in cmd.on("mcp")}, name
        assert set(schema.get("required", [])) == {a.name for a in cmd.on("mcp") if a.required}, name
        for arg in cmd.on("mcp"):
            kind = schema["properties"][arg.name]["type"]
            assert kind == ("array" if arg.many else agent_sync.JSON_TYPES[arg.type]), (name, arg.name)


def test_console_verbs_are_the_declared_ones():
    helps = agent_sync.console_help()
    for cmd in agent_sync.COMMANDS.values():
        for pattern, presets in cmd.console.items():
            assert any(line.startswith(pattern + " ") for line in helps), pattern
            names = {a.name for a in cmd.args}
            placeholders = re.findall(r"[<\[](\w+)[>\]]", pattern)
            assert set(placeholders) <= names and set(presets) <= names, pattern


def test_the_built_zipapp_serves_the_same_tools(pyz, tmp_path):
    """The MCP surface as a client sees it equals the in-process declaration,
    defaults included (a default is what a call without the argument gets);
    `pyz` is the run's zipapp (conftest), built from this source."""
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(pyz), "mcp"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        input="".join(json.dumps(r) + "\n" for r in requests),
        timeout=60,
    ).stdout
    served = json.loads(out.splitlines()[1])["result"]["tools"]
    assert served == agent_sync.mcp_tool_list()


def test_hooks_start_the_zipapp_through_the_launcher():
    """hooks.json (static, shipped in the zipapp) and the commands install
    writes for other clients start the zipapp the same, runpy-free way."""
    hooks = json.loads((ROOT / "hooks.json").read_text(encoding="utf-8"))["hooks"]
    handlers = [h for groups in hooks.values() for g in groups for h in g["hooks"]]
    commands = [h["command"] for h in handlers if h["type"] == "command"]
    assert len(commands) == 9  # seven events, and the waiter on SessionStart and Stop
    for command in commands:
        # the events the resident MCP server answers stand down while it lives (a shell builtin test)
        command = command.split("&& exit 0; ", 1)[-1]
        # the interpreter recorded for this checkout, else python3 (a shim is passed once, not per hook)
        assert command.startswith(agent_sync.PYTHON_CHOICE), command
        command = command[len(agent_sync.PYTHON_CHOICE) :]
        assert command.startswith(f'"$p" -I -S -c "{agent_sync.LAUNCHER}" "$CLAUDE_PROJECT_DIR/'), command
    served = {e for e, groups in hooks.items() for g in groups for h in g["hooks"] if h["type"] == "mcp_tool"}
    assert served == set(agent_sync.RESIDENT_EVENTS), served
    assert f'-c "{agent_sync.LAUNCHER}" "x.pyz" hook stop' in agent_sync.hook_command(
        "python3", "x.pyz", "stop", "gemini"
    )


def test_the_consoles_help_is_its_own_where_the_cli_means_something_else():
    helps = {line.split("  ")[0]: line for line in agent_sync.console_help()}
    assert "--force" not in helps["unlock <path>"] and "owner only" not in helps["unlock <path>"]
    assert helps["directive <to> <message>"] != helps["send <to> <message>"].replace("send", "directive", 1)
    assert set(agent_sync.CONSOLE_HELP) <= {p for _, _, _, _, p in agent_sync.console_verbs()}


def test_the_stated_surface_names_what_exists():
    assert len(set(agent_sync.__all__)) == len(agent_sync.__all__)
    missing = [n for n in agent_sync.__all__ if not hasattr(agent_sync, n)]
    assert not missing, missing
    for script in ("bench/interface_drift.py", "tools/plugin_files.py"):
        used = set(re.findall(r"\bdrift\.(\w+)\(|\bagent_sync\.(\w+)\b(?!\.py)", (ROOT / script).read_text()))
        names = {a or b for a, b in used} - {"py"}  # "drift.py(" in prose is a file, not a name
        assert names <= set(agent_sync.__all__), (script, names - set(agent_sync.__all__))
