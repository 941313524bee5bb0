"""QAT PCI identities, per-family shape and per-generation traits.

Two tables hold what differs between QAT devices; everything else asks them, and nothing
tests ``if generation == 4`` on its own:

* :data:`FAMILIES` — what identifies a QAT function and how large it is: PCI ids, kernel
  class names (used in debugfs directories, ``adf_ctl status`` and config file names),
  in-tree driver names, banks per PF and VF, rings per bank;
* :data:`GENERATIONS` — what a whole generation does or lacks, whatever the family: how
  it is printed, how its drivers read a configuration file, which sysfs and debugfs
  controls its in-tree driver offers (:class:`GenerationTraits`). A family reaches its row
  as ``family.traits``, a generation as ``generation.traits``.

Sources: docs/hardware.md#device-ids (kernel ``adf_accel_devices.h``,
``qat_*/adf_*_hw_data.h``, qatlib ``qat_init.sh.in``), docs/hardware.md#ring-csrs,
docs/hardware.md#ring-capacity, #sysfs-abi, #debugfs and #config-files. ``None`` marks a
number the sources do not establish.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

INTEL_VENDOR_ID = 0x8086

# QEMU's ivshmem device: the PCI function that carries an emulated (fakedev) endpoint.
IVSHMEM_VENDOR_ID = 0x1AF4
IVSHMEM_DEVICE_ID = 0x1110
#: Ring pairs a ring-to-service map describes: a gen4 VF's banks, a PF's modulo 4.
RING_PAIRS_PER_MAP = 4


class Generation(enum.IntEnum):
    """QAT hardware generations. 420xx is driven by the kernel's gen4 code (qatlib: "gen5")."""

    GEN1 = 1  # QAT 1.5/1.6: dh89xxcc, c2xxx (out-of-tree "qatmux" drivers only)
    GEN2 = 2  # QAT 1.7: dh895xcc, c6xx (C62x), c3xxx, d15xx, 200xx
    GEN3 = 3  # QAT 1.8: c4xxx (out-of-tree only)
    GEN4 = 4  # QAT 2.0: 4xxx, 401xx, 402xx, 420xx
    GEN6 = 6  # 6xxx

    @property
    def traits(self) -> GenerationTraits:
        """This generation's row of :data:`GENERATIONS`."""
        return GENERATIONS[self]


class ServicesGrammar(enum.Enum):
    """How a generation's out-of-tree driver reads ``ServicesEnabled``.

    The key of the value tables in :mod:`qathw.config.values`; the tables are those of
    docs/hardware.md#ring-capacity.
    """

    #: gen1 (qatmux samples): per-accelerator tokens such as ``cy0;cy1``; no source read.
    ACCELERATOR_TOKENS = "accelerator-tokens"
    #: gen2: OOT 1.7's ``adf_cfg_svcs`` table, narrowed by QAT.L.4.2x's ``ServicesProfile``.
    ADF_CFG_SVCS = "adf_cfg_svcs"
    #: c4xxx: the generic token path (``cy``, ``dc``, ``asym``, ``sym``; some pairs refused).
    SERVICE_TOKENS = "service-tokens"
    #: gen4: OOT QAT20's ``adf_4xxx_svcs`` table (no ``cy``, at most two services).
    QAT20_SVCS = "adf_4xxx_svcs"


class SliceForm(enum.Enum):
    """Which cipher slice runs a cipher: its content-descriptor layout (``SLICE_TYPE``).

    The legacy slice takes an 8-byte config and the key; the UCS slice (gen4 and later,
    capability ``AES_V2``) a 16-byte config and the key padded to 16 bytes
    (docs/hardware.md#content-descriptors).
    """

    LEGACY = "legacy"
    UCS = "ucs"


_L, _U = SliceForm.LEGACY, SliceForm.UCS


