"""vm: a scripted QEMU harness that boots Debian's kernel with an emulated QAT endpoint."""
