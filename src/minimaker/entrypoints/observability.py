"""Health, readiness and Prometheus metrics for many processes behind a load balancer.

- `GET /healthz`: the process answers (liveness); it touches nothing.
- `GET /readyz`: the process can serve: the data database and the key store answer, the schema
  is the code's, the blob store answers. 503 names the checks that failed (names only).
- `GET /metrics`: Prometheus text, only with `Authorization: Bearer <MINIMAKER_METRICS_TOKEN>`
  (404 while no token is set). Request counts and latency per route *template* (never a raw
  path: it holds ids), method and status; job queue depth and outcomes per kind and status;
  outbox messages per status; rights requests overdue and due soon. No label carries an id, a
  name or an address. The database-backed numbers are read at scrape time, so every process
  reports the same fleet-wide values; the request metrics are each process's own.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minimaker.adapters import job_queue, migrate
from minimaker.kernel.container import Container
from minimaker.mail import notices as mail_notices
from minimaker.rights import deadlines

router = APIRouter(include_in_schema=False)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: The label of a request no route matched (a 404's path may be anything: never a label).
UNMATCHED = "unmatched"


class Metrics:
    """One app's metrics, in a registry of its own (tests build many apps in one process)."""

    def __init__(self, container_of: Callable[[], Container]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "minimaker_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "minimaker_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ("route", "method"),
            registry=self.registry,
        )
        self.registry.register(FleetCollector(container_of))


class FleetCollector(Collector):
    """The numbers the database holds for the whole fleet, read at each scrape."""

    def __init__(self, container_of: Callable[[], Container]) -> None:
        self.container_of = container_of  # the app's container at the time of the scrape

    def collect(self) -> Iterator[Metric]:
        c = self.container_of()
        jobs = GaugeMetricFamily(
            "minimaker_jobs", "Jobs in the queue by kind and status.", labels=("kind", "status")
        )
        for kind, status, n in job_queue.depth(c.engine):
            jobs.add_metric((kind, status), n)
        yield jobs
        mail = GaugeMetricFamily(
            "minimaker_outbox_messages", "Outbox messages by status.", labels=("status",)
        )
        with c.uow(write=False) as uow:
            by_status = mail_notices.counts(uow)
        for status, n in by_status.items():
            mail.add_metric((status,), n)
        yield mail
        overdue, soon = deadlines.overdue_and_due_soon(c)
        at_risk = GaugeMetricFamily(
            "minimaker_rights_requests_at_risk",
            "Open rights requests past their legal due date, and due within 7 days.",
            labels=("deadline",),
        )
        at_risk.add_metric(("overdue",), overdue)
        at_risk.add_metric(("due_soon",), soon)
        yield at_risk


class RequestMetrics:
    """Counts each answered request and its latency under the matched route's template."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def seen(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, seen)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = str(scope["method"])
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - started)


def _container(request: Request) -> Container:
    found = request.app.state.container
    assert isinstance(found, Container)
    return found


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """The process can serve requests: 200, or 503 naming the checks that failed."""
    c = _container(request)
    checks = {
        "database": _answers(lambda: _select_one(c, keystore=False)),
        "schema": _answers(lambda: not migrate.pending(c.engine)),
        "key_store": _answers(lambda: _select_one(c, keystore=True)),
        "blob_store": _answers(lambda: c.blobs.store.exists("0" * 32) in (True, False)),
    }
    ready = all(checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


def _select_one(c: Container, *, keystore: bool) -> bool:
    engine = c.key_engine if keystore else c.engine
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1")).scalar() == 1


def _answers(check: Callable[[], object]) -> bool:
    """Whether a check returned True; any error is a failed check (its text never shown)."""
    try:
        return bool(check())
    except Exception:
        return False


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text exposition, for a scraper holding the metrics token."""
    c = _container(request)
    token = c.settings.metrics_token
    given = request.headers.get("authorization", "")
    if token is None:
        return Response(status_code=404)
    expected = f"Bearer {token.get_secret_value()}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    found = request.app.state.metrics
    assert isinstance(found, Metrics)
    return Response(generate_latest(found.registry), media_type=CONTENT_TYPE)
