"""WSGI app the end-to-end tests run under real gunicorn (sync workers).

Every endpoint reports what the app itself saw, so tests can check what reached it:
  /hello                 small JSON
  /echo                  length, sha256, CONTENT_LENGTH, Transfer-Encoding and forwarded headers of the body it got
  /headers               the request headers as JSON
  /raw/...               the target as gunicorn got it (RAW_URI), and its decoded path and query
  /nonascii-headers      headers with bytes above 0x7F: a latin-1 filename (Django's encoding) and a UTF-8 one
  /big?size=N            N bytes (default 1 MiB) of a repeating pattern
  /big?size=N&numbered=1 N bytes (a multiple of 8) where each 8-byte word is its own index, big-endian: no two ranges alike
  /sleep?s=F             sleeps F seconds, then answers
  /stream?n=N&delay=F    N chunks, F seconds apart, with X-Accel-Buffering: no
  /trickle?n=N&delay=F   the same without X-Accel-Buffering (a slow streamed export)
  /chunked?n=N           N lines "chunk i", chunked (no Content-Length), bufferable
  /sse?n=N&delay=F       text/event-stream, N events
  /events/...?until=P    text/event-stream: one event, then waits (up to 20 s) for file P to exist, then a last event
  /api/upload            same as /echo (the upload route of the example configs)
  /status/N              answers with status N
  /status/N?body=TEXT    the same, with TEXT as the body and its Content-Length whatever the status (an app bug)
  /accel?path=P&type=T   X-Accel-Redirect to P (with Content-Type T when given)
  /page?size=N           N bytes of text/html (compressible), with a strong ETag and Accept-Ranges; 304 when If-None-Match holds it, weak or strong
  /truncated?size=N      promises N bytes, sends half, then the worker process dies
  /die                   the worker process dies before answering (as when the OOM killer or gunicorn's timeout ends it)
  /stall?size=N&s=F      promises N bytes, sends half, waits F seconds, then sends the rest
  /gzipped?size=N        the same page, already gzip-encoded by the app (Content-Encoding: gzip)
  /seen                  requests the app has received (per worker pid), to prove rejected requests never arrived
  /concurrency           highest number of requests in progress at once across workers
"""
import array
import hashlib
import json
import os
import sys
import time
from urllib.parse import parse_qs

STATE_DIR = os.environ.get("TESTAPP_STATE_DIR", "/tmp")
PATTERN = bytes(range(256)) * 4096  # 1 MiB


def _state_path(name):
    return os.path.join(STATE_DIR, name)


