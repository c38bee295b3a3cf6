"""GPU check: train on cuda and on the CPU in one run, then sample a GPU checkpoint on the CPU.

Run through scripts/gpu_check.sh on a machine with an NVIDIA GPU.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from app.png import encode_png, tile
from models.checkpoint import load_generator, to_bytes
from models.ink import latents
from models.sampling import generate
from models.train import TrainConfig, train


def timed_training(config: TrainConfig, device: str):
    start = time.perf_counter()
    final = train(config, device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return final, config.steps * config.batch_size / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--architectures", nargs="+", default=["mlp", "cmlp"])
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check", file=sys.stderr)
        return 2
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    failures = 0
    for arch in args.architectures:
        config = TrainConfig(architecture=arch, steps=args.steps, checkpoint_every=args.steps)
        train(
            TrainConfig(architecture=arch, steps=20, checkpoint_every=20), device="cuda"
        )  # warm-up
        gpu_final, gpu_rate = timed_training(config, "cuda")
        _, cpu_rate = timed_training(config, "cpu")
        print(
            f"{arch}: cuda {gpu_rate:,.0f} images/s, cpu {cpu_rate:,.0f} images/s, "
            f"ratio {gpu_rate / cpu_rate:.1f}x ({args.steps} steps, batch {config.batch_size})"
        )
        failures += not check_cpu_sampling(gpu_final)
    return 1 if failures else 0


def check_cpu_sampling(final) -> bool:
    """A checkpoint made on the GPU gives the same digits on the CPU, and the same bytes twice."""
    blob = to_bytes(final.meta | {"id": "gpu-check"}, final.generator_state)
    _, on_cpu = load_generator(blob)
    labels = torch.arange(16) % 10 if on_cpu.conditional else None
    cpu_ink = generate(on_cpu, 16, seed=1, labels=labels)
    same_bytes = encode_png(tile(cpu_ink)) == encode_png(tile(generate(on_cpu, 16, 1, labels)))

    _, on_gpu = load_generator(blob)
    on_gpu = on_gpu.to("cuda")
    with torch.inference_mode():
        z = latents(16, on_gpu.latent_dim, seed=1).cuda()
        out = on_gpu(z, labels.cuda() if labels is not None else None).float().clamp(-1, 1)
    gpu_ink = ((out + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    worst = int(np.abs(cpu_ink.astype(int) - gpu_ink.astype(int)).max())
    ok = same_bytes and worst <= 2
    print(
        f"  GPU checkpoint sampled on the CPU: same bytes twice: {same_bytes}; "
        f"largest pixel difference from GPU sampling: {worst}/255 -> {'OK' if ok else 'FAIL'}"
    )
    return ok


if __name__ == "__main__":
    sys.exit(main())
