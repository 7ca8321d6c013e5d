"""An open-loop HTTP load generator: Poisson arrivals at an offered rate, latency from the scheduled send time.

A request is sent when its time comes whether or not earlier ones have been answered (a closed-loop tool
such as wrk waits, and so hides the queue a slow server builds). Raw asyncio streams, one connection per
request (gunicorn's sync workers close it after each answer): light enough to share a 2-core machine, and
it reports its own CPU use.
"""

from __future__ import annotations

import asyncio
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    kind: str  # the label results are grouped by
    path: str
    cookie: str = ""
    method: str = "GET"
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def raw(self, host: str) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}", "Connection: close",
                 "User-Agent: portal-bench", "Accept: text/html,application/json"]
        if self.cookie:
            lines.append(f"Cookie: {self.cookie}")
        lines += [f"{k}: {v}" for k, v in self.headers]
        if self.body or self.method != "GET":
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Outcome:
    latencies: dict[str, list[float]] = field(default_factory=dict)  # kind -> ms, answered requests
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> status (or error name) -> count

    def add(self, kind: str, status: str, ms: float | None) -> None:
        counts = self.statuses.setdefault(kind, {})
        counts[status] = counts.get(status, 0) + 1
        if ms is not None:
            self.latencies.setdefault(kind, []).append(ms)


async def _one(host: str, port: int, request: Request, scheduled: float, timeout: float, out: Outcome) -> None:
    loop = asyncio.get_running_loop()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request.raw(f"{host}:{port}"))
            await writer.drain()
            head = await reader.readline()
            await reader.read()  # to the end: the server closes the connection
        status = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "bad-response"
        out.add(request.kind, status, (loop.time() - scheduled) * 1000)
    except TimeoutError:
        out.add(request.kind, "timeout", None)
    except OSError as error:
        out.add(request.kind, type(error).__name__, None)
    finally:
        if writer is not None:
            writer.close()


async def _run(host: str, port: int, requests: list[Request], rate: float, seconds: float, seed: int,
               timeout: float, max_in_flight: int) -> tuple[Outcome, int, int, float]:
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    out, tasks, dropped = Outcome(), set(), 0
    start = loop.time() + 0.05
    at, n = start, 0
    while at < start + seconds:
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        request = requests[n % len(requests)]
        n += 1
        if len(tasks) >= max_in_flight:
            dropped += 1
            out.add(request.kind, "dropped", None)
        else:
            task = asyncio.create_task(_one(host, port, request, at, timeout, out))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        at += rng.expovariate(rate)
    sent_for = loop.time() - start
    if tasks:
        await asyncio.wait(tasks)
    return out, n, dropped, sent_for


def run(host: str, port: int, requests: list[Request], rate: float, seconds: float, *, seed: int = 1,
        timeout: float = 30.0, max_in_flight: int = 2000) -> dict:
    """Offer `rate` requests a second for `seconds`, cycling through `requests` (shuffle them first)."""
    cpu, wall = time.process_time(), time.perf_counter()
    # A loop of its own in a thread of its own: the caller may already run an event loop (a browser test's).
    with ThreadPoolExecutor(1) as pool:
        out, sent, dropped, sent_for = pool.submit(
            lambda: asyncio.run(_run(host, port, requests, rate, seconds, seed, timeout, max_in_flight))).result()
    wall = time.perf_counter() - wall
    everything = [ms for values in out.latencies.values() for ms in values]
    # Errors: 5xx, timeouts, refused or reset connections, requests dropped; 4xx are counted apart.
    errors = sum(c for counts in out.statuses.values() for s, c in counts.items() if s[:1] not in "234")
    server_errors = sum(c for counts in out.statuses.values() for s, c in counts.items() if s.startswith("5"))
    client_errors = sum(c for counts in out.statuses.values() for s, c in counts.items() if s.startswith("4"))
    return {
        "offered_rps": rate, "seconds": round(sent_for, 2), "sent": sent, "answered": len(everything),
        "achieved_rps": round(len(everything) / wall, 1) if wall else 0, "dropped": dropped,
        "errors": errors, "http_4xx": client_errors, "http_5xx": server_errors,
        "p50_ms": _r(percentile(everything, 50)), "p95_ms": _r(percentile(everything, 95)),
        "p99_ms": _r(percentile(everything, 99)), "max_ms": _r(max(everything) if everything else None),
        "generator_cpu_percent": round(100 * (time.process_time() - cpu) / wall, 1) if wall else None,
        "by_kind": {kind: {"n": len(out.latencies.get(kind, [])), "statuses": counts,
                           "p50_ms": _r(percentile(out.latencies.get(kind, []), 50)),
                           "p95_ms": _r(percentile(out.latencies.get(kind, []), 95))}
                    for kind, counts in sorted(out.statuses.items())},
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
