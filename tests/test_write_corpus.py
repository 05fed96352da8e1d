"""The shell write corpus: every way a shell tool call can write a file that
another live agent holds, and the read-only look-alikes that must pass.

The contract (PreToolUse deny, or PostToolUse undo): after every WRITE form
the held files hold the holder's bytes again, either because PreToolUse
denied the call or because PostToolUse put back what the call changed,
created or removed (keeping the writer's version under .claude/coordination/
and telling the model, naming the file and the holder).  After every
READ-ONLY form: not denied, nothing undone, the held files unchanged, and
PostToolUse says nothing about them.

Each case runs for real: PreToolUse through the built zipapp, then (unless
denied) the command itself with bash in a scratch git repository, then
PostToolUse with the same tool_use_id.  One repository with the holder's
locks is built per module; before each case it is put back to exactly that
template (files, links, modes, .git, the database) in a few milliseconds.
A write form that PreToolUse denies is then run without agent-sync, to prove
the corpus: every write form does change what the holder holds.  SQLite
only: the contract is about the working tree, the engine adds nothing but
time.

apply_patch is not a binary anywhere: a small stand-in implementing the
Codex patch format is put on PATH (the `apply_patch` shim below), so the
forms that feed it a patch run for real too."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import PY, Runner, clean_env, git_init

pytestmark = [pytest.mark.corpus, pytest.mark.sqlite_only]

HEAD_A = b"x = 1\n"  # src/a.py as committed
HELD = "x = 2  # holder's bytes \u2713\n".encode()  # src/a.py as the holder has it (uncommitted)
HELD_U = b"u = 'untracked, held'\n"  # src/u.py: held, never committed
B = b"y = 'b from src'\n"
OTHER = b"z = 'other a'\n"
TAR_A = b"from tar\n"

DIFF = (
    "diff --git a/src/a.py b/src/a.py\n"
    "--- a/src/a.py\n"
    "+++ b/src/a.py\n"
    "@@ -1 +1 @@\n"
    "-x = 2  # holder's bytes \u2713\n"
    "+x = 3  # patched\n"
)
REVERSE_DIFF = (
    "diff --git a/src/a.py b/src/a.py\n"
    "--- a/src/a.py\n"
    "+++ b/src/a.py\n"
    "@@ -1 +1 @@\n"
    "-x = 3  # patched\n"
    "+x = 2  # holder's bytes \u2713\n"
)
P0_DIFF = "--- src/a.py\n+++ src/a.py\n@@ -1 +1 @@\n-x = 2  # holder's bytes \u2713\n+x = 4  # p0\n"
CODEX_PATCH = (
    "*** Begin Patch\n*** Update File: src/a.py\n@@\n-x = 2  # holder's bytes \u2713\n+x = 5  # codex\n*** End Patch\n"
)
CODEX_DELETE = "*** Begin Patch\n*** Delete File: src/a.py\n*** End Patch\n"
CODEX_ADD_GEN = "*** Begin Patch\n*** Add File: gen/new.py\n+made = 1\n*** End Patch\n"
CODEX_FREE = "*** Begin Patch\n*** Update File: src/b.py\n@@\n-y = 'b from src'\n+y = 'b patched'\n*** End Patch\n"

#: a stand-in for Codex's apply_patch: the patch from argv[1] or stdin; Add, Delete and Update (one hunk) File
APPLY_PATCH_SHIM = r"""#!/usr/bin/env python3
import os
import sys

text = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()
lines = text.splitlines()
if not lines or lines[0].strip() != "*** Begin Patch":
    sys.exit("apply_patch: not a patch")
i, done = 1, []
while i < len(lines) and not lines[i].startswith("*** End Patch"):
    head = lines[i]
    i += 1
    body = []
    while i < len(lines) and not lines[i].startswith("*** "):
        body.append(lines[i])
        i += 1
    if head.startswith("*** Add File: "):
        path = head[len("*** Add File: "):]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(b[1:] + "\n" for b in body))
        done.append("A " + path)
    elif head.startswith("*** Delete File: "):
        path = head[len("*** Delete File: "):]
        os.remove(path)
        done.append("D " + path)
    elif head.startswith("*** Update File: "):
        path = head[len("*** Update File: "):]
        old = "".join(b[1:] + "\n" for b in body if b[:1] in ("-", " "))
        new = "".join(b[1:] + "\n" for b in body if b[:1] in ("+", " "))
        with open(path, encoding="utf-8") as f:
            content = f.read()
        if old not in content:
            sys.exit("apply_patch: hunk does not apply to " + path)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content.replace(old, new, 1))
        done.append("M " + path)
print("Success. Updated the following files:\n" + "\n".join(done))
"""

#: the files the holder holds; gen/ is a directory lock, cfg/*.toml a glob lock
HELD_FILES = ("src/a.py", "src/u.py")


def tree(root, files):
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


class World:
    """The module's repository and its template: every case starts from the same bytes."""

    def __init__(self, base, pyz):
        self.base, self.root, self.bin = base, base / "repo", base / "bin"
        self.cli = Runner(pyz, self.root)
        self.template, self.cases = None, 0

    def fresh(self):
        """The repository, made exactly the template again: files, links, directories,
        modes, git's own files and the database (same absolute path, so the state's
        paths hold).  Put back in place, which is ten times cheaper than a copy."""
        root = str(self.root)
        have = listing(root, contents=False)
        for rel in sorted(have, key=lambda r: r.count(os.sep), reverse=True):
            want = self.template.get(rel)
            if want is None or want[0] != have[rel][0]:
                path = os.path.join(root, rel)
                if have[rel][0] == "dir":
                    shutil.rmtree(path, ignore_errors=True)
                elif os.path.lexists(path):
                    os.unlink(path)
        for rel in sorted(self.template):
            want, path = self.template[rel], os.path.join(root, rel)
            if want[0] == "dir":
                os.makedirs(path, exist_ok=True)
            elif want[0] == "link":
                if not os.path.islink(path) or os.readlink(path) != want[1]:
                    if os.path.lexists(path):
                        os.unlink(path)
                    os.symlink(want[1], path)
                continue
            elif not os.path.isfile(path) or Path(path).read_bytes() != want[1]:
                if os.path.lexists(path):
                    os.unlink(path)  # never write through a hard link into another file
                Path(path).write_bytes(want[1])
            if os.stat(path).st_mode & 0o7777 != want[-1]:
                os.chmod(path, want[-1])
        self.cases += 1
        return self.root

    def tmp(self):
        """A path outside the repository unique to this case."""
        return str(self.base / f"out-{self.cases}-{uuid.uuid4().hex[:8]}")

    def env(self):
        python_dir = os.path.dirname(os.path.realpath(sys.executable))
        env = clean_env()
        env["PATH"] = os.pathsep.join([str(self.bin), python_dir, env.get("PATH", "/usr/bin:/bin")])
        return env


