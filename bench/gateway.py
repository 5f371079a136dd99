"""A card gateway on a local port that answers every request after a fixed latency: the test
gateway of tests/support/gateway_server.py (idempotent by key, a ledger of the charges it executed),
slowed down, in a process of its own so that it does not share the measured process's
interpreter."""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.gateway_server import API_KEY, GatewayHandler, GatewayState  # noqa: E402, F401 (API_KEY for bench.recurring_charge)

STATS_PATH = "/bench/stats"


class LatencyHandler(GatewayHandler):
    server: LatencyServer

    def do_GET(self) -> None:
        if self.path == STATS_PATH:
            return self._answer(200, self.server.stats())
        time.sleep(self.server.latency)
        super().do_GET()

    def do_POST(self) -> None:
        time.sleep(self.server.latency)
        super().do_POST()


class LatencyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # every charge thread connects at once

    def __init__(self, latency: float) -> None:
        super().__init__(("127.0.0.1", 0), LatencyHandler)
        self.state = GatewayState(hold_seconds=0.0, slow_seconds=0.0)
        self.latency = latency

    def stats(self) -> dict:
        state = self.state
        with state.lock:
            return {
                "charge_requests": sum(state.seen.values()),
                "lookups": sum(state.lookups.values()),
                "executed": state.executed_total(),
                "most_executions_of_a_key": max(state.executed.values(), default=0),
                "executed_amount": sum(charge["amount"] for charge in state.charges.values()),
            }


def _serve(latency: float, ports, stop) -> None:
    server = LatencyServer(latency)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ports.put(server.server_address[1])
    stop.wait()
    server.shutdown()
    server.server_close()


@contextmanager
def latency_gateway(latency: float):
    """A fresh gateway (an empty ledger) answering after `latency` seconds; yields its URL."""
    context = multiprocessing.get_context("spawn")
    ports, stop = context.Queue(), context.Event()
    process = context.Process(target=_serve, args=(latency, ports, stop), daemon=True)
    process.start()
    try:
        yield f"http://127.0.0.1:{ports.get(timeout=60)}"
    finally:
        stop.set()
        process.join(10)
        if process.is_alive():
            process.terminate()


def gateway_stats(url: str) -> dict:
    import httpx

    return httpx.get(url + STATS_PATH, timeout=10).json()
