"""One module per venue; each declares everything liqmap knows about its venue.

:mod:`liqmap.exchanges.base` is the contract (``Venue``), :mod:`~liqmap.exchanges.registry`
discovers the modules, :mod:`~liqmap.exchanges.contracts` keeps contract sizes, and
``_common`` holds the parse helpers the venue modules share. docs/adding-a-venue.md says
what a new venue module declares.
"""
