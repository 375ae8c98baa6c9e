"""Pipelines: steps, pipeline data, experiments and pipeline runs, the detached driver,
step reuse and ``RunDetails``. A client of the engine: it calls ``run_parallel`` per step.
"""
