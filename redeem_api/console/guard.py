"""One decorator for the role check of a console page and, for a form post, its CSRF check (in that order)."""
from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Response

from redeem_api.console.gate import allowed, csrf_ok, refuse


def guard(roles: frozenset[str], *, form: bool = False) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Refuse (403) anyone without one of ``roles``; with ``form``, then a missing or foreign CSRF token."""
    def wrap(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def checked(*args, **kwargs) -> Response:
            if not allowed(roles):
                return refuse(403, "forbidden")
            if form and not csrf_ok():
                return refuse(403, "csrf_failed")
            return view(*args, **kwargs)
        return checked
    return wrap
