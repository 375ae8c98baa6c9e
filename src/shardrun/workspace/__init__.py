"""Azure's workspace objects, local-first: the workspace folder and its SQLite catalogue,
datastores (fsspec URLs and their credentials), models, environments and compute targets.
Nothing here imports the engine.
"""
