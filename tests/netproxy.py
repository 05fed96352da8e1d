"""A TCP proxy on 127.0.0.1 between the zipapp and a PostgreSQL server, to
play a distant or failing network (standard library only; no pytest).

    from netproxy import Proxy
    with Proxy(upstream_port=5432, delay=0.025) as proxy:   # 50 ms round trip
        url = proxy.url(pg_url)          # the same URL, through the proxy's port
        ...run the zipapp...
        proxy.round_trips()              # what the client waited for since reset()
        proxy.blackhole()                # the server goes silent, mid-stream too
        proxy.blackhole(on=b"BEGIN")     # ... once the client's BEGIN reached the server
        proxy.refuse(); proxy.resume()   # the port refuses connections, then listens again
        proxy.drop()                     # close every connection (both sides)

Delay: every chunk, in both directions, is delivered `delay` seconds after
the proxy read it (one way; the round trip is twice that), in order.

Round trips, per connection:
  * `bursts`: client->server bursts.  A burst starts with the client's first
    send and with every send after the proxy has delivered server data to the
    client since the client's previous send (the client may have waited for it).
  * `answered`: bursts followed by server data delivered to the client; the
    client's last message (PostgreSQL's Terminate) gets no answer, so it is a
    burst but not a wait.
  * `heads`: the first HEAD bytes of every burst (what the client sent).
  * `round_trips()` = connections (the TCP connect is one round trip, but not
    a client send) + answered bursts, over all connections since `reset()`.

Blackholed connections are a partition: the client's leaving is not passed
on, so the server keeps the connection (and any open transaction) until
resume(), drop() or close() ends it.

All traffic is on 127.0.0.1 only; every thread stops when the proxy is closed.
"""

import queue
import select
import socket
import threading
import time
from urllib.parse import urlsplit, urlunsplit

HOST = "127.0.0.1"
#: seconds every blocking call waits before looking at the proxy's state again
TICK = 0.1
#: bytes of every burst's start kept (Connection.heads) to tell what the client sent
HEAD = 200


class Connection:
    """One client connection and its counts."""

    def __init__(self, proxy, number, client):
        self.proxy, self.number, self.client = proxy, number, client
        self.upstream = None
        self.lock = threading.Lock()
        self.bursts = self.answered = 0
        self.heads = []  # the first HEAD bytes of every burst, to see what was sent
        self.sent = self.received = 0  # bytes client->server, server->client (delivered)
        self.fresh = True  # no client send yet
        self.delivered = False  # server data delivered since the client's last send
        self.waiting = False  # a burst not answered yet
        self.closed = threading.Event()
        self.dead = False  # blackholed: nothing is forwarded any more

    def stats(self):
        with self.lock:
            return {
                "id": self.number,
                "bursts": self.bursts,
                "answered": self.answered,
                "bytes_sent": self.sent,
                "bytes_received": self.received,
                "open": not self.closed.is_set(),
                "blackholed": self.dead,
                "heads": list(self.heads),
            }

    # --- counting -------------------------------------------------------
    def client_sent(self, data):
        n, head = len(data), bytes(data[:HEAD])
        with self.lock:
            if self.fresh or self.delivered:
                self.bursts += 1
                self.heads.append(head)
                self.waiting = True
                if self.proxy.blackhole_at is not None and self.bursts >= self.proxy.blackhole_at:
                    self.proxy.blackholed = True  # this burst is the first one lost
            self.fresh = self.delivered = False
            self.sent += n

    def server_delivering(self, n):
        """Called before the data goes to the client, so the client cannot
        answer it before it is counted."""
        with self.lock:
            self.delivered = True
            if self.waiting:
                self.answered += 1
                self.waiting = False
            self.received += n

    # --- plumbing -------------------------------------------------------
    def start(self):
        if not self.proxy.blackholed:
            try:
                self.upstream = socket.create_connection(self.proxy.upstream, timeout=5)
            except OSError:
                self.close()
                return
        else:
            self.dead = True
        for sock in (self.client, self.upstream):
            if sock is not None:
                sock.settimeout(None)  # blocking; reads wait in select() for TICK at most
                # each chunk goes on as it came: the proxy adds its delay, not Nagle's
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.upstream is None:
            threading.Thread(target=self.swallow, daemon=True).start()
            return
        for source, target, upward in ((self.client, self.upstream, True), (self.upstream, self.client, False)):
            pipe = queue.Queue()
            threading.Thread(target=self.read, args=(source, pipe, upward), daemon=True).start()
            threading.Thread(target=self.write, args=(target, pipe, upward), daemon=True).start()

    def alive(self):
        return not (self.closed.is_set() or self.proxy.stopped.is_set())

    def recv(self, sock):
        """The next chunk from `sock`; None when nothing came within TICK; b"" at its end."""
        try:
            if not select.select([sock], [], [], TICK)[0]:
                return None
            return sock.recv(65536)
        except (OSError, ValueError):
            return b""

    def swallow(self):
        """A connection accepted while blackholed: read and drop, never answer."""
        while self.alive():
            if self.recv(self.client) == b"":
                break
        self.close()

    def read(self, source, pipe, upward):
        while self.alive():
            data = self.recv(source)
            if data is None:
                continue
            if not data:
                if not self.dead:
                    pipe.put(None)  # pass the end on: close both sides
                elif upward:
                    # partitioned: the server never learns the client left (its
                    # connection, and any open transaction, stay until resume() or close())
                    self.shut(self.client)
                return
            if upward and not self.dead:
                self.client_sent(data)
            if self.dead or self.proxy.blackholed:
                self.dead = True
                continue  # the server went silent: swallow what either side says
            last = upward and self.proxy.blackhole_on is not None and self.proxy.blackhole_on in data
            pipe.put((time.monotonic() + self.proxy.delay, data, last))
            if last:
                self.proxy.blackholed = True  # this chunk reaches the server, its answer never comes back

    def write(self, target, pipe, upward):
        while self.alive():
            try:
                item = pipe.get(timeout=TICK)
            except queue.Empty:
                continue
            if item is None:
                break  # one side closed: close both
            due, data, last = item
            while self.alive() and time.monotonic() < due:
                time.sleep(min(TICK, max(0.0, due - time.monotonic())))
            if not self.alive():
                break
            if (self.dead or self.proxy.blackholed) and not last:
                self.dead = True
                continue
            if not upward:
                self.server_delivering(len(data))
            try:
                target.sendall(data)
            except OSError:
                break
        self.close()

    @staticmethod
    def shut(sock):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self):
        if self.closed.is_set():
            return
        self.closed.set()
        for sock in (self.client, self.upstream):
            if sock is not None:
                self.shut(sock)
                sock.close()


