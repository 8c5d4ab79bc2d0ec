"""Which General MIDI program plays the melody, the harmony and the bass: a small CNN on log-mel crops of the mix.

It replaces the 94-value recogniser (``recognition``) for the three pitched roles; the kit (and whether
there are drums at all) stays with that recogniser and its onset-pattern rule, which were tuned on
whole uploads. Trained on renders SongForge makes itself through five General MIDI fonts
(``benchmarks/_recognition_cnn.py``; ``weights/RECOGNISER_CNN_CARD.md`` gives the data, the figures on
a font it never heard and the command that rebuilds it).

An upload is cut into overlapping 3 s crops; its answer per role is the mean class probability over
the crops, and a set's is the mean over its uploads. Inference costs about 0.2 s per 30 s on one core.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import librosa
import numpy as np
from numpy.typing import NDArray

from generation.synthesis import recognition

RATE = recognition.RATE
HOP = recognition.HOP
CNN_MELS = 64
CNN_FRAMES = 128  # one crop: 128 hops of 23 ms, about 3 s
ROLES = ("melody", "harmony", "bass")
WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "recogniser_cnn.pt"

FloatArray = NDArray[np.float32]


def log_mel(mono: NDArray[Any], sample_rate: int) -> FloatArray:
    """The CNN's input: a level-free log-mel spectrogram, (CNN_MELS, frames) in dB, hop HOP at RATE.

    The loudest cell is 0 dB and nothing is below -80 dB, so the upload's level does not matter.
    """
    y = np.asarray(mono, dtype=np.float32)
    if sample_rate != RATE:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=RATE)
    mel = librosa.feature.melspectrogram(
        y=y, sr=RATE, n_fft=2048, hop_length=HOP, n_mels=CNN_MELS, fmin=30.0, fmax=10000.0
    )
    db = 10 * np.log10(mel + 1e-10)
    db -= db.max()
    return np.asarray(np.maximum(db, -80.0), dtype=np.float32)


def crops(mel: FloatArray, hop: int = CNN_FRAMES // 2) -> FloatArray:
    """Overlapping CNN_FRAMES-long crops of a (CNN_MELS, frames) spectrogram: (n, CNN_MELS, CNN_FRAMES)."""
    frames = mel.shape[1]
    if frames < CNN_FRAMES:
        mel = np.pad(mel, ((0, 0), (0, CNN_FRAMES - frames)), constant_values=-80.0)
        frames = CNN_FRAMES
    starts = range(0, frames - CNN_FRAMES + 1, hop)
    return np.stack([mel[:, s : s + CNN_FRAMES] for s in starts]).astype(np.float32)


def cnn_module(channels: tuple[int, ...] = (16, 32, 64, 64)) -> Any:
    """Four conv blocks (3x3 conv, batch norm, ReLU, 2x2 max pool) over a (1, CNN_MELS, CNN_FRAMES) crop.

    Output per crop: the last block's (channels x CNN_MELS/16) map averaged and maxed over time,
    then one linear head per target (``recognition.TARGETS``' classes, the kit's too). About 78 k weights.
    """
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            previous = 1
            for width in channels:
                layers += [
                    nn.Conv2d(previous, width, 3, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                ]
                previous = width
            self.body = nn.Sequential(*layers)
            size = previous * (CNN_MELS // 16) * 2
            self.dropout = nn.Dropout(0.3)
            self.heads = nn.ModuleDict(
                {target: nn.Linear(size, len(classes)) for target, classes in recognition.TARGETS.items()}
            )

        def forward(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
            """crops (n, CNN_MELS, CNN_FRAMES) in dB (0 loudest) -> per target (n, classes) logits."""
            x = self.body((crops.unsqueeze(1) + 40.0) / 20.0)
            x = x.flatten(1, 2)  # (n, channels * mels', frames')
            x = self.dropout(torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1))
            return {target: head(x) for target, head in self.heads.items()}

    return Net()


def crop_probabilities(net: Any, mel: FloatArray) -> dict[str, NDArray[np.float64]]:
    """Per target, the mean class probability over a spectrogram's crops (the net in eval mode)."""
    import torch

    with torch.no_grad():
        out = net(torch.tensor(crops(np.asarray(mel, dtype=np.float32))))
        return {t: torch.softmax(v, dim=1).mean(dim=0).double().numpy() for t, v in out.items()}


@lru_cache(maxsize=1)
def load_net(path: Path = WEIGHTS_PATH) -> Any | None:
    """The trained CNN in eval mode, or None when its weights are absent (the 94-value recogniser decides)."""
    if not path.exists():
        return None
    import torch

    net = cnn_module()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    net.eval()
    return net


def role_probabilities(mono: NDArray[Any], sample_rate: int) -> dict[str, list[float]] | None:
    """Per pitched role, the probability of each of ``recognition.TARGETS[role]`` for one upload.

    None when the weights are absent.
    """
    net = load_net()
    if net is None:
        return None
    probabilities = crop_probabilities(net, log_mel(mono, sample_rate))
    return {role: [round(float(p), 5) for p in probabilities[role]] for role in ROLES}


def decide(per_upload: list[dict[str, list[float]]]) -> dict[str, dict[str, Any]]:
    """One program per role for a set: the highest mean probability over its uploads.

    Returns ``{role: {"label", "confidence", "votes"}}`` like ``recognition.Recogniser.decide``.
    """
    return {
        role: recognition.set_decision(
            recognition.TARGETS[role], np.asarray([upload[role] for upload in per_upload], dtype=np.float64)
        )
        for role in ROLES
    }
