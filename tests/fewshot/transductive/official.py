"""Per-episode transcriptions of the official code of each transductive method (reference only).

Each function follows its official script step by step, in numpy (float64) or, where the
official code is torch (TIM, PT-MAP), in torch per episode, written from reading:

* LaplacianShot: imtiazziko/LaplacianShot, ``src/train_lshot.py`` (``metric_class_type`` with
  ``--proto-rect True`` as ``run.sh`` runs it, ``create_affinity``, ``lshot_prediction``) and
  ``src/lshot_update.py`` (``bound_update``, ``entropy_energy``);
* SLK / K-means / K-modes: imtiazziko/SLK-few-shot, ``src/train_SLK.py`` (``metric_class_type``)
  and ``src/SLK.py`` (``SLK``, ``MS``, ``estimate_sigma``, ``compute_energy_lapkmode_cont``),
  ``src/bound_update.py``; plain K-means / K-modes are ``SLK(..., lap_bound=False)``;
* TIM-GD: mboudiaf/TIM, ``src/tim.py`` (``TIM.get_logits``, ``init_weights``,
  ``TIM_GD.run_adaptation``): like the official code, batched over tasks;
* PT-MAP: yhu01/PT-MAP, ``test_standard.py`` (power transform, QR reduction, unit scaling,
  ``centerDatas``, ``GaussianModel``, ``MAP.loop``), one run at a time;
* BD-CSPN: no official code; the paper's equations (Liu et al. 2020, Sec. 3);
* soft K-means: renmengye/few-shot-ssl-public, ``fewshot/models/kmeans_refine_model.py``
  (``KMeansRefineModel.predict``) and ``fewshot/models/kmeans_utils.py`` (``assign_cluster``,
  ``update_cluster``, ``compute_logits``), ``num_cluster_steps = 1`` as its configs set it, with
  the queries as the unlabelled points (the transductive use).

Nothing here imports fewshot. Episodes are class-major (support of class 0 first, ...), as
the official samplers produce them. Not a test module.
"""

from __future__ import annotations

import numpy as np
import torch


# --------------------------------------------------------------------------------------------
# shared pieces of the two Ziko et al. code bases
def _row_softmax(a):
    a = a - a.max(1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(1, keepdims=True)


def _affinity(x, knn):
    """sklearn NearestNeighbors(n_neighbors=knn).kneighbors(x) then drop column 0 (the point
    itself): a dense 0/1 matrix, row p marking p's knn-1 nearest other points."""
    n = len(x)
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    order = np.argsort(d, axis=1, kind="stable")
    w = np.zeros((n, n))
    for p in range(n):
        nbrs = [q for q in order[p] if q != p][:knn - 1]  # kneighbors puts p itself first
        w[p, nbrs] = 1.0
    return w


def _entropy_energy(y, unary, w, lam):
    pairwise = w @ y
    return float((y * np.log(np.maximum(y, 1e-20)) + unary * y - lam * pairwise * y).sum())


def _bound_update(unary, y, w, lam, iterations, tol):
    old = float("inf")
    for i in range(iterations):
        y = _row_softmax(-unary + lam * (w @ y))
        e = _entropy_energy(y, unary, w, lam)
        if i > 1 and abs(e - old) <= tol * abs(old):
            break
        old = e
    return y


# --------------------------------------------------------------------------------------------
def laplacianshot(zs, zq, n_way, shot, lam, knn=3):
    """``metric_class_type`` with proto_rect=True and ``lshot``: query labels (Q,)."""
    gallery, query = np.array(zs, float), np.array(zq, float)
    eta = gallery.mean(0) - query.mean(0)
    query = query + eta[None, :]
    query_aug = np.concatenate([gallery, query], 0)
    plain = gallery.reshape(n_way, shot, -1).mean(1)
    cos = (query_aug / np.linalg.norm(query_aug, axis=1, keepdims=True)) @ \
        (plain / np.linalg.norm(plain, axis=1, keepdims=True)).T
    predict = np.argmin(1.0 - cos, axis=1)
    weights = _row_softmax(10.0 * cos)
    # one prototype per class that received points, in class order (np.unique), as the official
    # list comprehension over predict.unique(); a class with no point is simply missing
    protos = np.stack([(weights[predict == i, i][:, None] * query_aug[predict == i]).mean(0)
                       for i in np.unique(predict)])
    unary = ((query[:, None, :] - protos[None, :, :]) ** 2).sum(-1)
    if lam == 0:
        return unary.argmin(1)
    y = _bound_update(unary, _row_softmax(-unary), _affinity(query, knn), lam, 20, 1e-6)
    return y.argmax(1)  # == support_label[::shot][l] for episode-local labels 0..n_way-1


# --------------------------------------------------------------------------------------------
def _mean_shift(x, sigma, c0, tol=1e-5, maxit=1000):
    for _ in range(maxit):
        g = np.exp(-((c0[None, :] - x) ** 2).sum(-1) / (2 * sigma ** 2))
        c1 = g @ x / g.sum()
        if np.abs(c1 - c0).max() < tol * np.abs(c0).max():
            break
        c0 = c1.copy()
    return c1


def slk(zs, zq, n_way, shot, lam, method="kmeans", lap_bound=True, knn=3):
    """``metric_class_type`` with ``--slk`` then ``SLK``: query labels (Q,).

    method "kmeans" or "MS" (K-modes by mean-shift); lap_bound=False is plain K-means /
    K-modes (the official script's ``--lap-bound False`` runs)."""
    support, query = np.array(zs, float), np.array(zq, float)
    c = support.reshape(n_way, shot, -1).mean(1)
    query = query + (support.mean(0) - query.mean(0))[None, :]
    x = np.concatenate([support, query], 0)
    w = _affinity(x, knn)
    if not lap_bound:
        lam = 0.0
    n = len(x)
    support_labels = np.repeat(np.arange(n_way), shot)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    sigma = np.sqrt((w * d2).sum() / (5 * n))
    labels = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1).argmin(1)
    labels[:len(support_labels)] = support_labels
    old_e = None
    for i in range(100):
        old_c, old_l = c.copy(), labels.copy()
        if method == "MS":
            c = np.stack([_mean_shift(x[labels == k], sigma, c[k]) for k in range(n_way)])
            sq = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
            a_p = -np.exp(-sq / (2 * sigma ** 2))
        else:
            c = np.stack([x[labels == k].mean(0) for k in range(n_way)])
            a_p = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        if lap_bound or lam != 0:
            y = _row_softmax(-a_p)
            y[:len(support_labels)] = 0
            y[np.arange(len(support_labels)), support_labels] = 1
            z = _bound_update(a_p, y, w, lam, 600, 1e-7)
            labels = z.argmax(1)
        else:
            labels = a_p.argmin(1)  # km_le: nearest centre (Gaussian: largest kernel value)
            z = np.eye(n_way)[labels]
        if len(np.unique(labels)) != n_way:
            labels, c = old_l, old_c
            break
        sq = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
        clustering = (z * sq).sum() if method == "kmeans" else -(z * np.exp(-sq / (2 * sigma ** 2))).sum()
        e = clustering - lam * sum(z[:, k] @ (w @ z[:, k]) for k in range(n_way))
        if i > 1 and abs(e - old_e) <= 1e-4 * abs(old_e):
            break
        old_e = e
    return labels[len(support_labels):]


