"""The private APIs agent_sync leans on to keep a hook near 15 ms, one test
each, on every CPython 3.10-3.13 found (conftest.find_interpreter): a test
fails on an interpreter where its trick no longer holds, naming the trick and
what to change.  One fresh interpreter per version runs every probe (PROBE),
so that the start-up tricks see a process nothing else has loaded into."""

import json
import marshal
import os
import re
import subprocess
import sys
import tempfile
from functools import cache
from subprocess import PIPE

import pytest

from conftest import ROOT, find_interpreter

MINORS = (10, 11, 12, 13)

#: run by each interpreter as `python -I -S -c PROBE ROOT`, stdin a marshalled
#: {"sqlite_names": [...], "bundle": the vendored driver as build.py bundles it, or None};
#: prints {trick: None, or why it no longer holds} as one JSON line, then leaves
#: through agent_sync.leave_now(7) with an exit handler registered (see test_leave_now)
PROBE = r'''
import sys

ROOT = sys.argv[1]
PY = "Python %d.%d" % sys.version_info[:2]
BEFORE = set(sys.modules)
INPUT = __import__("marshal").loads(sys.stdin.buffer.read())
sys.path.insert(0, ROOT)
import agent_sync

RESULTS = {}


def probe(fn):
    try:
        fn()
        RESULTS[fn.__name__] = None
    except Exception as e:
        RESULTS[fn.__name__] = f"{e.__class__.__name__}: {e}" if not isinstance(e, AssertionError) else str(e)
    return fn


@probe
def import_sqlite():
    where = f"agent_sync.import_sqlite on {PY}"
    assert "functools" not in BEFORE, f"{where}: functools is loaded at start-up; the stand-in never runs (drop it)"
    assert agent_sync.sqlite3.__name__ == "_sqlite3", (
        f"{where}: agent_sync.sqlite3 is {agent_sync.sqlite3.__name__}, not _sqlite3: the C module no longer "
        "imports with only lru_cache in a stand-in functools; import functools first there, or the sqlite3 package"
    )
    assert "functools" not in sys.modules, f"{where}: importing _sqlite3 loaded the real functools: drop the stand-in"
    missing = [n for n in INPUT["sqlite_names"] if not hasattr(agent_sync.sqlite3, n)]
    assert not missing, f"{where}: _sqlite3 lacks {missing} (only the sqlite3 package has them): use the package"
    conn = agent_sync.sqlite3.connect(":memory:", timeout=1.0, isolation_level=None, check_same_thread=False)
    if sys.version_info >= (3, 11):  # 3.10 has a statement cache of its own; 3.11 on take functools.lru_cache
        import gc

        cache = [r for r in gc.get_referents(conn) if getattr(r, "__qualname__", "").startswith("lru_cache.")]
        assert cache, (
            f"{where}: the connection's statement cache is not agent_sync.lru_cache's: _sqlite3 no longer "
            "takes functools.lru_cache; the stand-in can go"
        )
    conn.row_factory = agent_sync.sqlite3.Row
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    for turn in range(3):  # 300 distinct statements: the cache fills and empties twice
        for k in range(100):
            conn.execute(f"INSERT OR REPLACE INTO t (k, v) VALUES ({k}, ?)", (f"{turn}-{k}",))
    rows = [tuple(r) for r in conn.execute("SELECT k, v FROM t WHERE k < ? ORDER BY k", (3,))]
    assert rows == [(0, "2-0"), (1, "2-1"), (2, "2-2")], f"{where}: statements through the stand-in cache gave {rows}"
    try:
        conn.execute("SELECT nothing FROM nowhere")
    except agent_sync.sqlite3.OperationalError:
        pass
    else:
        raise AssertionError(f"{where}: a bad statement raised no sqlite3.OperationalError")
    conn.close()


@probe
def simple_namespace():
    kind = agent_sync.SimpleNamespace
    import types

    assert kind is types.SimpleNamespace and kind(a=1).a == 1, (
        f"agent_sync.SimpleNamespace on {PY}: type(sys.implementation) is {kind!r}, no longer "
        "types.SimpleNamespace: import types there"
    )


@probe
def blake2():
    where = f"agent_sync.short_hash/content_fact on {PY}"
    try:
        import _blake2
    except ImportError as e:
        raise AssertionError(f"{where}: no _blake2 ({e}): hashlib's fallback now loads OpenSSL on every hook") from None
    assert hasattr(_blake2, "blake2b"), f"{where}: _blake2 has no blake2b: hashlib's fallback now loads OpenSSL"
    assert "_hashlib" not in sys.modules, f"{where}: _blake2 brought hashlib's OpenSSL in after all"
    import hashlib

    assert agent_sync.short_hash("a/b.py") == hashlib.blake2b(b"a/b.py", digest_size=6).hexdigest(), where
    assert agent_sync.content_fact(b"x") == "=" + hashlib.blake2b(b"x", digest_size=16).hexdigest(), where


@probe
def arm_budget():
    where = f"agent_sync.arm_budget on {PY}"
    import _signal

    missing = [n for n in ("signal", "setitimer", "SIGALRM", "ITIMER_REAL") if not hasattr(_signal, n)]
    assert not missing, f"{where}: _signal lacks {missing}: hooks run without their time budget; use signal"
    import os
    import time

    os.environ["AGENT_SYNC_HOOK_BUDGET"] = "0.05"
    agent_sync.arm_budget()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.01)
        raise AssertionError(f"{where}: the _signal timer never fired: hooks run without their time budget")
    except agent_sync.BudgetSpent:
        pass
    finally:
        agent_sync.disarm_budget()
    assert "signal" in BEFORE or "signal" not in sys.modules, f"{where}: _signal loaded the signal module anyway"


SAMPLES = [
    {"a": [1, 2.5, None, True, False], "é": "ü\u2028\x00", "n": {"": []}},
    [10**30, -0.0, 1e300, "\ud83d\ude00", "\ud800"],
    "plain",
    3,
    float("nan"),
    float("-inf"),
]


@probe
def json_loads():
    where = f"agent_sync.json_loads (_json.make_scanner with JsonScanContext) on {PY}"
    import json

    for value in SAMPLES:
        text = json.dumps(value, ensure_ascii=False)
        got, want = agent_sync.json_loads(text), json.loads(text)
        assert repr(got) == repr(want), f"{where}: {text!r} gave {got!r}, json.loads {want!r}"
    for bad in ("", "{", '{"a": 1} x', "[1,]"):
        try:
            agent_sync.json_loads(bad)
        except ValueError:
            continue
        raise AssertionError(f"{where}: {bad!r} raised no ValueError")


@probe
def json_dumps():
    where = f"agent_sync.json_dumps (_json.make_encoder's nine arguments) on {PY}"
    import json

    for value in SAMPLES:
        got, want = agent_sync.json_dumps(value), json.dumps(value)
        assert got == want, f"{where}: {value!r} gave {got!r}, json.dumps {want!r}"
    try:
        agent_sync.json_dumps({"x": object()})
    except TypeError as e:
        assert "object is not JSON serializable" in str(e), f"{where}: the default hook was not called: {e}"
    else:
        raise AssertionError(f"{where}: an object() was encoded")
    loop = []
    loop.append(loop)
    try:
        agent_sync.json_dumps(loop)
    except ValueError:
        pass
    else:
        raise AssertionError(f"{where}: a circular list was encoded: the markers argument is not used")


def pg_server(path):
    """A one-connection PostgreSQL stand-in on a Unix socket: trust
    authentication, then one canned answer (SELECT 1 -> 41) per Sync."""
    import socket
    import struct
    import threading

    def msg(code, body=b""):
        return code + struct.pack("!i", len(body) + 4) + body

    row = msg(b"T", struct.pack("!h", 1) + b"n\x00" + struct.pack("!ihihih", 0, 0, 23, 4, -1, 0))
    answer = msg(b"1") + msg(b"2") + row + msg(b"D", struct.pack("!hi", 1, 2) + b"41")
    answer += msg(b"C", b"SELECT 1\x00") + msg(b"Z", b"I")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(1)

    def serve():
        conn, _ = listener.accept()
        f = conn.makefile("rwb")
        while True:  # an SSLRequest first (pg8000 asks even on a Unix socket): "N", no TLS here
            size = struct.unpack("!i", f.read(4))[0]
            if f.read(size - 4) != struct.pack("!i", 80877103):
                break
            f.write(b"N")
            f.flush()
        f.write(msg(b"R", struct.pack("!i", 0)) + msg(b"S", b"client_encoding\x00UTF8\x00") + msg(b"Z", b"I"))
        f.flush()
        while True:
            head = f.read(5)
            if len(head) < 5 or head[:1] == b"X":
                break
            f.read(struct.unpack("!i", head[1:])[0] - 4)
            if head[:1] == b"S":
                f.write(answer)
                f.flush()
        conn.close()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()


@probe
def pg8000_internals():
    where = f"agent_sync.PgStore's pipeline (pg8000 internals) on {PY}"
    if INPUT["bundle"] is None:
        raise AssertionError("skip: no vendored driver (build/vendor-cache: run python3 build.py)")
    bundle = INPUT["bundle"]
    sys.meta_path.insert(0, agent_sync.VendorImporter("vendor", bundle["modules"], False))
    saved = set(sys.modules)
    sys.modules.update(agent_sync.stand_ins(bundle["versions"]))
    try:
        import pg8000.native
    except Exception as e:
        raise AssertionError(
            f"agent_sync.stand_ins on {PY}: pg8000 {bundle['versions']['pg8000']} no longer imports with the "
            f"importlib.metadata and dateutil stand-ins: {e.__class__.__name__}: {e}"
        ) from None
    finally:
        for name in ("importlib.metadata", "dateutil", "dateutil.parser"):
            if name not in saved:
                sys.modules.pop(name, None)
    core = sys.modules["pg8000.core"]
    names = "Context NULL_BYTE make_params DESCRIBE PORTAL _write SYNC_MSG _flush COMMAND_COMPLETE"
    names += " EMPTY_QUERY_RESPONSE ERROR_RESPONSE READY_FOR_QUERY ci_unpack _read"
    missing = [n for n in names.split() if not hasattr(core, n)]
    assert not missing, f"{where}: pg8000.core lacks {missing}: rewrite write_pipeline/read_pipeline"
    methods = ("send_PARSE", "send_BIND", "_send_message", "send_EXECUTE", "execute_simple")
    missing = [n for n in methods if not callable(getattr(core.CoreConnection, n, None))]
    assert not missing, f"{where}: pg8000's CoreConnection lacks {missing}: rewrite write_pipeline/read_pipeline"
    import os
    import select
    import tempfile

    path = os.path.join(tempfile.mkdtemp(), ".s.PGSQL.5432")
    pg_server(path)
    conn = pg8000.native.Connection("u", unix_sock=path, timeout=5)
    for attr in ("_sock", "_usock", "py_types", "message_types", "notifications"):
        assert hasattr(conn, attr), f"{where}: a pg8000 connection has no {attr}: rewrite the pipeline and `changed`"
    select.select([conn._usock], [], [], 0)
    conn.notifications.clear()
    store = agent_sync.PgStore(conn, pg8000.native, "probe", "probe", 5.0)
    answers = store.read_pipeline(store.write_pipeline([("SELECT $1 AS n", [41])]))
    got = agent_sync.pg_result(answers[0])
    assert answers[0].error is None and got.rows == [(41,)] and got.rowcount == 1, (
        f"{where}: a statement through write_pipeline/read_pipeline came back as "
        f"{answers[0].error or (got.rows, got.rowcount)} instead of [(41,)], 1"
    )
    store.close()


import atexit
import json
import os

sys.stdout.write(json.dumps(RESULTS) + "\n")

atexit.register(lambda: os.write(1, b"exit handler ran\n"))
agent_sync.leave_now(7)
'''


