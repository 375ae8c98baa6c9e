"""What runs inside a worker process.

``loop`` serves mini-batches one after another; ``entry_script`` hosts the user's
``init()``/``run()``/``shutdown()``; ``readers`` turn a mini-batch descriptor into local file
paths or a DataFrame; ``results`` encodes what ``run()`` returned and appends it to the
worker's spill file; ``shims/`` are the ``azureml.*`` names an Azure entry script imports.
A worker knows no ledger and no scheduler: it is told what to do and says what happened.
"""
