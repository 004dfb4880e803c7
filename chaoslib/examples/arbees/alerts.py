"""Critical alerts: to a file (always) and to a Slack-style webhook, rate-limited per type."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from loguru import logger

from chaoslib.examples.arbees.config import Settings

# The guide greps for the CamelCase names; the payload's `type` is snake_case as in Arbees.
NAMES = {
    "all_shards_unhealthy": "AllShardsUnhealthy",
    "redis_connectivity_issue": "RedisConnectivityIssue",
    "database_connectivity_issue": "DatabaseConnectivityIssue",
}


class Alerts:
    def __init__(self, settings: Settings, clock: Any = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.last_sent: dict[str, float] = {}

    async def send(self, alert_type: str, message: str, **fields: Any) -> bool:
        """Deliver unless this type was sent within ALERT_RATE_LIMIT_SECS; True if delivered."""
        if not self.settings.alerts_enabled or self.settings.is_fragile("no-alerts"):
            return False
        now = self.clock()
        last = self.last_sent.get(alert_type)
        if last is not None and now - last < self.settings.alert_rate_limit_secs:
            logger.info(
                "Alert {} rate-limited ({:.0f}s since the last one)", alert_type, now - last
            )
            return False
        self.last_sent[alert_type] = now
        stamp = datetime.now(UTC).isoformat()
        alert = {
            "type": alert_type,
            "name": NAMES.get(alert_type, alert_type),
            "message": message,
            "service": self.settings.service,
            "timestamp": stamp,
            **fields,
        }
        logger.error("CRITICAL ALERT {}: {}", NAMES.get(alert_type, alert_type), message)
        self._write_file(stamp, alert_type, alert)
        await self._post(alert)
        return True

    def _write_file(self, stamp: str, alert_type: str, alert: dict[str, Any]) -> None:
        path = Path(self.settings.alert_log_path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as fh:
                fh.write(f"{stamp} | {alert_type} | {json.dumps(alert)}\n")
        except OSError as exc:
            logger.error("cannot write the alert log {}: {}", path, exc)

    async def _post(self, alert: dict[str, Any]) -> None:
        url = self.settings.slack_webhook_url
        if not url:
            return
        payload = {
            "text": f":rotating_light: {alert['name']}: {alert['message']}",
            "username": "Arbees Critical Alerts",
            "icon_emoji": ":rotating_light:",
        }
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, json=payload) as response,
            ):
                if response.status >= 300:
                    logger.error("webhook answered {}", response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The file line above is the fallback; the alert is not lost.
            logger.error("webhook delivery failed: {}", exc)
