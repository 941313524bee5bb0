"""What an endpoint offers: its generation's slices, narrowed by the PF's capability word.

A session asks its channel's :class:`EndpointOffer` before it builds anything, so that
an algorithm or slice the endpoint does not run is refused here, with the generation and
what it does offer, instead of failing on the device (or, worse, passing on fakedev and
failing on hardware). The generation's offer is data (:attr:`qathw.ids.GenerationTraits.crypto`);
the capability word, when the PF sent one, can only take away from it: the UCS slice
needs ``AES_V2`` and single-pass GCM ``AESGCM_SPC``, cleared when the UCS slice is fused
off (Linux ``adf_4xxx_hw_data.c`` ``get_accel_cap``; qatlib ``LAC_CIPHER_AES_V2``,
``LAC_CIPHER_IS_SPC_GCM``).
"""

from __future__ import annotations

from dataclasses import dataclass

from qathw.errors import UnsupportedAlgorithmError
from qathw.ids import Generation, SliceForm
from qathw.service.algorithms import CATALOGUE, AeadAlgorithm, CipherAlgorithm
from qathw.transport.pfvf import Capability

GCM_SPC_NONCE_SIZE = 12  # single pass takes 12-byte IVs only (qatlib LAC_CIPHER_SPC_IV_SIZE)


@dataclass(frozen=True)
class EndpointOffer:
    """The symmetric crypto one endpoint runs.

    Attributes:
        generation: the endpoint's generation.
        name: how errors name the endpoint's kind (``4xxxvf``, ``c6xx``).
        capabilities: the PF's capability word, or ``None`` when none was read (a PF-style
            endpoint, a gen2 VF): then the generation's offer stands.
    """

    generation: Generation
    name: str
    capabilities: int | None = None

    @classmethod
    def of(cls, generation: Generation, name: str | None = None) -> EndpointOffer:
        """The whole offer of ``generation`` (no capability word narrows it)."""
        return cls(generation, name or generation.traits.label)

    @property
    def _label(self) -> str:
        return f"this {self.name} endpoint ({self.generation.traits.label})"

    def _has(self, bit: Capability) -> bool:
        return self.capabilities is None or bool(self.capabilities & bit)

    def slices(self, kind: str) -> tuple[SliceForm, ...]:
        """The slices that run cipher ``kind`` (``aes-cbc``...) here, the default first."""
        forms = self.generation.traits.crypto.ciphers.get(kind, ())
        if not self._has(Capability.AES_V2):
            forms = tuple(f for f in forms if f is not SliceForm.UCS)
        return forms

    @property
    def gcm_single_pass(self) -> bool:
        """Single-pass GCM runs here."""
        return self.generation.traits.crypto.gcm_single_pass and self._has(Capability.AES_GCM_SPC)

    @property
    def gcm_two_pass(self) -> bool:
        """Two-pass GCM (CTR + GALOIS_128) runs here."""
        return self.generation.traits.crypto.gcm_two_pass and bool(self.slices("aes-gcm"))

    def offered(self) -> list[str]:
        """Catalogue names of the ciphers and AEADs this endpoint runs (hashes run anywhere)."""
        names = []
        for name, alg in CATALOGUE.items():
            if isinstance(alg, CipherAlgorithm) and self.slices(alg.kind):
                names.append(name)
            elif isinstance(alg, AeadAlgorithm) and (self.gcm_single_pass or self.gcm_two_pass):
                names.append(name)
        return names

    def _refuse(self, what: str) -> UnsupportedAlgorithmError:
        return UnsupportedAlgorithmError(
            f"{what} is not offered by {self._label}",
            hint=f"{self._label} offers: " + ", ".join(self.offered()),
        )

    def cipher_form(self, alg: CipherAlgorithm, form: SliceForm | None = None) -> SliceForm:
        """The slice ``alg`` runs on here: ``form`` if given and offered, else the default.

        Raises:
            UnsupportedAlgorithmError: the endpoint does not run ``alg`` (on ``form``).
        """
        forms = self.slices(alg.kind)
        if not forms:
            raise self._refuse(alg.name)
        if form is None:
            return forms[0]
        if form not in forms:
            runs = " or ".join(f.value for f in forms)
            raise UnsupportedAlgorithmError(
                f"{alg.name} on the {form.value} slice is not offered by {self._label}",
                hint=f"{self._label} runs {alg.name} on the {runs} slice; leave form unset",
            )
        return form

    def gcm_form(self, alg: AeadAlgorithm, single_pass: bool | None) -> tuple[bool, SliceForm]:
        """(single pass for 12-byte nonces, slice of the two-pass form) for ``alg`` here.

        ``single_pass=None`` takes single pass where it runs; ``True`` insists on it
        (other nonce sizes still go two-pass, as qatlib sends them); ``False`` refuses it.

        Raises:
            UnsupportedAlgorithmError: GCM, or single pass when asked for, does not run here.
        """
        spc = self.gcm_single_pass
        if single_pass and not spc:
            raise UnsupportedAlgorithmError(
                f"single-pass {alg.name} is not offered by {self._label}",
                hint="make the session with single_pass=None (the endpoint's default form)",
            )
        if single_pass is False and not self.gcm_two_pass:
            raise UnsupportedAlgorithmError(
                f"two-pass {alg.name} is not offered by {self._label}",
                hint="make the session with single_pass=None (the endpoint's default form)",
            )
        if not spc and not self.gcm_two_pass:
            raise self._refuse(alg.name)
        forms = self.slices("aes-gcm")
        return (spc if single_pass is None else single_pass), (forms[0] if forms else SliceForm.UCS)

    def check_gcm_nonce(self, alg: AeadAlgorithm, size: int) -> None:
        """Refuse a nonce that is not 12 bytes where GCM runs in single pass only (gen6).

        Raises:
            UnsupportedAlgorithmError: the endpoint has no two-pass GCM for such a nonce.
        """
        if size != GCM_SPC_NONCE_SIZE and not self.gcm_two_pass:
            raise UnsupportedAlgorithmError(
                f"{alg.name} with a {size}-byte nonce is not offered by {self._label}",
                hint=f"{self._label} runs GCM in single pass, which takes 12-byte nonces",
            )


#: A gen4 endpoint with nothing fused off: what builders assume when told nothing.
GEN4 = EndpointOffer.of(Generation.GEN4, "4xxx")
#: A gen2 endpoint (C62x): every cipher on the legacy slice, DES and 3DES among them.
GEN2 = EndpointOffer.of(Generation.GEN2, "c6xx")
