"""`pocketgan serve` under hostile load, on loopback only: stalled uploads, a crowd, decode bombs.

Starts ``pocketgan serve --workers 2`` (the bundled model unless ``--model``) in a subprocess on
127.0.0.1 with a private model home, then measures:

1. **stalled uploads**: 33 connections each send the headers and a few hundred bytes of an upload,
   then go quiet; once from one address (127.0.0.2) and once from 33 addresses. While they stall,
   60 honest clients (60 addresses) upload a small photo at once, and one more honest client (the
   probe) uploads; reported: what the stalled connections got and when, the honest answers (200 /
   503 / 429) with latencies, and whether the probe was served within 5 s (it retries a 503 after
   0.25 s, as a patient client would).
2. **decode cases**: uploads chosen to cost decoding time and memory (a 121 KB PNG declaring
   8000x8000 16-bit, 4096x4096 16-bit PNGs, progressive and baseline JPEGs declaring up to 64 Mpx,
   WebP/GIF at 4096x4096, PostScript labelled image/jpeg), sent four at a time; reported: status,
   seconds, and the server's RSS (its peak over the phase is read from /proc/PID/status VmHWM, reset
   after start-up through /proc/PID/clear_refs, and by sampling VmRSS every 20 ms).

Loopback addresses other than 127.0.0.1 stand in for other clients (Linux routes all of 127/8 to
the loopback interface; 127.0.0.1 itself is a trusted proxy address, exempt from per-client caps).

    python benchmarks/hostile_load.py            # ~2-3 min on 2 CPU cores (most of it the ONNX export)
    python benchmarks/hostile_load.py --quick    # fewer decode cases
"""
from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

BOUNDARY = "pocketganbenchmark"


def multipart(data: bytes, name: str, ctype: str) -> bytes:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
            f"Content-Type: {ctype}\r\n\r\n").encode()
    return head + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def request_head(port: int, length: int) -> bytes:
    return (f"POST /api/translate?direction=AtoB HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\n\r\n").encode()


def read_response(sock: socket.socket, timeout: float) -> tuple[int, dict, bytes]:
    """(status, headers, body) of one HTTP/1.1 response with a Content-Length; status 0 if the
    server closed the connection without answering."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return 0, {}, b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def upload(port: int, source: str, data: bytes, name: str, ctype: str, timeout: float = 120) -> tuple[int, float, bytes]:
    """One upload from ``source`` (a loopback address): (status, seconds, body)."""
    body = multipart(data, name, ctype)
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0)) as s:
        s.sendall(request_head(port, len(body)) + body)
        status, _, payload = read_response(s, timeout)
    return status, time.perf_counter() - start, payload


class Stalled:
    """A connection that sends the headers and ``sent`` bytes of a 300 KB upload, then goes quiet."""

    def __init__(self, port: int, source: str, sent: int = 300) -> None:
        self.opened = time.perf_counter()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
        body = multipart(bytes(300_000), "stall.jpg", "image/jpeg")
        self.sock.sendall(request_head(port, len(body)) + body[:sent])
        self.status: int | None = None
        self.after: float | None = None
        self._waiter = threading.Thread(target=self._wait, args=(40,), daemon=True)
        self._waiter.start()

    def _wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the server's answer (or its closing the connection)."""
        try:
            self.status, _, _ = read_response(self.sock, timeout)
            self.after = time.perf_counter() - self.opened
        except TimeoutError:
            self.status = None
        except OSError:
            self.status, self.after = 0, time.perf_counter() - self.opened

    def wait(self, timeout: float) -> None:
        self._waiter.join(timeout)

    def close(self) -> None:
        self.sock.close()


# --------------------------------------------------------------------------- test images

