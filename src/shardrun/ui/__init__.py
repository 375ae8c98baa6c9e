"""What people look at: the CLI's tables and summaries, and the web dashboard.

``tables`` formats run history for the terminal (rich). ``app`` (Starlette), ``auth`` and
``metrics`` make the dashboard of ``shardrun ui``; they need the ``ui`` extra
(``pip install 'shardrun[ui]'``) and are imported only by that command.
"""
