"""Datasets and what reads them: listing, formats, splits, windows, schemas, MLTable.

``datasets`` and ``tables`` are Azure's ``FileDataset`` and ``TabularDataset``; the other
modules plan and read them (file listing, byte-range splits of CSV/JSONL, Parquet row
groups, partition keys from paths, downloads, side inputs, registration in the workspace).
Nothing here imports the engine.
"""
