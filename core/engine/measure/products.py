"""The matrix products a function runs, recorded and replayed, or timed where they run.

``record(fn)`` runs fn once under a torch dispatch mode that notes every matrix product it
dispatches -- the operator overload, the shape and strides of each tensor argument (a
transposed operand runs at a different speed), dtype, device, the scalar arguments (alpha,
beta) and the FLOPs -- and passes every op through unchanged, so fn computes what it always
does. The mode sits below autograd, where ``torch.matmul``, ``F.linear`` and ``einsum`` have
already become ``mm`` (2-D) or ``bmm`` (3-D, a (1, K, d) weight included); those, their
``add*`` forms, in place and ``.out``, and ``mv``/``dot`` are what it looks for.

``ProductTimer`` times the products where they run, inside fn: the bench's cross-check of the replay.

``replay(calls)`` gives a function that runs exactly those products again on random tensors
of the same layouts, allocated once: a product that made a new tensor writes into a buffer
through its ``.out`` overload, an in-place one updates its own buffer, so no allocation is
timed. Calls with the same layout in the same role share one buffer, as a step's repeated
chunk-sized temporaries share the memory the allocator hands back; that also keeps a replay
of many chunks to one chunk's memory.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# The product ops by overload packet, and the two factors whose shapes give the FLOPs.
_FACTORS = {
    "mm": ("self", "mat2"),
    "bmm": ("self", "mat2"),
    "addmm": ("mat1", "mat2"),
    "addmm_": ("mat1", "mat2"),
    "_addmm_activation": ("mat1", "mat2"),
    "baddbmm": ("batch1", "batch2"),
    "baddbmm_": ("batch1", "batch2"),
    "addbmm": ("batch1", "batch2"),
    "addbmm_": ("batch1", "batch2"),
    "mv": ("self", "vec"),
    "addmv": ("mat", "vec"),
    "addmv_": ("mat", "vec"),
    "dot": ("self", "tensor"),
    "vdot": ("self", "other"),
}


@dataclass(frozen=True)
class TensorSpec:
    """A tensor's layout: what a product's speed depends on, not its values."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device

    @classmethod
    def of(cls, tensor: torch.Tensor) -> TensorSpec:
        return cls(tuple(tensor.shape), tuple(tensor.stride()), tensor.dtype, tensor.device)

    def allocate(self, generator: torch.Generator) -> torch.Tensor:
        """A tensor of this layout holding random numbers (ones for integers).

        The values go into the whole span the strides reach and the view is taken on it, so
        overlapping layouts (an expanded operand's zero stride) work too."""
        reach = sum((size - 1) * step for size, step in zip(self.shape, self.stride, strict=True))
        span = reach + 1 if all(self.shape) else 0
        storage = torch.empty(span, dtype=self.dtype, device=self.device)
        if self.dtype.is_floating_point or self.dtype.is_complex:
            storage.normal_(generator=generator)
        else:
            storage.fill_(1)
        return storage.as_strided(self.shape, self.stride)


@dataclass(frozen=True)
class ProductCall:
    """One matrix product as dispatched.

    arguments: every schema argument but the ``out=`` buffer, in schema order, as (name,
    TensorSpec or scalar) -- defaults included, so alpha and beta always show; result: the
    layout of what it wrote (the new tensor, the ``out=`` buffer or the in-place self)."""

    op: torch._ops.OpOverload
    arguments: tuple[tuple[str, object], ...]
    result: TensorSpec
    flops: int

    @property
    def name(self) -> str:
        return str(self.op)

    @property
    def kind(self) -> str:
        """The overload packet (``mm``, ``addmm_``, ...): what a replay through ``.out`` keeps."""
        return self.op.overloadpacket.__name__

    @property
    def tensors(self) -> dict[str, TensorSpec]:
        return {name: value for name, value in self.arguments if isinstance(value, TensorSpec)}

    @property
    def scalars(self) -> dict[str, object]:
        return {name: value for name, value in self.arguments if not isinstance(value, TensorSpec)}

    def same_product(self, other: ProductCall) -> bool:
        """The same product with the same layouts, whether run as a new tensor or into ``out=``."""
        return (self.kind, self.arguments, self.result, self.flops) == (other.kind, other.arguments,
                                                                         other.result, other.flops)


def is_product(op) -> bool:
    return isinstance(op, torch._ops.OpOverload) and op.namespace == "aten" and op.overloadpacket.__name__ in _FACTORS


