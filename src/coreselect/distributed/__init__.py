"""Selection on a Dask cluster: features as a Dask array or sharded files, never gathered to the client.

``coreselect.select(..., features=<dask array>)`` lands in :func:`coreselect.distributed.runner.select`.
This package is the only place that imports Dask; ``import coreselect`` does not.
"""

from coreselect.distributed.cluster import connect
from coreselect.distributed.inputs import Sharded, check_values, open_features
from coreselect.distributed.runner import RUNNERS, select

__all__ = ["RUNNERS", "Sharded", "check_values", "connect", "open_features", "select"]
