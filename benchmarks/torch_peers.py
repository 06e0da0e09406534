"""The PyTorch symmetric layers eqzoo is compared with: `torch.nn.utils.parametrize` (the
tutorial's `Symmetric`) and `geotorch.symmetric`, each against a plain `torch.nn.Linear`.

`PEERS[name]` is None when its package is not installed.
"""

import importlib.util

import numpy as np

HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_GEOTORCH = HAVE_TORCH and importlib.util.find_spec("geotorch") is not None


def _linear(n):
    import torch

    return torch.nn.Linear(n, n)


def _parametrize_symmetric(n):
    import torch
    from torch.nn.utils import parametrize

    class Symmetric(torch.nn.Module):  # PyTorch's parametrization tutorial, verbatim
        def forward(self, X):
            return X.triu() + X.triu(1).transpose(-1, -2)

    layer = torch.nn.Linear(n, n)
    parametrize.register_parametrization(layer, "weight", Symmetric())
    return layer


def _geotorch_symmetric(n):
    import geotorch
    import torch

    layer = torch.nn.Linear(n, n)
    geotorch.symmetric(layer, "weight")
    return layer


PEERS = {
    "torch Linear": _linear if HAVE_TORCH else None,
    "torch parametrize Symmetric": _parametrize_symmetric if HAVE_TORCH else None,
    "geotorch.symmetric": _geotorch_symmetric if HAVE_GEOTORCH else None,
}


def torch_train_step(layer, n, batch, seed=0):
    """`(step, trainable_params, adam_slot_bytes)` for one MSE/Adam step of a torch layer."""
    import torch

    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-4)
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.normal(size=(batch, n)).astype("float32"))
    y = torch.tensor(rng.normal(size=(batch, n)).astype("float32"))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.mean((layer(x) - y) ** 2)
        loss.backward()
        optimizer.step()
        return loss.item()

    step()
    params = sum(p.numel() for p in layer.parameters() if p.requires_grad)
    slot_bytes = sum(t.numel() * 4 for s in optimizer.state.values() for t in s.values()
                     if torch.is_tensor(t) and t.dim())
    return step, params, slot_bytes
