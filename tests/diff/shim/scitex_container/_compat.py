"""The one helper the reference modules import from scitex_container._compat.

In scitex_container, ``supports_return_as`` adds a ``return_as=`` keyword to
API functions; the differential test calls the functions plainly, so here it
returns the function unchanged.
"""


def supports_return_as(func):
    return func
