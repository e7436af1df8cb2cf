"""MI-GAN 512 inpainting generator (see shared/migan/SPEC.md): a self-contained model package.

    migan.py        the literal network (nn.Modules named as the published checkpoint), load_migan
    migan_lean.py   the lean execution of the same weights: row-streamed, far less memory, faster
    checkpoint.py   reading and checking a state dict (CheckpointError)
    pixels.py       8-bit image + known mask -> network input; network output -> 8-bit image
    convert.py      IOPaint's TorchScript trace (migan_traced.pt) -> a plain state dict

Imports nothing from the rest of `handler`.
"""
