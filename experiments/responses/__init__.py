"""Response devices per seat: shared keyboard, one keyboard by index, serial box, Cedrus XID.

:func:`open_responses` opens every seat's source and returns one object with the
``poll()`` interface of :class:`~experiments.runner.keyboard.PtbKeyboard`, so the
runtime sees one merged, time-ordered stream of raw down/up events.
:func:`check_devices` runs before the window opens and stops with one line
naming the seat and device when a device is missing or busy.
Keys of seats on their own device are named ``<seat>:<kind>:<button>`` in
``buttons.tsv`` (e.g. ``B:serial:happy``).
"""

from .devices import (
    Responses,
    check_devices,
    describe_device,
    device_key,
    device_names,
    list_devices,
    open_responses,
    response_key_map,
)

__all__ = [
    "Responses",
    "check_devices",
    "describe_device",
    "device_key",
    "device_names",
    "list_devices",
    "open_responses",
    "response_key_map",
]
