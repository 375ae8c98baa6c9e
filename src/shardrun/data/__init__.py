"""Datasets and what reads them: listing, formats, splits, windows, schemas, MLTable.

``datasets`` and ``tables`` are Azure's ``FileDataset`` and ``TabularDataset``; the other
modules plan and read them (file listing, byte-range splits of CSV/JSONL, Parquet row
groups, partition keys from paths, downloads, side inputs, registration in the workspace).

Imports go one way, from plain values up to the Azure-facing classes::

    minibatch, pathkeys, columns, datapaths, registration (specs, not datasets)
      -> listing, formats -> schemas, splits, downloads, repartition, mltable (a recipe)
      -> windows -> datasets (AbstractDataset, FileDataset) -> tables (TabularDataset)
      -> tabular_factory (Dataset.Tabular), side_inputs -> factory (Dataset, named_inputs)

Nothing here imports the engine; the engine imports the mini-batch descriptor and the
listing from here.
"""
