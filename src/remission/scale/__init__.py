"""Scoring at scale: Parquet datasets scored out of core on a Dask distributed cluster.

:func:`score_dataset` is the Python form of ``remission score INDEX --input 'DIR/*.parquet'
--output OUTDIR --engine dask [--scheduler ADDRESS]``. It keeps the contract of
:func:`remission.score` (same validation, same outputs, every problem listed with its 1-based row
over the whole dataset, nothing written when a row is invalid unless ``on_error="skip"``) while
holding only a bounded slice of the data in memory at a time.
"""

from remission.scale.dask_engine import DatasetOutcome, Piece, plan_pieces, score_dataset

__all__ = ["DatasetOutcome", "Piece", "plan_pieces", "score_dataset"]