def photo(size=(320, 240), seed=0, fmt="JPEG") -> bytes:
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, np.full((h, w), 100.0)], -1)
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def zero_png(w: int, h: int, bitdepth: int, colortype: int) -> bytes:
    """A valid PNG of w x h whose pixels are all zero: a small file that declares a big image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colortype]
    row = bytes(1 + w * channels * bitdepth // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, bitdepth, colortype, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def pattern(w: int, h: int) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w]
    return Image.fromarray(np.stack([(xx // 32) % 256, (yy // 32) % 256, ((xx + yy) // 64) % 256], -1).astype(np.uint8))


def decode_cases(quick: bool) -> list[tuple[str, bytes, str]]:
    cases = [("png 8000x8000 16-bit gray (zeros)", zero_png(8000, 8000, 16, 0), "image/png"),
             ("png 4096x4096 16-bit gray", zero_png(4096, 4096, 16, 0), "image/png"),
             ("png 4096x4096 16-bit RGBA", zero_png(4096, 4096, 16, 6), "image/png")]
    big = pattern(8192, 8192)
    for label, size, kw in (("jpeg 8192x8192 progressive 4:4:4", 8192, dict(progressive=True, subsampling=0)),
                            ("jpeg 5600x5600 progressive 4:4:4", 5600, dict(progressive=True, subsampling=0)),
                            ("jpeg 5600x5600 baseline 4:2:0", 5600, {})):
        if quick and "baseline" in label:
            continue
        buf = io.BytesIO()
        (big if size == 8192 else big.resize((size, size))).save(buf, "JPEG", quality=85, **kw)
        cases.append((label, buf.getvalue(), "image/jpeg"))
    if not quick:
        mid = big.resize((4096, 4096))
        for label, fmt, kw in (("webp 4096x4096", "WEBP", {"quality": 50}), ("gif 4096x4096", "GIF", {})):
            buf = io.BytesIO()
            (mid.convert("P") if fmt == "GIF" else mid).save(buf, fmt, **kw)
            cases.append((label, buf.getvalue(), f"image/{fmt.lower()}"))
    cases.append(("PostScript labelled image/jpeg", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
                  "image/jpeg"))
    return cases


# --------------------------------------------------------------------------- the server

def memory(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, memory(self.pid)["VmRSS"])
            except OSError:
                return
            time.sleep(0.02)


def start_server(args, home: str) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "pocketgan", "serve", "--workers", "2", "--port", str(port)]
    if args.model:
        cmd += ["--model", args.model]
    env = {**os.environ, "POCKETGAN_HOME": home}
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + args.start_timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {server.stdout.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
                if read_response(c, 5)[0] == 200:
                    return server, port
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the server did not start in time")


def health(port: int) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())  # the server checks Host
        return json.loads(read_response(c, 5)[2])


# --------------------------------------------------------------------------- scenarios

def stall_scenario(port: int, label: str, sources: list[str], honest: int, probe_budget: float) -> list[list[str]]:
    stalled = []
    refused_at_connect = 0
    for i in range(33):
        try:
            stalled.append(Stalled(port, sources[i % len(sources)]))
        except OSError:
            refused_at_connect += 1
    time.sleep(0.3)  # let the server see them all
    receiving = health(port).get("receiving")
    images = [photo(seed=i) for i in range(honest)]
    with ThreadPoolExecutor(honest + 1) as ex:
        start = time.perf_counter()
        crowd = [ex.submit(upload, port, f"127.0.1.{i + 1}", images[i], f"{i}.jpg", "image/jpeg") for i in range(honest)]

        def probe():
            tries, t0 = 0, time.perf_counter()
            while True:
                tries += 1
                status, _, _ = upload(port, "127.0.2.1", photo(seed=999), "probe.jpg", "image/jpeg", timeout=30)
                if status != 503 or time.perf_counter() - t0 > probe_budget:
                    return status, time.perf_counter() - t0, tries
                time.sleep(0.25)
        probe_result = ex.submit(probe)
        results = [f.result() for f in crowd]
        crowd_seconds = time.perf_counter() - start
        p_status, p_seconds, p_tries = probe_result.result()
    for s in stalled:
        s.wait(timeout=30)
    answers: dict[str, list[float]] = {}
    for s in stalled:
        key = "closed" if s.status == 0 else ("no answer in 30 s" if s.status is None else str(s.status))
        answers.setdefault(key, []).append(s.after if s.after is not None else float("nan"))
    for s in stalled:
        s.close()
    codes: dict[int, int] = {}
    for status, _, _ in results:
        codes[status] = codes.get(status, 0) + 1
    ok = sorted(sec for status, sec, _ in results if status == 200)
    p95 = ok[max(0, int(len(ok) * 0.95) - 1)] if ok else float("nan")
    served = p_status == 200 and p_seconds <= probe_budget
    return [
        [f"{label}: stalled connections", f"33 opened ({refused_at_connect} refused at connect); "
                                          f"{receiving} uploads receiving once all were open"],
        ["  what they got", ", ".join(f"HTTP {k}: {len(v)} after {min(v):.1f}-{max(v):.1f} s"
                                      for k, v in sorted(answers.items()))],
        [f"  {honest} honest uploads at once", ", ".join(f"{k}: {v}" for k, v in sorted(codes.items()))
         + (f"; 200s in median {statistics.median(ok):.2f} s, p95 {p95:.2f} s, all done in {crowd_seconds:.1f} s"
            if ok else "")],
        ["  probe: an honest client", f"{'SERVED' if served else 'NOT served'}: HTTP {p_status} after "
                                      f"{p_seconds:.2f} s ({p_tries} tr{'y' if p_tries == 1 else 'ies'}; limit "
                                      f"{probe_budget:g} s)"],
    ]


def decode_scenario(port: int, pid: int, quick: bool) -> tuple[list[list[str]], dict]:
    cases = decode_cases(quick)
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM: the start-up (model export) does not count
    except OSError:
        pass
    base = memory(pid)
    sampler = Sampler(pid)
    sampler.start()
    rows = []
    with ThreadPoolExecutor(4) as ex:
        futures = [(label, len(data), ex.submit(upload, port, f"127.0.3.{i + 1}", data, f"case{i}", ctype))
                   for i, (label, data, ctype) in enumerate(cases)]
        for label, size, fut in futures:
            status, seconds, body = fut.result()
            detail = ""
            if status != 200:
                try:
                    detail = json.loads(body)["error"][:90]
                except (ValueError, KeyError):
                    detail = body[:60].decode("latin-1")
            else:
                detail = "translated: {}x{} PNG".format(*Image.open(io.BytesIO(body)).size)
            rows.append([label, f"{size / 1e3:,.0f} KB", str(status), f"{seconds:.2f}", detail])
    sampler.stop.set()
    sampler.join()
    after = memory(pid)
    figures = {"rss_before": base["VmRSS"], "rss_after": after["VmRSS"], "peak_hwm": after.get("VmHWM", 0),
               "peak_sampled": sampler.peak}
    return rows, figures


def table(rows: list[list[str]], header: list[str] | None = None) -> str:
    rows = ([header] if header else []) + rows
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    if header:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="model to serve (default: the bundled summer2winter)")
    ap.add_argument("--honest", type=int, default=60, help="concurrent honest uploads (default: 60)")
    ap.add_argument("--probe-budget", type=float, default=5.0, help="seconds the probe client may take (default: 5)")
    ap.add_argument("--start-timeout", type=float, default=600)
    ap.add_argument("--quick", action="store_true", help="fewer decode cases")
    args = ap.parse_args()
    if not sys.platform.startswith("linux"):
        raise SystemExit("needs Linux (127/8 source addresses, /proc)")
    with tempfile.TemporaryDirectory(prefix="pocketgan-hostile-") as home:
        t0 = time.perf_counter()
        server, port = start_server(args, home)
        print(f"server: pid {server.pid}, port {port}, started in {time.perf_counter() - t0:.0f} s, "
              f"RSS {memory(server.pid)['VmRSS'] / 2**20:.0f} MiB", flush=True)
        try:
            rows = stall_scenario(port, "A. one address", ["127.0.0.2"], args.honest, args.probe_budget)
            time.sleep(1)
            rows += stall_scenario(port, "B. 33 addresses", [f"127.0.4.{i + 1}" for i in range(33)], args.honest,
                                   args.probe_budget)
            print()
            print(table(rows))
            time.sleep(1)
            decode_rows, mem = decode_scenario(port, server.pid, args.quick)
            print()
            print(table(decode_rows, ["decode case (4 at a time)", "upload", "HTTP", "s", "answer"]))
            mib = 2 ** 20
            print(f"\nserver RSS: {mem['rss_before'] / mib:.0f} MiB before the decode cases, "
                  f"peak {max(mem['peak_hwm'], mem['peak_sampled']) / mib:.0f} MiB (VmHWM {mem['peak_hwm'] / mib:.0f}, "
                  f"sampled {mem['peak_sampled'] / mib:.0f}), {mem['rss_after'] / mib:.0f} MiB after; target < 1024 MiB")
            print(f"server still healthy: {health(port)}")
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()
