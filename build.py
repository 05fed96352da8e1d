#!/usr/bin/env python3
"""Build dist/agent-sync.pyz: one executable zipapp holding agent_sync.py, the
skill and the hooks block, a small boot module, and the pure-Python
PostgreSQL driver pg8000 and its dependencies (team mode) vendored as sources.

Why a boot module: a zipapp's modules are compiled from source on *every*
start (zipimport never writes a cache), and compiling agent_sync.py costs
more than the rest of a hook's run.  agent_sync_boot (BOOT below) compiles it
once per interpreter and zipapp into a per-user cache and loads the bytecode
from there; the driver's sources are compiled into the same cache on first
use.  It compiles the module in two parts, cut at its HOOK_PART_ENDS line: a
hook's process runs only the first (settings to hooks); the installer,
commands, console, MCP server and CLI load for everything else.  So the
archive carries no copy of agent_sync's bytecode and any CPython 3.10+ is
fast; only the 2 KB boot module is there compiled for each
interpreter found at build time (agent_sync_boot_cpXY.pyc), since it runs
before any cache can help.
Every CPython 3.10-3.13 found here still compiles everything once at build
time: a syntax check for each version.

Vendored packages (VENDOR) come from wheels that pip downloads once into
build/vendor-cache/, as ONE archive member, vendor/py.bundle: a marshalled
{"versions": {distribution: version}, "modules": {module: (is package,
source)}}, and vendor/LICENSES.txt the vendored packages' licenses.  One
member, not a tree: zipimport reads every entry of the archive's directory at
every start, so a tree of files would cost each SQLite hook about 2.5 ms
(measured) for a driver it never imports.  agent_sync's VendorImporter serves
the bundle; it also stands in for importlib.metadata (the versions are in the
bundle) and for python-dateutil (STAND_INS).

Usage: python3 build.py [-o PATH]
"""

import argparse
import glob
import marshal
import os
import re
import shutil
import subprocess
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
MAIN = """import sys
if sys.version_info < (3, 10):
    sys.stderr.write("agent-sync needs Python 3.10 or newer, not %s\\n" % sys.version.split()[0])
    sys.exit(1)
import agent_sync_boot
sys.exit(agent_sync_boot.load().main())
"""
# agent_sync_boot: agent_sync's bytecode from a per-user cache, compiled from
# the archive's source by the first run of each interpreter on each zipapp
# (zipimport never writes a cache, and compiling agent_sync.py costs ten times
# a hook's run).  The cache is this user's (~/.cache/agent-sync, or
# XDG_CACHE_HOME), 0700, keyed by the interpreter's cache tag and the
# zipapp's size and mtime, written atomically, and a file is loaded only when
# it is this user's and nobody else can write it: bytecode is code.
BOOT = """import marshal, os, sys

HOOK_PART_ENDS = __HOOK_PART_ENDS__

def folder():
    archive = sys.path[0]
    st = os.stat(archive)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    name = "%s-%x-%x" % (sys.implementation.cache_tag, st.st_size, st.st_mtime_ns)
    return archive, os.path.join(base, "agent-sync", name)

def cached(path):
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
            return None
        try:
            return marshal.loads(f.read())
        except (ValueError, EOFError, TypeError):
            return None

def save(path, data):
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        with open(os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600), "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        pass

# (the part a hook runs, the rest marshalled): compiled from the archive's source
# once, split at agent_sync's HOOK_PART_ENDS line, numbered as in the file
def parts(archive, path):
    code = cached(path)
    if isinstance(code, tuple) and len(code) == 2:
        return code
    import zipimport
    source = zipimport.zipimporter(archive).get_source("agent_sync")
    cut = source.index("\\n" + HOOK_PART_ENDS + "\\n") + 1
    name = os.path.join(archive, "agent_sync.py")
    hook = compile(source[:cut], name, "exec", dont_inherit=True, optimize=2)
    rest = compile("\\n" * source.count("\\n", 0, cut) + source[cut:], name, "exec", dont_inherit=True, optimize=2)
    code = (hook, marshal.dumps(rest))
    save(path, marshal.dumps(code))
    return code

# what a launcher's `load().main()` calls in a hook's process: the hook, not the CLI
class Hook:
    def __init__(self, module):
        self.module = module
    def main(self):
        return self.module.hook_main(sys.argv[2:])

def load():
    archive, FOLDER = folder()
    globals()["FOLDER"] = FOLDER
    sys.modules["agent_sync_boot"] = sys.modules[__name__]  # agent_sync finds the cache through it
    hook, rest = parts(archive, os.path.join(FOLDER, "agent_sync.pyc"))
    module = type(sys)("agent_sync")
    module.__file__ = os.path.join(archive, "agent_sync.py")
    module.__loader__ = __loader__
    sys.modules["agent_sync"] = module
    exec(hook, module.__dict__)
    if module.is_hook_call(sys.argv[1:]):
        return Hook(module)
    exec(marshal.loads(rest), module.__dict__)
    return module
"""
# the line of agent_sync.py where a hook's part ends (HOOK_PART_ENDS there), for BOOT
with open(os.path.join(HERE, "agent_sync.py"), encoding="utf-8") as _source:
    BOOT = BOOT.replace("__HOOK_PART_ENDS__", re.search(r'(?m)^HOOK_PART_ENDS = (".*")$', _source.read()).group(1))
