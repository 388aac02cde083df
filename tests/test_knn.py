"""core.knn on CPU, and its multi-GPU placement with faiss's GPU calls stood in for (no GPU
here): several GPUs get a SHARDED index by default, the auto kind stays exact on GPU."""

import numpy as np
import pytest

from smpp_utils.core import knn


class _Opts:                      # faiss.GpuMultipleClonerOptions is absent from faiss-cpu
    shard = False


@pytest.fixture
def fake_gpus(monkeypatch):
    calls = []

    def to_all(index, co=None, ngpu=-1):
        calls.append({"type": type(index).__name__, "shard": co.shard, "ngpu": ngpu})
        return index              # keep the CPU index: search still works
    monkeypatch.setattr(knn.faiss, "GpuMultipleClonerOptions", _Opts, raising=False)
    monkeypatch.setattr(knn.faiss, "index_cpu_to_all_gpus", to_all)

    def set_gpus(n):
        monkeypatch.setattr(knn.faiss, "get_num_gpus", lambda: n)
        return calls
    return set_gpus


def _bank(n=300, d=8, seed=0):
    return knn.l2_normalise(np.random.default_rng(seed).normal(size=(n, d)))


def test_two_gpus_get_a_sharded_exact_index(fake_gpus):
    calls = fake_gpus(2)
    emb = _bank()
    idx = knn.build_index(emb, "auto", approx_threshold=100)      # above the CPU IVF threshold
    assert calls == [{"type": "IndexFlatIP", "shard": True, "ngpu": 2}]
    _, ids = knn.search(idx, emb[:5], 1)
    assert (ids[:, 0] == np.arange(5)).all()


def test_replication_on_request_and_one_gpu_is_never_sharded(fake_gpus):
    calls = fake_gpus(2)
    knn.build_index(_bank(), "flat", gpu_shard=False)
    calls_one = fake_gpus(1)
    knn.build_index(_bank(), "flat")
    assert [c["shard"] for c in calls] == [False, False] and calls_one[-1]["ngpu"] == 1


def test_cpu_path_is_unchanged(fake_gpus):
    calls = fake_gpus(0)
    idx = knn.build_index(_bank(), "auto", approx_threshold=100)
    assert calls == [] and type(idx).__name__ == "IndexIVFFlat"
    assert type(knn.build_index(_bank(), "auto")).__name__ == "IndexFlatIP"


def test_gpu_requested_without_a_gpu_is_a_clear_error(fake_gpus):
    calls = fake_gpus(0)
    with pytest.raises(RuntimeError, match="use_gpu=True, but faiss sees no GPU"):
        knn.build_index(_bank(), "flat", use_gpu=True)
    assert calls == []
    assert type(knn.build_index(_bank(), "flat", use_gpu=None)).__name__ == "IndexFlatIP"   # the fallback