@dataclass(frozen=True, kw_only=True)
class CryptoOffer:
    """What a generation's symmetric-crypto slices run, as the upstream stacks drive them.

    Sources: DPDK ``qat_crypto_pmd_gen2.c`` / ``_gen3.c`` / ``_gen4.c`` (capability
    tables), qatlib ``LacCipher_GetCipherSliceType`` (which slice a cipher runs on), Linux
    ``qat_algs.c`` (UCS for XTS and CTR on ``AES_V2`` devices); docs/fidelity.md says
    where they disagree.

    Attributes:
        ciphers: cipher kind (``aes-cbc``, ``aes-xts``, ``des-cbc``, ``aes-gcm`` for the
            two-pass GCM cipher block...) -> the slices that run it, the one upstream
            stacks use first. A kind that is missing is not offered.
        gcm_single_pass: GCM as one CIPHER command on the UCS slice (``AESGCM_SPC``),
            12-byte IVs only.
        gcm_two_pass: GCM as a CTR cipher block chained with a GALOIS_128 hash block (any
            IV: the host sends J0).
        chacha_poly: ChaCha20-Poly1305 (capability ``CHACHA_POLY``; qathw does not drive it).
        sha3: SHA-3 hashes (capability ``SHA3``; qathw does not drive them).
    """

    ciphers: Mapping[str, tuple[SliceForm, ...]]
    gcm_single_pass: bool
    gcm_two_pass: bool
    chacha_poly: bool
    sha3: bool

    @property
    def ucs_slice(self) -> bool:
        """The generation has the UCS slice (its capability word carries ``AES_V2``)."""
        return any(_U in forms for forms in self.ciphers.values())


# gen1..gen3: every cipher on the legacy slice (DPDK gen2/gen3 tables; qatlib picks a
# slice only on gen4 and later). DES/3DES are gen2/gen3 only.
_LEGACY_OFFER = CryptoOffer(
    ciphers=MappingProxyType(
        {
            "aes-cbc": (_L,),
            "aes-ctr": (_L,),
            "aes-xts": (_L,),
            "aes-ecb": (_L,),
            "aes-gcm": (_L,),
            "des-cbc": (_L,),
            "des-ecb": (_L,),
            "3des-cbc": (_L,),
            "3des-ecb": (_L,),
        }
    ),
    gcm_single_pass=False,
    gcm_two_pass=True,
    chacha_poly=False,
    sha3=False,
)
# gen4: no DES/3DES (DPDK gen4 table); XTS, CTR and the GCM cipher block on the UCS slice
# (qatlib LacCipher_GetCipherSliceType, Linux qat_algs.c), CBC and ECB on the legacy one.
_GEN4_OFFER = CryptoOffer(
    ciphers=MappingProxyType(
        {"aes-cbc": (_L,), "aes-ecb": (_L,), "aes-ctr": (_U,), "aes-xts": (_U,), "aes-gcm": (_U,)}
    ),
    gcm_single_pass=True,
    gcm_two_pass=True,
    chacha_poly=True,
    sha3=True,
)
# gen6: qatlib runs every cipher on the UCS slice and GCM in single pass only (12-byte IVs).
_GEN6_OFFER = CryptoOffer(
    ciphers=MappingProxyType(
        {"aes-cbc": (_U,), "aes-ecb": (_U,), "aes-ctr": (_U,), "aes-xts": (_U,), "aes-gcm": (_U,)}
    ),
    gcm_single_pass=True,
    gcm_two_pass=False,
    chacha_poly=True,
    sha3=True,
)


