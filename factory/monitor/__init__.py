"""Health and drift monitoring of the live set, freshness, and alerts.

- :mod:`factory.monitor.job` — the monitor job: each config in the live set (and each
  config still yellow or red) judged by ``rating.health.assess`` against its own
  validation baseline; verdicts stored, changes recorded as events, red ones demoted out
  of cycle.
- :mod:`factory.monitor.freshness` — which configs are stale (left the plan, or lagging
  the last bar) and so fail the rating's freshness gate.
- :mod:`factory.monitor.demotion` — the out-of-cycle demotion record (pure).
- :mod:`factory.monitor.alerts` — alerts to the log and an optional webhook.
"""