# --------------------------------------------------------------------------------------------
def tim_gd(zs, ys, zq, n_way, iters=1000, lr=1e-4, temp=15.0, loss_weights=(0.1, 1.0, 0.1)):
    """TIM-GD over a batch of tasks, like the official code: zs (T, S, D), ys (T, S), zq
    (T, Q, D), features already L2-normalised. Returns query labels (T, Q)."""
    one_hot = torch.nn.functional.one_hot(ys, n_way).to(zs.dtype)
    weights = (one_hot.transpose(1, 2) @ zs) / one_hot.sum(1).unsqueeze(-1)

    def logits(samples):
        return temp * (samples @ weights.transpose(1, 2) - 0.5 * (weights ** 2).sum(2).unsqueeze(1)
                       - 0.5 * (samples ** 2).sum(2).unsqueeze(2))

    weights.requires_grad_()
    optimizer = torch.optim.Adam([weights], lr=lr)
    for _ in range(iters):
        logits_s, logits_q = logits(zs), logits(zq)
        ce = -(one_hot * torch.log(logits_s.softmax(2) + 1e-12)).sum(2).mean(1).sum(0)
        q_probs = logits_q.softmax(2)
        q_cond_ent = -(q_probs * torch.log(q_probs + 1e-12)).sum(2).mean(1).sum(0)
        q_ent = -(q_probs.mean(1) * torch.log(q_probs.mean(1))).sum(1).sum(0)
        loss = loss_weights[0] * ce - (loss_weights[1] * q_ent - loss_weights[2] * q_cond_ent)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return logits(zq).argmax(2)


