#!/usr/bin/python3
"""Writes the seed corpus of fuzz_k8s_sparse (tests/fuzz/corpus/fuzz_k8s_sparse/): for each
sample object of tests/gen/k8s_encode.py, two versions (the object, then the object with a
label added) as the target reads them: 2-byte big-endian length of the old value, the old
value, the new value."""
import copy
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'gen'))
import k8s_encode  # noqa: E402

out = os.path.join(HERE, 'corpus', 'fuzz_k8s_sparse')
os.makedirs(out, exist_ok=True)
for obj in k8s_encode.sample_objects():
    old = k8s_encode.encode(obj)
    new_obj = copy.deepcopy(obj)
    new_obj.setdefault('metadata', {}).setdefault('labels', {})['changed'] = 'yes'
    new = k8s_encode.encode(new_obj)
    with open(os.path.join(out, 'pair-' + obj['kind'].lower()), 'wb') as f:
        f.write(struct.pack('>H', len(old)) + old + new)
