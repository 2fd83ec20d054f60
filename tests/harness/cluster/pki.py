"""Certificates of the cluster from `icinga2 pki`: a CA on the master signs every node.

The CA lives where Icinga keeps it, in the master's DataDir/ca (`pki new-ca`
with -DDataDir); each node gets a key and a CSR from `pki new-cert`, the CA
signs it (`pki sign-csr`), and the node's DataDir/certs holds NODE.key,
NODE.crt and ca.crt, as `icinga2 node setup` leaves them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from harness.icinga.daemon import ICINGA2, run_as_me


def _pki(*args: str) -> None:
    subprocess.run([ICINGA2, "pki", *args], capture_output=True, check=True, timeout=120,
                   env={**os.environ, **run_as_me()})


def new_ca(master_data: Path) -> Path:
    """`icinga2 pki new-ca` into master_data/ca; the CA certificate's path."""
    _pki("new-ca", f"-DDataDir={master_data}")
    return master_data / "ca" / "ca.crt"


def signed_node(master_data: Path, node: str, data_dir: Path) -> None:
    """Key, CSR, certificate signed by the master's CA, and ca.crt in data_dir/certs."""
    certs = data_dir / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    key, csr, cert = (certs / f"{node}.{ext}" for ext in ("key", "csr", "crt"))
    _pki("new-cert", "--cn", node, "--key", str(key), "--csr", str(csr))
    _pki("sign-csr", "--csr", str(csr), "--cert", str(cert), f"-DDataDir={master_data}")
    shutil.copyfile(master_data / "ca" / "ca.crt", certs / "ca.crt")
