"""Ring interrupts as file descriptors: what epoll-mode (``IsPolled = 2``) instances wait on.

A :class:`BankInterrupt` is one response ring's interrupt as an eventfd the application
can give to ``select``/``epoll``/``loop.add_reader``. The driver enables the ring's
interrupt in its bank (``INT_COL_EN`` bit, then ``INT_COL_CTL``, as Linux's
``adf_enable_ring_irq`` does). ``INT_COL_CTL`` bit 31 turns on *coalescing*: the device
then holds the interrupt for the delay in the low bits (units of 256 CPP cycles). qathw
writes qatlib's default of 10 µs, not Linux's 0x27FF (about 2.6 ms, a latency no
epoll waiter wants; docs/hardware.md#interrupts). In its service loop it clears the
eventfd, takes the
responses, and wait on the fd again only when the ring was empty. That order loses no
wake-up: a response posted after the clear signals the fd again.

Where the eventfd comes from is decided at the bottom, by how the endpoint was reached
(:class:`InterruptSource`):

* a real function through VFIO: its MSI vector wired to an eventfd with
  ``VFIO_DEVICE_SET_IRQS`` (:class:`VfioInterrupts`; not exercised without hardware);
* an emulated endpoint on the host: the backend process hands out one eventfd per bank
  over a Unix socket with ``SCM_RIGHTS`` and signals it when it posts responses on an
  enabled ring (:class:`EmulatedInterrupts`, protocol in :mod:`~qathw.transport.irqproto`);
* an emulated endpoint in a QEMU guest (ivshmem-plain): there is no interrupt at all —
  no MSI-X, no INTx pin — so :class:`NoInterrupts` refuses with an error that says to use
  polled instances.

Waits should stay bounded (``wait(timeout)``) and be followed by a poll either way:
device events such as a restart arrive through the mailbox, not through ring interrupts.
"""

from __future__ import annotations

import errno
import os
import select
import socket
from collections.abc import Callable
from typing import Protocol

from qathw import emulated
from qathw.errors import DeviceError
from qathw.mmio import Mmio
from qathw.transport import irqproto
from qathw.transport.bank import Bank
from qathw.transport.csr import INT_COL_DEFAULT_TIMER_NS, int_col_ctl

_EPOCH = emulated.qathw_emu_control.backend_epoch.offset
_BACKEND_STATE = emulated.qathw_emu_control.backend_state.offset
_CONNECT_TIMEOUT = 2.0


class InterruptSource(Protocol):
    """Gives eventfds that signal a bank's enabled response rings."""

    def eventfd(self, bank: int) -> int:
        """A new eventfd for ``bank`` (the caller owns and closes it).

        Raises:
            DeviceError: the endpoint has no interrupt path (the hint says what to do).
        """
        ...


class NoInterrupts:
    """An endpoint without an interrupt path: every request for one is refused."""

    def __init__(self, what: str, *, hint: str) -> None:
        self._what = what
        self._hint = hint

    def eventfd(self, bank: int) -> int:
        raise DeviceError(self._what, hint=self._hint)


class EmulatedInterrupts:
    """Eventfds from the backend serving an emulated endpoint on this host.

    Args:
        control: the endpoint's control page (its epoch names the backend's socket).
        name: how errors name the endpoint.
    """

    def __init__(self, control: Mmio, name: str) -> None:
        self._control = control
        self._name = name

    def eventfd(self, bank: int) -> int:
        epoch = self._control.read64(_EPOCH)
        state = self._control.read32(_BACKEND_STATE)
        known = state in emulated.XenbusState._value2member_map_
        no_backend = DeviceError(
            f"{self._name}: no backend hands out interrupts for this endpoint (backend "
            f"state {emulated.XenbusState(state).name if known else state})",
            hint="run its backend ('python -m fakedev serve <file>'), or use polled "
            "instances (IsPolled = 1); in a QEMU guest ivshmem-plain has no interrupts",
        )
        if not epoch:
            raise no_backend
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            sock.settimeout(_CONNECT_TIMEOUT)
            try:
                sock.connect(irqproto.socket_name(epoch))
            except (FileNotFoundError, ConnectionRefusedError):
                raise no_backend from None
            sock.send(irqproto.REQUEST.pack(irqproto.MAGIC, irqproto.VERSION, bank))
            msg, fds, _, _ = socket.recv_fds(sock, irqproto.REPLY.size, 1)
        except OSError as exc:
            raise DeviceError.from_oserror(
                exc, f"{self._name}: asking the backend for the interrupt of bank {bank}"
            ) from exc
        finally:
            sock.close()
        if len(msg) != irqproto.REPLY.size:
            for fd in fds:
                os.close(fd)
            raise DeviceError(f"{self._name}: the backend's interrupt reply is malformed")
        magic, _, status = irqproto.REPLY.unpack(msg)
        if magic != irqproto.MAGIC or status or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            reason = os.strerror(status) if status else "no eventfd"
            raise DeviceError(
                f"{self._name}: the backend refused the interrupt of bank {bank}: {reason}",
                errno=status or None,
            )
        return fds[0]


