"""Re-create the NIST subsets in this directory from a ``cryptography_vectors`` wheel.

Run from the repository root:

    pip download --no-deps cryptography_vectors==50.0.2 -d /tmp/cv
    unzip -q /tmp/cv/cryptography_vectors-*.whl -d /tmp/cv/x
    python tests/vectors/extract.py /tmp/cv/x/cryptography_vectors

The RFC 4231 / RFC 2202 files are typed in from the RFCs, not extracted (PROVENANCE).
Records are copied verbatim; only the selection is ours.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent

Record = dict[str, str]
Select = Callable[[dict[str, str], Record, int], bool]


def _blocks(text: str) -> list[tuple[dict[str, str], list[str], Record]]:
    """(section params, raw lines, fields) for each record of a NIST file."""
    section: dict[str, str] = {}
    out: list[tuple[dict[str, str], list[str], Record]] = []
    lines: list[str] = []
    fields: Record = {}

    def flush() -> None:
        nonlocal lines, fields
        if fields:
            out.append((dict(section), lines, fields))
        lines, fields = [], {}

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
        elif line.startswith("#"):
            continue
        elif line.startswith("["):
            flush()
            body = line.strip("[]")
            if "=" in body:
                k, v = body.split("=", 1)
                section[k.strip()] = v.strip()
            else:
                section = {"direction": body}
        else:
            lines.append(line)
            if "=" in line:
                k, v = line.split("=", 1)
                fields[k.strip()] = v.strip()
            else:
                fields[line] = ""
    flush()
    return out


def subset(src: Path, dst: Path, keep: Select, note: str) -> int:
    """Write the records of ``src`` that ``keep`` selects to ``dst``; return how many."""
    text = src.read_text()
    header = [ln for ln in text.splitlines()[:12] if ln.startswith("#")]
    seen: dict[tuple[tuple[str, str], ...], int] = {}
    chunks = [*header, f"# Subset for qathw: {note}", ""]
    last_section: dict[str, str] | None = None
    n = 0
    for section, lines, fields in _blocks(text):
        key = tuple(sorted(section.items()))
        idx = seen.get(key, 0)
        seen[key] = idx + 1
        if not keep(section, fields, idx):
            continue
        if section != last_section:
            for k, v in section.items():
                chunks.append(f"[{v}]" if k == "direction" else f"[{k} = {v}]")
            chunks.append("")
            last_section = section
        chunks.extend([*lines, ""])
        n += 1
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("\n".join(chunks))
    return n


def main(root: Path) -> None:
    c = root / "ciphers"
    h = root / "hashes"

    def first(k: int) -> Select:
        return lambda s, f, i: i < k

    for bits in (128, 192, 256):
        subset(c / f"AES/CBC/CBCMMT{bits}.rsp", HERE / f"aes/CBCMMT{bits}.rsp", first(4),
               "COUNT 0-3 of each direction")  # fmt: skip
        src = c / f"AES/CTR/aes-{bits}-ctr.txt"
        (HERE / f"aes/aes-{bits}-ctr.txt").write_text(src.read_text())

    def gcm_enc(s: dict[str, str], f: Record, i: int) -> bool:
        iv, pt, aad, tag = (int(s.get(k, -1)) for k in ("IVlen", "PTlen", "AADlen", "Taglen"))
        if iv == 96 and tag == 128 and pt in (0, 128, 408) and aad in (0, 128, 160):
            return i < 2
        if iv == 96 and pt == 128 and aad == 128 and tag in (32, 64, 96, 104, 112, 120):
            return i < 1
        return iv in (8, 1024) and pt == 128 and aad == 128 and tag == 128 and i < 1

    def gcm_dec(s: dict[str, str], f: Record, i: int) -> bool:
        iv, pt, aad, tag = (int(s.get(k, -1)) for k in ("IVlen", "PTlen", "AADlen", "Taglen"))
        return (
            iv == 96
            and ((pt, aad, tag) in ((128, 128, 128), (408, 160, 128), (0, 0, 128), (128, 0, 64)))
            and i < 6
        )

    for bits in (128, 256):
        subset(c / f"AES/GCM/gcmEncryptExtIV{bits}.rsp", HERE / f"aes/gcmEncryptExtIV{bits}.rsp",
               gcm_enc, "IV 96 bits with PT 0/128/408 x AAD 0/128/160 (tag 128, 2 each); "
               "tags 32-120 (PT/AAD 128); IV 8 and 1024 bits")  # fmt: skip
        subset(c / f"AES/GCM/gcmDecrypt{bits}.rsp", HERE / f"aes/gcmDecrypt{bits}.rsp", gcm_dec,
               "IV 96 bits, (PT, AAD, tag) in (128,128,128), (408,160,128), (0,0,128), "
               "(128,0,64): first 6 each, FAIL cases included")  # fmt: skip

    def xts(s: dict[str, str], f: Record, i: int) -> bool:
        return int(f.get("DataUnitLen", "0")) % 8 == 0 and i % 100 < 3

    for bits in (128, 256):
        xts_file = c / f"AES/XTS/tweak-128hexstr/XTSGenAES{bits}.rsp"
        note = "byte-aligned data units, 3 per data-unit length and direction"
        subset(xts_file, HERE / f"aes/XTSGenAES{bits}.rsp", xts, note)

    for k in (1, 2, 3):
        subset(c / f"3DES/CBC/TCBCMMT{k}.rsp", HERE / f"tdes/TCBCMMT{k}.rsp", first(4),
               "COUNT 0-3 of each direction")  # fmt: skip

    lens64 = {0, 8, 440, 448, 504, 512}
    lens128 = {0, 8, 888, 896, 1016, 1024}
    for name, folder in (("SHA1", "SHA1"), ("SHA224", "SHA2"), ("SHA256", "SHA2"),
                         ("SHA384", "SHA2"), ("SHA512", "SHA2")):  # fmt: skip
        lens = lens128 if name in ("SHA384", "SHA512") else lens64
        subset(h / folder / f"{name}ShortMsg.rsp", HERE / f"sha/{name}ShortMsg.rsp",
               lambda s, f, i, lens=lens: int(f["Len"]) in lens,  # type: ignore[misc]
               f"Len in {sorted(lens)} bits")  # fmt: skip
        subset(h / folder / f"{name}LongMsg.rsp", HERE / f"sha/{name}LongMsg.rsp", first(1),
               "the first message")  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))
