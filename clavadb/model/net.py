"""A trained network as data: the arguments that build a `diffusion.TimeMLP` and its weights as arrays.

The model file stores networks this way, so reading one needs neither torch nor pickle; a network becomes a
torch module (training, sampling on a GPU) or a NumPy evaluator (sampling on a CPU, `infer.MLP`) when used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from clavadb.model import infer

if TYPE_CHECKING:
    import torch

    from clavadb.model.diffusion import TimeMLP


@dataclass
class Net:
    args: dict[str, Any]  # TimeMLP(**args)
    state: dict[str, np.ndarray]  # its state dict as float32 arrays
    _numpy: infer.MLP | None = field(default=None, repr=False, compare=False)
    _torch: dict[str, TimeMLP] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, module: TimeMLP) -> Net:
        """The data of a trained module (which stays usable as the torch form of the result)."""
        net = cls(dict(module.args), {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()})
        net._torch[str(next(module.parameters()).device)] = module.eval()
        return net

    def numpy(self) -> infer.MLP:
        """The network evaluated with NumPy."""
        if self._numpy is None:
            self._numpy = infer.MLP.from_state(self.state)
        return self._numpy

    def torch(self, device: torch.device) -> TimeMLP:
        """The network as a torch module on `device`, in eval mode."""
        import torch as _torch

        from clavadb.model.diffusion import TimeMLP

        key = str(device)
        if key not in self._torch:
            module = TimeMLP(**self.args)
            module.load_state_dict({k: _torch.from_numpy(np.ascontiguousarray(v)) for k, v in self.state.items()})
            self._torch[key] = module.to(device).eval()
        return self._torch[key]