@dataclass(frozen=True, kw_only=True)
class GenerationTraits:
    """What one generation does, whatever the family: one row of :data:`GENERATIONS`.

    Attributes:
        generation: the row's key.
        label: how the generation is printed (``gen2``, ``gen3``).
        config_infix: between class name and ``_dev<N>.conf`` in a file name (gen1 ``_qa``).
        services_grammar: how the out-of-tree driver reads ``ServicesEnabled``.
        kernel_qat_section: ``[KERNEL_QAT]`` holds kernel instances (OOT 1.7, 4.24) rather than
            being an ordinary user section.
        siov: Scalable IOV: ``[SIOV] NumberAdis`` reserves banks for ADIs.
        inline_ipsec: inline IPsec: the driver reads ``[INLINE]``.
        qat20_driver: configured by the QAT20 driver: its ring allocator (polled user
            instances from bank 0, exact core match), ``[INLINE]`` a no-op section.
        wireless_section: ``[WIRELESS]`` is a special, instance-less section.
        accel_units: a PF's ``[GENERAL]`` splits its accel units between services
            (``NumCyAccelUnits``, ``NumDcAccelUnits``, ``NumInlineAccelUnits``).
        capability_keys: QAT1.7.L reads ``PkeServiceDisabled``, ``StorageEnabled`` and
            ``RateLimitingEnabled`` on a PF as removing a capability.
        deprecated_keys: QAT.L.4.2x drives it and ignores those keys and ``KptEnabled``
            ("Parameter '<k>' has been deprecated").
        rate_limiting: QAT.L.4.2x still reads ``RateLimitingEnabled`` here.
        heartbeat_ms: default heartbeat period (debugfs ``heartbeat/config``; fixed on
            gen4); ``None``: no heartbeat, so no ``HeartbeatTimer`` minimum either.
        sysfs_control: a PF has ``qat/state`` and ``qat/cfg_services`` (Linux 6.0+): it is
            brought up and down, and its services set, through sysfs. Without them a PF
            starts when its driver binds.
        cfg_services_max: services ``cfg_services`` takes at once under the 2025 token
            parser; ``None`` without ``cfg_services``.
        decomp_service: ``decomp`` is a service of its own in ``cfg_services``.
        telemetry: the PF has debugfs telemetry (Linux 6.8+).
        vfio_vfs: qatlib (and qathw) drive its VFs from user space through vfio-pci.
        ring_service_map: a VF learns each bank's service from the PF's ring-to-service
            map; without one, the services share the rings of a bank.
        ring_pair_order: how the in-tree PF deals two services to a VF's four banks: the
            first of them in this order serves banks 0 and 2, the other banks 1 and 3
            (docs/hardware.md#ring-to-service-map); empty without a ring-to-service map.
        pci_revision: the PCI revision fakedev gives a PF when a topology names none.
        vf_offset: ``sriov_offset``, routing ids from a PF to its first VF: gen4 VFs from
            function 1, gen2 from device 1, as ``lspci`` listings show (C3xxx VF 7 at
            01:01.7; docs/hardware.md#device-ids).
        crypto: the symmetric crypto its slices run (:class:`CryptoOffer`).
    """

    generation: Generation
    label: str
    # configuration files (out-of-tree drivers, adf_ctl; docs/hardware.md#config-files)
    config_infix: str
    services_grammar: ServicesGrammar
    kernel_qat_section: bool
    siov: bool
    inline_ipsec: bool
    qat20_driver: bool
    wireless_section: bool
    accel_units: bool
    capability_keys: bool
    deprecated_keys: bool
    rate_limiting: bool
    heartbeat_ms: int | None
    # the in-tree driver's sysfs and debugfs
    sysfs_control: bool
    cfg_services_max: int | None
    decomp_service: bool
    telemetry: bool
    # user space and PCI
    vfio_vfs: bool
    ring_service_map: bool
    ring_pair_order: tuple[str, ...]
    pci_revision: int
    vf_offset: int
    # what the slices run
    crypto: CryptoOffer

    def ring_pair_services(self, services: Iterable[str]) -> tuple[str, ...]:
        """The service of ring pairs 0..3 (a VF's banks) the in-tree PF gives ``services``.

        The one rule behind both the map fakedev's PF sends a VF
        (``qathw.transport.pfvf.ring_service_map_from_names``) and the bank layout qathw's
        configuration analysis gives a VF (``qathw.config.values.services``;
        docs/hardware.md#ring-to-service-map): one service serves all four banks; of two,
        the one first in :attr:`ring_pair_order` serves ring pairs 0 and 2, the other 1
        and 3 (Linux ``adf_4xxx_hw_data.c`` ``get_ring_to_svc_map``, ``adf_6xxx_hw_data.c``
        ``get_rp_config``). So gen4 ``sym;dc`` is dc, sym, dc, sym, and ``sym;asym`` the
        hardware default asym, sym, asym, sym. Gen6's three (asym, sym, dc) fall out of the
        same modulus: ring pair 3 is asym's second.

        Args:
            services: ``asym``, ``sym``, ``dc``, in any order; at most
                :attr:`cfg_services_max` of them.

        Raises:
            ValueError: no ring-to-service map on this generation, a service not in its
                order, or too many.
        """
        order, most = self.ring_pair_order, self.cfg_services_max or 0
        given = set(services)
        ranked = [s for s in order if s in given]
        if not order or len(ranked) != len(given) or not 1 <= len(ranked) <= most:
            raise ValueError(
                f"no ring-to-service map for {';'.join(sorted(given))!r} on {self.label}; "
                f"give at most {most} of {', '.join(order) or '(none: no map)'}"
            )
        return tuple(ranked[bank % len(ranked)] for bank in range(RING_PAIRS_PER_MAP))


