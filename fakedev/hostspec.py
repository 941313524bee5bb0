"""What a fake host holds, checked before anything is made: endpoints, sections, config.

A fake host (:func:`fakedev.running`) is emulated endpoints in a fake sysfs tree plus the
``<class>_dev<N>.conf`` files an application's sections need. This module holds the two
descriptions a user writes — :class:`Endpoint` and :class:`Section` — the checks that
refuse bad ones with a message saying what to write instead, and the text of each
configuration file (docs/hardware.md#config-files, #config-keys).

Where the instances go: a section's ``cy`` Cy instances are written into the file of
every endpoint whose services include crypto (``sym``, ``asym`` or ``cy``), its ``dc`` Dc
instances into the file of every endpoint serving ``dc``. The counts are per process and
per such endpoint, as the files themselves count them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fakedev import endpoint_file
from fakedev.endpoint_file import EndpointFileError
from qathw.pci_regs import PciAddress
from qathw.transport import pfvf

DEFAULT_SIZE = 16 << 20
_CRYPTO = frozenset({"cy", "sym", "asym"})
_SECTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RESERVED = frozenset({"GENERAL", "KERNEL", "KERNEL_QAT", "SIOV"})


class FakeHostError(Exception):
    """A fake host cannot be described, built or started; the message says what to do."""


@dataclass(frozen=True)
class Endpoint:
    """One emulated endpoint of a fake host, served by its own device process.

    Attributes:
        kind: kernel class name of the emulated function: ``4xxxvf`` (a gen4 VF, 4 banks,
            with a PF/VF mailbox), ``4xxx`` (PF-style, 64 banks, no mailbox: several
            processes may share it), ``c6xxvf`` (gen2 VF).
        services: what its banks serve, as ``ServicesEnabled`` in its configuration
            file; ``None`` for ``asym;sym`` on gen4 and ``cy`` elsewhere. On gen4 the
            device process serves the same list (``fakedev serve --services``).
        size: bytes of the endpoint file, a power of two.
        bdf: the ivshmem function's address; ``None`` for ``0000:00:<10+i>.0``.
    """

    kind: str = endpoint_file.DEFAULT_DEVICE
    services: str | None = None
    size: int = DEFAULT_SIZE
    bdf: str | None = None


@dataclass(frozen=True)
class Section:
    """One user section, written into the configuration file of every endpoint it uses.

    Attributes:
        name: the section, as ``qathw.user_start(name)`` asks for it.
        cy: Cy instances per process on each endpoint serving crypto.
        dc: Dc instances per process on each endpoint serving ``dc``.
        processes: ``NumProcesses``: how many processes may hold it at once.
        limit_dev_access: ``LimitDevAccess = 1``: each process gets one device's
            instances (``NAME_DEV<d>_INT_<i>``) instead of every device's.
    """

    name: str = "SSL"
    cy: int = 1
    dc: int = 0
    processes: int = 1
    limit_dev_access: bool = False


#: The default host: one 4xxx VF serving ``sym;dc`` and ``[SSL]`` with one Cy and one Dc
#: instance (its Dc instance on bank 0, its Cy instance on bank 1: the in-tree PF's map,
#: docs/hardware.md#ring-to-service-map).
DEFAULT_ENDPOINTS = (Endpoint("4xxxvf", "sym;dc"),)
DEFAULT_SECTIONS = (Section("SSL", cy=1, dc=1),)


@dataclass(frozen=True)
class PlannedEndpoint:
    """An :class:`Endpoint` checked, with every default filled in."""

    kind: str
    services: str
    size: int
    bdf: str
    serve_services: str | None  # ``--services`` of the device process; None: its default

    @property
    def tokens(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.services.split(";") if t.strip())

    @property
    def crypto(self) -> bool:
        return bool(self.tokens & _CRYPTO)

    @property
    def compression(self) -> bool:
        return "dc" in self.tokens


def _typed(given: Endpoint | Section, **types: type | tuple[type, ...]) -> None:
    """Refuse a field of the wrong type (a marker's arguments are not type-checked)."""
    for name, want in types.items():
        value = getattr(given, name)
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise FakeHostError(f"{given!r}: {name} cannot be {value!r}")


def plan_endpoints(endpoints: Sequence[Endpoint | str]) -> tuple[PlannedEndpoint, ...]:
    """Check ``endpoints`` (a class name stands for ``Endpoint(kind)``) and fill defaults.

    Raises:
        FakeHostError: none given, an unknown kind, services the device cannot serve, a
            size that is no power of two, or a repeated or malformed address.
    """
    if not isinstance(endpoints, list | tuple):
        raise FakeHostError(
            f"endpoints must be a list, e.g. [Endpoint('4xxxvf')], not {endpoints!r}"
        )
    if not endpoints:
        raise FakeHostError("a fake host needs at least one endpoint, e.g. [Endpoint('4xxxvf')]")
    out: list[PlannedEndpoint] = []
    for i, given in enumerate(endpoints):
        ep = Endpoint(given) if isinstance(given, str) else given
        if not isinstance(ep, Endpoint):
            raise FakeHostError(
                f"endpoint {i} is {ep!r}; give an Endpoint(kind, services) or a class name"
            )
        _typed(ep, kind=str, services=(str, type(None)), size=int, bdf=(str, type(None)))
        try:
            spec = endpoint_file.device_spec(ep.kind)
        except EndpointFileError as exc:
            raise FakeHostError(str(exc)) from None
        if ep.size <= 0 or ep.size & (ep.size - 1):
            raise FakeHostError(
                f"endpoint {ep.kind}: size {ep.size} is not a power of two; use e.g. 16 << 20"
            )
        gen4 = spec.kind.generation.traits.ring_service_map
        services = ep.services if ep.services is not None else ("asym;sym" if gen4 else "cy")
        serve = None
        if gen4:
            try:
                pfvf.ring_service_map_from_names(services)
            except ValueError as exc:
                raise FakeHostError(f"endpoint {ep.kind}: {exc}") from None
            serve = services
        bdf = ep.bdf if ep.bdf is not None else f"0000:00:{0x10 + i:02x}.0"
        try:
            PciAddress.parse(bdf)
        except ValueError as exc:
            raise FakeHostError(f"endpoint {ep.kind}: {exc}") from None
        if any(p.bdf == bdf for p in out):
            raise FakeHostError(f"two endpoints at {bdf}; give each its own bdf")
        out.append(PlannedEndpoint(ep.kind, services, ep.size, bdf, serve))
    return tuple(out)


def plan_sections(
    sections: Sequence[Section | str], endpoints: Sequence[PlannedEndpoint]
) -> tuple[Section, ...]:
    """Check ``sections`` (a name stands for ``Section(name)``) against ``endpoints``.

    Raises:
        FakeHostError: a malformed, reserved or repeated name, a count out of range, or
            instances of a service no endpoint serves.
    """
    if not isinstance(sections, list | tuple):
        raise FakeHostError(
            f"sections must be a list, e.g. [Section('SSL', cy=1)], not {sections!r}"
        )
    out: list[Section] = []
    for given in sections:
        sec = Section(given) if isinstance(given, str) else given
        if not isinstance(sec, Section):
            raise FakeHostError(f"{sec!r} is no section; give a Section(name, cy=, dc=)")
        _typed(sec, name=str, cy=int, dc=int, processes=int, limit_dev_access=bool)
        if not _SECTION_NAME.fullmatch(sec.name) or sec.name.upper() in _RESERVED:
            raise FakeHostError(
                f"{sec.name!r} cannot name a user section; use letters, digits and '_', "
                f"starting with a letter, and none of {', '.join(sorted(_RESERVED))}"
            )
        if any(s.name == sec.name for s in out):
            raise FakeHostError(f"section {sec.name} is given twice; give it once")
        if sec.cy < 0 or sec.dc < 0 or sec.cy + sec.dc == 0:
            raise FakeHostError(
                f"section {sec.name} has cy={sec.cy}, dc={sec.dc}; give it at least one instance"
            )
        if sec.processes < 1:
            raise FakeHostError(
                f"section {sec.name} has processes={sec.processes}; at least 1 may hold it"
            )
        for count, serves, what, example in (
            (sec.cy, any(e.crypto for e in endpoints), "Cy", "Endpoint('4xxxvf', 'asym;sym')"),
            (sec.dc, any(e.compression for e in endpoints), "Dc", "Endpoint('4xxxvf', 'dc')"),
        ):
            if count and not serves:
                service = "crypto (sym, asym)" if what == "Cy" else "dc"
                raise FakeHostError(
                    f"section {sec.name} asks for {count} {what} instance(s), but no endpoint "
                    f"serves {service}; add one such as {example}"
                )
        out.append(sec)
    return tuple(out)


def config_text(endpoint: PlannedEndpoint, sections: Sequence[Section]) -> str:
    """The configuration file of ``endpoint``: ``[GENERAL]``, an empty ``[KERNEL]``, and
    each section that places instances on it."""
    lines = [
        "# Written by fakedev.running for an emulated endpoint.",
        "[GENERAL]",
        f"ServicesEnabled = {endpoint.services}",
        "ConfigVersion = 2",
        "statsGeneral = 0",
        "",
        "[KERNEL]",
        "NumberCyInstances = 0",
        "NumberDcInstances = 0",
    ]
    for sec in sections:
        cy = sec.cy if endpoint.crypto else 0
        dc = sec.dc if endpoint.compression else 0
        if not cy and not dc:
            continue
        lines += [
            "",
            f"[{sec.name}]",
            f"NumProcesses = {sec.processes}",
            f"LimitDevAccess = {int(sec.limit_dev_access)}",
            f"NumberCyInstances = {cy}",
            f"NumberDcInstances = {dc}",
        ]
        for n in range(cy):  # named as in Intel's sample files: SSL0, SSL1 ... and Dc0 ...
            lines += [
                f'Cy{n}Name = "{sec.name}{n}"',
                f"Cy{n}IsPolled = 1",
                f"Cy{n}CoreAffinity = 0",
            ]
        for n in range(dc):
            lines += [f'Dc{n}Name = "Dc{n}"', f"Dc{n}IsPolled = 1", f"Dc{n}CoreAffinity = 0"]
    return "\n".join(lines) + "\n"
