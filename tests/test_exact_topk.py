"""Exact MoL top-k (jrpp/exact_topk.py): the certificate's bound (hand-checked LP, and never
below the true score of a post outside the candidates), certified answers equal brute force
exactly, the whole-bank fallback, self-exclusion, recall of the uncertified shortlist, errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from smpp_utils.jrpp.exact_topk import ComponentIndex, brute_topk, mol_topk, outside_bound
from smpp_utils.jrpp.mol import MixtureOfLogits

torch.set_num_threads(1)


def random_bank(n=2000, b=8, in_dim=24, n_mol=6, mol_dim=16, seed=0):
    torch.manual_seed(seed)
    mol = MixtureOfLogits(in_dim, n_mol, mol_dim).eval()
    x, xq = torch.randn(n, in_dim), torch.randn(b, in_dim)
    with torch.no_grad():
        return (mol, mol.query_components(xq), mol.query_summary(xq),
                mol.item_components(x), mol.item_summary(x))


def planted_bank(n=3000, b=6, k=10, n_mol=8, mol_dim=16, seed=1):
    """Gates saturated near 1 and k near-copies of each query's components in the bank, so
    the true top k score close to M while the rest of the bank is far below: the bound is
    provable with short lists."""
    torch.manual_seed(seed)
    mol = MixtureOfLogits(8, n_mol, mol_dim).eval()
    with torch.no_grad():
        mol.gate_out.bias.fill_(8.0)
    qc = F.normalize(torch.randn(b, n_mol, mol_dim), dim=-1)
    rc = F.normalize(torch.randn(n, n_mol, mol_dim), dim=-1)
    rng = np.random.default_rng(seed)
    pos = rng.choice(n, size=(b, k), replace=False)
    for i in range(b):
        rc[pos[i]] = F.normalize(qc[i] + 0.05 * torch.randn(k, n_mol, mol_dim), dim=-1)
    qs, rs = 0.1 * torch.randn(b, 64), 0.1 * torch.randn(n, 64)
    return mol, qc, qs, rc, rs, pos


def test_outside_bound_hand_checked():
    # no proxy constraint (t = 1): sum of positive caps 0.5 + 0.2 = 0.7
    assert outside_bound(np.array([1.0]), np.array([[0.5, 0.2, -0.1]]))[0] == pytest.approx(0.7)
    # mean cos <= -0.5 with M = 3: one component at 0.5, two at -1 -> sum -1.5 = M t; U = 0.5
    assert outside_bound(np.array([-0.5]), np.array([[0.5, 0.2, -0.1]]))[0] == pytest.approx(0.5)
    # only the proxy: mean cos <= 0, M = 4 -> two at +1, two at -1 -> U = 2
    assert outside_bound(np.array([0.0]), np.ones((1, 4)))[0] == pytest.approx(2.0)
    # all caps negative: nothing positive outside C
    assert outside_bound(np.array([1.0]), -0.3 * np.ones((1, 4)))[0] == 0.0


@pytest.mark.parametrize("per_component", [False, True])
def test_bound_holds_for_every_post_outside_the_candidates(per_component):
    mol, qc, qs, rc, rs = random_bank()
    ix = ComponentIndex(rc, per_component=per_component)
    cid, t, tm = ix.search(qc.numpy(), 40)
    u = outside_bound(t, tm)
    full = mol.score_bank(qc, qs, rc, rs)
    for b in range(len(qc)):
        outside = np.setdiff1d(np.arange(len(rc)), cid[b])
        assert float(full[b, outside].max()) <= u[b] + 1e-5


@pytest.mark.parametrize("per_component", [False, True])
def test_certified_answer_equals_brute_force_exactly(per_component):
    mol, qc, qs, rc, rs, pos = planted_bank()
    ix = ComponentIndex(rc, per_component=per_component)
    res = mol_topk(mol, qc, qs, rc, rs, ix, 10, k0=32)
    ref_ids, ref_s = brute_topk(mol, qc, qs, rc, rs, 10)
    assert res.certified.all()
    assert (res.n_candidates <= (1 + 8 * per_component) * 32).all()      # far below the bank of 3000
    np.testing.assert_array_equal(res.ids, ref_ids)
    torch.testing.assert_close(res.scores, ref_s, rtol=0, atol=1e-5)
    assert all(set(res.ids[i]) == set(pos[i]) for i in range(len(pos)))


def test_uncertified_queries_grow_to_the_whole_bank_and_are_exact():
    mol, qc, qs, rc, rs = random_bank(n=1500)
    own = np.array([3, -1, 100, 7, -1, 1499, 0, 42])
    ix = ComponentIndex(rc, per_component=True)
    res = mol_topk(mol, qc, qs, rc, rs, ix, 15, exclude=own, k0=64, max_k=len(rc))
    ref_ids, ref_s = brute_topk(mol, qc, qs, rc, rs, 15, exclude=own)
    assert res.certified.all()
    np.testing.assert_array_equal(res.ids, ref_ids)
    torch.testing.assert_close(res.scores, ref_s, rtol=0, atol=1e-5)
    assert not (res.ids == own[:, None]).any()
    # the untrained gates sit near 1/2: the bound is loose and short lists do not certify
    short = mol_topk(mol, qc, qs, rc, rs, ix, 15, exclude=own, k0=64)
    assert not short.certified.any() and (short.k0 == 64).all()


def test_recall_of_the_shortlist_against_brute_force():
    mol, qc, qs, rc, rs = random_bank(n=4000, b=16)
    ref_ids, _ = brute_topk(mol, qc, qs, rc, rs, 20)
    ix = ComponentIndex(rc)
    rec = {}
    for k0 in (20, 400):
        got = mol_topk(mol, qc, qs, rc, rs, ix, 20, k0=k0).ids
        rec[k0] = np.mean([len(set(a) & set(b)) / 20 for a, b in zip(got, ref_ids)])
    assert rec[400] >= 0.95 and rec[400] >= rec[20]


def test_errors_name_the_problem():
    mol, qc, qs, rc, rs = random_bank(n=50)
    ix = ComponentIndex(rc)
    with pytest.raises(ValueError, match="k=60 items requested but the bank holds 50"):
        mol_topk(mol, qc, qs, rc, rs, ix, 60)
    with pytest.raises(ValueError, match="exclude has 2 entries for 8 queries"):
        mol_topk(mol, qc, qs, rc, rs, ix, 5, exclude=[0, 1])
    with pytest.raises(ValueError, match="bank tensors hold 49/49 rows, the index 50"):
        mol_topk(mol, qc, qs, rc[:49], rs[:49], ix, 5)
    with pytest.raises(ValueError, match=r"must be \[N, M, D\]"):
        ComponentIndex(rc[:, 0])
