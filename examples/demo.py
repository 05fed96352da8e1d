#!/usr/bin/env python3
"""Build agent-sync and watch three agents coordinate in a scratch git repo.

    python3 examples/demo.py

Each step runs the real zipapp as a separate process, exactly as three agent
sessions would (AGENT_SYNC_ID stands in for their Claude Code session ids).
"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PYZ = os.path.join(ROOT, "dist", "agent-sync.pyz")


def run(agent, *args, stdin=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_SYNC_", "CLAUDE_"))}
    env["AGENT_SYNC_ID"] = agent
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    print(f"\n$ AGENT_SYNC_ID={agent} agent-sync {shown}")
    r = subprocess.run(
        [sys.executable, "-I", "-S", PYZ, *args], env=env, input=stdin, text=True, capture_output=True, cwd=REPO
    )
    print((r.stdout + r.stderr).rstrip() or f"(exit {r.returncode})")
    return r


subprocess.run([sys.executable, os.path.join(ROOT, "build.py")], check=True)
with tempfile.TemporaryDirectory() as REPO:
    subprocess.run(["git", "init", "-q", REPO], check=True)
    os.makedirs(os.path.join(REPO, "src", "api"))
    with open(os.path.join(REPO, "src", "api", "auth.py"), "w") as f:
        f.write("def login(): ...\n")
    for name, role in (("frontend", "React UI"), ("backend", "API + DB"), ("tests", "pytest + e2e")):
        run(name, "register", "--name", name, "--role", role)
    run("backend", "create-task", "Add /login endpoint", "--file", "src/api/auth.py", "--priority", "2")
    run("backend", "claim-task", "Add /login endpoint")
    run("backend", "lock", "src/api/auth.py", "--reason", "writing /login")
    edit = json.dumps(
        {
            "session_id": "demo",
            "cwd": REPO,
            "tool_name": "Edit",
            "tool_input": {"file_path": os.path.join(REPO, "src/api/auth.py")},
        }
    )
    print("\n# tests tries to edit the locked file: the PreToolUse hook denies it")
    run("tests", "hook", "pre-tool-use", stdin=edit)
    run("backend", "send", "--to", "all", "--message", "/login returns {token,user} in body")
    print("\n# frontend's next prompt gets the message pushed into its context")
    run("frontend", "hook", "user-prompt-submit", stdin=json.dumps({"session_id": "demo", "cwd": REPO}))
    run("backend", "decision", "Auth tokens travel in the response body, never in cookies")
    run("backend", "complete-task", "Add /login endpoint")
    run("backend", "unlock", "src/api/auth.py")
    print("\n# the file is free now: the same edit passes (and takes an automatic lock for tests)")
    run("tests", "hook", "pre-tool-use", stdin=edit)
    run("tests", "status")