# Reads a marshalled list of (filename, source bytes) on stdin, writes a
# marshalled list of sourceless .pyc images: one process per interpreter.
# agent_sync itself is compiled without docstrings (it has no asserts and never
# reads __doc__): 6% less bytecode to read and unmarshal on every hook run.
COMPILE = (
    "import importlib.util, marshal, sys\n"
    "out = []\n"
    "for name, src in marshal.loads(sys.stdin.buffer.read()):\n"
    "    level = 2 if name == 'agent_sync.py' else 0\n"
    "    code = compile(src, name, 'exec', dont_inherit=True, optimize=level)\n"
    "    out.append(importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code))\n"
    "sys.stdout.buffer.write(marshal.dumps(out))\n"
)
PAYLOAD = ("skill/SKILL.md", "skill/agent-sync", "skill/agent-sync.cmd", "hooks.json")
EPOCH = (1980, 1, 1, 0, 0, 0)
#: Vendored wheels, exact pins: pg8000 1.31.5 is the newest 1.31.x whose
#: dependencies all declare Python 3.10 support (1.31.6 pins scramp==1.5.0,
#: Requires-Python >=3.11); scramp 1.4.17 is the newest for 3.10; asn1crypto is
#: scramp's only dependency (TLS channel binding).  Every Requires-Dist of
#: these wheels must be pinned here or be a stand-in, or the build stops.
VENDOR = (
    ("pg8000", "1.31.5"),
    ("scramp", "1.4.17"),
    ("asn1crypto", "1.5.1"),
)
#: dependencies agent_sync replaces with a few lines: pg8000 uses dateutil only
#: to parse timestamp text strptime cannot, and agent-sync's schema has no
#: timestamp column (its times are numbers), so the parser never runs
STAND_INS = ("python-dateutil",)
CACHE = os.path.join(HERE, "build", "vendor-cache")


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


