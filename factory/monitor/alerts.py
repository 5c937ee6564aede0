"""Alerts: red health, a failed job, an empty live set, a quarantined file.

Every alert goes to the log (logger ``factory.alerts``, level WARNING, or ERROR for
severity "error"). With ``[alerts] webhook_url`` set, each is also POSTed as JSON::

    {"kind": "health_red", "severity": "error", "subject": "<config id>",
     "message": "...", "at": "2026-12-04T06:00:00+00:00", "detail": {...}}

A delivery that fails (connection refused, timeout, HTTP status >= 400) is logged and
dropped: alerting never stops the daemon. Delivery is at most once (no retry queue).
The standard library's ``urllib`` posts (httpx is only a development dependency).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

log = logging.getLogger("factory.alerts")

AlertKind = Literal["health_red", "job_failed", "empty_live_set", "quarantined"]


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    message: str
    subject: str = ""
    severity: Literal["warning", "error"] = "error"
    detail: dict[str, Any] = field(default_factory=dict)

    def payload(self, at: datetime) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
            "at": at.isoformat(),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Delivery:
    """What :func:`send_alerts` did: alerts logged, POSTed, and failed deliveries."""

    logged: int
    delivered: int
    failed: int


Post = Callable[[str, bytes, float], int]


def post_json(url: str, body: bytes, timeout_s: float) -> int:
    """POST ``body`` (JSON) to ``url``; returns the HTTP status (raises on >= 400)."""
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return int(response.status)


def send_alerts(
    alerts: Sequence[Alert],
    *,
    at: datetime,
    webhook_url: str | None = None,
    timeout_s: float = 5.0,
    post: Post = post_json,
) -> Delivery:
    """Log every alert, then POST each to ``webhook_url`` (when set). Never raises for a
    failed delivery (it is logged)."""
    for a in alerts:
        level = logging.ERROR if a.severity == "error" else logging.WARNING
        log.log(level, "ALERT %s %s: %s", a.kind, a.subject or "-", a.message)
    if not alerts or not webhook_url:
        return Delivery(len(alerts), 0, 0)
    delivered = failed = 0
    for a in alerts:
        body = json.dumps(a.payload(at), sort_keys=True, default=str).encode()
        try:
            post(webhook_url, body, timeout_s)
        except (OSError, ValueError) as exc:  # URLError/HTTPError/timeouts are OSErrors
            failed += 1
            log.warning(
                "alert %s not delivered to the webhook (%s: %s)", a.kind, type(exc).__name__, exc
            )
        else:
            delivered += 1
    return Delivery(len(alerts), delivered, failed)
