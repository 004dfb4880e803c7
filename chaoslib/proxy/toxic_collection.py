"""The toxics of one proxy: creation with Toxiproxy's validation order, update by merge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chaoslib.proxy import schema
from chaoslib.proxy.errors import bad_request, conflict, not_found
from chaoslib.proxy.strings import MAX_NAME, check_name
from chaoslib.proxy.toxics import STREAMS, TOXIC_TYPES, Toxic
from chaoslib.proxy.toxics.base import api_error, parse_clients


def parse_toxicity(value: Any) -> float:
    """The schema's rule, worded as the API words a refusal."""
    try:
        return schema.parse_toxicity(value)
    except schema.BadValue as exc:
        raise api_error(exc) from None


class ToxicCollection:
    """Upstream and downstream chains, each in insertion order."""

    def __init__(
        self, on_change: Callable[[str, str, Toxic, bool], None], max_toxics: int = 100
    ) -> None:
        self._chains: dict[str, list[Toxic]] = {stream: [] for stream in STREAMS}
        self._on_change = on_change  # (event, stream, toxic, toxicity_changed)
        self.max_toxics = max_toxics

    def chain(self, stream: str) -> list[Toxic]:
        return list(self._chains[stream])

    def all(self) -> list[Toxic]:
        return self._chains["upstream"] + self._chains["downstream"]

    def find(self, name: str) -> Toxic:
        for toxic in self.all():
            if toxic.name == name:
                return toxic
        raise not_found("toxic")

    def add(self, body: Any) -> Toxic:
        """Validate in Toxiproxy's order (section 2.5), then install on live connections."""
        if not isinstance(body, dict):
            raise bad_request("bad request body: expected a JSON object")
        toxic_type = body.get("type")
        cls = TOXIC_TYPES.get(toxic_type) if isinstance(toxic_type, str) else None
        stream = body.get(
            "stream", cls.streams[0] if cls and len(cls.streams) == 1 else "downstream"
        )
        if not isinstance(stream, str) or stream.lower() not in STREAMS:
            raise bad_request("stream was invalid, can be either upstream or downstream")
        stream_given = stream
        stream = stream.lower()
        name = body.get("name")
        if name is None or name == "":
            name = f"{toxic_type}_{stream_given}"
        if not isinstance(name, str) or len(name) > MAX_NAME:
            raise bad_request(
                f"bad request body: name must be a string of at most {MAX_NAME} characters"
            )
        if cls is None:
            raise bad_request("invalid toxic type")
        check_name(name, "toxic name")
        if any(t.name == name for t in self.all()):
            raise conflict("toxic")
        if len(self.all()) >= self.max_toxics:
            raise bad_request(
                f"too many toxics: this proxy has {self.max_toxics}, the cap "
                "(-max-toxics); remove some or raise the cap"
            )
        if stream not in cls.streams:
            raise bad_request(
                f"stream {stream} is not accepted for {toxic_type}: it reads what the client "
                f"sends; accepted: {', '.join(cls.streams)}"
            )
        attributes = cls.parse_attributes(body.get("attributes"))
        clients = parse_clients(body.get("attributes"))
        toxicity = parse_toxicity(body.get("toxicity", 1.0))
        toxic = cls(name, stream, toxicity, attributes)
        toxic.clients = clients
        self._chains[stream].append(toxic)
        self._on_change("add", stream, toxic, True)
        return toxic

    def update(self, name: str, body: Any) -> Toxic:
        """Merge ``attributes`` and ``toxicity`` into the toxic; type, stream and name stay."""
        toxic = self.find(name)
        if not isinstance(body, dict):
            raise bad_request("bad request body: expected a JSON object")
        attributes = toxic.parse_attributes(body.get("attributes", {}), base=toxic.attributes)
        clients = parse_clients(body.get("attributes"), base=toxic.clients)
        toxicity = toxic.toxicity
        if "toxicity" in body:
            toxicity = parse_toxicity(body["toxicity"])
        # Either one changes which connections the toxic is active on.
        changed = toxicity != toxic.toxicity or clients != toxic.clients
        toxic.attributes = attributes
        toxic.toxicity = toxicity
        toxic.clients = clients
        toxic.interrupt()  # chunks sleeping under the old values go on at once
        self._on_change("update", toxic.stream, toxic, changed)
        return toxic

    def remove(self, name: str) -> None:
        toxic = self.find(name)
        self._chains[toxic.stream].remove(toxic)
        toxic.retire()
        self._on_change("remove", toxic.stream, toxic, False)

    def clear(self) -> None:
        for toxic in self.all():
            self.remove(toxic.name)
