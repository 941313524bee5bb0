"""``qathw setup FILE``: a declarative, idempotent host set-up (docs/admin.md#setup).

:mod:`~qathw.setup.spec` reads the file, :mod:`~qathw.setup.plan` turns it and the host
into steps (checking everything first), :mod:`~qathw.setup.apply` carries them out. Empty
on purpose: importing one module loads no other (docs/design.md#layers).
"""
