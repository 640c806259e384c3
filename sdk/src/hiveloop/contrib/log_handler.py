"""Forward Python log records to HiveBoard as agent issues."""

from __future__ import annotations

import logging
from typing import Any

from .._events import MAX_SUMMARY_CHARS
from .._log import logger

_SEVERITY_BY_LEVEL = (
    (logging.CRITICAL, "critical"),
    (logging.ERROR, "high"),
    (logging.WARNING, "medium"),
)


class HiveBoardLogHandler(logging.Handler):
    """A logging handler that reports WARNING and above as issues of ``agent``.

    Records from the same logger at the same level share an issue id, so
    HiveBoard counts recurrences instead of listing each line::

        logging.getLogger("my_app").addHandler(HiveBoardLogHandler(agent))
    """

    def __init__(self, agent: Any, level: int = logging.WARNING, category: str = "log") -> None:
        super().__init__(level=level)
        self._agent = agent
        self._category = category

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "hiveloop" or record.name.startswith("hiveloop."):
            return  # the SDK's own warnings must not loop back into it
        try:
            severity = next(
                (name for lvl, name in _SEVERITY_BY_LEVEL if record.levelno >= lvl), None
            )
            if severity is None:
                return
            message = self.format(record) if self.formatter else record.getMessage()
            self._agent.report_issue(
                message[:MAX_SUMMARY_CHARS],
                severity,
                issue_id=f"log-{record.name}-{record.levelname}",
                category=self._category,
                context={
                    "logger": record.name,
                    "filename": record.filename,
                    "lineno": record.lineno,
                    "funcName": record.funcName,
                },
            )
        except Exception:
            # Observability must never break the application's logging.
            logger.debug("could not forward a log record to HiveBoard", exc_info=True)
