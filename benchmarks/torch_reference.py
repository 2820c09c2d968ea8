"""Hand-tuned PyTorch reference of the scratch CNN, for benchmarks/speed.py (torch is optional).

Same network as ``inat_cnn.models.build_scratch`` with batch_norm on and padding same:
conv_blocks x (Conv kxk, no bias -> BN(momentum 0.9 in Keras = 0.1 here) -> ReLU -> MaxPool 2)
-> Flatten -> Dense -> ReLU -> Dropout -> Dense -> softmax, trained with Adam on
integer labels. Tuned as a PyTorch expert would: channels_last, autocast (bf16, or
fp16 with a GradScaler), torch.compile, cudnn.benchmark, data already on the device.
"""

from __future__ import annotations

import time


def build_reference(image_size: int, filters: list[int], kernels: list[int], dense_units: int, num_classes: int,
                    dropout: float):
    import torch.nn as nn

    layers: list = [Rescale()]
    channels, side = 3, image_size
    for f, k in zip(filters, kernels):
        layers += [nn.Conv2d(channels, f, k, padding="same", bias=False), nn.BatchNorm2d(f, momentum=0.1),
                   nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        channels, side = f, side // 2
    layers += [nn.Flatten(), nn.Linear(channels * side * side, dense_units), nn.ReLU(inplace=True),
               nn.Dropout(dropout), nn.Linear(dense_units, num_classes)]
    return nn.Sequential(*layers)


def Rescale():  # noqa: N802 - reads like a layer
    import torch.nn as nn

    class _Rescale(nn.Module):
        def forward(self, x):
            return x.float() * (1.0 / 255)

    return _Rescale()


def reference_images_per_s(*, image_size: int, batch_size: int, filters: list[int], kernels: list[int],
                           dense_units: int, num_classes: int, dropout: float, precision: str, steps: int,
                           warmup: int, compile: bool = True) -> dict:
    """Training images/s of the reference on the first CUDA device (or the CPU for a dry run)."""
    import torch
    import torch.nn.functional as F

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    model = build_reference(image_size, filters, kernels, dense_units, num_classes, dropout)
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=device.type == "cuda")
    net = torch.compile(model) if compile else model
    amp_dtype = {"mixed_bfloat16": torch.bfloat16, "mixed_float16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype is torch.float16)
    x = torch.randint(0, 256, (batch_size, 3, image_size, image_size), dtype=torch.uint8, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, num_classes, (batch_size,), device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            loss = F.cross_entropy(net(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss

    started = time.perf_counter()
    for _ in range(warmup):
        step()
    _sync(torch, device)
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(torch, device)
    seconds = time.perf_counter() - started
    return {"images_per_s": steps * batch_size / seconds, "warmup_s": compile_s, "device": str(device),
            "torch": torch.__version__, "compiled": compile}


def _sync(torch, device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
