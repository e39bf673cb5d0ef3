"""Explanation parts kept between requests, made so that no request can change them.

A ranked page's explanation items are plain dicts encoded by orjson. Some are kept per product
version and day and put into every page that lists the product; a change to one by a caller
would show in every later answer. ``ReadOnlyItem`` is such a dict that refuses changes: a dict
subclass, so orjson encodes it as one (same bytes, no ``default`` hook) and pydantic reads it
as one, at no cost per request (it is built once, when it is kept).
"""

from typing import Any, NoReturn


class ReadOnlyItem(dict[str, Any]):
    """A dict that refuses every change after it is built."""

    __slots__ = ()

    def _refuse(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise TypeError("an explanation item kept between requests is read-only; copy it")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __reduce__(self) -> tuple[type["ReadOnlyItem"], tuple[dict[str, Any]]]:
        # copy and pickle rebuild it whole instead of setting its keys one by one
        return (ReadOnlyItem, (dict(self),))
