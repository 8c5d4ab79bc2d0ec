"""SongForge's symbolic music model: tokenizer, transformer, training and sampling.

Pure torch/numpy (plus pretty_midi/music21 for file formats): no Django, no network.
"""
