"""Configuration: ``ParallelRunConfig`` and its rules, ``PipelineParameter``, the step's
name rules, and the YAML job file (v2 keys and v1 names) with its schema.
"""
