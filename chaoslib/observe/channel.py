"""Messages on Redis channels (``PSUBSCRIBE shard:*:heartbeat``), resubscribing after outages."""

from __future__ import annotations

import json
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from tenacity import Retrying, retry_if_exception_type, stop_never, wait_exponential

from chaoslib.observe.base import Observer
from chaoslib.observe.history import History

# Named so that a count of a system's own subscribers can leave chaoslib's out.
OBSERVER_NAME = "chaoslib-observer"


class ChannelObserver(Observer):
    """Records each message (``kind="message"``, value: decoded JSON or text, detail: channel).

    Connection loss is recorded as ``kind="disconnect"`` and each resubscribe
    as ``kind="subscribed"``, so the gaps in what was heard can be measured.
    """

    kind = "message"

    def __init__(
        self,
        url: str,
        pattern: str,
        history: History | None = None,
        *,
        name: str | None = None,
        timeout: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name or f"channel:{pattern}", history, **kwargs)
        self.url, self.pattern, self.timeout = url, pattern, timeout
        self._pubsub: redis.client.PubSub | None = None

    def _listen_once(self) -> None:
        client = redis.Redis.from_url(
            self.url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
            client_name=OBSERVER_NAME,
        )
        pubsub = self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.psubscribe(self.pattern)
            pubsub.get_message(timeout=self.timeout)  # the subscribe confirmation
            self.record(True, self.pattern, kind="subscribed")
            while not self.stopping:
                message = pubsub.get_message(timeout=0.2)
                if message is None or message.get("type") not in ("pmessage", "message"):
                    continue
                self.record(True, _decode(message["data"]), detail=_text(message.get("channel")))
        finally:
            pubsub.close()
            client.close()

    def run(self) -> None:
        def attempt() -> None:
            if self.stopping:
                return
            try:
                self._listen_once()
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                if not self.stopping:
                    self.record(False, detail=f"{type(exc).__name__}: {exc}", kind="disconnect")
                raise

        retrying = Retrying(
            retry=retry_if_exception_type((redis.ConnectionError, redis.TimeoutError, OSError)),
            wait=wait_exponential(multiplier=0.05, max=1.0),
            stop=stop_never,
            sleep=lambda s: self.clock.sleep(s, self._stop),
        )
        while not self.stopping:
            try:
                retrying(attempt)
            except Exception:
                if self.stopping:
                    return


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _decode(data: Any) -> Any:
    text = _text(data)
    try:
        return json.loads(text)
    except ValueError:
        return text


def channel(
    url: str, pattern: str, history: History | None = None, **kwargs: Any
) -> ChannelObserver:
    return ChannelObserver(url, pattern, history, **kwargs)
