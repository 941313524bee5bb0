"""The VFIO DMA pool's bookkeeping, over a recording stand-in for the container.

The stand-in replaces only the lowest hook — the two ioctls (``VFIO_IOMMU_MAP_DMA`` /
``UNMAP_DMA``) — and records them; memory, IOVA allocation and everything above are the
real code. The kernel accepting the same calls is shown in the guest
(tests/vm/guest/test_vfio_guest.py).
"""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import subprocess
import sys

import pytest

from qathw.dma import DmaPool
from qathw.errors import DmaError, DmaPoolExhaustedError
from qathw.iova import IovaSpace
from qathw.vfio_dma import DEFAULT_SLAB_SIZE, VfioDmaPool

MIB = 1 << 20
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class RecordingContainer:
    """Records map/unmap calls; refuses overlapping maps, as the kernel does (EEXIST)."""

    def __init__(self) -> None:
        self.iova_space = IovaSpace([(0, 0xFEE0_0000), (0xFEF0_0000, 1 << 39)])
        self.mapped: dict[int, tuple[int, int]] = {}  # iova -> (vaddr, size)
        self.calls: list[tuple[str, int, int]] = []

    def map_dma(
        self, vaddr: int, iova: int, size: int, *, read: bool = True, write: bool = True
    ) -> None:
        for start, (_v, length) in self.mapped.items():
            assert iova + size <= start or start + length <= iova, "overlapping DMA map"
        self.mapped[iova] = (vaddr, size)
        self.calls.append(("map", iova, size))

    def unmap_dma(self, iova: int, size: int) -> int:
        self.calls.append(("unmap", iova, size))
        return self.mapped.pop(iova, (0, 0))[1]


@pytest.fixture
def container() -> RecordingContainer:
    return RecordingContainer()


@pytest.fixture
def pool(container: RecordingContainer) -> VfioDmaPool:
    return VfioDmaPool(container, 16 * MIB)


def test_the_pool_satisfies_the_dma_pool_protocol(pool: VfioDmaPool) -> None:
    assert isinstance(pool, DmaPool)
    assert pool.capacity == 16 * MIB


def test_buffers_have_their_size_alignment_and_a_writable_view(pool: VfioDmaPool) -> None:
    buf = pool.alloc(100, 256)
    assert buf.size == 100 and len(buf.view) == 100
    assert buf.iova % 256 == 0
    buf.view[:5] = b"hello"
    assert bytes(buf.view[:5]) == b"hello"


def test_the_view_is_the_memory_mapped_for_the_device(
    pool: VfioDmaPool, container: RecordingContainer
) -> None:
    buf = pool.alloc(64)
    buf.view[:4] = b"\xde\xad\xbe\xef"
    ((slab_iova, (vaddr, _size)),) = container.mapped.items()
    assert ctypes.string_at(vaddr + buf.iova - slab_iova, 4) == b"\xde\xad\xbe\xef"


def test_small_buffers_share_one_pinned_slab(
    pool: VfioDmaPool, container: RecordingContainer
) -> None:
    bufs = [pool.alloc(1000) for _ in range(50)]
    assert [c[0] for c in container.calls] == ["map"]
    assert pool.pinned == DEFAULT_SLAB_SIZE
    spans = sorted((b.iova, b.iova + b.size) for b in bufs)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans))


def test_a_large_buffer_gets_its_own_slab_and_freeing_it_unmaps_it(
    pool: VfioDmaPool, container: RecordingContainer
) -> None:
    pool.alloc(64)
    big = pool.alloc(5 * MIB, 4096)
    assert container.calls[-1] == ("map", big.iova, 5 * MIB)
    pool.free(big)
    assert container.calls[-1] == ("unmap", big.iova, 5 * MIB)
    assert pool.pinned == DEFAULT_SLAB_SIZE


def test_the_last_slab_is_kept_for_reuse(pool: VfioDmaPool, container: RecordingContainer) -> None:
    buf = pool.alloc(64)
    pool.free(buf)
    again = pool.alloc(64)
    assert again.iova == buf.iova
    assert [c[0] for c in container.calls] == ["map"]


def test_freed_space_is_reused_and_coalesced(pool: VfioDmaPool) -> None:
    a, b = pool.alloc(64 * 1024), pool.alloc(64 * 1024)
    pool.free(a)
    pool.free(b)
    assert pool.alloc(128 * 1024).iova == a.iova