def normalized(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def wheel_paths():
    """The VENDOR wheels in build/vendor-cache/, downloaded by pip if missing."""

    def cached(name, version):
        hits = glob.glob(os.path.join(CACHE, f"{normalized(name)}-{version}-*.whl"))
        return sorted(hits)[0] if hits else None

    missing = [f"{name}=={version}" for name, version in VENDOR if not cached(name, version)]
    if missing:
        os.makedirs(CACHE, exist_ok=True)
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        done = subprocess.run([*pip, "--dest", CACHE, *missing], capture_output=True, text=True)
        lines = (done.stderr or done.stdout).strip().splitlines()
        if done.returncode or not all(cached(name, version) for name, version in VENDOR):
            sys.exit(f"build.py: pip could not download {' '.join(missing)}: {lines[-1] if lines else 'no wheel'}")
    return [cached(name, version) for name, version in VENDOR]


def wheel_files(paths):
    """(path in the wheel, bytes) of every file of the wheels, checking that
    each wheel's unconditional Requires-Dist is pinned in VENDOR."""
    pinned = {normalized(name) for name, _ in VENDOR} | {normalized(name) for name in STAND_INS}
    files = []
    for path in paths:
        with zipfile.ZipFile(path) as wheel:
            for name in wheel.namelist():
                if name.endswith("/"):
                    continue
                if ".data/" in name.split(".dist-info/")[0]:
                    sys.exit(f"build.py: {os.path.basename(path)} has a .data folder; vendor it by hand")
                data = wheel.read(name)
                files.append((name, data))
                if re.fullmatch(r"[^/]+\.dist-info/METADATA", name):
                    for line in data.decode("utf-8").splitlines():
                        if line.startswith("Requires-Dist:") and "extra ==" not in line:
                            dep = normalized(re.match(r"[A-Za-z0-9._-]+", line[14:].strip()).group())
                            if dep not in pinned:
                                sys.exit(f"build.py: {os.path.basename(path)} requires {dep}, not in VENDOR")
    return sorted(files)


def compile_all(exe, sources):
    """Sourceless .pyc images of sources [(filename, bytes)], by interpreter exe.
    A fixed hash seed keeps set constants, hence the bytecode, the same from
    build to build (not -I: it would ignore PYTHONHASHSEED; no other PYTHON*)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run(
        [exe, "-S", "-s", "-c", COMPILE],
        input=marshal.dumps(sources),
        capture_output=True,
        timeout=300,
        cwd=HERE,
        env={**env, "PYTHONHASHSEED": "0"},
    )
    if done.returncode:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        sys.exit(f"build.py: {exe} could not compile: {lines[-1] if lines else done.returncode}")
    return marshal.loads(done.stdout)


def module_name(path):
    """(module name, is package) for a wheel's .py path."""
    parts = path[:-3].split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def bundle(modules, images):
    """One marshalled bundle of modules [(path, source)] with their payloads (code or source)."""
    versions = {name: version for name, version in VENDOR}
    table = {}
    for (path, _), image in zip(modules, images):
        name, package = module_name(path)
        table[name] = (package, image)
    return marshal.dumps({"versions": versions, "modules": table})


def licenses(files):
    """The vendored packages' license texts, one after another."""
    parts = []
    for name, data in files:
        if re.search(r"\.dist-info/(licenses/)?(LICEN[CS]E|COPYING|NOTICE)[^/]*$", name):
            parts.append(f"==== {name}\n{data.decode('utf-8', 'replace').rstrip()}\n")
    return "\n".join(parts).encode("utf-8")


def entry(name):
    info = zipfile.ZipInfo(name, EPOCH)
    info.external_attr = (0o755 if name.endswith("agent-sync") else 0o644) << 16
    return info


def stored_size(info):
    """Bytes an entry takes in a ZIP_STORED archive: local header, data, central directory record."""
    return 30 + 46 + 2 * (len(info.filename.encode("utf-8")) + len(info.extra)) + info.compress_size


def build(out):
    """Write the archive; returns (tags compiled for, bytes taken by vendored packages)."""
    source = os.path.join(HERE, "agent_sync.py")
    with open(source, "rb") as s:
        agent_sync = s.read()
    vendored = wheel_files(wheel_paths())
    modules = [(name, data) for name, data in vendored if name.endswith(".py")]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    compiled = []
    with open(tmp, "wb") as f:
        f.write(b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
            z.writestr(entry("__main__.py"), MAIN)
            z.writestr(entry("agent_sync_boot.py"), BOOT)
            z.writestr(entry("agent_sync.py"), agent_sync)
            vendor = [("vendor/py.bundle", bundle(modules, [data for _, data in modules]))]
            vendor.append(("vendor/LICENSES.txt", licenses(vendored)))
            for tag, exe in sorted(interpreters().items()):  # each compiles: a syntax check per version
                pycs = compile_all(
                    exe, [("agent_sync_boot.py", BOOT.encode()), ("agent_sync.py", agent_sync), *modules]
                )
                z.writestr(entry(f"agent_sync_boot_cp{tag}.pyc"), pycs[0])  # 2 KB: the boot is not compiled per run
                compiled.append(tag)
            for name in PAYLOAD:
                with open(os.path.join(HERE, name), "rb") as s:
                    z.writestr(entry(name), s.read())
            for name, data in sorted(vendor):  # compressed: only team mode reads them, and inflates in ~1 ms
                z.writestr(entry(name), data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
            vendor_size = sum(stored_size(z.getinfo(name)) for name, _ in vendor)
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    return compiled, vendor_size


def main():
    parser = argparse.ArgumentParser(description="Build the agent-sync zipapp.")
    parser.add_argument("-o", "--output", default=os.path.join(HERE, "dist", "agent-sync.pyz"))
    args = parser.parse_args()
    compiled, vendor_size = build(args.output)
    size = os.path.getsize(args.output)
    versions = ", ".join(f"{t[0]}.{t[1:]}" for t in compiled) or "no other interpreter"
    print(
        f"built {args.output} ({(size - vendor_size) // 1024} KiB without vendored pg8000, {size // 1024} KiB"
        f" with; checked by {versions})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
