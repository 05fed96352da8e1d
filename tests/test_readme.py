"""The README's shell blocks run as written, in order (issue 30).

Convention: every ```sh (or bash, shell, console, zsh) block of README.md is
run, in document order, each in a fresh `bash -e -o pipefail` whose working
directory is one scratch git repository (the reader's "repository of yours"),
with a scratch HOME and ~/.local/bin first on PATH.  A block that cannot run
there says why on the line before it (blank lines may come between):

    <!-- not run: needs the network -->

A shell block neither run nor marked with a reason fails the test; so does a
marker that precedes no shell block.  `text` blocks (output, pictures) are
never run.  The README's zipapp is cloned and built into ~/agent-sync (a
block that needs the network): the test puts the suite's build there instead.
"""

import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, git_init

README = ROOT / "README.md"
SHELLS = ("sh", "bash", "shell", "console", "zsh")
FENCE = re.compile(r"^(\s*)(`{3,})\s*([\w+-]*)\s*$")
NOT_RUN = re.compile(r"^<!--\s*not run:\s*(.*?)\s*-->$")

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the README's blocks are bash")


def blocks(text):
    """[(line number, language, code, reason not run or None)] of every fenced
    block, in order; a `not run` marker belongs to the next block."""
    found, lines, i, marker = [], text.splitlines(), 0, None
    while i < len(lines):
        stripped = lines[i].strip()
        m = FENCE.match(lines[i])
        if m:
            indent, ticks, lang = m.groups()
            body, i, start = [], i + 1, i + 1
            while i < len(lines) and lines[i].strip() != ticks:
                body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i].lstrip())
                i += 1
            found.append((start, lang.lower(), "\n".join(body) + "\n", marker))
            marker = None
        elif NOT_RUN.match(stripped):
            assert marker is None, f"README.md:{i + 1}: a second `not run` marker before any block"
            marker = (i + 1, NOT_RUN.match(stripped).group(1))
        elif stripped and marker is not None:
            raise AssertionError(f"README.md:{marker[0]}: a `not run` marker not followed by a code block")
        i += 1
    assert marker is None, f"README.md:{marker[0]}: a `not run` marker at the end"
    return [(line, lang, code, m and m[1]) for line, lang, code, m in found]


def shell_blocks():
    return [b for b in blocks(README.read_text(encoding="utf-8")) if b[1] in SHELLS]


def test_every_shell_block_is_run_or_says_why_not():
    text = README.read_text(encoding="utf-8")
    for line, lang, _, reason in blocks(text):
        assert lang, f"README.md:{line}: a code block names its language (sh to run, text for output)"
        if reason is not None:
            assert lang in SHELLS, f"README.md:{line}: `not run` marks a {lang} block, which is never run"
            assert reason.strip(), f"README.md:{line}: `not run` gives no reason"
    run = [b for b in shell_blocks() if b[3] is None]
    assert len(run) >= 4, run  # the try-it and daily-use blocks at least


def test_the_readmes_shell_blocks_run_in_order(pyz, tmp_path):
    home = tmp_path / "home"
    (home / "agent-sync" / "dist").mkdir(parents=True)
    shutil.copy2(pyz, home / "agent-sync" / "dist" / "agent-sync.pyz")  # what the clone-and-build block writes
    repo = git_init(tmp_path / "demo")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AGENT_SYNC_", "CLAUDE_", "XDG_", "GIT_")) and k not in ("CLAUDECODE", "HOME", "PATH")
    }
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join([str(home / ".local" / "bin"), os.environ.get("PATH", os.defpath)])
    outputs = []
    for line, _, code, reason in shell_blocks():
        if reason is not None:
            continue
        r = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", code],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, (
            f"README.md:{line} exited {r.returncode}:\n{code}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
        )
        assert "Traceback" not in r.stderr, (line, r.stderr)
        outputs.append((code, r.stdout))

    def output_of(snippet):
        return next(out for code, out in outputs if snippet in code)

    # `install --link` put the repository's launcher on PATH; the blocks after it ran through it
    link = home / ".local" / "bin" / "agent-sync"
    assert link.is_symlink() and link.resolve() == (repo / ".claude/skills/agent-sync/agent-sync").resolve()
    assert (repo / ".claude" / "settings.json").exists()
    # the first denied edit: the hook answers deny, naming the file and its holder
    denied = output_of('"file_path":"src/api/auth.py"')
    assert '"permissionDecision": "deny"' in denied and "src/api/auth.py" in denied and "backend" in denied
    # the free file is allowed and locked for tests automatically; report counts the denial
    after = output_of('"file_path":"src/app.py"')
    assert '"deny"' not in after
    assert re.search(r"src/app\.py -> tests .*auto", after) and "src/api/auth.py -> backend" in after, after
    assert "1 conflict prevented" in after, after
    assert "completed task" in output_of("complete-task")
