"""Routes over the periodic schedule catalog: pause, resume, update (a new cron and time zone)
and delete a stored schedule (``Queue.pause_periodic`` and the rest). An unknown name is a
404, a bad cron or time zone a 400 naming it; neither changes anything."""

from __future__ import annotations

from typing import Any

import taskito
from taskito.dashboard.api.errors import bad_request, not_found
from taskito.dashboard.api.params import body_object, body_text, checked_text


def _missing(name: str) -> Exception:
    return not_found(f"no periodic schedule named {name!r}")


def _name(name: str) -> str:
    return checked_text("schedule name", name)


def pause_schedule(queue: taskito.Queue, name: str) -> dict[str, str]:
    if not queue.pause_periodic(_name(name)):
        raise _missing(name)
    return {"paused": name}


def resume_schedule(queue: taskito.Queue, name: str) -> dict[str, str]:
    if not queue.resume_periodic(_name(name)):
        raise _missing(name)
    return {"resumed": name}


def update_schedule(queue: taskito.Queue, name: str, body: Any) -> dict[str, Any]:
    """``{"cron": "...", "timezone": "Europe/Paris" | null}``; without ``timezone`` the
    stored one is kept."""
    fields = body_object(body)
    unknown = sorted(set(fields) - {"cron", "timezone"})
    if unknown:
        raise bad_request(f"unknown field(s) {', '.join(unknown)}: expected cron, timezone")
    cron = body_text(fields, "cron")
    if "timezone" in fields:
        zone = fields["timezone"]
        if zone is not None and not isinstance(zone, str):
            raise bad_request("timezone must be a string or null")
        updated = queue.update_periodic(_name(name), cron, zone or None)
    else:
        updated = queue.update_periodic(_name(name), cron)
    if not updated:
        raise _missing(name)
    return {"updated": name, "cron": cron}


def delete_schedule(queue: taskito.Queue, name: str) -> dict[str, str]:
    if not queue.delete_periodic(_name(name)):
        raise _missing(name)
    return {"deleted": name}


__all__ = ["delete_schedule", "pause_schedule", "resume_schedule", "update_schedule"]
