"""Audio fingerprinting: pure numpy/scipy, no Django.

- ``landmarks``: peaks and Wang-2003 32-bit pair hashes (exact: fast, not invariant to pitch or tempo);
- ``triplets``: scale-invariant triplet hashes (ratios of peak intervals and times) and their probes;
- ``index``: the on-disk, memory-mapped, incrementally appended index (landmarks, triplets, peaks);
- ``scale``: triplet candidates, the fitted time/frequency scales and offset, the constellation check;
- ``matcher``: offset histograms, verification, the order of the engines, speed search, window votes;
- ``audio``: decoding any FFmpeg-readable file to mono 8 kHz.
"""
