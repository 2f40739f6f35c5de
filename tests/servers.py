"""Real servers on loopback for the tests: moto's S3 server in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """``python -m moto.server`` on 127.0.0.1; stop() kills it, start() brings
    a fresh one back on the same port (moto keeps its data in memory)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        env = {**os.environ, **S3_ENV}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1)
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("moto server exited at start")
                time.sleep(0.1)
        raise RuntimeError("moto server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def create_bucket(self, name: str) -> None:
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, **_creds()).create_bucket(Bucket=name)


def _creds() -> dict:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_DEFAULT_REGION"],
    }


class TcpProxy:
    """A TCP relay on 127.0.0.1 in front of a server: ``stop()`` takes the
    service away (refused connections, open ones cut) without losing the
    server's data; ``start()`` brings it back on the same port."""

    def __init__(self, upstream_port: int, port: int | None = None):
        self.upstream = upstream_port
        self.port = port or free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = __import__("threading").Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        import threading

        lst = socket.socket()
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", self.port))
        lst.listen(64)
        self._listener = lst
        threading.Thread(target=self._accept, args=(lst,), daemon=True).start()
        return self

    def _accept(self, lst: socket.socket) -> None:
        import threading

        while True:
            try:
                client, _ = lst.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass


def still_open(sockets) -> int:
    """How many of these client sockets the server has not closed (nothing
    to read and no end of stream within 10 ms: still open)."""
    n = 0
    for c in sockets:
        c.settimeout(0.01)
        try:
            n += c.recv(1) != b""
        except TimeoutError:
            n += 1
        except OSError:
            pass
    return n


def call(server, method, path, body=None, token="default", headers=None, timeout=30):
    """One request to a RunshipServer: (status, lower-case headers, body).
    ``token``: the writer token by default, None for none."""
    import http.client

    if token == "default":
        token = RunshipServer.TOKEN
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


class RunshipServer:
    """``runship serve`` in a subprocess on 127.0.0.1 and a free port."""

    TOKEN = "test-token-0123456789abcdef"
    READ_TOKEN = "read-token-0123456789abcdef"
    MNIST_TOKEN = "mnist-token-0123456789abcdef"

    def __init__(
        self,
        root: str,
        workdir: str,
        port: int | None = None,
        extra: list[str] | None = None,
        global_args: list[str] | None = None,
        nofile: int | None = None,
        no_auth: bool = False,
    ):
        self.no_auth = no_auth  # --no-auth instead of the token file
        self.nofile = nofile  # the server's open-file limit (soft and hard), as a small systemd unit might set
        self.root = root
        self.global_args = global_args or []
        self.port = port or free_port()
        self.token_file = os.path.join(workdir, "tokens")
        self.log_path = os.path.join(workdir, f"server-{self.port}.log")
        self.extra = extra or []
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{self.TOKEN} rw * writer\n{self.READ_TOKEN} r * reader\n{self.MNIST_TOKEN} rw mnist mnist-only\n")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunshipServer:
        root_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {**os.environ, "PYTHONPATH": root_dir, **S3_ENV}
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runship.cli",
                *self.global_args,
                "serve",
                "--root",
                self.root,
                "--port",
                str(self.port),
                *(["--no-auth"] if self.no_auth else ["--token-file", self.token_file]),
                *self.extra,
            ],
            env=env,
            stdout=self._log,
            stderr=self._log,
            preexec_fn=self._limit if self.nofile else None,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1)
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"runship serve exited: {open(self.log_path).read()[-2000:]}")
                time.sleep(0.05)
                continue
            time.sleep(0.05)
            if self.proc.poll() is not None:  # the answer came from another process on that port
                raise RuntimeError(f"runship serve exited: {open(self.log_path).read()[-2000:]}")
            return self
        raise RuntimeError("runship serve did not start")

    def _limit(self) -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def kill(self, sig=9) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(sig)
        code = self.proc.wait(60)
        self.proc = None
        self._log.close()
        return code

    def stop(self) -> None:
        if self.proc is not None:
            self.kill(15)

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()


