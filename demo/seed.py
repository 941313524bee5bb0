"""The seed's two-endpoint configuration, as files a driver (and qathw) reads.

Both endpoints carry the same user sections (seed text: "Configuring Multiple Processes
on a System with Multiple Intel QAT Endpoints"): ``[SSL]`` with ``NumProcesses=4``,
``LimitDevAccess=1`` and one Cy instance, and ``[IPSec]`` with ``NumProcesses=1``,
``LimitDevAccess=0`` and four Cy instances. The seed writes ``[IPsec]`` in its file but
starts ``"IPSec"``; names are case-sensitive, so this demo writes ``[IPSec]``. It keeps
the seed's ``NumCyInstances`` spelling, which qathw reads as an alias with a warning.
The endpoints are gen4 (4xxx), where a Cy instance is an asym bank plus a sym bank.
"""

from __future__ import annotations

from pathlib import Path

GENERAL = """\
[GENERAL]
ServicesEnabled = asym;sym
ConfigVersion = 2
CyNumConcurrentSymRequests = 512
CyNumConcurrentAsymRequests = 64
statsGeneral = 1
statsDh = 1
statsDrbg = 1
statsDsa = 1
statsEcc = 1
statsKeyGen = 1
statsDc = 1
statsLn = 1
statsPrime = 1
statsRsa = 1
statsSym = 1

[KERNEL]
NumberCyInstances = 0
NumberDcInstances = 0
"""

USER_SECTIONS = """\
[SSL] #User space section name
NumProcesses=4 # There are 4 user space process with section name SSL with access to this device
LimitDevAccess=1 # These 4 SSL user space processes only use this device
NumCyInstances=1 # Each process has access to 1 Cy instance on this device
NumDcInstances=0 # Each process has access to 0 Dc instances on this device

# Crypto - User instance #0
Cy0Name = "SSL0"
Cy0IsPolled = 1
Cy0CoreAffinity = 0 # Core affinity not used for polled instance

[IPSec] #User space section name
NumProcesses=1 # There is 1 user space process with section name IPSec with access to this device
LimitDevAccess=0 # This IPSec user space process may have access to other devices
NumCyInstances=4 # The IPSec process has access to 4 Cy instances on this device
NumDcInstances=0 # The IPSec process has access to 0 Dc instances on this device
""" + "".join(
    f"""
# Crypto - User instance #{i}
Cy{i}Name = "IPSec{i}"
Cy{i}IsPolled = 1
Cy{i}CoreAffinity = 0 # Core affinity not used for polled instance
"""
    for i in range(4)
)

#: The text of each endpoint's file (both endpoints are configured the same way).
CONFIG_TEXT = GENERAL + "\n" + USER_SECTIONS


def write_seed_configs(config_dir: Path) -> list[Path]:
    """Write ``4xxx_dev0.conf`` and ``4xxx_dev1.conf`` into ``config_dir``.

    Returns:
        The two paths.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for n in (0, 1):
        path = config_dir / f"4xxx_dev{n}.conf"
        path.write_text(CONFIG_TEXT)
        out.append(path)
    return out