# fmt: off
# Every row names every trait (there are no defaults): a new generation cannot inherit a
# trait by accident.
_ROWS = (
    GenerationTraits(
        generation=Generation.GEN1, label="gen1",
        config_infix="_qa", services_grammar=ServicesGrammar.ACCELERATOR_TOKENS,
        kernel_qat_section=False, siov=False, inline_ipsec=False, qat20_driver=False,
        wireless_section=True, accel_units=False, capability_keys=False,
        deprecated_keys=False, rate_limiting=False, heartbeat_ms=None,
        sysfs_control=False, cfg_services_max=None, decomp_service=False, telemetry=False,
        vfio_vfs=False, ring_service_map=False, ring_pair_order=(),
        pci_revision=0x04, vf_offset=8,
        crypto=_LEGACY_OFFER,
    ),
    GenerationTraits(
        generation=Generation.GEN2, label="gen2",
        config_infix="", services_grammar=ServicesGrammar.ADF_CFG_SVCS,
        kernel_qat_section=True, siov=False, inline_ipsec=False, qat20_driver=False,
        wireless_section=False, accel_units=False, capability_keys=True,
        deprecated_keys=True, rate_limiting=False, heartbeat_ms=500,
        sysfs_control=False, cfg_services_max=None, decomp_service=False, telemetry=False,
        vfio_vfs=False, ring_service_map=False, ring_pair_order=(),
        pci_revision=0x04, vf_offset=8,
        crypto=_LEGACY_OFFER,
    ),
    GenerationTraits(
        generation=Generation.GEN3, label="gen3",
        config_infix="", services_grammar=ServicesGrammar.SERVICE_TOKENS,
        kernel_qat_section=True, siov=False, inline_ipsec=True, qat20_driver=False,
        wireless_section=False, accel_units=True, capability_keys=False,
        deprecated_keys=True, rate_limiting=True, heartbeat_ms=500,
        sysfs_control=False, cfg_services_max=None, decomp_service=False, telemetry=False,
        vfio_vfs=False, ring_service_map=False, ring_pair_order=(),
        pci_revision=0x04, vf_offset=8,
        crypto=_LEGACY_OFFER,
    ),
    GenerationTraits(
        generation=Generation.GEN4, label="gen4",
        config_infix="", services_grammar=ServicesGrammar.QAT20_SVCS,
        kernel_qat_section=False, siov=True, inline_ipsec=False, qat20_driver=True,
        wireless_section=False, accel_units=False, capability_keys=False,
        deprecated_keys=False, rate_limiting=False, heartbeat_ms=200,
        sysfs_control=True, cfg_services_max=2, decomp_service=False, telemetry=True,
        vfio_vfs=True, ring_service_map=True,
        # adf_4xxx_hw_data.c adf_fw_*_config: AE group 0 (RP0, RP2) runs dc, else asym
        ring_pair_order=("dc", "asym", "sym"), pci_revision=0x40, vf_offset=1,
        crypto=_GEN4_OFFER,
    ),
    # 6xxx is configured like gen4 (services, sections, allocator); its cfg_services
    # takes up to three services, decomp among them.
    GenerationTraits(
        generation=Generation.GEN6, label="gen6",
        config_infix="", services_grammar=ServicesGrammar.QAT20_SVCS,
        kernel_qat_section=False, siov=True, inline_ipsec=False, qat20_driver=True,
        wireless_section=False, accel_units=False, capability_keys=False,
        deprecated_keys=False, rate_limiting=False, heartbeat_ms=200,
        sysfs_control=True, cfg_services_max=3, decomp_service=True, telemetry=True,
        vfio_vfs=True, ring_service_map=True,
        # adf_6xxx_hw_data.c get_service: services in bit order, the first on RP0 and RP2
        ring_pair_order=("asym", "sym", "dc"), pci_revision=0x40, vf_offset=1,
        crypto=_GEN6_OFFER,
    ),
)
# fmt: on

#: Every generation's traits, keyed by generation.
GENERATIONS: Mapping[Generation, GenerationTraits] = MappingProxyType(
    {t.generation: t for t in _ROWS}
)