class Proxy:
    """A TCP proxy from 127.0.0.1:`port` (0: a free one) to 127.0.0.1:`upstream_port`."""

    def __init__(self, upstream_port, delay=0.0, port=0, upstream_host=HOST):
        if upstream_host != HOST:
            raise ValueError("netproxy only forwards to 127.0.0.1")
        self.upstream = (HOST, int(upstream_port))
        #: one-way delay in seconds, applied to every chunk in both directions (settable at any time)
        self.delay = float(delay)
        self.blackholed = False
        self.blackhole_at = self.blackhole_on = None
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.conns = []
        self.number = 0
        self.listener = None
        #: held by the accept loop while it waits in accept(), by refuse() while it closes the socket
        self.accepting = threading.Lock()
        self.port = port
        self.listen()
        self.acceptor = threading.Thread(target=self.accept_loop, daemon=True)
        self.acceptor.start()

    # --- control ----------------------------------------------------------
    def listen(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, self.port))
        sock.listen(512)
        sock.settimeout(TICK)
        self.port = sock.getsockname()[1]
        with self.lock:
            self.listener = sock

    def refuse(self):
        """Close the listening socket: new connections are refused (existing ones go on)."""
        with self.accepting:
            with self.lock:
                sock, self.listener = self.listener, None
            if sock is not None:
                sock.close()

    def resume(self):
        """Forward again: listen again on the same port (after refuse()) and
        leave blackhole mode; connections blackholed before stay dead and are closed."""
        self.blackhole_at = self.blackhole_on = None
        if self.blackholed:
            self.blackholed = False
            self.drop(only_dead=True)
        with self.lock:
            listening = self.listener is not None
        if not listening:
            self.listen()

    def blackhole(self, after_bursts=None, on=None):
        """From now on accept connections but never forward nor answer; open
        connections stop forwarding mid-stream (what is in flight is lost).
        Not now but later, mid-transaction:
          after_bursts=N: when a connection starts its N-th client burst
            (that burst is the first one lost);
          on=b"BEGIN": when a client chunk holds these bytes (that chunk
            reaches the server, whose answer is the first thing lost)."""
        if after_bursts is None and on is None:
            self.blackholed = True
        self.blackhole_at = None if after_bursts is None else int(after_bursts)
        self.blackhole_on = on

    def drop(self, only_dead=False):
        """Close client connections (all, or the blackholed ones)."""
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            if c.dead or not only_dead:
                c.close()

    def close(self):
        self.stopped.set()
        self.refuse()
        self.drop()
        self.acceptor.join(timeout=2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def url(self, url):
        """`url` (postgresql://user:pw@host:port/db?...) with the proxy's host and port."""
        parts = urlsplit(url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = (auth + "@" if auth else "") + f"{HOST}:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    # --- counts -------------------------------------------------------------
    def reset(self):
        """Forget the counts (open connections keep going, uncounted)."""
        with self.lock:
            self.conns = []

    def connections(self):
        """Per connection since reset(): id, bursts, answered, bytes, open, blackholed."""
        with self.lock:
            conns = list(self.conns)
        return [c.stats() for c in conns]

    def bursts(self):
        return sum(c["bursts"] for c in self.connections())

    def round_trips(self):
        """TCP connects + answered client bursts, over every connection since reset()."""
        conns = self.connections()
        return len(conns) + sum(c["answered"] for c in conns)

    def settle(self, timeout=5.0):
        """Wait until every counted connection is closed (the client is done); True if so."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not any(c["open"] for c in self.connections()):
                return True
            time.sleep(0.02)
        return False

    # --- the accept loop ------------------------------------------------------
    def accept_loop(self):
        while not self.stopped.is_set():
            with self.lock:
                sock = self.listener
            if sock is None:
                self.stopped.wait(TICK)
                continue
            with self.accepting:
                if sock is not self.listener:
                    continue  # closed by refuse(): wait for resume()
                try:
                    client, _ = sock.accept()
                except OSError:  # socket.timeout included
                    continue
            with self.lock:
                self.number += 1
                conn = Connection(self, self.number, client)
                self.conns.append(conn)
            threading.Thread(target=conn.start, daemon=True).start()
