"""ICNN and Proto-Triplet defaults against a transcription of maumruiz/FSL-Loss
(``algorithms/icnn_loss.py``: ``nearest_neighbors``, ``modified_score``, ``proto_triplet_loss``,
``get_icnn_loss``), equal to 1e-6.

The transcription below is a plain per-point loop in Python floats, written from reading that
file (their tensor code, restated one point at a time); it imports nothing from fewshot.
"""

import math

import pytest
import torch

from fewshot.losses.icnn import episode_icnn_loss, icnn_loss
from fewshot.losses.proto_triplet import proto_triplet_loss


def _dist(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)) + 1e-6)


def authors_score(origin, y_orig, target=None, y_targ=None, k=4, ipc=None):
    """``modified_score``: origin/target lists of points, y lists of ints."""
    target = origin if target is None else target
    y_targ = y_orig if y_targ is None else y_targ
    eps = 1e-7
    m = len(target)
    k = m - 2 if k + 2 >= m else k
    ipc = k + 1 if ipc is None else ipc
    rows = []
    for a, ya in zip(origin, y_orig):
        # topk(ipc + 1) sorted ascending (ties: lower index first), then drop the first
        near = sorted(range(m), key=lambda j: (_dist(a, target[j]), j))[:ipc + 1][1:]
        d = [_dist(a, target[j]) for j in near]
        same = [1 if y_targ[j] == ya else 0 for j in near]
        rows.append((d, same))
    sc_sums, sc_nonzero, dc_rows = 0.0, 0, []
    for d, same in rows:
        dc_d = [x * (1 - s) for x, s in zip(d, same)]
        nn_dc = min([x for x in dc_d if x != 0.0], default=math.inf)
        nd = [x / (nn_dc + eps) for x in d][:k]
        top = max(1.0, max(nd))
        nd = [x / top for x in nd]
        sc = same[:k]
        count = sum(sc)
        sc_sums += sum(x * s for x, s in zip(nd, sc)) / (count + eps)
        sc_nonzero += count != 0
        dc_rows.append((dc_d[:k], [1 - s for s in sc]))
    sclamb = 1 - sc_sums / (sc_nonzero + eps)
    dc_max = max(x for r, _ in dc_rows for x in r)
    all_same = all(v == 0 for _, dcm in dc_rows for v in dcm)
    dc_sum, dc_nonzero = 0.0, 0
    for r, dcm in dc_rows:
        count = sum(dcm)
        dc_sum += sum(x / (dc_max + eps) for x in r) / (count + eps)
        dc_nonzero += count != 0
    dclamb = abs(dc_sum / (dc_nonzero + eps) + (-1 if all_same else 0))
    lambr = (sclamb + dclamb) / 2
    if k + 2 < m:
        gamma = sum(sum(same[:k]) / k for _, same in rows) / len(y_orig)
    else:
        gamma = 1.0
    return (lambr + gamma) / 2


def authors_proto_triplet(queries, y_qry, protos, margin=0.5):
    total = 0.0
    for q, y in zip(queries, y_qry):
        d = [_dist(q, p) for p in protos]
        pos = d[y]
        neg = min(x for j, x in enumerate(d) if j != y)
        total += max(pos - neg + margin, 0.0)
    return total / len(queries)


def episode(way, shot, query, dim=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = 1.5 * torch.randn(way, dim, generator=g, dtype=torch.float64)
    zs = centres.repeat_interleave(shot, 0) + torch.randn(way * shot, dim, generator=g, dtype=torch.float64)
    zq = centres.repeat_interleave(query, 0) + torch.randn(way * query, dim, generator=g, dtype=torch.float64)
    ys = torch.arange(way).repeat_interleave(shot)
    yq = torch.arange(way).repeat_interleave(query)
    return zs, ys, zq, yq


def lists(t):
    return [[float(v) for v in r] for r in t]


CASES = [(5, 1, 15), (5, 5, 15), (3, 5, 2), (3, 1, 2), (2, 1, 1)]


@pytest.mark.parametrize("way,shot,query", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_icnn_variants_match_the_authors(way, shot, query, seed):
    zs, ys, zq, yq = episode(way, shot, query, seed=seed)
    s, q, y_s, y_q = lists(zs), lists(zq), ys.tolist(), yq.tolist()
    protos = [[sum(r[d] for r, y in zip(s, y_s) if y == c) / shot for d in range(len(s[0]))] for c in range(way)]
    want = {
        "support": authors_score(s, y_s) if len(s) >= 3 else None,
        "query": authors_score(q, y_q, s, y_s) if len(s) >= 3 else None,
        "full": authors_score(s + q, y_s + y_q, ipc=shot + query),
    }
    for variant, score in want.items():
        if score is None:
            continue
        got = episode_icnn_loss(variant, zs, ys, zq, yq)
        assert abs(float(got) - (-math.log(score))) <= 1e-6, variant
    if way >= 3:  # with 2 prototypes the authors' code has no neighbour left (k = 0) and fails
        got = episode_icnn_loss("query", zs, ys, zq, yq, prototypes=torch.tensor(protos, dtype=torch.float64),
                                query_target="prototypes")
        assert abs(float(got) - (-math.log(authors_score(q, y_q, protos, list(range(way)))))) <= 1e-6
    # Proto-Triplet
    got = proto_triplet_loss(zq, yq, torch.tensor(protos, dtype=torch.float64))
    assert abs(float(got) - authors_proto_triplet(q, y_q, protos)) <= 1e-6


def test_full_variant_divides_gamma_by_k():
    """3-way 5-shot 2-query, k=9: the window (shots + queries = 7) is shorter than k, and the
    authors' gamma divides by k = 9 (the issue's example: theirs 0.845)."""
    zs, ys, zq, yq = episode(3, 5, 2, seed=3)
    z, y = torch.cat([zs, zq]), torch.cat([ys, yq])
    want = authors_score(lists(z), y.tolist(), k=9, ipc=7)
    got = icnn_loss(z, y, k=9, window=7)
    assert abs(float(got) + math.log(want)) <= 1e-6
    assert abs(float(icnn_loss(z, y, k=9, window=7, style="paper")) + math.log(want)) > 1e-3
