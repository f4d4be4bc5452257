"""How fast is this machine? Three small fixed workloads, to compare benchmark figures across machines.

The benchmarks' targets are set "on a 2-core machine", but two 2-core
machines can differ threefold (a nested virtual machine pays dearly for
every context switch and loopback round trip). Run this beside a benchmark
and record its line with the figures:

- ``python``: seconds for a fixed pure-Python loop (10M additions), the
  single-core interpreter speed (imports, parsing, composing);
- ``roundtrip``: microseconds per request/answer over a loopback TCP socket
  between two processes, what a database statement or an HTTP callback
  costs beyond its work;
- ``postgres``: microseconds per ``SELECT 1`` through psycopg on
  127.0.0.1:5432 (skipped when no server answers).

    .venv/bin/python bench/machine.py
"""

from __future__ import annotations

import os
import socket
import statistics
import time
from multiprocessing import Process


def python_loop() -> float:
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    assert total == 49_999_995_000_000
    return time.perf_counter() - started


def _echo(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        while data := conn.recv(64):
            conn.sendall(data)


def roundtrip(count: int = 20_000) -> float:
    """Microseconds per 64-byte ping-pong with another process over loopback TCP."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        echo = Process(target=_echo, args=(server.getsockname()[1],))
        echo.start()
        conn, _ = server.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = time.perf_counter()
            for _ in range(count):
                conn.sendall(b"x" * 64)
                received = 0
                while received < 64:
                    received += len(conn.recv(64))
            took = time.perf_counter() - started
        echo.join()
    return took / count * 1e6


def postgres(count: int = 5_000) -> float | None:
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", connect_timeout=2) as db:
            started = time.perf_counter()
            for _ in range(count):
                db.execute("SELECT 1").fetchone()
            return (time.perf_counter() - started) / count * 1e6
    except Exception:
        return None


def main() -> None:
    loops = [python_loop() for _ in range(3)]
    trips = [roundtrip() for _ in range(3)]
    pg = postgres()
    print(
        f"machine  python {statistics.median(loops):.2f} s (10M additions)"
        f"; roundtrip {statistics.median(trips):.0f} µs (loopback TCP)"
        + (f"; postgres SELECT 1 {pg:.0f} µs" if pg is not None else "; postgres: not reachable")
        + f"; load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
