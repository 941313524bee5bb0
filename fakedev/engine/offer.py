"""What the emulated endpoint's slices run: its generation's offer and its capability word.

A real device runs only what its generation's firmware has slices for, and a 4xxx whose
UCS slice is fused off clears ``AES_V2``, ``AESGCM_SPC`` and ``CHACHA_POLY`` from the
capability word it reports (Linux ``adf_4xxx_hw_data.c``, ``get_accel_cap``). The fake
answers everything else with UNSUPPORTED_REQUEST, so that a host sending DES to a gen4
endpoint, or legacy-slice XTS, fails in CI as it would fail (or worse, silently misbehave)
on hardware. The generation's offer is :attr:`qathw.ids.GenerationTraits.crypto`, the
one table qathw reads too; what no upstream stack sends on a generation (legacy-slice CTR
or two-pass GCM on gen4) is not offered, since nothing shows what the hardware does with
it (docs/fidelity.md#messages-slices-and-services).
"""

from __future__ import annotations

from fakedev.engine.la_plan import UNSUPPORTED, Plan
from fakedev.engine.reject import Reject
from qathw.fw import hw
from qathw.ids import Generation, SliceForm
from qathw.transport.pfvf import Capability

_FAMILY: dict[int, str] = {hw.CipherAlgo.DES: "des", hw.CipherAlgo.TDES: "3des"}


class SliceOffer:
    """The cipher slices one endpoint runs.

    Args:
        generation: the endpoint's generation.
        capabilities: the capability word it reports; ``None``: all its generation has.
    """

    def __init__(self, generation: Generation, capabilities: int | None = None) -> None:
        self.generation = generation
        self._crypto = generation.traits.crypto
        self._label = generation.traits.label
        caps = capabilities
        self._ucs = caps is None or bool(caps & Capability.AES_V2)
        self._spc = self._crypto.gcm_single_pass and (
            caps is None or bool(caps & Capability.AES_GCM_SPC)
        )

    def check(self, plan: Plan) -> None:
        """Raise Reject (UNSUPPORTED_REQUEST) unless this endpoint runs ``plan``'s cipher."""
        c = plan.cipher
        if c is None:
            return  # the auth slice's SHA-1/SHA-2 run on every generation
        form = SliceForm.UCS if c.ucs else SliceForm.LEGACY
        if form is SliceForm.UCS and not self._ucs:
            raise Reject(UNSUPPORTED, "the UCS slice (capability AES_V2 is clear)")
        if plan.kind == "gcm1":
            if not self._spc:
                raise Reject(UNSUPPORTED, f"single-pass GCM on a {self._label} endpoint")
            if not plan.gcm_iv12:
                raise Reject(UNSUPPORTED, "single-pass GCM with a J0 (it takes 12-byte IVs)")
            return
        if plan.kind == "gcm2":
            if not self._crypto.gcm_two_pass:
                raise Reject(UNSUPPORTED, f"two-pass GCM on a {self._label} endpoint")
            kind = "aes-gcm"
        else:
            kind = f"{_FAMILY.get(c.algo, 'aes')}-{hw.CipherMode(c.mode).name.lower()}"
        forms = self._crypto.ciphers.get(kind, ())
        if not forms:
            raise Reject(UNSUPPORTED, f"{kind} on a {self._label} endpoint")
        if form not in forms:
            runs = "/".join(f.value for f in forms)
            raise Reject(
                UNSUPPORTED,
                f"{kind} on the {form.value} slice of a {self._label} endpoint (it runs {runs})",
            )