def _bump(name, delta):
    """A counter shared by all workers through a file, under an exclusive lock."""
    import fcntl
    with open(_state_path(name), "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read().strip()
        value = int(text) if text else 0
        value += delta
        f.seek(0)
        f.truncate()
        f.write(str(value))
        return value


def _peak(current):
    import fcntl
    with open(_state_path("peak"), "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read().strip()
        peak = max(int(text) if text else 0, current)
        f.seek(0)
        f.truncate()
        f.write(str(peak))


def _json(start_response, obj, status="200 OK", extra=()):
    body = json.dumps(obj).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if path != "/seen":
        _bump("seen", 1)
    in_progress = _bump("inflight", 1)
    _peak(in_progress)
    try:
        return _route(path, query, environ, start_response)
    finally:
        _bump("inflight", -1)


def _route(path, query, environ, start_response):
    if path == "/hello":
        return _json(start_response, {"hello": "world"})
    if path in ("/echo", "/api/upload"):
        body = environ["wsgi.input"].read()
        return _json(start_response, {
            "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "content_length": environ.get("CONTENT_LENGTH"),
            "transfer_encoding": environ.get("HTTP_TRANSFER_ENCODING"),
            "expect": environ.get("HTTP_EXPECT"),
        })
    if path.startswith("/raw/"):
        return _json(start_response, {"raw_uri": environ.get("RAW_URI"), "path": path, "query": environ.get("QUERY_STRING")})
    if path == "/headers":
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        headers["Remote-Addr"] = environ.get("REMOTE_ADDR")
        return _json(start_response, headers)
    if path == "/nonascii-headers":
        # WSGI header values are latin-1 strings: each character is one byte on the wire (PEP 3333).
        return _json(start_response, {}, extra=[
            ("Content-Disposition", 'attachment; filename="caf\u00e9.txt"'),
            ("X-Utf8-Name", "caf\u00e9".encode("utf-8").decode("latin-1")),
        ])
    if path == "/big":
        size = int(query.get("size", [str(1 << 20)])[0])
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        if query.get("numbered"):
            words = array.array("Q", range(size // 8))
            if sys.byteorder == "little":
                words.byteswap()
            return [words.tobytes()]
        return _chunks(size)
    if path == "/die":
        os._exit(1)
    if path == "/truncated":
        size = int(query.get("size", [str(4 << 20)])[0])
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return _die_halfway(size)
    if path == "/stall":
        size = int(query.get("size", ["1000"])[0])
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return _stall_halfway(size, float(query.get("s", ["1"])[0]))
    if path == "/sleep":
        time.sleep(float(query.get("s", ["1"])[0]))
        return _json(start_response, {"slept": True, "pid": os.getpid()})
    if path == "/chunked":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return _slow(int(query.get("n", ["3"])[0]), 0, False)
    if path in ("/stream", "/sse", "/trickle"):
        n = int(query.get("n", ["3"])[0])
        delay = float(query.get("delay", ["0.5"])[0])
        headers = {"/sse": [("Content-Type", "text/event-stream")], "/trickle": [("Content-Type", "text/plain")]}.get(
            path, [("Content-Type", "text/plain"), ("X-Accel-Buffering", "no")])
        start_response("200 OK", headers)
        return _slow(n, delay, path == "/sse")
    if path.startswith("/events/"):
        start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
        return _until(query.get("until", [""])[0])
    if path.startswith("/status/"):
        code = int(path.rsplit("/", 1)[1])
        if "body" in query:
            body = query["body"][0].encode()
            start_response(f"{code} Status", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        if code in (204, 304):
            start_response(f"{code} Status", [])
            return [b""]
        return _json(start_response, {"status": code}, status=f"{code} Status")
    if path == "/accel":
        target = query.get("path", ["/protected/file.txt"])[0]
        extra = [("Content-Type", query["type"][0])] if "type" in query else []
        start_response("200 OK", [("X-Accel-Redirect", target), ("Content-Disposition", "attachment"), ("Content-Length", "0")] + extra)
        return [b""]
    if path == "/page":
        size = int(query.get("size", ["20000"])[0])
        body = (b"<p>sidecar static and dynamic compression</p>\n" * (size // 46 + 1))[:size]
        etag = '"page-%d"' % size
        # Weak comparison, as Django's ConditionalGetMiddleware makes; the 304 carries the strong ETag the app knows.
        if etag in environ.get("HTTP_IF_NONE_MATCH", ""):
            start_response("304 Not Modified", [("ETag", etag)])
            return [b""]
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(size)), ("ETag", etag), ("Accept-Ranges", "bytes")])
        return [body]
    if path == "/gzipped":
        import gzip
        size = int(query.get("size", ["20000"])[0])
        body = gzip.compress((b"<p>sidecar static and dynamic compression</p>\n" * (size // 46 + 1))[:size])
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/seen":
        with open(_state_path("seen"), "a+") as f:
            f.seek(0)
            text = f.read().strip()
        return _json(start_response, {"seen": int(text) if text else 0})
    if path == "/concurrency":
        with open(_state_path("peak"), "a+") as f:
            f.seek(0)
            text = f.read().strip()
        return _json(start_response, {"peak": int(text) if text else 0})
    return _json(start_response, {"error": "not found", "path": path}, status="404 Not Found")


def _chunks(size):
    sent = 0
    while sent < size:
        n = min(len(PATTERN), size - sent)
        yield PATTERN[:n]
        sent += n


def _die_halfway(size):
    """Sends half the promised body, then the worker dies: an upstream failing mid-response."""
    yield PATTERN[: size // 2] if size // 2 <= len(PATTERN) else PATTERN
    os._exit(1)


def _stall_halfway(size, delay):
    yield PATTERN[: size // 2]
    time.sleep(delay)
    yield PATTERN[size // 2: size]


def _slow(n, delay, sse):
    for i in range(n):
        yield (f"data: event {i}\n\n" if sse else f"chunk {i}\n").encode()
        time.sleep(delay)


def _until(signal):
    """Streams one event, then holds the response open until the test says so: proof of streaming without timing."""
    yield b"data: first\n\n"
    deadline = time.time() + 20
    while signal and not os.path.exists(signal) and time.time() < deadline:
        time.sleep(0.05)
    yield b"data: last\n\n"