def listing(root, contents=True):
    """{relative path: ("dir", mode) | ("link", target) | ("file", bytes, mode)} of a tree, links not followed."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                found[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                found[rel] = ("dir", os.stat(path).st_mode & 0o7777)
            else:
                data = Path(path).read_bytes() if contents else None
                found[rel] = ("file", data, os.stat(path).st_mode & 0o7777)
    return found


@pytest.fixture(scope="module")
def world(pyz, tmp_path_factory):
    base = tmp_path_factory.mktemp("corpus")
    w = World(base, pyz)
    w.bin.mkdir()
    shim = w.bin / "apply_patch"
    shim.write_text(APPLY_PATCH_SHIM)
    shim.chmod(0o755)
    root = git_init(w.root)
    with tarfile.open(base / "t.tar", "w") as t:
        (base / "a.py").write_bytes(TAR_A)
        t.add(base / "a.py", arcname="a.py")
    tree(
        root,
        {
            ".gitignore": b".claude/coordination/\n",
            "src/a.py": HEAD_A,
            "src/b.py": B,
            "other/a.py": OTHER,
            "gen/keep.py": b"keep = 1\n",
            "cfg/keep.toml": b"[k]\n",
            "x.diff": DIFF.encode(),
            "rx.diff": REVERSE_DIFF.encode(),
            "p0.diff": P0_DIFF.encode(),
            "t.tar": (base / "t.tar").read_bytes(),
            "gen.py": b"open('src/a.py', 'w').write('generated\\n')\n",
            "Makefile": b"all:\n\tprintf 'made\\n' > src/a.py\n",
            "script.sh": b"echo scripted > src/a.py\n",
        },
    )
    (root / "script.sh").chmod(0o755)
    git = lambda *a: subprocess.run(["git", "-C", str(root), *a], check=True, capture_output=True)
    git("add", "-A")
    git("commit", "-qm", "initial")
    tree(root, {"src/a.py": HELD, "src/u.py": HELD_U})  # the holder's uncommitted edit, and a new file
    w.cli.ok("register", "--name", "holder", agent="holder")
    w.cli.ok("lock", *HELD_FILES, "gen/", "--reason", "corpus", agent="holder")
    w.cli.ok("lock", "--glob", "cfg/*.toml", agent="holder")
    w.cli.ok("register", "--name", "writer", agent="writer")
    for sample in (root / ".git" / "hooks").glob("*.sample"):
        sample.unlink()  # fewer files to put back
    w.template = listing(str(root))
    return w


def entry(p):
    if p.is_symlink():
        return ("link", os.readlink(p))
    if p.is_file():
        return ("file", p.read_bytes())
    return ("other",) if p.exists() else None


def held_state(root):
    """What the holder holds, as it is: the held files, everything under gen/, cfg/*.toml."""
    state = {rel: entry(root / rel) for rel in HELD_FILES}
    for p in sorted((root / "gen").rglob("*")) if (root / "gen").is_dir() else ():
        if not p.is_dir() or p.is_symlink():
            state[p.relative_to(root).as_posix()] = entry(p)
    for p in sorted((root / "cfg").glob("*.toml")) if (root / "cfg").is_dir() else ():
        state[p.relative_to(root).as_posix()] = entry(p)
    return state


def changed_paths(before, after):
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def kept_versions(world):
    """Bytes of every file under .claude/coordination/ that the template did not have as it is now."""
    folder = world.root / ".claude" / "coordination"
    found = []
    for p in folder.rglob("*") if folder.is_dir() else ():
        rel = str(p.relative_to(world.root))
        if p.is_file() and not p.is_symlink() and not p.name.startswith("state.sqlite"):
            data = p.read_bytes()
            if world.template.get(rel, (None, None))[1] != data:
                found.append(data)
    return found


# The clients' payloads -------------------------------------------------------------------


def tool_use_id():
    return "toolu_" + uuid.uuid4().hex[:24]


def claude_call(root, command):
    pre = {
        "session_id": "s-w",
        "transcript_path": "/tmp/s-w.jsonl",
        "hook_event_name": "PreToolUse",
        "cwd": str(root),
        "permission_mode": "default",
        "tool_name": "Bash",
        "tool_input": {"command": command, "description": "run it"},
        "tool_use_id": tool_use_id(),
    }
    post = lambda out, err: {
        **pre,
        "hook_event_name": "PostToolUse",
        "tool_response": {"stdout": out, "stderr": err, "interrupted": False, "isImage": False},
    }
    return pre, post, None


def codex_call(root, tool, tool_input):
    pre = {
        "session_id": "x-w",
        "turn_id": "turn-1",
        "transcript_path": None,
        "cwd": str(root),
        "hook_event_name": "PreToolUse",
        "model": "gpt-5.5",
        "permission_mode": "bypassPermissions",
        "tool_name": tool,
        "tool_input": tool_input,
        "tool_use_id": "call_" + uuid.uuid4().hex[:24],
    }
    post = lambda out, err: {**pre, "hook_event_name": "PostToolUse", "tool_response": out + err}
    return pre, post, "codex"


def gemini_call(root, command):
    # Gemini CLI's BeforeTool/AfterTool carry no tool call id: Pre and Post pair by session and command
    base = {
        "session_id": "g-w",
        "transcript_path": "/tmp/g-w.json",
        "cwd": str(root),
        "timestamp": "2026-12-06T00:00:00Z",
        "tool_name": "run_shell_command",
        "tool_input": {"command": command, "description": "run it"},
    }
    pre = {**base, "hook_event_name": "BeforeTool"}
    post = lambda out, err: {
        **base,
        "hook_event_name": "AfterTool",
        "tool_response": {"llmContent": out + err, "returnDisplay": out + err},
    }
    return pre, post, "gemini"


def hook(world, event, payload, agent, dialect):
    """`agent-sync hook EVENT [--agent NAME]` as the client's installed hook runs it: (output, stderr)."""
    r = subprocess.run(
        PY + [str(world.cli.pyz), "hook", event] + (["--agent", dialect] if dialect else []),
        cwd=str(world.root),
        env=world.cli.env(agent),
        input=json.dumps(payload).encode(),
        capture_output=True,
        timeout=60,
    )
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0 and "Traceback" not in r.stderr.decode("utf-8", "replace"), r
    return (json.loads(out) if out.strip() else None), r.stderr.decode("utf-8", "replace")


def is_denial(out):
    if not out:
        return False
    return out.get("decision") == "deny" or out.get("hookSpecificOutput", {}).get("permissionDecision") == "deny"


def context_of(out):
    return ((out or {}).get("hookSpecificOutput") or {}).get("additionalContext") or ""


def run_command(world, argv, stdin=None):
    """The tool's effect: a shell command line (str) through bash, an argv (Codex's array) as is."""
    if isinstance(argv, str):
        argv = ["bash", "-c", argv]
    r = subprocess.run(
        argv,
        cwd=str(world.root),
        env=world.env(),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return r.stdout, r.stderr


def through_hooks(world, call, effect, stdin=None, agent="writer"):
    """One tool call of the writer: PreToolUse, the command unless denied, PostToolUse.
    (denied, held state before, after PreToolUse or the command, after PostToolUse,
    PostToolUse's output, the hook's or the command's words)."""
    pre, post, dialect = call
    before = held_state(world.root)
    out, err = hook(world, "pre-tool-use", pre, agent, dialect)
    if is_denial(out):
        return True, before, held_state(world.root), None, None, err
    stdout, stderr = run_command(world, effect, stdin)
    ran = held_state(world.root)
    out, _ = hook(world, "post-tool-use", post(stdout, stderr), agent, dialect)
    return False, before, ran, held_state(world.root), out, stdout + stderr


def check_write(world, result, label, effect, stdin=None):
    denied, before, ran, after, post_out, detail = result
    assert before == held_state_expected(), "the case did not start from the template"
    if denied:
        assert ran == before, f"{label!r}: PreToolUse denied it and changed {changed_paths(before, ran)}"
        # the corpus itself: run without agent-sync, the form does write what the holder holds
        _, err = run_command(world, effect, stdin)
        assert changed_paths(before, held_state(world.root)), f"corpus bug: {label!r} writes nothing ({err[-300:]})"
        return
    changed = changed_paths(before, ran)
    assert changed, f"corpus bug: {label!r} was allowed but did not change a held file ({detail[-300:]})"
    assert after == before, (
        f"{label!r}: allowed, changed {changed}, and not put back: {changed_paths(before, after)} differ"
    )
    ctx = context_of(post_out)
    assert "holder" in ctx and all(p in ctx for p in changed), (label, changed, post_out)
    kept = kept_versions(world)
    for p in changed:
        if ran.get(p) and ran[p][0] == "file":
            assert ran[p][1] in kept, f"{label!r}: the writer's version of {p} is not kept under .claude/coordination/"


def check_read(world, result, label):
    denied, before, ran, after, post_out, detail = result
    assert before == held_state_expected(), "the case did not start from the template"
    assert not denied, f"read-only {label!r} was denied: {detail[:400]}"
    assert ran == before, f"corpus bug: read-only {label!r} changed {changed_paths(before, ran)}"
    assert after == before, f"read-only {label!r}: PostToolUse changed {changed_paths(before, after)}"
    ctx = context_of(post_out)
    assert "holder" not in ctx and not any(p in ctx for p in HELD_FILES), (label, ctx)


def held_state_expected():
    return {
        "src/a.py": ("file", HELD),
        "src/u.py": ("file", HELD_U),
        "gen/keep.py": ("file", b"keep = 1\n"),
        "cfg/keep.toml": ("file", b"[k]\n"),
    }


# The corpus --------------------------------------------------------------------------------


def case(command, *needs, prep=None):
    """One form; `needs`: programs it runs (the case is skipped without them); `prep`:
    a shell line run before the tool call, as the state the form needs."""
    missing = [n for n in needs if shutil.which(n) is None]
    slug = re.sub(r"[^A-Za-z0-9]+", "-", command.split("\n")[0]).strip("-")[:50]
    marks = [pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed")]
    return command, prep, slug, marks


HEREDOC_DIFF = "git apply <<'EOF'\n" + DIFF + "EOF"
PATCH_HEREDOC = "patch -p1 <<'EOF'\n" + DIFF + "EOF"
APPLY_PATCH_HEREDOC = "apply_patch <<'EOF'\n" + CODEX_PATCH + "EOF"
APPLY_PATCH_DELETE = "apply_patch <<'EOF'\n" + CODEX_DELETE + "EOF"
APPLY_PATCH_ADD_GEN = "apply_patch <<'EOF'\n" + CODEX_ADD_GEN + "EOF"

WRITES = [
    # control flow
    case("for i in 1; do rm src/a.py; done"),
    case("if true; then cp src/b.py src/a.py; fi"),
    case("while true; do sed -i s/x/y/ src/a.py; break; done"),
    case("if false; then :; else cp src/b.py src/a.py; fi"),
    case("case x in x) rm src/a.py;; esac"),
    case("(cd src && rm a.py)"),
    case("{ echo x > src/a.py; }"),
    case("f() { rm src/a.py; }; f"),
    case("function g { sed -i s/x/y/ src/a.py; }; g"),
    case("until false; do cp src/b.py src/a.py; break; done"),
    case('for f in src/a.py; do echo x > "$f"; done'),
    case("true && cp src/b.py src/a.py"),
    case("false || rm src/a.py"),
    case("cd src; rm a.py"),
    case("cd src && cp b.py a.py"),
    case("pushd src >/dev/null && rm a.py; popd >/dev/null"),
    case("cp src/b.py src/a.py & wait"),
    case("[ -f src/a.py ] && rm src/a.py"),
    case("test -e src/a.py && : > src/a.py"),
    case("echo start; rm src/a.py; echo done"),
    case("cd other && cp a.py ../src/a.py"),
    # globs and computed names
    case("sed -i s/x/y/ src/*.py"),
    case("rm src/*.py"),
    case("rm src/a*"),
    case("rm src/?.py"),
    case("rm src/[a].py"),
    case("rm -f src/{a,b}.py"),
    case("rm -r src"),
    case("rm -rf src/"),
    case("sed -i s/x/y/ $(ls src/*.py)"),
    case("for f in src/*; do : > $f; done"),
    case("sed -i s/x/y/ $(git ls-files src)"),
    case("git ls-files -z src | xargs -0 sed -i s/x/y/"),
    case("rm ./src/../src/a.py"),
    case('rm "$PWD"/src/a.py'),
    case("rm ${PWD}/src/a.py"),
    case("D=src; rm $D/a.py"),
    case('rm src/"a.py"'),
    case("perl -i -pe 's/x/y/' src/*.py", "perl"),
    # diffs fed by a file, a here-document, a pipe, a redirection
    case(HEREDOC_DIFF),
    case("cat x.diff | git apply"),
    case("git apply < x.diff"),
    case("git apply x.diff"),
    case("git apply --include=src/a.py x.diff"),
    case("git apply -R rx.diff"),
    case("git diff HEAD -- src/a.py | git apply -R"),
    case("patch -p1 < x.diff", "patch"),
    case("patch -p1 -i x.diff", "patch"),
    case("patch -p1 --input=x.diff", "patch"),
    case("cat x.diff | patch -p1", "patch"),
    case(PATCH_HEREDOC, "patch"),
    case("patch -p0 < p0.diff", "patch"),
    case("patch -d src -p2 < x.diff", "patch"),
    case(APPLY_PATCH_HEREDOC),
    case(APPLY_PATCH_DELETE),
    case("apply_patch \"$(cat <<'EOF'\n" + CODEX_PATCH + 'EOF\n)"'),
    # wrappers
    case("bash -lc 'rm src/a.py'"),
    case('sh -ec "cp src/b.py src/a.py"'),
    case("bash -c -- 'rm src/a.py'"),
    case("echo 'rm src/a.py' | bash"),
    case("bash <<'EOF'\nrm src/a.py\nEOF"),
    case("sh -c 'cd src; rm a.py'"),
    case("bash -x -c 'rm src/a.py' 2>/dev/null"),
    case("bash -c 'f=src/a.py; rm \"$f\"'"),
    case("timeout 10 sed -i s/x/y/ src/a.py"),
    case("timeout -s KILL 10 rm src/a.py"),
    case("nice -n 5 cp src/b.py src/a.py"),
    case("nice cp src/b.py src/a.py"),
    case("nohup rm src/a.py >/dev/null 2>&1"),
    case("nohup sh -c 'echo x > src/a.py' >/dev/null 2>&1"),
    case("env X=1 cp src/b.py src/a.py"),
    case('env -i PATH="$PATH" rm src/a.py'),
    case("X=1 rm src/a.py"),
    case("command cp src/b.py src/a.py"),
    case("builtin cd src && rm a.py"),
    case("exec cp src/b.py src/a.py"),
    case("time rm src/a.py"),
    case("stdbuf -o0 cp src/b.py src/a.py", "stdbuf"),
    case("setsid -w rm src/a.py", "setsid"),
    case("flock {TMP}.lock rm src/a.py", "flock"),
    case("eval 'rm src/a.py'"),
    case('eval "$(echo rm src/a.py)"'),
    case("find src -name a.py -exec cp src/b.py {} \\;"),
    case("find src -name a.py -delete"),
    case("find src -name 'a.*' -exec rm {} +"),
    case("find . -path ./src/a.py -exec sed -i s/x/y/ {} \\;"),
    case("echo src/a.py | xargs -I{} cp src/b.py {}"),
    case("xargs rm <<< src/a.py"),
    case("ls src/a.py | xargs rm"),
    case("printf 'src/a.py\\0' | xargs -0 rm"),
    # git
    case("git -C src checkout -- a.py"),
    case("git -C src rm -qf a.py"),
    case("git checkout-index -f src/a.py"),
    case("git checkout-index -a -f"),
    case("git read-tree -um HEAD", prep="git add src/a.py"),
    case("git read-tree --reset -u HEAD"),
    case("git stash"),
    case("git stash push src/a.py"),
    case("git stash -u"),
    case("git reset --hard"),
    case("git reset --hard HEAD"),
    case("git clean -fd src"),
    case("git clean -f src/u.py"),
    case("git --work-tree=. checkout HEAD -- src/a.py"),
    case("git --git-dir=.git --work-tree=. checkout -- src/a.py"),
    case("git checkout -- src/a.py"),
    case("git checkout HEAD src/a.py"),
    case("git checkout ."),
    case("git checkout -f"),
    case("git switch --discard-changes main"),
    case("git restore src/a.py"),
    case("git restore --source=HEAD --worktree src/a.py"),
    case("git restore -s HEAD~0 -- src"),
    case("git -c core.autocrlf=false checkout -- src/a.py"),
    case("git rm -qf src/a.py"),
    case("git mv -f src/b.py src/a.py"),
    case("git show HEAD:src/a.py > src/a.py"),
    case("git cat-file -p HEAD:src/a.py > src/a.py"),
    case("git archive HEAD src/a.py | tar -x"),
    # options, quoting, redirections
    case("cp src/b.py src/a.py # note"),
    case("cp --target-directory=src other/a.py"),
    case("cp -r other/. src/"),
    case("cp other/a.py src"),
    case("cp -T src/b.py src/a.py"),
    case("cp -a src/b.py src/a.py"),
    case("cp -f src/b.py ./src/a.py"),
    case("cp src/b.py src//a.py"),
    case("cp src/b.py 'src/a.py'"),
    case('cp src/b.py s"rc/a".py'),
    case("cp src/b.py src/a\\.py"),
    case("sort -o src/a.py src/b.py"),
    case("tar -C src -xf t.tar"),
    case("tar -xf t.tar -C src"),
    case("tar -cf - -C other a.py | tar -xf - -C src"),
    case("echo x > $'src/a.py'"),
    case('echo x > "$(pwd)/src/a.py"'),
    case("F=src/a.py; echo x > $F"),
    case('echo x > "src/a.py"'),
    case("echo x >| src/a.py"),
    case("echo x >> src/a.py"),
    case("echo x 2> src/a.py"),
    case("echo x &> src/a.py"),
    case("echo x > src/a.py 2>/dev/null || true"),
    case("(umask 022; echo x > src/a.py)"),
    case("exec > src/a.py; echo hi"),
    case(": > src/a.py"),
    case("> src/a.py"),
    case("exec 3>src/a.py"),
    case("echo x | tee src/a.py"),
    case("echo x | tee -a src/a.py"),
    case("cat src/b.py > src/a.py"),
    case("cat < src/b.py > src/a.py"),
    case("printf '%s\\n' y > src/a.py"),
    case("base64 -d <<< eA== > src/a.py"),
    case("yes | head -1 > src/a.py"),
    case("sed -n p src/b.py > src/a.py"),
    case("ln -sf ../other/a.py src/a.py"),
    case("cd src && ln -sf b.py a.py"),
    case("ln -f src/b.py src/a.py"),
    case("mv other/a.py src/a.py"),
    case("mv other/a.py src/"),
    case("mv -t src other/a.py"),
    case("mv src/a.py src/c.py"),
    case("unlink src/a.py"),
    case("shred -u src/a.py", "shred"),
    case("truncate -s 0 src/a.py", "truncate"),
    case("gzip src/a.py", "gzip"),
    case("install -m644 src/b.py src/a.py"),
    case("install -D src/b.py src/a.py"),
    case("rsync src/b.py src/a.py", "rsync"),
    case("rsync -a other/ src/", "rsync"),
    case("dd if=src/b.py of=src/a.py status=none"),
    case("dd of=src/a.py < src/b.py status=none"),
    case("printf y | dd of=src/a.py conv=notrunc status=none"),
    case("perl -pi -e s/x/y/ src/a.py", "perl"),
    case("sed -i.bak s/x/y/ src/a.py"),
    case("sed --in-place -e s/x/y/ src/a.py"),
    case("sed -i -e '1s/^/# hi\\n/' src/a.py"),
    case("awk '{print \"y\"}' src/b.py > src/a.py"),
    case('awk \'BEGIN{print "y" > "src/a.py"}\''),
    case("ed -s src/a.py <<< $'1d\\nw\\nq'", "ed"),
    # any program
    case("python3 -c \"open('src/a.py','w').write('x')\""),
    case("python3 -c \"import os; os.remove('src/a.py')\""),
    case("python3 -c \"import shutil; shutil.copy('src/b.py','src/a.py')\""),
    case("python3 -c \"import sys; open(sys.argv[1],'wb').write(b'z')\" src/a.py"),
    case("python3 - <<'EOF'\nimport pathlib\npathlib.Path('src/a.py').write_text('py')\nEOF"),
    case("python3 gen.py"),
    case("perl -e 'open(F,\">src/a.py\")'", "perl"),
    case("perl -e 'unlink \"src/a.py\"'", "perl"),
    case("node -e \"require('fs').writeFileSync('src/a.py','x')\"", "node"),
    case("make -s", "make"),
    case("sh script.sh"),
    case("bash script.sh"),
    case("./script.sh"),
    # delete and recreate, move away
    case("rm src/a.py && echo new > src/a.py"),
    case("rm src/a.py; touch src/a.py"),
    case("mv src/a.py {TMP}; echo new > src/a.py"),
    case("cp src/a.py {TMP} && echo new > src/a.py"),
    # the other held files: untracked src/u.py, the directory lock gen/, the glob lock cfg/*.toml
    case("cp src/b.py src/u.py"),
    case("rm src/u.py"),
    case("echo new > gen/new.py"),
    case("mkdir -p gen/sub && echo n > gen/sub/n.py"),
    case("cp src/b.py gen/"),
    case("rm gen/keep.py"),
    case("rm -r gen"),
    case("echo '[n]' > cfg/new.toml"),
    case("sed -i s/k/j/ cfg/*.toml"),
    case(APPLY_PATCH_ADD_GEN),
]

READS = [
    case("cat src/a.py"),
    case("grep -n x src/a.py"),
    case("git diff"),
    case("git log -p -1"),
    case("git status"),
    case("git show HEAD:src/a.py"),
    case("for f in src/*.py; do wc -l $f; done"),
    case("patch --dry-run -p1 < x.diff", "patch"),
    case("patch --dry-run -p1 -i x.diff", "patch"),
    case("patch --dry-run -p1 <<'EOF'\n" + DIFF + "EOF", "patch"),
    case("git apply --check x.diff"),
    case("git apply --check < x.diff"),
    case("git apply --check <<'EOF'\n" + DIFF + "EOF"),
    case("git apply --stat x.diff"),
    case("git apply --numstat x.diff"),
    case("cp src/a.py {TMP}"),
    case("cat src/a.py > {TMP}"),
    case("sed -n 1p src/a.py"),
    case("python3 -c \"print(open('src/a.py').read())\""),
    case("echo 'x > src/a.py'"),
    case('echo "rm src/a.py"'),
    case("printf '%s\\n' 'cp src/b.py src/a.py'"),
    case("cat <<'EOF'\nrm src/a.py\nEOF"),
    case("# rm src/a.py"),
    case("true # > src/a.py"),
    case("echo hi > src/b.py"),
    case("echo x > other/a.py"),
    case("cp src/b.py other/b2.py"),
    case("sed -i s/x/y/ src/b.py"),
    case("rm other/a.py"),
    case("mv src/b.py src/c.py"),
    case("echo n > cfg/notes.txt"),
    case("ls src/*.py"),
    case("ls -la src"),
    case("find src -name '*.py'"),
    case("find src -name a.py -print"),
    case("diff src/a.py src/b.py"),
    case("diff -u src/a.py other/a.py > {TMP}"),
    case("cmp src/a.py src/b.py"),
    case("wc -c src/a.py"),
    case("head -1 src/a.py"),
    case("tail -n 1 src/a.py"),
    case("sort src/a.py"),
    case("awk '{print}' src/a.py"),
    case("perl -ne print src/a.py", "perl"),
    case("od -c src/a.py | head -2"),
    case("python3 -m py_compile src/a.py"),
    case("python3 -c \"import hashlib; print(hashlib.sha1(open('src/a.py','rb').read()).hexdigest())\""),
    case("git grep -n x"),
    case("git blame src/a.py"),
    case("git diff --stat"),
    case("git diff HEAD -- src/a.py"),
    case("git diff > {TMP}"),
    case("git diff --no-index src/a.py src/b.py || true"),
    case("git log --oneline"),
    case("git log --follow src/a.py"),
    case("git ls-files"),
    case("git status --porcelain src/a.py"),
    case("git show --stat HEAD"),
    case("git rev-parse HEAD"),
    case("git cat-file -p HEAD:src/a.py"),
    case("git stash list"),
    case("stat src/a.py"),
    case("md5sum src/a.py"),
    case("sha256sum src/*.py"),
    case("file src/a.py", "file"),
    case("test -f src/a.py && echo yes"),
    case("[ -s src/a.py ]"),
    case("readlink -f src/a.py"),
    case("realpath src/a.py"),
    case("du -b src/a.py"),
    case("tar -tf t.tar"),
    case("tar -cf {TMP}.tar src"),
    case("grep -c x src/*.py"),
    case("cat src/a.py | wc -l"),
    case("cat src/a.py >/dev/null"),
    case("cat src/a.py 2>&1"),
    case("echo src/a.py | xargs cat"),
    case("xargs cat <<< src/a.py"),
    case("bash -c 'cat src/a.py'"),
    case('sh -c "grep x src/a.py"'),
    case("timeout 10 cat src/a.py"),
    case("env X=1 cat src/a.py"),
    case("nice cat src/a.py"),
    case("(cd src && cat a.py)"),
    case("{ cat src/a.py; }"),
    case("for i in 1 2; do cat src/a.py; done"),
    case("if grep -q x src/a.py; then echo has; fi"),
    case("ls src/a.py | xargs cat"),
]


def expand(world, command):
    return command.replace("{TMP}", world.tmp())


def params(cases):
    return [pytest.param(c, p, id=f"{i:03d}-{s}", marks=m) for i, (c, p, s, m) in enumerate(cases)]


def prepare(world, prep):
    world.fresh()
    if prep:
        subprocess.run(["bash", "-c", prep], cwd=world.root, env=world.env(), check=True, capture_output=True)


@pytest.mark.parametrize("command, prep", params(WRITES))
def test_write_form_is_denied_or_undone(world, command, prep):
    prepare(world, prep)
    command = expand(world, command)
    check_write(world, through_hooks(world, claude_call(world.root, command), command), command, command)


@pytest.mark.parametrize("command, prep", params(READS))
def test_read_only_form_passes_untouched(world, command, prep):
    prepare(world, prep)
    command = expand(world, command)
    check_read(world, through_hooks(world, claude_call(world.root, command), command), command)


# Codex and Gemini CLI ------------------------------------------------------------------


CODEX_WRITES = [
    ("Bash", {"command": "rm src/a.py"}, None),
    ("Bash", {"command": "git apply < x.diff"}, None),
    ("Bash", {"command": "git checkout -- src/a.py"}, None),
    ("shell", {"command": ["bash", "-lc", "rm src/a.py"], "workdir": "."}, None),
    ("shell", {"command": ["cp", "src/b.py", "src/a.py"]}, None),
    ("shell", {"command": ["bash", "-lc", "for f in src/*.py; do : > $f; done"]}, None),
    ("local_shell", {"command": ["bash", "-c", "sed -i s/x/y/ src/a.py"]}, None),
    ("local_shell", {"command": ["sh", "-c", "echo n > gen/new.py"]}, None),
    ("apply_patch", {"command": CODEX_PATCH}, CODEX_PATCH),
    ("apply_patch", {"input": CODEX_DELETE}, CODEX_DELETE),
    ("apply_patch", {"command": CODEX_ADD_GEN}, CODEX_ADD_GEN),
]
CODEX_READS = [
    ("Bash", {"command": "cat src/a.py"}, None),
    ("Bash", {"command": "git diff"}, None),
    ("shell", {"command": ["cat", "src/a.py"]}, None),
    ("shell", {"command": ["bash", "-lc", "git status && grep -n x src/a.py"]}, None),
    ("local_shell", {"command": ["bash", "-c", "patch --dry-run -p1 < x.diff"]}, None),
    ("apply_patch", {"command": CODEX_FREE}, CODEX_FREE),
]


def codex_effect(tool, tool_input):
    if tool == "apply_patch":
        return ["apply_patch"]
    command = tool_input["command"]
    return command if isinstance(command, list) else ["bash", "-c", command]


def codex_id(t):
    tool, tool_input, _ = t
    text = json.dumps(tool_input.get("command") or tool_input.get("input"))
    return tool + "-" + re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40]


@pytest.mark.parametrize("tool, tool_input, patch", CODEX_WRITES, ids=map(codex_id, CODEX_WRITES))
def test_codex_write_is_denied_or_undone(world, tool, tool_input, patch):
    world.fresh()
    call, effect = codex_call(world.root, tool, tool_input), codex_effect(tool, tool_input)
    check_write(world, through_hooks(world, call, effect, stdin=patch), f"{tool} {tool_input}", effect, patch)


@pytest.mark.parametrize("tool, tool_input, patch", CODEX_READS, ids=map(codex_id, CODEX_READS))
def test_codex_read_passes_untouched(world, tool, tool_input, patch):
    world.fresh()
    call = codex_call(world.root, tool, tool_input)
    check_read(world, through_hooks(world, call, codex_effect(tool, tool_input), stdin=patch), f"{tool} {tool_input}")


GEMINI_WRITES = [
    "rm src/a.py",
    "cp src/b.py src/a.py",
    "git checkout -- src/a.py",
    "bash -c 'sed -i s/x/y/ src/a.py'",
    "cat x.diff | git apply",
    "echo n > gen/new.py",
]
GEMINI_READS = ["cat src/a.py", "git diff", "patch --dry-run -p1 < x.diff", "ls src", "echo hi > src/b.py"]


@pytest.mark.parametrize("command", GEMINI_WRITES)
def test_gemini_write_is_denied_or_undone(world, command):
    world.fresh()
    check_write(world, through_hooks(world, gemini_call(world.root, command), command), command, command)


@pytest.mark.parametrize("command", GEMINI_READS)
def test_gemini_read_passes_untouched(world, command):
    world.fresh()
    check_read(world, through_hooks(world, gemini_call(world.root, command), command), command)


# Races: the holder's own edit inside the writer's call is never undone ------------------------


NEW = b"x = 9  # the holder's next edit\n"


def holder_edit(world):
    """The holder's Edit of src/a.py: (PreToolUse payload, PostToolUse payload)."""
    pre = {
        "session_id": "s-h",
        "transcript_path": "/tmp/s-h.jsonl",
        "hook_event_name": "PreToolUse",
        "cwd": str(world.root),
        "tool_name": "Edit",
        "tool_input": {"file_path": str(world.root / "src/a.py"), "old_string": "x = 2", "new_string": "x = 9"},
        "tool_use_id": tool_use_id(),
    }
    post = {**pre, "hook_event_name": "PostToolUse", "tool_response": {"filePath": pre["tool_input"]["file_path"]}}
    return pre, post


def writer_window(world, command, inside):
    """The writer's call around `inside()`: its PreToolUse, then the holder's work, then
    the command and its PostToolUse; PostToolUse's output."""
    pre, post, _ = claude_call(world.root, command)
    out, _ = hook(world, "pre-tool-use", pre, "writer", None)
    assert not is_denial(out), out
    inside()
    stdout, stderr = run_command(world, command)
    out, _ = hook(world, "post-tool-use", post(stdout, stderr), "writer", None)
    return out


@pytest.mark.parametrize("command", ["echo hi > src/b.py", "cat src/a.py", "git status"])
def test_holder_edit_recorded_inside_the_writers_call_survives(world, command):
    world.fresh()
    pre, post = holder_edit(world)

    def inside():
        out, _ = hook(world, "pre-tool-use", pre, "holder", None)
        assert not is_denial(out), out
        (world.root / "src/a.py").write_bytes(NEW)
        hook(world, "post-tool-use", post, "holder", None)

    out = writer_window(world, command, inside)
    assert (world.root / "src/a.py").read_bytes() == NEW
    assert "src/a.py" not in context_of(out), out


#: what the holder's Edit (x = 2 -> x = 9) leaves in src/a.py
EDITED = HELD.replace(b"x = 2", b"x = 9")


def test_holder_edit_in_flight_during_the_writers_post_tool_use_survives(world):
    world.fresh()
    pre, post = holder_edit(world)

    def inside():  # the holder's PreToolUse ran and the file is written; its PostToolUse has not run yet
        out, _ = hook(world, "pre-tool-use", pre, "holder", None)
        assert not is_denial(out), out
        (world.root / "src/a.py").write_bytes(EDITED)

    out = writer_window(world, "echo hi > src/b.py", inside)
    assert (world.root / "src/a.py").read_bytes() == EDITED
    assert "src/a.py" not in context_of(out), out
    hook(world, "post-tool-use", post, "holder", None)
    assert (world.root / "src/a.py").read_bytes() == EDITED


def test_holder_in_flight_and_writer_both_write_keeps_both_and_tells_both(world):
    """In doubt (the holder's edit in flight, and the writer wrote the file
    too): nothing is overwritten, both versions are kept, both agents told."""
    world.fresh()
    pre, post = holder_edit(world)

    def inside():
        out, _ = hook(world, "pre-tool-use", pre, "holder", None)
        assert not is_denial(out), out
        (world.root / "src/a.py").write_bytes(EDITED)

    out = writer_window(world, "python3 -c \"open('src/a.py', 'a').write('writer\\\\n')\"", inside)
    assert (world.root / "src/a.py").read_bytes() == EDITED + b"writer\n"
    told = context_of(out)
    assert "src/a.py" in told and "nothing was overwritten" in told, out
    kept = {p.name: p.read_bytes() for p in (world.root / ".claude" / "coordination" / "undone").rglob("a.py*")}
    assert kept == {"a.py": EDITED + b"writer\n", "a.py.before": HELD}, kept
    inbox = world.cli("inbox", agent="holder").stdout
    assert "src/a.py" in inbox and "Your version from before their call" in inbox, inbox


@pytest.mark.parametrize("command", ["sed -i s/y/w/ src/b.py", "cat src/b.py"])
def test_holder_shell_write_inside_the_writers_call_survives(world, command):
    """Also when the writer's call holds nothing (a read): the holder, the only
    agent holding anything, must still mark its shell call busy."""
    world.fresh()
    mine, mine_post, _ = claude_call(world.root, "printf 'x = 9  # the holder\\047s next edit\\n' > src/a.py")
    mine["session_id"] = "s-h"

    def inside():
        out, _ = hook(world, "pre-tool-use", mine, "holder", None)
        assert not is_denial(out), out
        stdout, stderr = run_command(world, mine["tool_input"]["command"])
        hook(world, "post-tool-use", {**mine_post(stdout, stderr), "session_id": "s-h"}, "holder", None)

    out = writer_window(world, command, inside)
    assert (world.root / "src/a.py").read_bytes() == NEW
    assert "src/a.py" not in context_of(out), out


def test_the_notice_names_the_tool_as_the_client_does(world):
    """Gemini CLI's model knows its shell as run_shell_command, not as Claude's Bash."""
    world.fresh()
    command = "python3 -c \"open('src/a.py', 'w').write('clobbered')\""
    denied, before, ran, after, out, _ = through_hooks(world, gemini_call(world.root, command), command)
    assert not denied and after == before
    assert '"run_shell_command" call changed' in context_of(out), out


def test_what_is_put_back_is_the_holders_latest_version(world):
    """The snapshot keeps bytes by content and reuses them while a file's
    signature is unchanged: a holder's same-size edit between two of the
    writer's calls must be what the second call's undo restores."""
    world.fresh()
    time.sleep(1.1)  # old enough for the snapshot index to trust its signature
    through_hooks(world, claude_call(world.root, "cat src/a.py"), "cat src/a.py")
    pre, post = holder_edit(world)
    out, _ = hook(world, "pre-tool-use", pre, "holder", None)
    assert not is_denial(out), out
    (world.root / "src/a.py").write_bytes(EDITED)
    hook(world, "post-tool-use", post, "holder", None)
    command = "python3 -c \"open('src/a.py', 'w').write('writer')\""
    through_hooks(world, claude_call(world.root, command), command)
    assert (world.root / "src/a.py").read_bytes() == EDITED


# The snapshot follows this machine's marks; the database decides the undo ---------------------

STATE = (".claude", "coordination")


def test_the_snapshot_is_taken_without_the_database(world):
    """The before-snapshot reads the `held/` marks, not the store: with the
    database moved away during PreToolUse the held file is still kept, and
    the write undone after (the store back in place)."""
    world.fresh()
    folder = world.root.joinpath(*STATE)
    command = "python3 -c \"open('src/a.py', 'w').write('clobbered')\""
    pre, post, _ = claude_call(world.root, command)
    aside = world.base / "db-aside"
    aside.mkdir(exist_ok=True)
    moved = [p for p in folder.iterdir() if p.name.startswith("state.sqlite")]
    for p in moved:
        p.rename(aside / p.name)
    try:
        out, _ = hook(world, "pre-tool-use", pre, "writer", None)
    finally:
        for p in moved:
            (aside / p.name).rename(p)
    assert not is_denial(out), out
    stdout, stderr = run_command(world, command)
    assert (world.root / "src/a.py").read_bytes() == b"clobbered"
    out, _ = hook(world, "post-tool-use", post(stdout, stderr), "writer", None)
    assert (world.root / "src/a.py").read_bytes() == HELD
    assert "src/a.py" in context_of(out), out


def test_a_lock_released_during_the_call_is_not_enforced_after_it(world):
    """A mark may outlive its lock: the after-check asks the database, so a
    file its holder let go during the writer's call keeps the writer's bytes."""
    world.fresh()
    command = "python3 -c \"open('src/a.py', 'w').write('mine now')\""
    out = writer_window(world, command, lambda: world.cli.ok("unlock", "src/a.py", agent="holder"))
    assert (world.root / "src/a.py").read_bytes() == b"mine now"
    assert "src/a.py" not in context_of(out), out


def test_a_mark_of_an_older_version_still_snapshots_through_the_database(world):
    """An empty mark named by a time (what agent-sync wrote before marks named
    their locks) says only that something is held: the database tells what."""
    world.fresh()
    held = world.root.joinpath(*STATE, "held")
    for p in held.iterdir():
        p.unlink()
    (held / str(int(time.time()) + 3600)).touch()
    command = "python3 -c \"open('src/a.py', 'w').write('clobbered')\""
    denied, before, ran, after, out, _ = through_hooks(world, claude_call(world.root, command), command)
    assert not denied and ran != before and after == before
    assert "src/a.py" in context_of(out), out
