"""Naive one-episode, per-point implementations written from the equations (reference only).

Plain Python floats (double precision) and loops over points, classes and dimensions; nothing
is shared with the vectorised code under test. Not a test module: the test files import it
after putting this folder on ``sys.path``.
"""

from __future__ import annotations

import math


def rows(t):
    """A (P, D) tensor as a list of lists of Python floats."""
    return [[float(v) for v in r] for r in t]


def sqd(u, v):
    return sum((a - b) ** 2 for a, b in zip(u, v))


def softmax(v):
    m = max(v)
    e = [math.exp(x - m) for x in v]
    s = sum(e)
    return [x / s for x in e]


def argmax(v):
    return max(range(len(v)), key=lambda i: (v[i], -i))


def argmin(v):
    return min(range(len(v)), key=lambda i: (v[i], i))


def mean(points):
    return [sum(p[d] for p in points) / len(points) for d in range(len(points[0]))]


def cosine(u, v):
    nu = math.sqrt(sum(a * a for a in u))
    nv = math.sqrt(sum(b * b for b in v))
    return sum(a * b for a, b in zip(u, v)) / (nu * nv)


def class_means(points, labels, n_way):
    return [mean([p for p, y in zip(points, labels) if y == k]) for k in range(n_way)]


def knn(points, k):
    """W[p][q] = 1 for the k-1 nearest other points q of p."""
    n = len(points)
    w = [[0.0] * n for _ in range(n)]
    for p in range(n):
        others = sorted((sqd(points[p], points[q]), q) for q in range(n) if q != p)
        for _, q in others[:k - 1]:
            w[p][q] = 1.0
    return w


def energy(z, a, w, lam):
    """sum z log z + sum z a - lam sum_{p,q} w_pq z_p . z_q"""
    e = 0.0
    for p in range(len(z)):
        for k in range(len(z[p])):
            e += (z[p][k] * math.log(z[p][k]) if z[p][k] > 0 else 0.0) + z[p][k] * a[p][k]
    for p in range(len(z)):
        for q in range(len(z)):
            if w[p][q]:
                e -= lam * w[p][q] * sum(x * y for x, y in zip(z[p], z[q]))
    return e


def bound_update(a, w, lam, fixed=None, max_iter=20, tol=1e-6):
    """z_p <- softmax(-a_p + lam sum_q w_pq z_q), rows in ``fixed`` ({p: one-hot}) kept."""
    fixed = fixed or {}
    n, n_way = len(a), len(a[0])
    z = [fixed.get(p) or softmax([-x for x in a[p]]) for p in range(n)]
    old = math.inf
    for i in range(max_iter):
        b = [[sum(w[p][q] * z[q][k] for q in range(n)) for k in range(n_way)] for p in range(n)]
        z = [fixed.get(p) or softmax([-a[p][k] + lam * b[p][k] for k in range(n_way)]) for p in range(n)]
        e = energy(z, a, w, lam)
        if i > 1 and abs(e - old) <= tol * abs(old):
            break
        old = e
    return z


def seeded_kmeans(zs, ys, zq, n_way, max_iter=100):
    x = zs + zq
    protos = class_means(zs, ys, n_way)
    labels = list(ys) + [argmin([sqd(q, c) for c in protos]) for q in zq]
    for _ in range(max_iter):
        centres = class_means(x, labels, n_way)
        new = list(ys) + [argmin([sqd(q, c) for c in centres]) for q in zq]
        if new == labels:
            break
        labels = new
    return [softmax([-sqd(q, c) for c in centres]) for q in zq]


def soft_kmeans(zs, ys, zq, n_way, iterations, temperature):
    centres = class_means(zs, ys, n_way)
    dim = len(zs[0])
    for _ in range(iterations):
        zsoft = [softmax([-sqd(q, c) / temperature for c in centres]) for q in zq]
        new = []
        for k in range(n_way):
            num = [0.0] * dim
            den = 0.0
            for s, y in zip(zs, ys):
                if y == k:
                    num = [n + v for n, v in zip(num, s)]
                    den += 1.0
            for q, zz in zip(zq, zsoft):
                num = [n + zz[k] * v for n, v in zip(num, q)]
                den += zz[k]
            new.append([n / den for n in num])
        centres = new
    return [softmax([-sqd(q, c) / temperature for c in centres]) for q in zq]


def mean_shift(members, start, sigma2, max_iter=1000, tol=1e-5):
    m = list(start)
    for _ in range(max_iter):
        g = [math.exp(-sqd(m, x) / (2 * sigma2)) for x in members]
        new = [sum(gi * x[d] for gi, x in zip(g, members)) / sum(g) for d in range(len(m))]
        done = max(abs(a - b) for a, b in zip(new, m)) < tol * max(abs(v) for v in m)
        m = new
        if done:
            break
    return m


def laplacian_clustering(zs, ys, zq, n_way, lam, kind, k=3, max_iter=100):
    """SLK: alternate prototype updates (means / mean-shift modes) and bound updates."""
    x = zs + zq
    n = len(x)
    w = knn(x, k)
    sigma2 = sum(w[p][q] * sqd(x[p], x[q]) for p in range(n) for q in range(n)) / (5 * n)
    centres = class_means(zs, ys, n_way)
    labels = list(ys) + [argmin([sqd(q, c) for c in centres]) for q in zq]
    fixed = {p: [1.0 if j == y else 0.0 for j in range(n_way)] for p, y in enumerate(ys)}
    for _ in range(max_iter):
        if kind == "kmeans":
            centres = class_means(x, labels, n_way)
            a = [[sqd(p, c) for c in centres] for p in x]
        else:
            centres = [mean_shift([p for p, y in zip(x, labels) if y == j], centres[j], sigma2)
                       for j in range(n_way)]
            a = [[-math.exp(-sqd(p, c) / (2 * sigma2)) for c in centres] for p in x]
        z = bound_update(a, w, lam, fixed)
        new = list(ys) + [argmax(z[p]) for p in range(len(zs), n)]
        if new == labels:
            break
        labels = new
    return z[len(zs):]


def rectify(zs, ys, zq, n_way, eps):
    protos = class_means(zs, ys, n_way)
    shift = [a - b for a, b in zip(mean(zs), mean(zq))]
    shifted = [[v + s for v, s in zip(q, shift)] for q in zq]
    pseudo = [argmax([cosine(q, c) for c in protos]) for q in shifted]
    out = []
    for k in range(n_way):
        members = [s for s, y in zip(zs, ys) if y == k] + [q for q, y in zip(shifted, pseudo) if y == k]
        weights = [math.exp(eps * cosine(p, protos[k])) for p in members]
        out.append([sum(wi * p[d] for wi, p in zip(weights, members)) / sum(weights)
                    for d in range(len(zs[0]))])
    return out


def laplacianshot(zs, ys, zq, n_way, lam, k=3, rectify_eps=10.0, do_rectify=True):
    protos = rectify(zs, ys, zq, n_way, rectify_eps) if do_rectify else class_means(zs, ys, n_way)
    a = [[sqd(q, c) for c in protos] for q in zq]
    return bound_update(a, knn(zq, k), lam)
