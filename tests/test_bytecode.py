"""The zipapp carries no bytecode: each interpreter compiles agent_sync once
into a cache of the user's own (agent_sync_boot, written by build.py), and a
cached file anyone else could have written is never run."""

import json
import os
import subprocess
import sys
import zipfile

from conftest import ROOT, clean_env, find_interpreter

LAUNCHER = json.loads((ROOT / "hooks.json").read_text())["hooks"]["Stop"][0]["hooks"][0]["command"]


def hook(pyz, home, python=sys.executable, payload=b'{"session_id": "s"}'):
    """The Stop hook as hooks.json runs it, with HOME (the cache's place) at `home`."""
    code = LAUNCHER.split('-c "', 1)[1].rsplit('" "$CLAUDE_PROJECT_DIR', 1)[0].replace('\\"', '"')
    env = clean_env(HOME=str(home), XDG_CACHE_HOME=None)
    env.pop("XDG_CACHE_HOME", None)
    return subprocess.run(
        [python, "-I", "-S", "-c", code, str(pyz), "hook", "stop"], input=payload, capture_output=True, env=env
    )


def cache_of(home):
    found = [p for p in (home / ".cache" / "agent-sync").rglob("agent_sync.pyc")]
    assert len(found) == 1, found
    return found[0]


def test_the_zipapp_is_small_and_carries_no_bytecode_of_agent_sync(pyz):
    names = zipfile.ZipFile(pyz).namelist()
    compiled = [n for n in names if n.endswith(".pyc") or "/cp3" in n]
    assert all(n.startswith("agent_sync_boot_cp3") for n in compiled), compiled  # the 2 KB boot only
    assert os.path.getsize(pyz) <= 1_000_000


def test_the_first_run_compiles_into_a_private_cache_and_later_runs_load_it(pyz, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    assert hook(pyz, home).returncode == 0
    cached = cache_of(home)
    assert oct(cached.stat().st_mode & 0o777) == "0o600" and oct(cached.parent.stat().st_mode & 0o777) == "0o700"
    stamp = cached.stat().st_mtime_ns
    assert hook(pyz, home).returncode == 0
    assert cached.stat().st_mtime_ns == stamp  # loaded, not written again


def test_a_cache_file_others_could_write_is_not_run(pyz, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    hook(pyz, home)
    cached = cache_of(home)
    import marshal

    code = compile("import sys; sys.stderr.write('EVIL CODE RAN\\n'); sys.exit(3)", "x", "exec")
    evil = (code, marshal.dumps(code))  # the cache's shape: a hook's part, the rest marshalled (build.py)
    cached.write_bytes(marshal.dumps(evil))
    cached.chmod(0o666)
    r = hook(pyz, home)
    assert r.returncode == 0 and b"EVIL" not in r.stderr, r.stderr
    assert cached.read_bytes() != marshal.dumps(evil) and cached.stat().st_mode & 0o777 == 0o600  # compiled anew
    cached.write_bytes(marshal.dumps(evil))  # owned and private: the user's own cache is what runs
    r = hook(pyz, home)
    assert r.returncode == 3 and b"EVIL CODE RAN" in r.stderr


def test_any_interpreter_3_10_or_newer_runs_the_hook(pyz, tmp_path):
    for minor in (10, 11, 12, 13):
        python = find_interpreter(minor)
        if python is None:
            continue
        home = tmp_path / f"home{minor}"
        home.mkdir()
        for _ in range(2):
            r = hook(pyz, home, python)
            assert r.returncode == 0 and not r.stderr, (minor, r.stderr)