class VfioInterrupts:
    """The MSI vector of a real function through VFIO, one eventfd shared by its banks.

    Args:
        enable: returns the vector's eventfd (``VfioDevice.enable_irqs(MSI, 1)[0]``);
            called once.
    """

    def __init__(self, enable: Callable[[], int]) -> None:
        self._enable = enable
        self._fd: int | None = None

    def eventfd(self, bank: int) -> int:
        if self._fd is None:
            self._fd = self._enable()
        return os.dup(self._fd)


class BankInterrupt:
    """One response ring's interrupt: an eventfd, enabled in the bank's registers.

    Args:
        bank: the bank of the ring.
        rx_ring: the response ring.
        fd: the eventfd (owned: closed by :meth:`close`).
        timer_ns: the coalescing delay (0: an interrupt per response, no coalescing).
    """

    def __init__(
        self,
        bank: Bank,
        rx_ring: int,
        fd: int,
        *,
        timer_ns: int = INT_COL_DEFAULT_TIMER_NS,
    ) -> None:
        self.bank = bank
        self.rx_ring = rx_ring
        self._fd: int | None = fd
        os.set_blocking(fd, False)  # clear() must never block
        self._mask = 1 << rx_ring
        self._col_ctl = int_col_ctl(timer_ns)
        self._enabled = False

    def fileno(self) -> int:
        """The eventfd, for ``select``/``epoll``/``loop.add_reader``."""
        if self._fd is None:
            raise ValueError("the interrupt is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd is None

    def enable(self) -> None:
        """Turn the ring's interrupt on: ``INT_COL_EN`` bit, then ``INT_COL_CTL`` (the
        coalescing delay)."""
        layout, mmio = self.bank.layout, self.bank.mmio
        mmio.write32(layout.int_col_en, mmio.read32(layout.int_col_en) | self._mask)
        mmio.write32(layout.int_col_ctl, self._col_ctl)
        self._enabled = True

    def disable(self) -> None:
        """Turn the ring's interrupt off (its ``INT_COL_EN`` bit)."""
        layout, mmio = self.bank.layout, self.bank.mmio
        if self._enabled and not mmio.closed:
            mmio.write32(layout.int_col_en, mmio.read32(layout.int_col_en) & ~self._mask)
        self._enabled = False

    def clear(self) -> int:
        """Consume pending signals (before taking responses); how many there were."""
        try:
            return os.eventfd_read(self.fileno())
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                return 0
            raise

    def acknowledge(self) -> None:
        """Re-arm the bank after servicing it (``INT_FLAG_AND_COL``, Linux's service loop)."""
        self.bank.mmio.write32(self.bank.layout.int_flag_and_col, self._mask)

    def wait(self, timeout: float | None) -> bool:
        """Block until signalled or ``timeout`` seconds pass; True when signalled."""
        ready, _, _ = select.select([self.fileno()], [], [], timeout)
        return bool(ready)

    def close(self) -> None:
        """Disable the interrupt and close the eventfd. Idempotent."""
        if self._fd is None:
            return
        self.disable()
        os.close(self._fd)
        self._fd = None

    def __repr__(self) -> str:
        state = "closed" if self._fd is None else f"fd {self._fd}"
        return f"<BankInterrupt bank {self.bank.number} ring {self.rx_ring}: {state}>"
