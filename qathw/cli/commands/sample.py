"""``qathw sample cipher``: the seed's sample application, through a held section's instance.

``qathw sample cipher --alg aes-128-cbc -n N`` starts a section (``--section``, default
``SSL``), opens its instances, runs N encryptions of random messages on the first crypto
instance, checks every ciphertext against ``cryptography`` computed in this process, and
prints the rate. On a host without a QAT endpoint it fails with the commands that present
an emulated one (fakedev).

The seed's sample cipher, DES-CBC (``--alg des-cbc``), runs on gen2 and gen3 endpoints
(C62x, C3xxx, DH895xCC...); no gen4 endpoint offers DES or 3DES, and there the session is
refused before anything is sent, with the generation and what it does offer.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from qathw.cli import Command, UsageError, add_json_flag, emit_json
from qathw.cli.commands._host import add_host_args, host_from
from qathw.errors import QatError, SectionNotFoundError, UnsupportedAlgorithmError
from qathw.fw.hw import CipherMode
from qathw.service.algorithms import CATALOGUE, CipherAlgorithm, Family, cipher

_MAX_COUNT = 10_000_000

# How to run the sample on a host without QAT: fakedev's fake host (emulated endpoints,
# their device processes, a fake sysfs tree, config files) around one command. A test
# runs it as written.
TRY_WITH_FAKEDEV = """\
without QAT hardware, run it on a fake host (fakedev: two emulated 4xxx VFs and a [SSL]
section with a Cy and a Dc instance, removed when the command ends):

  python -m fakedev.withhost qathw sample cipher --alg aes-128-cbc -n 1000