def product_flops(kind: str, tensors: dict[str, TensorSpec]) -> int:
    """2 m n k per product, times the batch: 2 * (elements of the left factor) * (columns of the right)."""
    left, right = (tensors[name].shape for name in _FACTORS[kind])
    return 2 * math.prod(left) * (right[-1] if len(right) >= 2 else 1)


def _call_of(op: torch._ops.OpOverload, args: tuple, kwargs: dict, result) -> ProductCall:
    given = dict(zip((a.name for a in op._schema.arguments if not a.kwarg_only), args, strict=False))
    given.update(kwargs)
    arguments = []
    for spec in op._schema.arguments:
        if spec.is_out:
            continue
        value = given[spec.name] if spec.name in given else spec.default_value
        arguments.append((spec.name, TensorSpec.of(value) if isinstance(value, torch.Tensor) else value))
    tensors = {name: value for name, value in arguments if isinstance(value, TensorSpec)}
    kind = op.overloadpacket.__name__
    return ProductCall(op, tuple(arguments), TensorSpec.of(result), product_flops(kind, tensors))


class ProductRecorder(TorchDispatchMode):
    """A dispatch mode that appends a ProductCall to ``calls`` for each product and changes nothing.

    Layouts are read after the op ran: an ``out=`` buffer may be resized by it."""

    def __init__(self):
        super().__init__()
        self.calls: list[ProductCall] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if is_product(func):
            self.calls.append(_call_of(func, args, kwargs, result))
        return result


class ProductTimer(TorchDispatchMode):
    """A dispatch mode that adds the wall time of each product to ``seconds`` and changes nothing.

    The products as they run inside the step, their inputs just written by the step's other work,
    against which the replay (cold-started inputs, shared buffers) is a model. On a GPU each timed
    product is synchronised before and after, so there it measures the products one at a time."""

    def __init__(self, clock=time.perf_counter):
        super().__init__()
        self.seconds, self._clock = 0.0, clock

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not is_product(func):
            return func(*args, **kwargs)
        cuda = [a.device for a in args if isinstance(a, torch.Tensor) and a.device.type == "cuda"]
        if cuda:
            torch.cuda.synchronize(cuda[0])
        started = self._clock()
        result = func(*args, **kwargs)
        if cuda:
            torch.cuda.synchronize(cuda[0])
        self.seconds += self._clock() - started
        return result


def record(fn: Callable[[], object]) -> tuple[ProductCall, ...]:
    """The products one call of fn runs, in order."""
    with ProductRecorder() as recorder:
        fn()
    return tuple(recorder.calls)


def total_flops(calls: Sequence[ProductCall]) -> int:
    return sum(call.flops for call in calls)


def _out_overload(op: torch._ops.OpOverload):
    """The ``.out`` twin of a functional overload (``default`` -> ``out``, ``dtype`` -> ``dtype_out``), or None."""
    name = "out" if op._overloadname == "default" else f"{op._overloadname}_out"
    packet = op.overloadpacket
    return getattr(packet, name) if name in packet.overloads() else None


def replay(calls: Sequence[ProductCall], seed: int = 0) -> Callable[[], None]:
    """A function that runs the recorded products again, in order, on preallocated tensors."""
    buffers: dict[tuple[str, TensorSpec], torch.Tensor] = {}
    generators: dict[torch.device, torch.Generator] = {}

    def buffer(role: str, spec: TensorSpec) -> torch.Tensor:
        if (role, spec) not in buffers:
            if spec.device not in generators:
                generators[spec.device] = torch.Generator(device=spec.device).manual_seed(seed)
            buffers[role, spec] = spec.allocate(generators[spec.device])
        return buffers[role, spec]

    prepared = []
    for call in calls:
        positional, keywords = [], {}
        schemas = [a for a in call.op._schema.arguments if not a.is_out]
        for schema, (name, value) in zip(schemas, call.arguments, strict=True):
            value = buffer(name, value) if isinstance(value, TensorSpec) else value
            if schema.kwarg_only:
                keywords[name] = value
            else:
                positional.append(value)
        op = call.op
        outs = [a.name for a in op._schema.arguments if a.is_out]
        if not outs and not op._schema.is_mutable:  # a new tensor each call: write into a buffer instead
            op = _out_overload(op) or op
            outs = [a.name for a in op._schema.arguments if a.is_out]
        for name in outs:
            keywords[name] = buffer("out", call.result)
        prepared.append((op, tuple(positional), keywords))

    def products():
        for op, positional, keywords in prepared:
            op(*positional, **keywords)

    return products
