"""shardrun's benchmark: the issue-11 workloads, run by every contender in one go.

``python -m bench`` (or ``make bench``; ``SCALE=0.1`` for a quick look) generates the data,
runs shardrun (local backend), a plain ``multiprocessing.Pool``, Ray Data, Dask and shardrun
on a two-node Ray cluster over the same work, checks every contender's output against a
single-process reference, prints the targets table and writes ``bench/results/latest.json``
and ``latest.png``.

Modules: :mod:`bench.scale` (sizes), :mod:`bench.datagen` (inputs and models),
:mod:`bench.tasks` (the reads and model calls every contender makes),
:mod:`bench.workloads` (what each contender is given), :mod:`bench.outcome` and
:mod:`bench.checks` (results and their correctness), :mod:`bench.contenders` (raw, Pool,
shardrun local), :mod:`bench.dask_runner`, :mod:`bench.ray_data`, :mod:`bench.ray_shardrun`
and :mod:`bench.namespace` (Ray inside a private network namespace),
:mod:`bench.engine_figures` and :mod:`bench.plan_probe` (scheduler, planning, startup, quoted
CSV), :mod:`bench.targets` (PASS/MISS), :mod:`bench.report` (tables, JSON, chart),
:mod:`bench.harness` (the order of it all) and :mod:`bench.profile_driver` (cProfile of
shardrun's driver). Entry scripts for shardrun are in ``bench/scripts/``.
"""
