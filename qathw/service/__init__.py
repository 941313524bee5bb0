"""The request layer: what applications call.

::

    with qathw.user_start("SSL") as held, qathw.open_instances(held) as insts:
        cy = insts.cy[0]
        des = cy.cipher("des-cbc", key)
        ct = des.encrypt(data, iv)                          # perform: now
        h = cy.submit(des.encrypt_op(data, iv), callback)   # submit; cy.poll() completes
        cts = cy.perform_batch([des.encrypt_op(m, iv) for m in msgs])  # one ring submit
        ct = await cy.perform_async(des.encrypt_op(data, iv))          # asyncio

Modules, bottom to top:

* :mod:`~qathw.service.algorithms` — the supported-algorithm catalogue and its checks;
* :mod:`~qathw.service.cd` — content descriptors and request templates (a session's
  algorithm and key as QAT bytes);
* :mod:`~qathw.service.wire` — one operation's request fields, checked;
* :mod:`~qathw.service.buffers` — bytes-like data staged into DMA memory, and the
  zero-copy :class:`~qathw.service.buffers.DeviceBuffer` / ``ScatterBuffer``;
* :mod:`~qathw.service.status` — response status to exceptions (status kept);
* :mod:`~qathw.service.completion` — the completion engine under every call form (a
  :class:`~qathw.service.completion.Channel` per ring pair): cookies, handles,
  callbacks, ring-full policy, and the device-restart rule;
* :mod:`~qathw.service.placed` — a session's setups, each CD placed once in DMA memory;
* :mod:`~qathw.service.work` — what ops become when they are sent;
* :mod:`~qathw.service.results` — chain and compression results;
* :mod:`~qathw.service.operations` — the ops sessions make (``Op[T]``, typed by result);
* :mod:`~qathw.service.batches` — many ops as one array of requests;
* :mod:`~qathw.service.aio` — ``await`` without blocking the event loop;
* :mod:`~qathw.service.calls` — the call forms, run on a channel;
* :mod:`~qathw.service.sessions` — sessions (cipher, hash/HMAC, AES-GCM, chains);
* :mod:`~qathw.service.compression` — the deflate session;
* :mod:`~qathw.service.instance` — a held section's instances bound to their ring
  pairs (:func:`~qathw.service.instance.open_instances`, also ``qathw.open_instances``).

A session runs its ops on its own channel; an instance hands its sessions that channel
and offers the same call forms for ops of any of its sessions.

This ``__init__`` imports nothing, so that the data modules can be used on their own.
"""
