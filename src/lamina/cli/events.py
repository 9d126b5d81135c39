"""``lamina events``: what lamina commands did, as docker's events (the store keeps them).

Without ``--since``/``--until`` it waits for new events and prints them as they come, until
interrupted; ``--until`` in the past prints what was recorded and stops.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from lamina.cli.context import format_option, pass_engine
from lamina.engine import Engine
from lamina.engine.events import Event, EventFilter, parse_timestamp


class EventView:
    """An event as docker's templates see it (Go's ``events.Message``: ``.Type``,
    ``.Action``, ``.Actor.ID``, ``.Actor.Attributes``, ``.Time``...); ``{{json .}}`` is the
    API's JSON."""

    __go_type__ = "events.Message"

    def __init__(self, event: Event) -> None:
        from lamina.cli.format.gofmt import GoMap, GoStruct

        message = event.to_docker()
        self.Status = message.get("status", "")
        self.ID = message.get("id", "")
        self.From = message.get("from", "")
        self.Type = event.type
        self.Action = event.action
        self.Actor = GoStruct({"ID": event.actor.id,
                               "Attributes": GoMap(event.actor.attributes)},
                              type_name="events.Actor")
        self.Scope = event.scope
        self.Time = event.time
        self.TimeNano = event.time_nano
        self._message = message

    def to_json(self) -> dict[str, Any]:
        return self._message


def pretty(event: Event) -> str:
    """docker's default line: local time (RFC 3339, nine decimals), type, action, actor ID,
    then the attributes sorted: ``2024-01-02T03:04:05.000000000Z container start 1a2b… (a=b)``."""
    from lamina.cli.format.units import format_rfc3339

    secs, nanos = divmod(event.time_nano, 1_000_000_000)
    stamp = format_rfc3339(secs)
    zone = stamp[19:]
    line = f"{stamp[:19]}.{nanos:09d}{zone} {event.type} {event.action} {event.actor.id}"
    if event.actor.attributes:
        pairs = ", ".join(f"{k}={v}" for k, v in sorted(event.actor.attributes.items()))
        line += f" ({pairs})"
    return line


@click.command("events")
@click.option("-f", "--filter", "filters", multiple=True, metavar="filter",
              help="Filter output based on conditions provided")
@format_option
@click.option("--since", default=None, metavar="string", help="Show all events created since "
              "timestamp")
@click.option("--until", default=None, metavar="string", help="Stream events until this "
              "timestamp")
@pass_engine
def events(engine: Engine, filters: tuple[str, ...], fmt: str | None, since: str | None,
           until: str | None) -> None:
    """Get real time events from the server"""
    wanted = EventFilter.parse(filters)
    template = None
    if fmt:
        from lamina.cli.format.template import TemplateError, compile_template

        text = "{{json .}}" if fmt == "json" else fmt
        try:
            template = compile_template(text.replace("\\t", "\t").replace("\\n", "\n"))
        except TemplateError as exc:
            click.echo(f"Error parsing format: {exc.go_message}", err=True)
            sys.exit(64)
    stream = engine.events(
        since=parse_timestamp(since) if since else None,
        until=parse_timestamp(until) if until else None, filters=wanted)
    out = sys.stdout
    try:
        for event in stream:
            out.write((template.execute(EventView(event)) if template else pretty(event)) + "\n")
            out.flush()
    except KeyboardInterrupt:
        pass
