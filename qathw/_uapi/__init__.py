"""Private: kernel user-space ABI (ioctl encoding, ``linux/*.h`` structures) as ctypes.

Nothing outside ``qathw`` imports this package; public objects never hand out its types.
"""
