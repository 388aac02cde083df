"""Spawn ``world`` CPU processes (gloo) that each run ``fn(rank, out)`` with the environment
``torchrun`` would give them (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT; one thread each);
the Trainer joins the process group itself. Shared by the DDP tests."""

import os
import socket

import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, out, fn):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), SMPP_THREADS="1")
    try:
        fn(rank, out)
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def run_ranks(fn, out, world: int = 2) -> None:
    """``fn`` must be a module-level function (it is pickled by reference)."""
    mp.spawn(_worker, args=(world, _free_port(), str(out), fn), nprocs=world, join=True)
