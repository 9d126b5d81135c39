"""``lamina events`` and the Engine API's ``GET /events``: record what the verbs do, and read it
back filtered, as docker's daemon does.

The model (``Event``, ``Actor``, with docker's fields) and the log live in
``lamina.store.events``; here are docker's rules over them: which attributes an image event
carries, how ``--since``/``--until`` are read (``parse_timestamp``), what each ``--filter``
matches (``EventFilter``), and ``stream``, which gives the past events asked for and then
follows new ones until ``until``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from lamina.errors import InvalidArgument
from lamina.store import ContainerRecord, Store
from lamina.store.events import Actor, Event, container_actor, record_quietly

__all__ = ["Actor", "Event", "EventFilter", "parse_timestamp", "record", "record_container",
           "record_image", "stream"]

POLL = 0.1  # seconds between two looks at the log while following


def record(store: Store, type_: str, action: str, actor: Actor) -> None:
    record_quietly(store.events, type_, action, actor)


def record_container(store: Store, container: ContainerRecord, action: str,
                     **extra: str) -> None:
    """A container event: docker's attributes are its labels, ``image`` and ``name``."""
    record_quietly(store.events, "container", action, container_actor(container, **extra))


def record_image(store: Store, action: str, actor_id: str, name: str,
                 labels: Mapping[str, str] | None = None) -> None:
    """An image event: ``actor_id`` is the image ID (a reference for pull and push), and the
    attributes are the image's labels and ``name``, as docker's."""
    attributes = {str(k): str(v) for k, v in (labels or {}).items()}
    attributes["name"] = name
    record_quietly(store.events, "image", action, Actor(actor_id, attributes))


# --- --since / --until ------------------------------------------------------------------------

_UNIX = re.compile(r"(\d+)(?:\.(\d{1,9}))?$")
_LOCAL_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H",
                  "%Y-%m-%d")


def parse_timestamp(value: str, now: float | None = None) -> float:
    """docker's reading of ``--since``/``--until``, in seconds since the epoch: a Go duration
    before now (``10m``, whole seconds as docker's), an RFC 3339 date or one of its shorter
    forms (``2024-01-02``, ``2024-01-02T15:04``; local time without a zone), or Unix seconds
    with up to nine decimals."""
    from lamina.engine.filters import parse_duration  # (not on run's path, which records)

    text = value.strip()
    if text != "0":
        try:
            return float(int((time.time() if now is None else now) - parse_duration(text)))
        except ValueError:
            pass
    if "-" in text:
        return _parse_date(text, value)
    unix = _UNIX.match(text)
    if unix is None:
        raise InvalidArgument(f'failed to parse value as time or duration: "{value}"')
    return int(unix.group(1)) + int((unix.group(2) or "0").ljust(9, "0")) / 1e9


def _parse_date(text: str, value: str) -> float:
    from datetime import datetime

    from lamina.model.units import parse_rfc3339

    try:
        return parse_rfc3339(text)
    except InvalidArgument:
        pass
    for fmt in _LOCAL_FORMATS:
        try:
            return datetime.strptime(text, fmt).timestamp()
        except ValueError:
            continue
    raise InvalidArgument(f'parsing time "{value}": not a date and time docker reads')


# --- --filter ---------------------------------------------------------------------------------

