"""Array math on embeddings: blocked distances, nearest neighbours, clustering — memory-bounded, float32."""

from coreselect.geometry.blocks import block_rows, row_blocks
from coreselect.geometry.distances import normalize_rows, pairwise_blocks, sq_dists, sq_norms
from coreselect.geometry.kmeans import kmeans, snap_to_cells
from coreselect.geometry.neighbors import knn, nearest, recall

__all__ = [
    "block_rows",
    "kmeans",
    "knn",
    "nearest",
    "normalize_rows",
    "pairwise_blocks",
    "recall",
    "row_blocks",
    "snap_to_cells",
    "sq_dists",
    "sq_norms",
]