def test_exceeding_the_capacity_says_what_is_used(container: RecordingContainer) -> None:
    pool = VfioDmaPool(container, 4 * MIB)
    pool.alloc(3 * MIB)
    with pytest.raises(DmaPoolExhaustedError, match=r"pool of 4194304 bytes cannot fit"):
        pool.alloc(2 * MIB)


def test_a_freed_buffer_cannot_be_used_or_freed_again(pool: VfioDmaPool) -> None:
    buf = pool.alloc(64)
    pool.free(buf)
    with pytest.raises(DmaError, match="was freed"):
        _ = buf.view
    with pytest.raises(DmaError, match="was freed already"):
        pool.free(buf)


def test_a_buffer_of_another_pool_is_refused(container: RecordingContainer) -> None:
    one, two = VfioDmaPool(container, 4 * MIB), VfioDmaPool(container, 4 * MIB)
    with pytest.raises(DmaError, match="is not from this pool"):
        two.free(one.alloc(64))


def test_two_pools_on_one_container_never_share_an_iova(container: RecordingContainer) -> None:
    one, two = VfioDmaPool(container, 4 * MIB), VfioDmaPool(container, 4 * MIB)
    a, b = one.alloc(64), two.alloc(64)
    assert abs(a.iova - b.iova) >= DEFAULT_SLAB_SIZE


def test_close_unmaps_every_slab_and_is_idempotent(
    pool: VfioDmaPool, container: RecordingContainer
) -> None:
    buf = pool.alloc(64)
    pool.alloc(3 * MIB)
    pool.close()
    pool.close()
    assert container.mapped == {}
    assert buf.freed
    with pytest.raises(DmaError, match="closed"):
        pool.alloc(64)


def test_a_view_still_exported_does_not_stop_close(
    pool: VfioDmaPool, container: RecordingContainer
) -> None:
    buf = pool.alloc(64)
    held = memoryview(buf.view)  # a caller keeps a reference past close
    pool.close()
    assert container.mapped == {}
    held.release()


@pytest.mark.parametrize(("size", "align"), [(0, 64), (-5, 64), (64, 0), (64, 48)])
def test_bad_sizes_and_alignments_are_value_errors(
    pool: VfioDmaPool, size: int, align: int
) -> None:
    with pytest.raises(ValueError):
        pool.alloc(size, align)


@pytest.mark.parametrize("capacity", [0, 1000, -4096])
def test_a_capacity_that_is_not_whole_pages_is_refused(
    container: RecordingContainer, capacity: int
) -> None:
    with pytest.raises(ValueError, match="positive multiple"):
        VfioDmaPool(container, capacity)


AT_EXIT = """
import atexit, json
state = {}
# Registered before qathw.vfio_dma is imported, so it runs after the pool's exit hook.
atexit.register(lambda: print(json.dumps([kind for kind, *_ in state["c"].calls])))
from tests.vfio.test_vfio_dma_pool import RecordingContainer
from qathw.vfio_dma import VfioDmaPool
state["c"] = RecordingContainer()
pool = VfioDmaPool(state["c"], 4 << 20)
pool.alloc(64)
"""


def test_a_pool_left_open_is_unmapped_at_interpreter_exit() -> None:
    run = subprocess.run(
        [sys.executable, "-c", AT_EXIT], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == ["map", "unmap"]


MEMLOCK_CHILD = """
import json, os, resource
from tests.vfio.test_vfio_dma_pool import RecordingContainer
from qathw.errors import MemlockLimitError
from qathw.vfio_dma import VfioDmaPool
resource.setrlimit(resource.RLIMIT_MEMLOCK, (64 << 10, 64 << 10))
os.setgroups([]); os.setgid(65534); os.setuid(65534)  # no CAP_IPC_LOCK any more
c = RecordingContainer()
try:
    VfioDmaPool(c, 8 << 20).alloc(64)
except MemlockLimitError as e:
    print(json.dumps({"msg": str(e), "calls": c.calls}))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_memlock_is_checked_before_anything_is_pinned() -> None:
    run = subprocess.run(
        [sys.executable, "-c", MEMLOCK_CHILD], capture_output=True, text=True, timeout=60,
        cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["calls"] == []
    assert got["msg"].startswith("RLIMIT_MEMLOCK is 64 KiB; pinning 2048 KiB more for DMA")
    assert "ulimit -l" in got["msg"]