# --------------------------------------------------------------------------------------------
def pt_map(zs, zq, n_way, shot, n_queries, beta=0.5, lam=10.0, alpha=0.2, epochs=20):
    """``test_standard.py`` on one run: zs (S, D) class-major, zq (Q, D) class-major,
    non-negative. Returns query labels (Q,)."""
    n_l = n_way * shot
    # the official run tensor is ordered (sample within class, class): support rows first
    datas = torch.cat([torch.as_tensor(zs), torch.as_tensor(zq)], 0).double().unsqueeze(0)
    datas = torch.pow(datas + 1e-6, beta)
    datas = torch.linalg.qr(datas.permute(0, 2, 1)).R.permute(0, 2, 1)  # QR reduction
    datas = datas / datas.norm(dim=2, keepdim=True)
    datas[:, :n_l] = datas[:, :n_l] - datas[:, :n_l].mean(1, keepdim=True)
    datas[:, :n_l] = datas[:, :n_l] / torch.norm(datas[:, :n_l], 2, 2)[:, :, None]
    datas[:, n_l:] = datas[:, n_l:] - datas[:, n_l:].mean(1, keepdim=True)
    datas[:, n_l:] = datas[:, n_l:] / torch.norm(datas[:, n_l:], 2, 2)[:, :, None]
    labels = torch.cat([torch.arange(n_way).repeat_interleave(shot),
                        torch.arange(n_way).repeat_interleave(n_queries)]).unsqueeze(0)
    mus = datas[:, :n_l].reshape(1, n_way, shot, -1).mean(2)

    def optimal_transport(m, eps=1e-6):
        r = torch.ones(1, m.shape[1], dtype=m.dtype)
        c = torch.ones(1, n_way, dtype=m.dtype) * n_queries
        p = torch.exp(-lam * m)
        p /= p.view(1, -1).sum(1).unsqueeze(1).unsqueeze(1)
        u = torch.zeros(1, m.shape[1], dtype=m.dtype)
        iters = 1
        while torch.max(torch.abs(u - p.sum(2))) > eps:
            u = p.sum(2)
            p *= (r / u).view(1, -1, 1)
            p *= (c / p.sum(1)).view(1, 1, -1)
            if iters == 1000:
                break
            iters += 1
        return p

    def probas():
        dist = (datas.unsqueeze(2) - mus.unsqueeze(1)).norm(dim=3).pow(2)
        p = torch.zeros_like(dist)
        p[:, n_l:] = optimal_transport(dist[:, n_l:])
        p[:, :n_l].fill_(0)
        p[:, :n_l].scatter_(2, labels[:, :n_l].unsqueeze(2), 1)
        return p

    for _ in range(epochs):
        mask = probas()
        estimate = mask.permute(0, 2, 1).matmul(datas).div(mask.sum(dim=1).unsqueeze(2))
        mus = mus + alpha * (estimate - mus)
    return probas()[0, n_l:].argmax(1).numpy()


# --------------------------------------------------------------------------------------------
def bd_cspn(zs, zq, n_way, shot, eps=10.0):
    """BD-CSPN from the paper (no official code): query labels (Q,).

    xi = mean(S) - mean(Q) added to every query; pseudo-label each shifted query by the largest
    cosine to the plain prototypes; P'_n = sum_i w_i X'_{i,n} with
    w_i = exp(eps cos(X'_i, P_n)) / sum_j exp(eps cos(X'_j, P_n)) over the support of class n and
    the queries labelled n; predict the shifted queries by the largest cosine to P'."""
    s, q = np.array(zs, float), np.array(zq, float)
    q = q + (s.mean(0) - q.mean(0))[None, :]
    plain = s.reshape(n_way, shot, -1).mean(1)

    def cos(a, b):
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    pseudo = [int(np.argmax([cos(x, p) for p in plain])) for x in q]
    rect = []
    for n in range(n_way):
        members = [s[n * shot + i] for i in range(shot)] + [x for x, y in zip(q, pseudo) if y == n]
        w = np.array([np.exp(eps * cos(x, plain[n])) for x in members])
        rect.append((w[:, None] * np.stack(members)).sum(0) / w.sum())
    return np.array([int(np.argmax([cos(x, p) for p in rect])) for x in q])


# --------------------------------------------------------------------------------------------
def soft_kmeans_ren(zs, zq, n_way, shot, steps=1):
    """Ren et al.'s K-means refinement of the prototypes: query labels (Q,).

    Prototypes start as the class means of the support. Each of ``steps`` cluster steps: every
    unlabelled point gets the softmax over classes of its negative squared Euclidean distances to
    the prototypes (no temperature); the support keeps its one-hot labels; each prototype
    becomes the average of all points weighted by their probability of its class (weights summed
    over the points, an all-zero column left at zero weight sum 1). The test points are then
    scored by their negative squared distances to the refined prototypes."""
    s, q = np.array(zs, float), np.array(zq, float)
    protos = s.reshape(n_way, shot, -1).mean(1)
    prob_train = np.zeros((len(s), n_way))
    for k in range(n_way):
        prob_train[k * shot:(k + 1) * shot, k] = 1.0
    h_all = np.concatenate([s, q])
    for _ in range(steps):
        neg = -((q[:, None, :] - protos[None]) ** 2).sum(-1)
        prob_unlabel = _row_softmax(neg)
        prob = np.concatenate([prob_train, prob_unlabel])
        total = prob.sum(0, keepdims=True)
        total = total + (total == 0.0)
        protos = (prob / total).T @ h_all
    return (-((q[:, None, :] - protos[None]) ** 2).sum(-1)).argmax(1)
