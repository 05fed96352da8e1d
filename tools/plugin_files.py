#!/usr/bin/env python3
"""Write the Claude Code plugin's generated files from the sources the install uses.

The plugin (.claude-plugin/, marketplace source "./": the repository itself) runs
agent_sync.py from the plugin's root instead of the zipapp that `install` copies
into a repository.  Two of its files are derived, never edited by hand:

* hooks/hooks.json from hooks.json (the install's hooks): same events, matchers,
  timeouts, async/asyncRewake flags, resident stand-down prefix and mcp_tool
  hooks; each command imports agent_sync from ${CLAUDE_PLUGIN_ROOT} (its bytecode
  is cached beside it) instead of booting the zipapp, and the mcp_tool hooks name
  the plugin's MCP server, plugin:agent-sync:agent-sync;
* skills/agent-sync/SKILL.md from skill/SKILL.md: the command is `agent-sync`,
  on the Bash tool's PATH through the plugin's bin/, not the launcher that
  `install` puts next to the skill.

Usage: python3 tools/plugin_files.py [--check]
(--check: exit 1 and name the files that differ from what this writes; tests/test_plugin.py runs it.)
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN = "agent-sync"
SERVER = f"plugin:{PLUGIN}:agent-sync"  # how Claude Code names a plugin's MCP server
DESCRIPTION = "agent-sync: locks, messages and presence for several agent sessions in one repository"

# hooks.json's command runs the zipapp through its boot module; the plugin's imports the module.
BOOT = (
    "exec('try:import agent_sync_boot_cp{}{} as b\\nexcept ImportError:import agent_sync_boot as b'"
    ".format(*sys.version_info));sys.exit(b.load().main())"
)
IMPORT = "import agent_sync;sys.exit(agent_sync.main())"
PYZ_ARG = '"$CLAUDE_PROJECT_DIR/.claude/skills/agent-sync/agent-sync.pyz"'
ROOT_ARG = '"${CLAUDE_PLUGIN_ROOT}"'

# skill/SKILL.md names the launcher beside it; the plugin's skill names the command on PATH.
SKILL_REPLACEMENTS = (
    (
        "`.claude/coordination/state.sqlite`. Run it through the launcher next to this\nfile:\n",
        "`.claude/coordination/state.sqlite`. The agent-sync plugin puts the command\n"
        "on your shell's PATH (its `bin/`), so run it as written:\n",
    ),
    (
        "Below, `agent-sync` is short for that launcher (from the repository root it\n"
        "is `.claude/skills/agent-sync/agent-sync`). Messages from the hooks name it by\n"
        "its full path, so you can run the commands they suggest exactly as written.\n",
        "Messages from the hooks name it the same way, so you can run the commands\nthey suggest exactly as written.\n",
    ),
    ("${CLAUDE_SKILL_DIR}/agent-sync", "agent-sync"),
)


def replace_once(text, old, new, where, count=1):
    """text with `old` replaced; `old` must occur `count` times (None: at least once)."""
    n = text.count(old)
    if n == 0 or (count is not None and n != count):
        raise SystemExit(f"tools/plugin_files.py: {where}: expected {count or 'some'} of {old!r}, found {n}")
    return text.replace(old, new)


def plugin_handler(event, handler):
    out = dict(handler)
    if handler["type"] == "command":
        command = replace_once(handler["command"], BOOT, IMPORT, f"hooks.json {event} command")
        out["command"] = replace_once(command, PYZ_ARG, ROOT_ARG, f"hooks.json {event} command")
    elif handler["type"] == "mcp_tool":
        if handler["server"] != "agent-sync":
            raise SystemExit(f"tools/plugin_files.py: hooks.json {event}: unexpected MCP server {handler['server']!r}")
        out["server"] = SERVER
    else:
        raise SystemExit(f"tools/plugin_files.py: hooks.json {event}: unknown hook type {handler['type']!r}")
    return out


def plugin_hooks(source):
    """hooks/hooks.json's object from hooks.json's."""
    hooks = {
        event: [{**group, "hooks": [plugin_handler(event, h) for h in group["hooks"]]} for group in groups]
        for event, groups in source["hooks"].items()
    }
    return {"description": DESCRIPTION, "hooks": hooks}


def plugin_skill(text):
    for old, new in SKILL_REPLACEMENTS:
        text = replace_once(text, old, new, "skill/SKILL.md", count=None if old.startswith("${") else 1)
    return text


def generated(root=ROOT):
    """{relative path: text} of every generated plugin file."""
    with open(os.path.join(root, "hooks.json"), encoding="utf-8") as f:
        hooks = plugin_hooks(json.load(f))
    with open(os.path.join(root, "skill", "SKILL.md"), encoding="utf-8") as f:
        skill = plugin_skill(f.read())
    return {
        "hooks/hooks.json": json.dumps(hooks, indent=2, ensure_ascii=False) + "\n",
        "skills/agent-sync/SKILL.md": skill,
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    check = argv == ["--check"]
    if argv and not check:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    stale = []
    for rel, text in generated().items():
        path = os.path.join(ROOT, *rel.split("/"))
        try:
            with open(path, encoding="utf-8", newline="") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current == text:
            continue
        stale.append(rel)
        if not check:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
    if check and stale:
        print(f"out of date (run python3 tools/plugin_files.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    for rel in stale:
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
