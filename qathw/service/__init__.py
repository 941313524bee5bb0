"""The request layer: what applications call.

This package turns an algorithm and a key into QAT bytes: the supported-algorithm
catalogue (:mod:`~qathw.service.algorithms`), content descriptors and request templates
(:mod:`~qathw.service.cd`), and per-operation request parameters
(:mod:`~qathw.service.ops`). Instances, sessions and the calls that send requests build
on these.
"""