def vendored_bundle():
    """The driver as build.py bundles it from its pinned wheels, or None before a build downloaded them."""
    sys.path.insert(0, str(ROOT))
    try:
        import build
    finally:
        sys.path.remove(str(ROOT))
    paths = []
    for name, version in build.VENDOR:
        hits = sorted((ROOT / "build" / "vendor-cache").glob(f"{build.normalized(name)}-{version}-*.whl"))
        if not hits:
            return None
        paths.append(str(hits[0]))
    modules = {}
    for path, data in build.wheel_files(paths):
        if path.endswith(".py"):
            name, package = build.module_name(path)
            modules[name] = (package, data)
    return {"versions": dict(build.VENDOR), "modules": modules}


@cache
def runs():
    """{minor: the probe's Popen, or None where no such Python is found}: all
    started at once, on the first test that asks."""
    source = (ROOT / "agent_sync.py").read_text(encoding="utf-8")
    payload = {"sqlite_names": sorted(set(re.findall(r"\bsqlite3\.([A-Za-z_]+)", source))), "bundle": vendored_bundle()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_SYNC_")}
    started = {}
    for minor in MINORS:
        exe = find_interpreter(minor)
        if exe is None:
            started[minor] = None
            continue
        with tempfile.TemporaryFile() as stdin:
            stdin.write(marshal.dumps(payload))
            stdin.seek(0)
            started[minor] = subprocess.Popen(
                [exe, "-I", "-S", "-c", PROBE, str(ROOT)], stdin=stdin, stdout=PIPE, stderr=PIPE, env=env
            )
    return started


@cache
def results(minor):
    """({trick: None or why not}, exit status, output after the results, stderr) of the probe on Python 3.<minor>."""
    probe = runs()[minor]
    if probe is None:
        return None
    out, err = probe.communicate(timeout=60)
    first, _, rest = out.decode("utf-8", "replace").partition("\n")
    try:
        found = json.loads(first)
    except ValueError:
        found = {}
    return found, probe.returncode, rest, err.decode("utf-8", "replace")[-2000:]


def outcome(minor, trick):
    found = results(minor)
    if found is None:  # CI's machines have every supported Python (pyenv): a missing one there is a failure
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"no Python 3.{minor} found on PATH or under pyenv")
    checks, code, rest, stderr = found
    assert trick in checks, f"Python 3.{minor}: the probe did not run ({code}): {stderr}"
    why = checks[trick]
    if why and why.startswith("skip: "):
        (pytest.fail if os.environ.get("CI") else pytest.skip)(why[6:])
    return why, code, rest, stderr


@pytest.mark.parametrize("minor", MINORS)
@pytest.mark.parametrize(
    "trick",
    ["import_sqlite", "simple_namespace", "blake2", "arm_budget", "json_loads", "json_dumps", "pg8000_internals"],
)
def test_the_trick_holds(trick, minor):
    why, _, _, _ = outcome(minor, trick)
    assert why is None, why


@pytest.mark.parametrize("minor", MINORS)
def test_leave_now_runs_the_exit_handlers_once_then_leaves(minor):
    """agent_sync.leave_now: atexit._run_exitfuncs, then os._exit (the probe's last act)."""
    _, code, rest, stderr = outcome(minor, "json_dumps")
    assert code == 7 and rest == "exit handler ran\n", (
        f"agent_sync.leave_now on Python 3.{minor}: atexit._run_exitfuncs no longer runs the exit handlers "
        f"once before os._exit (exit {code}, output after the probe {rest!r}): call the handlers some other way "
        f"(e.g. keep our own list instead of atexit's). {stderr}"
    )