class EventFilter:
    """docker's event filters (``type``, ``event``, ``container``, ``image``, ``label``,
    ``volume``, ``network``, ``daemon``, ``plugin``, ``scope``...): each key given must match
    (any of its values); keys docker knows but lamina has no events for match nothing."""

    def __init__(self, filters: Mapping[str, Sequence[str]] | None = None) -> None:
        self.filters = {k: list(v) for k, v in (filters or {}).items() if v}

    @classmethod
    def parse(cls, args: Iterable[str]) -> EventFilter:
        """From ``--filter key=value`` arguments (the CLI's)."""
        result: dict[str, list[str]] = {}
        for arg in args:
            key, sep, value = arg.partition("=")
            if not sep:
                raise InvalidArgument(f"bad format of filter (expected name=value): {arg}")
            result.setdefault(key.strip().lower(), []).append(value)
        return cls(result)

    def _exact(self, key: str, *candidates: str) -> bool:
        values = self.filters.get(key)
        return values is None or any(c in values for c in candidates)

    def _fuzzy(self, key: str, *candidates: str) -> bool:
        values = self.filters.get(key)
        return values is None or any(
            c and (c == v or c.startswith(v)) for v in values for c in candidates)

    def _event(self, action: str) -> bool:
        values = self.filters.get("event")
        if values is None:
            return True
        # docker: an "exec_start: sh" event is matched by "exec_start", its prefix.
        return any(action == v or action.startswith(v + ":") for v in values)

    def _labels(self, attributes: Mapping[str, str]) -> bool:
        for item in self.filters.get("label", []):
            key, sep, value = item.partition("=")
            if key not in attributes or (sep and attributes[key] != value):
                return False
        return True

    def matches(self, event: Event) -> bool:
        attributes = event.actor.attributes
        name = attributes.get("name", "")
        image = attributes.get("name" if event.type == "image" else "image", "")
        kind_name = {t: name if event.type == t else "" for t in (
            "container", "volume", "network", "plugin", "node", "service", "secret", "config")}
        return (
            self._event(event.action)
            and self._exact("type", event.type)
            and self._exact("scope", event.scope)
            and all(self._fuzzy(t, event.actor.id if event.type == t else "", n)
                    for t, n in kind_name.items())
            and self._daemon(event)
            and self._exact("image", event.actor.id, image, _strip_tag(event.actor.id),
                            _strip_tag(image))
            and self._labels(attributes)
        )

    def _daemon(self, event: Event) -> bool:
        return "daemon" not in self.filters or (
            event.type == "daemon" and self._exact("daemon", event.actor.id,
                                                   event.actor.attributes.get("name", "")))


def _strip_tag(name: str) -> str:
    """``busybox:1`` -> ``busybox`` (a registry's port stays: ``host:5000/app``)."""
    if not name or name.startswith("sha256:"):
        return name
    head, sep, tail = name.rpartition(":")
    return head if sep and "/" not in tail else name


# --- reading ----------------------------------------------------------------------------------

def stream(store: Store, *, since: float | None = None, until: float | None = None,
           filters: EventFilter | None = None, follow: bool = True,
           sleep: Callable[[float], None] = time.sleep,
           clock: Callable[[], float] = time.time) -> Iterator[Event]:
    """The events docker's daemon would send for these arguments.

    With neither ``since`` nor ``until``, only events to come. Otherwise the recorded ones from
    ``since`` (or the oldest kept) to ``until`` first; then, unless ``until`` has passed (or
    ``follow`` is false), new ones as they are recorded, until ``until`` (forever without)."""
    if since is not None and until is not None and until < since:
        raise InvalidArgument(f"`since` time ({_go_unix(since)}) cannot be after `until` time "
                              f"({_go_unix(until)})")
    wanted = filters or EventFilter()
    log = store.events
    since_nano = None if since is None else int(since * 1e9)
    until_nano = None if until is None else int(until * 1e9)
    last = log.last_seq()
    if since is not None or until is not None:
        after = 0
        while True:
            batch = log.read(after_seq=after, since_nano=since_nano, until_nano=until_nano)
            for event in batch:
                if event.seq > last:
                    break
                if wanted.matches(event):
                    yield event
            if len(batch) < 1 or batch[-1].seq >= last:
                break
            after = batch[-1].seq
    if not follow or (until is not None and until <= clock()):
        return
    while until is None or clock() < until:
        for event in log.read(after_seq=last, until_nano=until_nano):
            last = event.seq
            if (since_nano is None or event.time_nano >= since_nano) and wanted.matches(event):
                yield event
        sleep(POLL if until is None else max(0.0, min(POLL, until - clock())))
    for event in log.read(after_seq=last, until_nano=until_nano):
        if wanted.matches(event):
            yield event


def _go_unix(epoch: float) -> str:
    """How docker's daemon prints a time in that error (Go's time.Time String, local)."""
    from lamina.model.units import format_created_at

    return format_created_at(epoch)
