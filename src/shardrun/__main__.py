"""``python -m shardrun`` is the ``shardrun`` command."""

from shardrun.cli import main

if __name__ == "__main__":
    main()
