"""Pipelines: steps, pipeline data, experiments and pipeline runs, the detached driver,
step reuse and ``RunDetails``. A client of the engine: it calls ``run_parallel`` per step.
``yaml_job`` (with ``yaml_steps``, ``yaml_data`` and ``bindings``) reads Azure ML v2
``type: pipeline`` job files into pipelines.
"""
