"""Train the evaluation classifier (models/classifier.safetensors), reproducibly.

    .venv/bin/python scripts/train_classifier.py

Trains models.classifier.LeNet on 80% of the bundled mnist-5k digits (a stratified split
with seed 0; models.evaluation keeps the other 20% as its real held-out reference) with
small random shifts as augmentation, then prints its accuracy on the held-out digits.
One thread and fixed seeds: the same weights on every run of the same torch build.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from models.classifier import WEIGHTS, LeNet, to_input
from models.data import mnist_5k_split

# Random affine distortions of each training image, the way handwriting varies.
ROTATE_RAD = 0.2
SCALE = 0.1
SHIFT = 0.15  # of half the image width: about 2 pixels


def distorted(x: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    n = len(x)
    angle, scale, dx, dy = (torch.rand(4, n, generator=rng) * 2 - 1) * torch.tensor(
        [[ROTATE_RAD], [SCALE], [SHIFT], [SHIFT]]
    )
    scale = 1 + scale
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos, -sin, dx], 1), torch.stack([sin, cos, dy], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def accuracy(model: LeNet, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.inference_mode():
        return (model(x).argmax(1) == y).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(WEIGHTS))
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = torch.Generator().manual_seed(args.seed)
    train_part, held = mnist_5k_split()
    x, y = to_input(train_part.images), torch.from_numpy(train_part.labels)
    x_held, y_held = to_input(held.images), torch.from_numpy(held.labels)

    model = LeNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    for epoch in range(args.epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=rng).split(64):
            loss = F.cross_entropy(model(distorted(x[idx], rng)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        print(f"epoch {epoch + 1}: held-out accuracy {accuracy(model, x_held, y_held):.4f}")

    result = {
        "train_digits": len(x),
        "held_out_digits": len(x_held),
        "held_out_accuracy": round(accuracy(model, x_held, y_held), 4),
        "epochs": args.epochs,
        "seed": args.seed,
        "torch": torch.__version__,
    }
    save_file(model.state_dict(), args.output, metadata={"digitgan": json.dumps(result)})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
