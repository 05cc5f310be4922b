"""Transductive inference over cached features: seeded / soft K-means, Laplacian K-means and
K-modes (SLK), LaplacianShot, TIM-GD, BD-CSPN, PT-MAP, plus the inductive nearest-centroid
baseline.

Every method takes a batch of episodes, ``method(zs (E, S, D), ys (E, S), zq (E, Q, D),
n_way, **options) -> (E, Q, n_way)`` probabilities; :func:`run_method` looks one up by name
in :data:`METHODS`. Preprocessing (L2, base-mean centring, query shift) is in
:mod:`.preprocess`.
"""

from . import bdcspn, clustering, kmeans, laplacianshot, ptmap, tim  # noqa: F401  (register the methods)
from .affinity import edge_sum, knn_affinity, knn_neighbours, propagate, sq_dists
from .bdcspn import bdcspn as bd_cspn
from .bound import BoundResult, bound_step, bound_update, bound_value, entropy_energy, softmax_classes
from .clustering import ClusteringResult, laplacian_clustering, laplacian_kmeans, laplacian_kmodes
from .kmeans import nearest_centroid, seeded_kmeans, soft_kmeans
from .laplacianshot import laplacianshot as laplacian_shot
from .meanshift import kmodes_sigma2, mean_shift
from .preprocess import NORMS, center, l2_normalize, preprocess, shift_queries
from .prototypes import prototypes, rectify_prototypes, softmax_rectify_prototypes, weighted_means
from .ptmap import power_transform, sinkhorn
from .ptmap import ptmap as pt_map
from .registry import METHODS, MethodInfo, available_methods, get_method, register_method, run_method
from .tim import tim as tim_gd
from .tim import tim_logits, tim_loss

__all__ = [
    "METHODS", "MethodInfo", "available_methods", "get_method", "register_method", "run_method",
    "NORMS", "preprocess", "l2_normalize", "center", "shift_queries",
    "prototypes", "weighted_means", "rectify_prototypes", "softmax_rectify_prototypes",
    "sq_dists", "knn_affinity", "knn_neighbours", "propagate", "edge_sum", "softmax_classes",
    "BoundResult", "bound_step", "bound_update", "bound_value", "entropy_energy",
    "ClusteringResult", "laplacian_clustering", "laplacian_kmeans", "laplacian_kmodes",
    "kmodes_sigma2", "mean_shift", "nearest_centroid", "seeded_kmeans", "soft_kmeans",
    "laplacian_shot", "tim_gd", "tim_logits", "tim_loss", "bd_cspn", "pt_map", "power_transform",
    "sinkhorn",
]
