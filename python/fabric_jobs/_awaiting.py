"""Glue for the async iterators of ``_core``: wait for the next page in Rust, take from it here.

The Rust side only *keeps* an arrived page in the listing; the element is taken on the event
loop's thread, after the wait. A task cancelled at any moment (``asyncio.wait_for`` timing
out, say) therefore never takes an element with it: if the page arrived, it stays for the
next ``__anext__``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any


async def next_after(wait: Awaitable[bool], iterator: Any) -> Any:
    """``await wait`` (True: a page is kept in the listing; False: the listing is complete),
    then the iterator's next element, which is now at hand."""
    if not await wait:
        raise StopAsyncIteration
    return await iterator.__anext__()
