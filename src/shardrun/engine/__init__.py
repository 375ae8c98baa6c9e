"""The engine: one run, from a dataset to one ordered output.

The data flows one way, one module per stage::

    runs ─> partition ─> ledger ─> scheduler ─> backends/ ─> (worker) ─> writer ─> reports

``runs`` holds :func:`run_parallel` and :func:`resume`; ``scheduler`` is the only module
that knows both the ledger and a backend; ``messages`` holds the small frozen records that
cross the process boundary. The engine never imports :mod:`shardrun.pipelines`.
"""
