"""Delivery events of the gateway (SPEC X6, S5, V-R3, V-R4; docs/sending.md "What the gateway
fetches and reports"): which events fit a recipient's route, and their order. Pure.

Which events fit (from the envelope's signed record, per recipient):

| route | events |
|---|---|
| `direct` | `delivered`, `bounced` |
| `nta7516` | `relayed_nta7516`, `bounced`; with a Viewer `fallback` (V-R4) also `notified`, `code_sent`, `opened` |
| `viewer` | `notified`, `code_sent`, `opened`, `bounced` |

The order of a recipient's events, shown as its status: the latest ``at``; events with the same
``at`` by ``EVENT_RANK``, the step further along the way winning: relaying over the NTA route,
the Viewer notification, the access code, direct delivery (these never meet: routes), then a
bounce (it follows the attempt it ends), then an opening (it proves the message was read, whatever
else was reported for that moment).
"""
from __future__ import annotations

from typing import Any

EVENT_RANK: dict[str, int] = {
    "relayed_nta7516": 1, "notified": 2, "code_sent": 3, "delivered": 4, "bounced": 5, "opened": 6,
}
VIEWER_EVENTS = frozenset(("notified", "code_sent", "opened"))
# Events that say the message was shown to its recipient: never after its revoke (S5: the Viewer
# stops showing it). Deliveries in flight when the revoke came are not among them (docs/sending.md).
SHOWN_EVENTS = frozenset(("opened",))


def fitting_events(recipient: dict[str, Any]) -> frozenset[str]:
    """The events a gateway may report for this recipient of a record."""
    route = recipient.get("route")
    if route == "direct":
        return frozenset(("delivered", "bounced"))
    if route == "nta7516":
        viewer = VIEWER_EVENTS if isinstance(recipient.get("fallback"), dict) else frozenset()
        return frozenset(("relayed_nta7516", "bounced")) | viewer
    if route == "viewer":
        return VIEWER_EVENTS | {"bounced"}
    return frozenset(("bounced",))


def event_order(at_text: str, event: str) -> tuple[str, int]:
    """The sort key of a stored event: its time (one fixed-width UTC spelling, so text order is
    time order), then its rank. The greatest is the recipient's status."""
    return at_text, EVENT_RANK.get(event, 0)
