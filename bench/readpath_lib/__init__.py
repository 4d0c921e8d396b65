"""``bench/readpath``: gridweave's read path against PostGraphile v4 and hand-written asyncpg.

Modules: ``dataset`` (the bench database, its user and token), ``queries`` (the same logical
queries for every implementation, and the sanity checks), ``servers`` (starting and stopping the
servers), ``load`` (wrk), ``report`` (the tables) and ``main`` (the command line).
"""
