#!/usr/bin/env python3
"""Throw-away PostgreSQL server for the test suite and CI (standard library only).

Module use::

    import pgserver
    info = pgserver.start(folder)   # initdb (first time) + pg_ctl start
    info["url"]                     # postgresql://agentsync:agentsync-test@127.0.0.1:PORT/agentsync
    pgserver.stop(info)             # pg_ctl stop -m fast
    pgserver.restart(info)          # start again on the same port
    pgserver.stop(info)

Script use::

    python3 tests/pgserver.py start FOLDER   # prints the URL, leaves the server running
    python3 tests/pgserver.py start FOLDER --log-statements
    python3 tests/pgserver.py stop FOLDER

With ``log_statements`` (``--log-statements``) the server logs every
statement it runs to FOLDER/postgres.log (``log_statement = 'all'``), each
line prefixed with its session's application_name, so that
tests/pg_statements.py can tell which statements agent-sync issued.

Layout of FOLDER: data/ (the cluster), postgres.log, the unix socket
.s.PGSQL.<port>, and pgserver.json (the info dict, for the script's stop).

Authentication: unix socket connections use trust (any role, no password);
TCP connections to 127.0.0.1 / ::1 need the password (scram-sha-256).
The superuser role is ``agentsync`` (bootstrap superuser), password
``agentsync-test``; database ``agentsync`` exists.

initdb refuses to run as root: when euid is 0 every server command runs as
the ``postgres`` OS user (runuser, else su), FOLDER is chowned to it, and
ancestors of FOLDER that the postgres user could not traverse get o+x.
Otherwise everything runs as the current user.
"""

import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys

USER = "agentsync"
PASSWORD = "agentsync-test"
DATABASE = "agentsync"
OS_USER = "postgres"
INFO_FILE = "pgserver.json"

# Settings appended to postgresql.conf. Durability is traded for speed;
# it is still a real server (real WAL, real locking, real auth).
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_connections": "300",
    "shared_buffers": "32MB",
    "autovacuum": "off",
    "jit": "off",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] '",
    "password_encryption": "'scram-sha-256'",
}
# Added with log_statements: every statement, and who ran it (agent-sync sets
# application_name "agent-sync"; the tests' own pg8000 connections do not).
LOG_STATEMENTS = {
    "log_statement": "'all'",
    "log_line_prefix": "'%m [%p] app=%a '",
}
LOG_FILE = "postgres.log"


class PgServerError(RuntimeError):
    pass


def _version_key(path):
    m = re.search(r"/postgresql/([0-9.]+)/bin/", path)
    return tuple(int(p) for p in m.group(1).split(".") if p) if m else ()


def find_bin(name):
    """Path of a PostgreSQL program: PATH first, then the highest
    /usr/lib/postgresql/<version>/bin. None when missing."""
    found = shutil.which(name)
    if found:
        return found
    cands = [p for p in glob.glob(os.path.join("/usr/lib/postgresql/*/bin", name)) if os.access(p, os.X_OK)]
    cands.sort(key=_version_key, reverse=True)
    return cands[0] if cands else None


def _server_bin(name, near=None):
    """Prefer the program next to `near` (same major version as initdb)."""
    if near:
        sib = os.path.join(os.path.dirname(os.path.realpath(near)), name)
        if os.access(sib, os.X_OK):
            return sib
    return find_bin(name)


def _as_root():
    return os.geteuid() == 0


def _pg_ids():
    import pwd

    try:
        pw = pwd.getpwnam(OS_USER)
    except KeyError:
        raise PgServerError(
            "running as root but there is no %r OS user (install the "
            "postgresql package or run as a non-root user)" % OS_USER
        )
    return pw.pw_uid, pw.pw_gid


def _wrap(cmd):
    if not _as_root():
        return cmd
    runuser = shutil.which("runuser") or ("/usr/sbin/runuser" if os.access("/usr/sbin/runuser", os.X_OK) else None)
    if runuser:
        return [runuser, "-u", OS_USER, "--"] + cmd
    import shlex

    return ["su", OS_USER, "-s", "/bin/sh", "-c", " ".join(shlex.quote(c) for c in cmd)]


def _env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env.pop("LANG", None)
    return env