@dataclass(frozen=True, kw_only=True)
class Family:
    """One QAT device family (a PF id and its VF id).

    Attributes:
        name: kernel class name of the PF (``c6xx``, ``4xxx``); 401xx and 402xx report ``4xxx``.
        product: product name as Intel writes it (``C62x``, ``401xx``).
        generation: hardware generation.
        pf_id / vf_id: PCI device ids (vendor 0x8086).
        pf_driver / vf_driver: in-tree PCI driver names (``/sys/bus/pci/drivers/<name>``),
            or the out-of-tree name where no in-tree driver exists.
        in_tree: whether mainline Linux drives the PF.
        pf_banks / vf_banks: ring banks (ring pairs on gen4) per function.
        rings_per_bank: rings in one bank (TX and RX together).
        max_vfs: ``sriov_totalvfs`` of the PF.
        accel / engines: ``#accel`` / ``#engines`` in ``adf_ctl status``.
        firmware: firmware files the PF driver loads.
        vfio_denylisted: vfio-pci refuses the family's ids (gen2, Linux >= 5.9).
    """

    name: str
    product: str
    generation: Generation
    pf_id: int
    vf_id: int
    pf_driver: str | None = None
    vf_driver: str | None = None
    in_tree: bool = False
    pf_banks: int | None = None
    vf_banks: int | None = None
    rings_per_bank: int | None = None
    max_vfs: int | None = None
    accel: int | None = None
    engines: int | None = None
    firmware: tuple[str, ...] = ()
    vfio_denylisted: bool = False

    @property
    def vf_name(self) -> str:
        """Class name of the VF (``4xxxvf``, ``c6xxvf``)."""
        return f"{self.name}vf"

    @property
    def traits(self) -> GenerationTraits:
        """What the family's generation does (its row of :data:`GENERATIONS`)."""
        return GENERATIONS[self.generation]


# fmt: off
FAMILIES: tuple[Family, ...] = (
    # gen1: out-of-tree (qatmux) only; shape not modelled.
    Family(name="dh89xxcc", product="DH89xxCC", generation=Generation.GEN1,
           pf_id=0x0434, vf_id=0x0442),
    Family(name="c2xxx", product="C2xxx", generation=Generation.GEN1,
           pf_id=0x1F18, vf_id=0x1F19),
    Family(name="dh895xcc", product="DH895xCC", generation=Generation.GEN2,
           pf_id=0x0435, vf_id=0x0443, pf_driver="dh895xcc", vf_driver="dh895xccvf",
           in_tree=True, pf_banks=32, vf_banks=1, rings_per_bank=16, max_vfs=32,
           accel=6, engines=12, firmware=("qat_895xcc.bin", "qat_895xcc_mmp.bin"),
           vfio_denylisted=True),
    Family(name="c6xx", product="C62x", generation=Generation.GEN2,
           pf_id=0x37C8, vf_id=0x37C9, pf_driver="c6xx", vf_driver="c6xxvf",
           in_tree=True, pf_banks=16, vf_banks=1, rings_per_bank=16, max_vfs=16,
           accel=5, engines=10, firmware=("qat_c62x.bin", "qat_c62x_mmp.bin"),
           vfio_denylisted=True),
    Family(name="c3xxx", product="C3xxx", generation=Generation.GEN2,
           pf_id=0x19E2, vf_id=0x19E3, pf_driver="c3xxx", vf_driver="c3xxxvf",
           in_tree=True, pf_banks=16, vf_banks=1, rings_per_bank=16, max_vfs=16,
           accel=3, engines=6, firmware=("qat_c3xxx.bin", "qat_c3xxx_mmp.bin"),
           vfio_denylisted=True),
    Family(name="d15xx", product="D15xx", generation=Generation.GEN2,
           pf_id=0x6F54, vf_id=0x6F55, pf_driver="d15xx", vf_driver="d15xxvf",
           in_tree=False, pf_banks=16, vf_banks=1, rings_per_bank=16, max_vfs=16),
    Family(name="200xx", product="200xx", generation=Generation.GEN2,
           pf_id=0x18EE, vf_id=0x18EF, pf_driver="200xx", vf_driver="200xxvf",
           in_tree=False, pf_banks=16, vf_banks=1, rings_per_bank=16, max_vfs=16),
    Family(name="c4xxx", product="C4xxx", generation=Generation.GEN3,
           pf_id=0x18A0, vf_id=0x18A1, pf_driver="c4xxx", vf_driver="c4xxxvf",
           in_tree=False, pf_banks=128, vf_banks=1, rings_per_bank=8),
    Family(name="4xxx", product="4xxx", generation=Generation.GEN4,
           pf_id=0x4940, vf_id=0x4941, pf_driver="4xxx", vf_driver="vfio-pci",
           in_tree=True, pf_banks=64, vf_banks=4, rings_per_bank=2, max_vfs=16,
           accel=1, engines=9, firmware=("qat_4xxx.bin", "qat_4xxx_mmp.bin")),
    Family(name="4xxx", product="401xx", generation=Generation.GEN4,
           pf_id=0x4942, vf_id=0x4943, pf_driver="4xxx", vf_driver="vfio-pci",
           in_tree=True, pf_banks=64, vf_banks=4, rings_per_bank=2, max_vfs=16,
           accel=1, engines=9, firmware=("qat_4xxx.bin", "qat_4xxx_mmp.bin")),
    Family(name="4xxx", product="402xx", generation=Generation.GEN4,
           pf_id=0x4944, vf_id=0x4945, pf_driver="4xxx", vf_driver="vfio-pci",
           in_tree=True, pf_banks=64, vf_banks=4, rings_per_bank=2, max_vfs=16,
           accel=1, engines=9, firmware=("qat_402xx.bin", "qat_402xx_mmp.bin")),
    # 420xx: one accelerator, 17 engines (kernel adf_420xx_hw_data.h, ADF_GEN4_MAX_ACCELERATORS).
    Family(name="420xx", product="420xx", generation=Generation.GEN4,
           pf_id=0x4946, vf_id=0x4947, pf_driver="420xx", vf_driver="vfio-pci",
           in_tree=True, pf_banks=64, vf_banks=4, rings_per_bank=2, max_vfs=16,
           accel=1, engines=17, firmware=("qat_420xx.bin", "qat_420xx_mmp.bin")),
    Family(name="6xxx", product="6xxx", generation=Generation.GEN6,
           pf_id=0x4948, vf_id=0x4949, pf_driver="6xxx", vf_driver="vfio-pci",
           in_tree=True, pf_banks=64, vf_banks=4, rings_per_bank=2, max_vfs=16,
           firmware=("qat_6xxx.bin", "qat_6xxx_mmp.bin")),
)
# fmt: on


