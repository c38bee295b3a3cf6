"""PyTorch side of digitgan: networks, data, training loop, checkpoints and sampling.

Nothing here imports from `app` or `worker`.
"""