in Python 'with fakedev.running() as host, host.environment(): ...' does the same;
in pytest, the qat_host fixture (docs/testing.md)
"""


def reference(alg: CipherAlgorithm, key: bytes, iv: bytes, data: bytes) -> bytes:
    """``data`` encrypted by ``cryptography`` in this process (what the device must give)."""
    # Imported here, not at the top: every command module is imported at start-up, and
    # the other commands must run where cryptography is missing or older than this needs.
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if alg.family is Family.AES:
        if alg.mode == CipherMode.XTS:
            block: Any = algorithms.AES(key)
            mode: Any = modes.XTS(iv)
        else:
            block = algorithms.AES(key)
            mode = modes.CTR(iv) if alg.mode == CipherMode.CTR else modes.CBC(iv)
    else:  # DES is 3DES with K1 = K2 = K3; two-key 3DES is K1 K2 K1
        block = TripleDES(key * 3 if len(key) == 8 else key + key[:8] if len(key) == 16 else key)
        mode = modes.CBC(iv)
    enc = Cipher(block, mode).encryptor()
    return bytes(enc.update(data) + enc.finalize())


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 0 < value <= _MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be 1..{_MAX_COUNT}, not {value}")
    return value


class SampleCipher(Command):
    name = "cipher"
    help = "encrypt N random messages on a section's crypto instance, verified, with ops/s"
    epilog = TRY_WITH_FAKEDEV

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--alg",
            default="aes-128-cbc",
            help="cipher (default aes-128-cbc; the seed's des-cbc runs on gen2 endpoints only)",
        )
        parser.add_argument(
            "-n", "--count", type=_positive, default=1000, help="encryptions (default 1000)"
        )
        parser.add_argument(
            "--size", type=_positive, default=64, help="bytes per message (default 64)"
        )
        parser.add_argument(
            "--section", default="SSL", help="the user section to start (default SSL)"
        )
        parser.add_argument(
            "--batch",
            type=_positive,
            default=1,
            help="requests per ring submit (default 1: one at a time, as the seed's sample)",
        )
        add_json_flag(parser)
        add_host_args(parser)

    def run(self, args: argparse.Namespace) -> int:
        import qathw

        try:
            alg = cipher(args.alg)
        except UnsupportedAlgorithmError as exc:
            names = ", ".join(n for n, a in CATALOGUE.items() if isinstance(a, CipherAlgorithm))
            hint = exc.hint if exc.hint and not exc.hint.startswith("supported") else None
            raise UsageError(exc.what, hint=hint or f"ciphers: {names}") from None
        if args.size % alg.block_size and not alg.is_stream:
            raise UsageError(
                f"{alg.name} encrypts whole {alg.block_size}-byte blocks; --size {args.size} "
                "is not a multiple",
                hint=f"use --size {max(alg.block_size, args.size - args.size % alg.block_size)}",
            )
        if alg.mode == CipherMode.XTS and args.size < alg.block_size:
            raise UsageError(f"{alg.name} needs --size of at least {alg.block_size}")
        key = _key(alg)
        # Without --sysfs-root the library reads $QATHW_SYSFS_ROOT, as an application does.
        host = host_from(args) if args.sysfs_root else None
        try:
            held = qathw.user_start(args.section, host=host)
        except SectionNotFoundError as exc:
            raise SectionNotFoundError(
                exc.what,
                hint=f"{exc.hint}; without QAT hardware: 'qathw sample cipher --help' "
                "shows how to run it on fakedev",
                path=exc.path,
            ) from None
        with held, qathw.open_instances(held, host=host) as insts:
            inst = next((i for i in insts.cy if i._channel is not None), None)
            if inst is None:
                raise QatError(
                    f"section {held.name} has no crypto instance with a sym ring pair",
                    hint=f"give [{args.section}] a Cy instance on a device with sym enabled",
                )
            session = inst.cipher(alg.name, key)
            msgs = [os.urandom(args.size) for _ in range(args.count)]
            ivs = [os.urandom(alg.iv_size) for _ in range(args.count)]
            got: list[bytes] = []
            start = time.perf_counter()
            if args.batch == 1:
                for m, iv in zip(msgs, ivs, strict=True):
                    got.append(session.encrypt(m, iv))
            else:
                for i in range(0, args.count, args.batch):
                    ops = [
                        session.encrypt_op(m, iv)
                        for m, iv in zip(
                            msgs[i : i + args.batch], ivs[i : i + args.batch], strict=True
                        )
                    ]
                    got += inst.perform_batch(ops)
            seconds = time.perf_counter() - start
            bad = sum(
                g != reference(alg, key, iv, m) for g, m, iv in zip(got, msgs, ivs, strict=True)
            )
            sym = next(r for r in inst.record.rings if r.service == "sym")
            doc = {
                "algorithm": alg.name,
                "count": args.count,
                "size": args.size,
                "batch": args.batch,
                "section": held.name,
                "instance": inst.name,
                "device": inst.record.device.name,
                "bdf": inst.record.device.bdf,
                "bank": sym.bank,
                "verified": args.count - bad,
                "mismatches": bad,
                "seconds": seconds,
                "ops_per_second": args.count / seconds,
                "bytes_per_second": args.count * args.size / seconds,
            }
        if args.json:
            emit_json(doc)
        else:
            out = sys.stdout
            out.write(
                f"{alg.name}: {args.count} x {args.size} bytes on {doc['instance']} "
                f"({doc['section']}, {doc['device']} {doc['bdf']}, bank {doc['bank']})\n"
            )
            verdict = "all match" if not bad else f"{bad} MISMATCHES"
            out.write(
                f"verified against cryptography: {args.count - bad} of {args.count}, {verdict}\n"
            )
            mbit = args.count * args.size * 8 / seconds / 1e6
            out.write(
                f"{args.count} ops in {seconds:.3f} s: {doc['ops_per_second']:,.0f} ops/s "
                f"({mbit:,.1f} Mbit/s)\n"
            )
        return 1 if bad else 0


def _key(alg: CipherAlgorithm) -> bytes:
    size = alg.key_sizes[0]
    while True:
        key = os.urandom(size)
        if alg.mode != CipherMode.XTS or key[: size // 2] != key[size // 2 :]:
            return key


class Sample(Command):
    name = "sample"
    help = "run sample traffic on the instances of a section (the seed's sample application)"
    subcommands = (SampleCipher,)


COMMANDS = (Sample,)
