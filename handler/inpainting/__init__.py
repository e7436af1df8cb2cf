"""MI-GAN 512 inpainting: the generator (see shared/migan/SPEC.md) and the learned fill.

    migan.py        the literal network (nn.Modules named as the published checkpoint), load_migan
    migan_lean.py   the lean execution of the same weights: row-streamed, far less memory, faster
    pixels.py       8-bit image + known mask -> network input; network output -> 8-bit image
    convert.py      IOPaint's TorchScript trace (migan_traced.pt) -> a plain state dict
    fill.py         the learned fill around the network: crop, 512 view, map back, grain, seam
    service.py      INPAINTER, the model's lazy lifecycle, the fill for a replace
    fetch.py        download the published trace, verify, convert (local_invoke.py fetch-model)

The network modules (migan, migan_lean, pixels, convert) import nothing from the rest of
`handler` but models/state_dict.py (reading and checking checkpoints), fill.py nothing at
all; service.py and fetch.py tie them to the function.
Nothing here imports torch at import time except the network modules.
"""