@dataclass(frozen=True)
class FunctionKind:
    """What a (vendor, device) pair is: which family, and PF or VF."""

    family: Family
    is_vf: bool

    @property
    def class_name(self) -> str:
        """Kernel class name: ``4xxx`` for a 4xxx/401xx/402xx PF, ``4xxxvf`` for its VFs."""
        return self.family.vf_name if self.is_vf else self.family.name

    @property
    def device_id(self) -> int:
        return self.family.vf_id if self.is_vf else self.family.pf_id

    @property
    def banks(self) -> int | None:
        """Ring banks of this function."""
        return self.family.vf_banks if self.is_vf else self.family.pf_banks

    @property
    def generation(self) -> Generation:
        return self.family.generation


_BY_ID: dict[int, FunctionKind] = {}
for _f in FAMILIES:
    _BY_ID[_f.pf_id] = FunctionKind(_f, False)
    _BY_ID[_f.vf_id] = FunctionKind(_f, True)


def lookup(vendor: int, device: int) -> FunctionKind | None:
    """The QAT function kind of a PCI id, or ``None`` if it is not a QAT function.

    Args:
        vendor: PCI vendor id.
        device: PCI device id.

    Returns:
        The kind, or ``None`` for a non-QAT id.
    """
    if vendor != INTEL_VENDOR_ID:
        return None
    return _BY_ID.get(device)


def family_by_class_name(name: str) -> FunctionKind | None:
    """The function kind whose kernel class name is ``name`` (``c6xx``, ``4xxxvf``).

    Used to read config file names (``<class>_dev<N>.conf``). For ``4xxx`` the first
    family of the class (4xxx proper) is returned; 401xx and 402xx share its shape.

    Args:
        name: a class name such as ``dh895xcc``, ``4xxx`` or ``c6xxvf``.

    Returns:
        The kind, or ``None`` if no family has that class name.
    """
    for fam in FAMILIES:
        if fam.name == name:
            return FunctionKind(fam, False)
        if fam.vf_name == name:
            return FunctionKind(fam, True)
    return None
