"""TenantHub's own log messages reach JupyterHub's handlers."""

from __future__ import annotations

import logging

from hub.app.logs import route_platform_logs


def test_tenanthub_records_reach_the_hub_loggers_handlers() -> None:
    hub_logger = logging.getLogger("test-hub-logger")
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Collect()
    hub_logger.addHandler(handler)
    try:
        route_platform_logs("test-hub-logger")
        logging.getLogger("tenanthub.kubernetes").info("Provisioned tenant %s", "vision")
    finally:
        hub_logger.removeHandler(handler)
        route_platform_logs("JupyterHub")
    assert [r.getMessage() for r in seen] == ["Provisioned tenant vision"]
