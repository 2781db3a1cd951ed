"""The serve pipeline: one event source (the ExchangeAggregator's stream, live or replayed)
-> L1 memory + websocket broadcast + storage, and the wiring that runs it under the API.

* ``serve.pipeline`` -- :class:`ServePipeline`, broadcast hub, clocks, the storage thread
* ``serve.server``   -- build the live / replay state and run uvicorn (``liqmap serve``, ``demo``)
"""
