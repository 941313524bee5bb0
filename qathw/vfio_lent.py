"""Functions bound to vfio-pci reached through fds the section broker lends.

A VFIO group is open in one process at a time, so processes holding sections of one
function cannot each open it (docs/hardware.md#vfio). The section broker
(:mod:`qathw.broker.client`) holds container, group and device and lends their fds; this
module turns a lent endpoint into a :class:`LentDevice` — a
:class:`~qathw.vfio.VfioDevice` view that maps the BARs through the lent device fd and
this process's DMA memory into the shared container, only inside the lease's IOVA range.

One lease (one broker connection) per process and host root, made on first use and kept
while a view of it is open (the last :meth:`LentDevice.close` ends it). After ``fork()``
the child does not use its parent's: on its first open it drops the inherited copy
(closing only its own copies of the fds, as :mod:`qathw.sections` drops an inherited
section) and makes a lease of its own.

When the broker ends, :meth:`LentDevice.broken` (asked out of band by the endpoint's
watch, never per request) tells, and every view of the lease lets go of its function at
once (:meth:`~qathw.vfio.VfioDevice.let_go`) and the lent fds are closed, so the group is
free for the next broker; requests fail with :class:`~qathw.errors.BrokerGoneError`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import weakref

from qathw.broker import client
from qathw.errors import BrokerError, BrokerGoneError, QatError, VfioError
from qathw.paths import HostRoot
from qathw.transport.pfvf import PfFacts
from qathw.vfio import VfioDevice, iommu_group_of

ENV = "QATHW_BROKER"  # "off": open vfio-pci functions directly (single-process tools)
_OFF = frozenset({"off", "0", "no", "false"})


def wanted() -> bool:
    """Whether vfio-pci functions are reached through the broker (``$QATHW_BROKER``)."""
    return os.environ.get(ENV, "on").strip().lower() not in _OFF


class _Lease:
    """This process's broker session and the device views made from it."""

    def __init__(self, session: client.BrokerSession, key: str) -> None:
        self.session = session
        self.key = key
        self.pid = os.getpid()
        self.views: weakref.WeakSet[LentDevice] = weakref.WeakSet()
        self.gone: QatError | None = None

    def alive(self) -> bool:
        return self.gone is None and self.session.alive()

    def end(self, error: QatError) -> None:
        """Let go of every function of the lease and close the lent fds. Idempotent."""
        if self.gone is not None:
            return
        self.gone = error
        for view in list(self.views):
            with contextlib.suppress(QatError, OSError):
                view.let_go()
        self.session.close()


_lock = threading.Lock()
_leases: dict[str, _Lease] = {}


def _gone_error(lease: _Lease) -> QatError:
    if lease.pid != os.getpid():
        return BrokerError(
            f"this endpoint was opened by the parent process (pid {lease.pid}); a forked "
            "child does not use its parent's devices",
            hint="in the child, call user_start() and open_instances() of its own",
        )
    return BrokerGoneError(
        f"the section broker (pid {lease.session.broker_pid}) that lent this device ended; "
        "requests in flight were lost",
        hint="restart the process: a new broker starts on demand with the next user_start",
        errno=errno.EPIPE,
        path=lease.session.socket_path,
    )


def _lease(root: HostRoot) -> _Lease:
    key = os.fspath(root.prefix)
    with _lock:
        lease = _leases.get(key)
        if lease is not None and (lease.pid != os.getpid() or not lease.alive()):
            lease.end(_gone_error(lease))  # in a child: only the child's copies close
            lease = None
        if lease is None:
            lease = _Lease(client.connect(root, start=True), key)
            _leases[key] = lease
        return lease


class LentDevice(VfioDevice):
    """A function reached through the broker's lent fds (made by :func:`open_lent`).

    Attributes:
        pf: for a VF with a PF/VF mailbox, the broker's handshake results: the broker
            alone speaks on that mailbox (docs/design.md#section-broker), so the endpoint
            takes version, capabilities and ring-to-service map from here, and PF
            notifications from :meth:`pf_events`. ``None``: no mailbox.
    """

    _lease: _Lease
    pf: PfFacts | None = None

    def pf_events(self) -> list[tuple[int, str]]:
        """PF notifications the broker relayed for this function, not taken yet; never
        blocks. Empty once the lease is void (:meth:`broken` says why)."""
        lease = self._lease
        if lease.gone is not None or lease.pid != os.getpid():
            return []
        return lease.session.pf_events(self.bdf)

    def pf_ack(self, seq: int) -> None:
        """Tell the broker this process quiesced after relayed RESTARTING ``seq``.

        A broker that is gone is not an error here: :meth:`broken` reports it.
        """
        lease = self._lease
        if lease.gone is None and lease.pid == os.getpid():
            with contextlib.suppress(BrokerError):
                lease.session.pf_ack(self.bdf, seq)

    def broken(self) -> QatError | None:
        """Why the function is no longer reachable (the broker ended), else ``None``.

        Cheap (a non-blocking ``poll`` of the broker connection); asked out of band. The
        first time it finds the broker gone, every view of the lease lets go of its
        function and the lent fds are closed.
        """
        lease = self._lease
        if lease.pid == os.getpid() and lease.alive():
            return None
        lease.end(_gone_error(lease))
        return _gone_error(lease)

    def close(self) -> None:
        """Close the view; the last view of the lease ends the lease (the broker then
        removes its mappings, and exits after its linger once no lease is left)."""
        super().close()
        lease = self._lease
        lease.views.discard(self)
        if not lease.views and lease.pid == os.getpid():
            with _lock:
                if _leases.get(lease.key) is lease:
                    del _leases[lease.key]
            lease.session.close()


def open_lent(bdf: str, root: HostRoot) -> LentDevice:
    """Reach ``bdf`` through fds the section broker lends (started if none runs).

    Args:
        bdf: the function's canonical PCI address.
        root: the host root.

    Returns:
        The device view; closing it keeps the lease (other endpoints may use it).

    Raises:
        BrokerUnavailableError, BrokerPermissionError, BrokerError: no broker to lend it.
        VfioGroupBusyError, VfioPermissionError, VfioError, ...: the broker could not
            open the function (its error, with its hint).
    """
    for attempt in (1, 2):
        lease = _lease(root)
        try:
            lent = lease.session.lend(bdf)
            break
        except BrokerGoneError as exc:
            # A broker that was exiting after its last lease: the next one will lend it.
            lease.end(exc)
            if attempt == 2:
                raise
    group = lent.group if lent.group is not None else iommu_group_of(bdf, root)
    try:
        device = LentDevice.adopt(
            bdf,
            container_fd=lent.container_fd,
            group_fd=lent.group_fd,
            device_fd=lent.device_fd,
            group=group,
            iova_window=(lent.iova_base, lent.iova_end),
            root=root,
        )
    except ValueError as exc:
        raise VfioError(
            f"the section broker lent {bdf} with an unusable IOVA range ({exc})",
            hint="restart the broker ('qathw broker'), or report this as a bug",
        ) from None
    device._lease = lease
    device.pf = lent.pf
    lease.views.add(device)
    return device
