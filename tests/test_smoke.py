from conftest import denied, edit_payload


def test_reference_three_agent_example_blocks_locked_edit(cli):
    for name, role in (("frontend", "React UI"), ("backend", "API + DB"), ("tests", "pytest + e2e")):
        cli.ok("register", "--name", name, "--role", role, agent=name)
    (cli.repo / "src" / "api").mkdir(parents=True)
    (cli.repo / "src" / "api" / "auth.py").write_text("x\n")
    cli.ok("create-task", "Add /login endpoint", "--file", "src/api/auth.py", agent="backend")
    cli.ok("claim-task", "Add /login endpoint", agent="backend")
    cli.ok("lock", "src/api/auth.py", "--reason", "writing /login", agent="backend")
    rc, out, err = cli.hook(
        "pre-tool-use", {"tool_name": "Edit", "tool_input": {"file_path": "src/api/auth.py"}}, agent="tests"
    )
    assert rc == 0 and denied(out)
    assert 'locked by "backend"' in out["hookSpecificOutput"]["permissionDecisionReason"]
    rc, out, err = cli.hook("pre-tool-use", edit_payload(cli.repo / "src/api/auth.py"), agent="backend")
    assert rc == 0 and out is None
    cli.ok("send", "--to", "all", "--message", "/login returns {token,user} in body", agent="backend")
    cli.ok("complete-task", "Add /login endpoint", agent="backend")
    cli.ok("unlock", "src/api/auth.py", agent="backend")
    rc, out, err = cli.hook(
        "pre-tool-use", {"tool_name": "Edit", "tool_input": {"file_path": "src/api/auth.py"}}, agent="tests"
    )
    assert rc == 0 and not denied(out)
