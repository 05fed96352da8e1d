#!/usr/bin/env python3
"""Build dist/agent-sync.pyz: one executable zipapp holding agent_sync.py, the
skill and the hooks block, plus agent_sync compiled to bytecode by every
CPython 3.10-3.13 found on this machine.

Why bytecode: a zipapp's modules are compiled from source on *every* start
(zipimport never writes a cache), and compiling agent_sync.py costs more than
the rest of a hook's run.  zipimport loads a sourceless `.pyc` directly, so the
archive carries agent_sync_cpXY.pyc for each interpreter built for, and
__main__ picks the one matching the running interpreter; any other version
falls back to the source.  Nothing is extracted or written outside the repo.

Usage: python3 build.py [-o PATH]
"""

import argparse
import glob
import os
import shutil
import subprocess
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
MAIN = """import sys
if sys.version_info < (3, 10):
    sys.stderr.write("agent-sync needs Python 3.10 or newer, not %s\\n" % sys.version.split()[0])
    sys.exit(1)
try:
    agent_sync = __import__("agent_sync_cp%d%d" % sys.version_info[:2])
except ImportError:
    import agent_sync
sys.exit(agent_sync.main())
"""
COMPILE = (
    "import importlib.util, marshal, sys\n"
    "src = open(sys.argv[1], encoding='utf-8').read()\n"
    "code = compile(src, 'agent_sync.py', 'exec', dont_inherit=True, optimize=0)\n"
    "sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code))\n"
)
PAYLOAD = ("skill/SKILL.md", "skill/agent-sync", "skill/agent-sync.cmd", "hooks.json")
EPOCH = (1980, 1, 1, 0, 0, 0)


def interpreters():
    """One interpreter per minor version 3.10-3.13: this one, pyenv's, and python3.X on PATH."""
    candidates = [sys.executable]
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates += sorted(glob.glob(os.path.join(root, "versions", "3.1[0-3].*", "bin", "python3")))
    candidates += [shutil.which(f"python3.{m}") for m in range(10, 14)]
    found = {}
    for exe in filter(None, candidates):
        try:
            out = subprocess.run(
                [exe, "-I", "-S", "-c", "import sys; print('%d%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if out in ("310", "311", "312", "313"):
            found.setdefault(out, exe)
    return found


def entry(name):
    info = zipfile.ZipInfo(name, EPOCH)
    info.external_attr = (0o755 if name.endswith("agent-sync") else 0o644) << 16
    return info


def build(out):
    source = os.path.join(HERE, "agent_sync.py")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    compiled = []
    with open(tmp, "wb") as f:
        f.write(b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
            z.writestr(entry("__main__.py"), MAIN)
            with open(source, "rb") as s:
                z.writestr(entry("agent_sync.py"), s.read())
            for tag, exe in sorted(interpreters().items()):
                pyc = subprocess.run(
                    [exe, "-I", "-S", "-c", COMPILE, source], capture_output=True, check=True, timeout=120
                ).stdout
                z.writestr(entry(f"agent_sync_cp{tag}.pyc"), pyc)
                compiled.append(tag)
            for name in PAYLOAD:
                with open(os.path.join(HERE, name), "rb") as s:
                    z.writestr(entry(name), s.read())
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    return compiled


def main():
    parser = argparse.ArgumentParser(description="Build the agent-sync zipapp.")
    parser.add_argument("-o", "--output", default=os.path.join(HERE, "dist", "agent-sync.pyz"))
    args = parser.parse_args()
    compiled = build(args.output)
    versions = ", ".join(f"{t[0]}.{t[1:]}" for t in compiled) or "none (source only)"
    print(f"built {args.output} ({os.path.getsize(args.output) // 1024} KiB; bytecode for {versions})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