def _run(cmd, folder, timeout=60, input=None):
    try:
        p = subprocess.run(
            _wrap(cmd),
            cwd=folder,
            env=_env(),
            input=input,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=None if input is not None else subprocess.DEVNULL,
            timeout=timeout,
            text=True,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        raise PgServerError("%s timed out after %ss" % (os.path.basename(cmd[0]), timeout))
    return p.returncode, p.stdout


def _one_line(text, limit=600):
    lines = [l.strip() for l in (text or "").splitlines() if l.strip()]
    s = " | ".join(lines[-6:])
    return s[-limit:]


def _log_tail(folder):
    try:
        with open(os.path.join(folder, "postgres.log"), errors="replace") as f:
            return _one_line(f.read()[-4000:])
    except OSError:
        return ""


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _grant_traverse(folder, uid, gid):
    """Give o+x to ancestors the postgres user could not enter."""
    import stat

    d = os.path.dirname(folder)
    while True:
        st = os.stat(d)
        ok = (
            st.st_mode & stat.S_IXOTH
            or (st.st_uid == uid and st.st_mode & stat.S_IXUSR)
            or (st.st_gid == gid and st.st_mode & stat.S_IXGRP)
        )
        if not ok:
            os.chmod(d, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
        if d == "/":
            break
        d = os.path.dirname(d)


def _write_conf(data, port, socket_dir, log_statements=False):
    conf = os.path.join(data, "postgresql.conf")
    lines = ["", "# --- tests/pgserver.py ---"]
    lines += ["%s = %s" % kv for kv in {**SETTINGS, **(LOG_STATEMENTS if log_statements else {})}.items()]
    lines += ["port = %d" % port, "unix_socket_directories = '%s'" % socket_dir]
    with open(conf, "a") as f:
        f.write("\n".join(lines) + "\n")


def _set_port(data, port):
    conf = os.path.join(data, "postgresql.conf")
    with open(conf) as f:
        text = f.read()
    text = re.sub(r"(?m)^port = \d+$", "port = %d" % port, text)
    with open(conf, "w") as f:
        f.write(text)


def _info(folder, port, pg_ctl):
    return {
        "url": "postgresql://%s:%s@127.0.0.1:%d/%s" % (USER, PASSWORD, port, DATABASE),
        "socket_dir": folder,
        "socket": os.path.join(folder, ".s.PGSQL.%d" % port),
        "port": port,
        "folder": folder,
        "data": os.path.join(folder, "data"),
        "pg_ctl": pg_ctl,
        "user": USER,
        "password": PASSWORD,
        "database": DATABASE,
        "log": os.path.join(folder, LOG_FILE),
    }


def _save(info):
    path = os.path.join(info["folder"], INFO_FILE)
    with open(path, "w") as f:
        json.dump(info, f, indent=1)


def load(folder):
    """Info dict of a cluster made by start() in `folder`."""
    folder = os.path.abspath(folder)
    try:
        with open(os.path.join(folder, INFO_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        raise PgServerError("no pgserver cluster in %s" % folder)


def is_running(info):
    rc, _ = _run([info["pg_ctl"], "status", "-D", info["data"]], info["folder"])
    return rc == 0


def _pg_ctl_start(info, timeout=30):
    rc, out = _run(
        [
            info["pg_ctl"],
            "start",
            "-w",
            "-t",
            str(timeout),
            "-s",
            "-D",
            info["data"],
            "-l",
            os.path.join(info["folder"], "postgres.log"),
        ],
        info["folder"],
        timeout=timeout + 10,
    )
    return rc, out


def start(folder, timeout=30, log_statements=False):
    """Create (first time) and start a cluster in `folder`; return its info dict.
    `log_statements`: log every statement (see LOG_STATEMENTS), for a new cluster."""
    folder = os.path.abspath(folder)
    if len(os.path.join(folder, ".s.PGSQL.65535")) > 103:
        raise PgServerError("folder path too long for a unix socket: %s" % folder)
    data = os.path.join(folder, "data")
    if os.path.exists(os.path.join(data, "PG_VERSION")) and os.path.exists(os.path.join(folder, INFO_FILE)):
        info = load(folder)
        if not is_running(info):
            restart(info, timeout=timeout)
        return info

    initdb = find_bin("initdb")
    if not initdb:
        raise PgServerError("initdb not found (PATH or /usr/lib/postgresql/*/bin); install the postgresql package")
    pg_ctl = _server_bin("pg_ctl", initdb)
    if not pg_ctl:
        raise PgServerError("pg_ctl not found")

    os.makedirs(folder, exist_ok=True)
    if os.path.exists(data) and os.listdir(data):
        raise PgServerError("%s exists and is not a pgserver cluster" % data)
    os.chmod(folder, 0o755)
    if _as_root():
        uid, gid = _pg_ids()
        os.chown(folder, uid, gid)
        _grant_traverse(folder, uid, gid)

    pwfile = os.path.join(folder, ".pwfile")
    with open(pwfile, "w") as f:
        f.write(PASSWORD + "\n")
    if _as_root():
        os.chown(pwfile, uid, gid)
    try:
        rc, out = _run(
            [
                initdb,
                "-D",
                data,
                "-U",
                USER,
                "--pwfile",
                pwfile,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            folder,
            timeout=120,
        )
    finally:
        os.unlink(pwfile)
    if rc != 0:
        raise PgServerError("initdb failed: " + _one_line(out))

    info = None
    for attempt in range(3):
        port = _free_port()
        if info is None:
            _write_conf(data, port, folder, log_statements)
        else:
            _set_port(data, port)
        info = _info(folder, port, pg_ctl)
        rc, out = _pg_ctl_start(info, timeout)
        if rc == 0:
            break
        if "could not bind" not in _log_tail(folder) and "in use" not in _log_tail(folder):
            raise PgServerError("pg_ctl start failed: " + _one_line(out) + " | " + _log_tail(folder))
    else:
        raise PgServerError("pg_ctl start failed (port in use): " + _log_tail(folder))
    _save(info)

    # The bootstrap superuser is `agentsync`; create its database over the socket.
    psql = _server_bin("psql", initdb)
    sql = "CREATE DATABASE %s OWNER %s" % (DATABASE, USER)
    if psql:
        rc, out = _run(
            [
                psql,
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                folder,
                "-p",
                str(port),
                "-U",
                USER,
                "-d",
                "postgres",
                "-c",
                sql,
            ],
            folder,
        )
        if rc != 0:
            stop(info, mode="immediate")
            raise PgServerError("create database failed: " + _one_line(out))
    else:  # no client: single-user mode while the server is down
        stop(info)
        postgres = _server_bin("postgres", initdb)
        rc, out = _run([postgres, "--single", "-D", data, "postgres"], folder, input=sql + "\n")
        if rc != 0:
            raise PgServerError("create database failed: " + _one_line(out))
        restart(info, timeout=timeout)
    return info


def stop(info, mode="fast", timeout=30):
    """pg_ctl stop (mode: smart, fast, immediate). No error if already stopped."""
    if not is_running(info):
        return
    rc, out = _run(
        [info["pg_ctl"], "stop", "-w", "-t", str(timeout), "-s", "-m", mode, "-D", info["data"]],
        info["folder"],
        timeout=timeout + 10,
    )
    if rc != 0:
        raise PgServerError("pg_ctl stop failed: " + _one_line(out))


def restart(info, timeout=30):
    """Start the (stopped) cluster again on the same port; stops it first if running."""
    if is_running(info):
        stop(info)
    rc, out = _pg_ctl_start(info, timeout)
    if rc != 0:
        raise PgServerError("pg_ctl start failed: " + _one_line(out) + " | " + _log_tail(info["folder"]))
    return info


def main(argv):
    log_statements = "--log-statements" in argv[3:]
    if len(argv) - log_statements != 3 or argv[1] not in ("start", "stop") or (log_statements and argv[1] != "start"):
        sys.stderr.write("usage: pgserver.py start FOLDER [--log-statements] | stop FOLDER\n")
        return 1
    try:
        if argv[1] == "start":
            info = start(argv[2], log_statements=log_statements)
            sys.stdout.write(info["url"] + "\n")
        else:
            stop(load(argv[2]))
    except (PgServerError, OSError) as e:
        sys.stderr.write("pgserver: %s\n" % " ".join(str(e).split()))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
