"""The compiled read path: a validated read-only query becomes one SQL statement that builds the
whole JSON response inside PostgreSQL (as PostGraphile does). Anything it does not cover, and every
error, goes through strawberry instead, so both paths give the same answers (tests compare them)."""