def serve_connections(port: int, handle) -> object:
    """A threading TCP server on 127.0.0.1:``port`` (0: a free one) calling
    ``handle(sock)`` for each connection, serving in a daemon thread."""
    import socketserver
    import threading

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            handle(self.request)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class FaultyHttpProxy:
    """An HTTP proxy on 127.0.0.1 that injects faults into a share of the
    requests: 500, 503 SlowDown, connection resets before or after the
    upstream saw the request, truncated responses, multi-second delays.
    ``before(method, target)``, when set, is called before a request that
    passes is sent upstream: a test acts there, at that exact moment, as
    another client of the upstream would."""

    FAULTS = ("500", "503", "reset", "reset-after", "truncate", "delay")
    HANG = "hang"  # accept the request, never answer (not in the random mix)

    def __init__(self, upstream_port: int, rate: float = 0.3, seed: int = 0, delay: float = 2.0):
        import random
        import threading

        self.upstream = upstream_port
        self.rate = rate
        self.delay = delay
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.hang = False
        self.faults = self.FAULTS  # the mix drawn from; a test may narrow it to faults that always fail
        self.before = None  # called with (method, target) before a request goes upstream
        self.server = serve_connections(0, self._handle)
        self.port = self.server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _pick(self) -> str:
        with self.lock:
            if self.hang:
                fault = self.HANG
            else:
                fault = self.rnd.choice(self.faults) if self.rnd.random() < self.rate else "pass"
            self.counts[fault] = self.counts.get(fault, 0) + 1
            return fault

    def _handle(self, sock: socket.socket) -> None:
        import struct

        f = sock.makefile("rb")
        while (request := read_request(f, sock)) is not None:
            method, target, headers, body = request
            fault = self._pick()

            def reset():
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()

            if fault == "reset":
                return reset()
            if fault == self.HANG:
                time.sleep(3600)
                return None
            if fault in ("500", "503"):
                text = (
                    b"<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"
                    if fault == "503"
                    else b"boom"
                )
                sock.sendall(
                    b"HTTP/1.1 %s Error\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                    % (fault.encode(), len(text), text)
                )
                sock.close()
                return
            if fault == "delay":
                time.sleep(self.delay)
            if self.before is not None:
                self.before(method, target)
            status, reason, out_headers, data = forward(self.upstream, method, target, headers, body)
            if fault == "reset-after":  # the upstream did it; the client never hears
                return reset()
            if fault == "truncate" and method != "HEAD" and len(data) > 1:
                send_response(sock, method, status, reason, out_headers, data, cut=len(data) // 2)
                return reset()
            send_response(sock, method, status, reason, out_headers, data)
            sock.close()
            return


def read_request(f, sock: socket.socket) -> tuple[str, str, list, bytes] | None:
    """One HTTP/1.1 request from a client (Content-Length bodies, as runship's
    and botocore's clients send): (method, target, headers, body), None at
    the end of the connection. Answers ``Expect: 100-continue`` itself."""
    line = f.readline()
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers = []
    length = 0
    while (h := f.readline()) not in (b"\r\n", b"\n", b""):
        name, value = h.decode("latin-1").split(":", 1)
        headers.append((name.strip(), value.strip()))
        if name.strip().lower() == "content-length":
            length = int(value)
    if any(k.lower() == "expect" and v.lower() == "100-continue" for k, v in headers):
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        headers = [(k, v) for k, v in headers if k.lower() != "expect"]
    body = f.read(length) if length else b""
    return method, target, headers, body


def forward(port: int, method: str, target: str, headers: list, body: bytes, timeout: float = 30):
    """The request sent on to 127.0.0.1:port: (status, reason, headers, body)
    of its answer, the hop-by-hop headers left out. A refused connection
    raises ConnectionRefusedError before anything was sent."""
    import http.client

    up = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        up.connect()
        hdrs = {k: v for k, v in headers if k.lower() not in ("connection", "content-length")}
        up.request(method, target, body=body if body or method in ("PUT", "POST", "PATCH") else None, headers=hdrs)
        resp = up.getresponse()
        data = resp.read()
    finally:
        up.close()
    skip = ("connection", "content-length", "transfer-encoding")
    return resp.status, resp.reason, [(k, v) for k, v in resp.getheaders() if k.lower() not in skip], data


def send_response(sock, method: str, status: int, reason: str, headers: list, data: bytes, cut: int | None = None):
    """An answer with ``Connection: close`` (the client's next request comes
    on a new connection); ``cut``: only that many bytes of the body."""
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    head += f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    body = b"" if method == "HEAD" else data if cut is None else data[:cut]
    sock.sendall(head.encode("latin-1") + body)


class BalancingProxy:
    """A load balancer on 127.0.0.1 in front of several servers (as nginx's
    round-robin ``upstream``): each request goes to the next upstream in turn
    (every answer closes its connection, so a client's next request may reach
    another server); an upstream that refuses the connection is skipped for
    the next (nginx's ``proxy_next_upstream error``); with none left the
    answer is 502. ``stop()`` takes the whole service away (refused
    connections, requests in flight cut); ``start()`` brings it back on the
    same port. Counts requests per upstream and 5xx answered by upstreams."""

    def __init__(self, upstream_ports: list[int], port: int | None = None):
        import threading

        self.upstreams = list(upstream_ports)
        self.port = port or free_port()
        self.lock = threading.Lock()
        self.turn = 0
        self.requests = dict.fromkeys(self.upstreams, 0)
        self.upstream_5xx: list[tuple[int, str, str, int]] = []  # (port, method, path, status)
        self.skipped = 0  # requests that found an upstream down and went to the next
        self.no_upstream = 0  # 502s: every upstream down
        self._server = None
        self._socks: set[socket.socket] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BalancingProxy:
        self._server = serve_connections(self.port, self._handle)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self.lock:
            socks, self._socks = self._socks, set()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _order(self) -> list[int]:
        with self.lock:
            self.turn += 1
            k = self.turn % len(self.upstreams)
        return self.upstreams[k:] + self.upstreams[:k]

    def _handle(self, sock: socket.socket) -> None:
        import http.client

        with self.lock:
            self._socks.add(sock)
        try:
            request = read_request(sock.makefile("rb"), sock)
            if request is not None:
                self._relay(sock, *request)
        except (OSError, http.client.HTTPException):
            pass  # the client went away, stop() cut the connection, or the upstream died mid-answer
        finally:
            with self.lock:
                self._socks.discard(sock)
            sock.close()

    def _relay(self, sock: socket.socket, method: str, target: str, headers: list, body: bytes) -> None:
        for port in self._order():
            try:
                status, reason, out_headers, data = forward(port, method, target, headers, body)
            except ConnectionRefusedError:
                with self.lock:
                    self.skipped += 1
                continue
            with self.lock:
                self.requests[port] += 1
                if status >= 500:
                    self.upstream_5xx.append((port, method, target.split("?")[0], status))
            send_response(sock, method, status, reason, out_headers, data)
            return
        with self.lock:
            self.no_upstream += 1
        send_response(sock, method, 502, "Bad Gateway", [], b"no upstream answers")


class UIServer:
    """``runship ui ROOTS`` in a subprocess on 127.0.0.1 (or ``host``) and a
    free port, with a token of the test's (``--ui-token-file``) unless
    ``no_token``, or ``random_token``: the one it makes and prints (then
    ``token`` and ``signin_url`` are read from what it printed)."""

    TOKEN = "ui-token-0123456789abcdef0123456789"

    def __init__(
        self,
        roots: list[str],
        workdir: str,
        no_token: bool = False,
        extra: list[str] | None = None,
        token: str | None = None,
        nofile: int | None = None,
        host: str = "127.0.0.1",
        random_token: bool = False,
        global_args: list[str] | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ):
        self.env = env or {}  # more of the environment (after RUNSHIP_* and WANDB_* are taken out)
        self.global_args = global_args or []  # options before ``ui`` (--token-file for a server's runs)
        self.roots = roots
        self.host = host
        self.random_token = random_token
        self.signin_url = ""
        self.port = port or free_port()
        self.no_token = no_token
        self.extra = extra or []
        self.token = token or self.TOKEN
        self.nofile = nofile  # the server's open-file limit (soft and hard), as for RunshipServer
        self.token_file = os.path.join(workdir, f"ui-token-{self.port}")
        self.log_path = os.path.join(workdir, f"ui-{self.port}.log")
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.token + "\n")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> UIServer:
        root_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNSHIP_", "WANDB_"))}
        env.update(PYTHONPATH=root_dir, **S3_ENV)
        if os.environ.get("XDG_CACHE_HOME"):
            env["XDG_CACHE_HOME"] = os.environ["XDG_CACHE_HOME"]
        env.update(self.env)
        auth = ["--no-token"] if self.no_token else [] if self.random_token else ["--ui-token-file", self.token_file]
        if self.host != "127.0.0.1":
            auth += ["--host", self.host]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runship.cli",
                *self.global_args,
                "ui",
                *self.roots,
                "--port",
                str(self.port),
                *auth,
                *self.extra,
            ],
            env=env,
            stdout=self._log,
            stderr=self._log,
            preexec_fn=self._limit if self.nofile else None,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    pass
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"runship ui exited: {self.log()[-2000:]}")
                time.sleep(0.05)
                continue
            return self._read_url()
        raise RuntimeError("runship ui did not start")

    def _read_url(self) -> UIServer:
        """The URL it printed (printed as it starts to listen), and its token when random."""
        import re

        deadline = time.time() + 10
        while (found := re.search(r"open (http://\S+)", self.log())) is None:
            if time.time() > deadline:
                raise RuntimeError(f"runship ui printed no URL: {self.log()[-2000:]}")
            time.sleep(0.05)
        self.signin_url = found.group(1)
        if self.random_token:
            self.token = self.signin_url.partition("#token=")[2]
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
            self.proc = None
            self._log.close()

    def kill(self, sig: int) -> int:
        """Send ``sig``; the exit status it ended with (as RunshipServer.kill)."""
        if self.proc is None:
            return 0
        self.proc.send_signal(sig)
        code = self.proc.wait(60)
        self.proc = None
        self._log.close()
        return code

    def _limit(self) -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()
