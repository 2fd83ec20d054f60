"""The interpreter's site directories, for an executable started with `python3 -S`.

The Debian package's executables start `/usr/bin/python3 -S`: Python then
skips `site`, which would run the `.pth` files of every package installed on
the host.  Those belong to other programs (on a host with
python3-zope.interface and python3-setuptools, skipping them saves a snapshot
hit about 2 ms of its 40) and a plugin starts hundreds of times a minute.
What the plugins do need from `site` is done here, as `site` does it: the
distribution's site directories on the path (Debian's
/usr/lib/python3/dist-packages among them, where python3-libvirt,
python3-lxml and python3-nagiosplugin live), then `sitecustomize` if there is
one.  The user's own site directory stays off, as a plugin run by the
monitoring daemon should not depend on a home.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Optional


def add_site_directories(directories: Optional[Iterable[str]] = None) -> None:
    """Append the site directories (the interpreter's, by default) that exist and
    are not on sys.path yet, without their .pth files, then run sitecustomize."""
    if directories is None:
        import site  # under -S, importing site only defines its functions

        directories = site.getsitepackages()
    for directory in directories:
        if directory not in sys.path and os.path.isdir(directory):
            sys.path.append(directory)
    _run_sitecustomize()


def _run_sitecustomize() -> None:
    """Import sitecustomize when the path has one, and report its failure on one
    line of stderr and go on, as site would."""
    try:
        import sitecustomize  # type: ignore[import-not-found]  # noqa: F401
    except ImportError as error:
        if error.name != "sitecustomize":
            _report(error)
    except Exception as error:  # whatever a site's own module raises
        _report(error)


def _report(error: Exception) -> None:
    sys.stderr.write(f"Error in sitecustomize: {type(error).__name__}: {error}\n")
