"""The escnn side of `bench_gcnn_speed.py`: escnn R2Conv networks and torch Conv2d twins, timed
round by round on request, in escnn's own venv (PyTorch, never an eqzoo dependency).

    /work/peers/escnn/bin/python benchmarks/escnn_peer.py '{"configs": [["p4", 8]], ...}'

Builds, for every `[group, c]` in `configs`, the network `bench_gcnn_speed.py` times in Keras:
`layers` R2Conv 3 x 3 (padding 1) + ReLU on `c` regular fields of C_4 ("p4") or D_4 ("p4m")
(|G| * c channels), group pooling, spatial max, Linear(10); and a torch `Conv2d` net with |G| * c
channels. One training step is forward, MSE loss, backward and Adam on a fixed random batch.
It prints `READY <json>` (parameters, each escnn net's invariance error under quarter turns and,
for p4m, a flip, versions), then answers each stdin line
`{"config": "p4-8", "seconds": 0.4}` with `TIMES <json>` (seconds per step of each variant, the
call counts calibrated once), so the parent interleaves these rounds with its own. With
`single_thread`, torch uses one thread and steps are timed by process CPU time, as in
`timing.py`. Only numpy, torch and escnn are imported: nothing from eqzoo.
"""

import json
import sys
import time

import numpy as np
import torch

ORDERS = {"p4": 4, "p4m": 8}


def escnn_net(group, c, layers):
    from escnn import gspaces
    from escnn import nn as enn

    space = gspaces.rot2dOnR2(4) if group == "p4" else gspaces.flipRot2dOnR2(4)
    fields = [enn.FieldType(space, [space.trivial_repr])]
    fields += [enn.FieldType(space, c * [space.regular_repr])] * layers
    blocks = []
    for a, b in zip(fields[:-1], fields[1:], strict=True):
        blocks += [enn.R2Conv(a, b, 3, padding=1), enn.ReLU(b)]
    body, pool = enn.SequentialModule(*blocks), enn.GroupPooling(fields[-1])

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.pool, self.head = body, pool, torch.nn.Linear(c, 10)

        def forward(self, x):
            h = self.pool(self.body(enn.GeometricTensor(x, fields[0]))).tensor
            return self.head(torch.amax(h, dim=(2, 3)))

    return Net()


def torch_cnn(channels, layers):
    blocks, cin = [], 1
    for _ in range(layers):
        blocks += [torch.nn.Conv2d(cin, channels, 3, padding=1), torch.nn.ReLU()]
        cin = channels

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.head = torch.nn.Sequential(*blocks), torch.nn.Linear(channels, 10)

        def forward(self, x):
            return self.head(torch.amax(self.body(x), dim=(2, 3)))

    return Net()


def train_step(net, batch, side):
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(batch, 1, side, side)).astype("float32"))
    y = torch.tensor(rng.normal(size=(batch, 10)).astype("float32"))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.mean((net(x) - y) ** 2)
        loss.backward()
        optimizer.step()

    step()
    return step, sum(p.numel() for p in net.parameters() if p.requires_grad)


def invariance_error(net, group, side):
    """`max |f(g x) - f(x)|` over the quarter turns (and, for p4m, a flip) of a random batch: the
    escnn network is as exactly invariant as ours, so the two time the same kind of model."""
    x = torch.randn(4, 1, side, side, generator=torch.Generator().manual_seed(0))
    moved = [torch.rot90(x, k, dims=(2, 3)) for k in (1, 2, 3)]
    if group == "p4m":
        moved.append(torch.flip(x, dims=(2,)))
    net.eval()
    with torch.no_grad():
        y = net(x)
        error = max(float(torch.max(torch.abs(net(m) - y))) for m in moved)
    net.train()
    return error


def main():
    args = json.loads(sys.argv[1])
    clock = time.perf_counter
    if args.get("single_thread"):
        torch.set_num_threads(1)
        clock = time.process_time

    def per_call(step, calls):
        start = clock()
        for _ in range(calls):
            step()
        return (clock() - start) / calls

    steps, params, errors = {}, {}, {}
    for group, c in args["configs"]:
        key = f"{group}-{c}"
        nets = {"escnn R2Conv": escnn_net(group, c, args["layers"]),
                "torch Conv2d (same channels)": torch_cnn(ORDERS[group] * c, args["layers"])}
        errors[key] = invariance_error(nets["escnn R2Conv"], group, args["side"])
        steps[key], params[key] = {}, {}
        for name, net in nets.items():
            steps[key][name], params[key][name] = train_step(net, args["batch"], args["side"])
    import escnn

    print("READY " + json.dumps({"params": params, "invariance_error": errors,
                                 "torch": torch.__version__,
                                 "escnn": getattr(escnn, "__version__", "?"),
                                 "numpy": np.__version__}), flush=True)
    calls = {}
    for line in sys.stdin:
        request = json.loads(line)
        key = request["config"]
        if key not in calls:  # calibrated once, so every round times the same work
            calls[key] = {k: max(3, int(request["seconds"] / max(per_call(s, 2), 1e-5)))
                          for k, s in steps[key].items()}
        times = {k: per_call(s, calls[key][k]) for k, s in steps[key].items()}
        print("TIMES " + json.dumps(times), flush=True)


if __name__ == "__main__":
    main()
