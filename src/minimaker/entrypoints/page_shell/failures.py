"""What a page says when a limit or a right stops a form: plain words and the way out.

The services' messages are exact (bytes, pixels, purposes) for the API and the logs; a person
at a form needs megabytes, what to do next and, for a restriction, where to lift it.
"""

from __future__ import annotations

from typing import Any

from minimaker.entrypoints import errors
from minimaker.entrypoints.page_shell.render import form_failure
from minimaker.kernel.errors import (
    ImageTooLarge,
    MiniMakerError,
    ModelTooLarge,
    PayloadTooLarge,
    ProcessingRefused,
    QuotaExceeded,
    UnsupportedMediaType,
)

_MB = 1_000_000
#: Where the restriction is lifted: the privacy centre's section about it.
LIFT_RESTRICTION = "/privacy#restrict-heading"


def _mb(n: int) -> str:
    return f"{n / _MB:.3g} MB"


def friendly_failure(exc: MiniMakerError) -> dict[str, Any]:
    """form_failure's context with the message a person can act on, and a link when one helps."""
    found = form_failure(exc)
    found["link"] = None
    if isinstance(exc, PayloadTooLarge):
        message = (
            f"This photo is larger than the {_mb(exc.limit_bytes)} a photo may be. "
            "Choose a smaller one, or save it again at a lower quality"
        )
        found.update(error=message, field_errors={"file": message})
    elif isinstance(exc, UnsupportedMediaType):
        message = "This file is not a photo we can use. Choose a JPEG, PNG or WebP photo"
        found.update(error=message, field_errors={"file": message})
    elif isinstance(exc, ImageTooLarge):
        found["error"] = f"{exc.message}. Choose a smaller photo, or scale this one down"
    elif isinstance(exc, QuotaExceeded):
        left = max(0, exc.limit_bytes - exc.used_bytes)
        found["error"] = (
            f"Your storage is full: this needs {_mb(exc.adding_bytes)} and "
            f"{_mb(left)} of your {_mb(exc.limit_bytes)} are left. "
            "Delete photos or models you no longer need to make room"
        )
    elif isinstance(exc, ModelTooLarge):
        found["error"] = (
            f"This model would take about {_mb(exc.estimated_bytes)}, more than the "
            f"{_mb(exc.limit_bytes)} a model may take. Choose a smaller photo"
        )
    elif isinstance(exc, ProcessingRefused):
        found["error"] = _refused(exc)
        if "restrict" in exc.reason:
            found["link"] = {"href": LIFT_RESTRICTION, "text": "Lift the restriction"}
    return found


def _refused(exc: ProcessingRefused) -> str:
    if "restrict" in exc.reason:
        return (
            "You asked us to restrict the processing of your data, so we only store it "
            "for now and make no models. Lift the restriction in your privacy centre to "
            "continue"
        )
    return f"We did not do this: {exc.reason}"


def status_and_headers(exc: MiniMakerError) -> tuple[int, dict[str, str]]:
    """The status and headers (Retry-After) the one error renderer gives `exc`."""
    found = errors.answer(exc)
    return found.status, dict(found.headers)
