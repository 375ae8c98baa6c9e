"""Azure ML compatibility: import names, v1 notebooks and v2 pipeline job files."""
