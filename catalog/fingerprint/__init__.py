"""Landmark audio fingerprinting (Wang 2003): pure numpy/scipy, no Django.

- ``landmarks``: peaks and 32-bit pair hashes;
- ``index``: the on-disk, memory-mapped, incrementally appended index;
- ``matcher``: offset histograms, verification, speed search, window votes;
- ``audio``: decoding any FFmpeg-readable file to mono 8 kHz;
"""
