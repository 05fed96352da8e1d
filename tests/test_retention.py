"""Messages do not pile up forever: read ones past AGENT_SYNC_KEEP_MESSAGES_DAYS
are pruned by gc and by the automatic prune; unread ones never (issue 15)."""

import time

import agent_sync

KEEP = {"AGENT_SYNC_KEEP_MESSAGES_DAYS": "0.00001"}  # 0.864 s


def messages_in(cli):
    return cli.sql("SELECT count(*) FROM messages")[0][0]


def send_and_read(cli, n, read):
    cli.ok("register", "--name", "reader", agent="reader")
    for i in range(n):
        cli.ok("send", "--to", "reader", "-m", f"note {i}", agent="writer")
    ids = [m["id"] for m in cli.json("inbox", agent="reader")[1]["messages"]]
    for message_id in ids[:read]:
        cli.ok("read-message", message_id, agent="reader")
    return ids


def test_gc_prunes_read_messages_past_retention_and_keeps_unread_ones(cli):
    ids = send_and_read(cli, 3, read=2)
    _, gc = cli.json("gc", agent="x", env={"AGENT_SYNC_KEEP_MESSAGES_DAYS": "1"})
    assert gc["messages_pruned"] == 0  # not old enough yet
    time.sleep(1.0)
    _, gc = cli.json("gc", agent="x", env=KEEP)
    assert gc["messages_pruned"] == 2 and messages_in(cli) == 1
    assert [m["id"] for m in cli.json("inbox", agent="reader")[1]["messages"]] == [ids[2]]
    cli.ok("decision", "decisions are kept", agent="writer")
    time.sleep(1.0)
    cli.json("gc", agent="x", env=KEEP)
    assert cli.json("decisions", agent="x")[1]["decisions"][0]["text"] == "decisions are kept"


def test_the_automatic_prune_drops_them_without_gc(cli):
    send_and_read(cli, 5, read=5)
    time.sleep(1.0)
    calls = [("log", {"type": "t", "message": f"entry {i}"}) for i in range(300)]  # a prune every 256 rows
    replies = cli.mcp_calls("logger", calls, env=KEEP)
    assert len(replies) == 300 and not any(r["result"]["isError"] for r in replies)
    assert messages_in(cli) == 0


def steps_of_a_log_entry(tmp_path, old_rows, old_messages=0):
    """SQLite VM steps one activity entry costs (not a prune's turn) over a log
    holding `old_rows` rows past retention and `old_messages` read messages
    past theirs, counted by a progress handler."""
    store = agent_sync.Store.open(str(tmp_path / f"state-{old_rows}-{old_messages}.sqlite"))
    rows = [("a", "edit", "x", None, 0.0)] * (old_rows + agent_sync.keep_activity())
    if (len(rows) + 1) % agent_sync.PRUNE_EVERY == 0:
        rows.append(rows[0])  # the entry measured is not a prune's turn
    store.executemany("INSERT INTO activity (agent, type, message, path, created_at) VALUES (?, ?, ?, ?, ?)", rows)
    ids = range(1, old_messages + 1)
    store.executemany(
        "INSERT INTO messages (id, sender, recipient, kind, body, created_at) VALUES (?, 'b', 'a', 'message', 'x', 0)",
        [(i,) for i in ids],
    )
    store.executemany(
        "INSERT INTO message_deliveries (agent_id, message_id, directed, read_at) VALUES ('a', ?, 1, 0)",
        [(i,) for i in ids],
    )
    steps = [0]

    def count():
        steps[0] += 1

    store.conn.set_progress_handler(count, 100)
    with store.tx():
        agent_sync.log_activity(store, "a", "edit", "one more", None, time.time())
    store.conn.set_progress_handler(None, 0)
    assert store.execute("SELECT count(*) FROM activity").fetchone()[0] == len(rows) + 1  # nothing pruned
    assert store.execute("SELECT count(*) FROM messages").fetchone()[0] == old_messages
    store.close()
    return steps[0]


def test_a_log_entry_between_prunes_costs_the_same_however_long_the_log(tmp_path):
    """Between prunes the prune's DELETE must find nothing to look at: a log
    grown past retention (an upgrade, a lowered AGENT_SYNC_KEEP_ACTIVITY) once
    made every hook scan it until the next prune (1,000,000 rows: 45 ms a hook)."""
    small, large = steps_of_a_log_entry(tmp_path, 2_000), steps_of_a_log_entry(tmp_path, 40_000)
    assert large <= small * 1.5 + 10, (small, large)


def test_a_log_entry_between_prunes_costs_the_same_however_much_read_mail_waits_to_be_pruned(tmp_path):
    """The messages' prune beside it is gated the same way: 100,000 read
    messages past retention once cost every hook 21 ms until the next prune."""
    small, large = steps_of_a_log_entry(tmp_path, 0, 2_000), steps_of_a_log_entry(tmp_path, 0, 40_000)
    assert large <= small * 1.5 + 10, (small, large)
