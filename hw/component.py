"""`CheckedComponent`: a wiring.Component whose parameters are checked before the object exists.

Amaranth warns about an elaboratable that is created and never elaborated; a component that refuses
its parameters in `__init__` already exists by then, and would warn when collected. Here `check_parameters`
runs in `__new__`, on the constructor's arguments with its defaults filled in, so a refused parameter
set raises before anything is created (a composite checks its parts' parameters in its own `check_parameters`,
before building them). `pass_through`: a wrapper's ports wired to the same-named ports of a component it holds.
"""

import inspect

from amaranth.lib import wiring


class CheckedComponent(wiring.Component):
    def __new__(cls, *args, **params):
        bound = inspect.signature(cls.__init__).bind(None, *args, **params)
        bound.apply_defaults()
        cls.check_parameters(**{name: value for name, value in list(bound.arguments.items())[1:]})
        return super().__new__(cls, *args, src_loc_at=1, **params)

    @classmethod
    def own_parameters(cls, params: dict) -> dict:
        """Of a composite's `params`, those this constructor takes, its defaults filled in."""
        names = inspect.signature(cls.__init__).parameters
        bound = inspect.signature(cls.__init__).bind_partial(
            None, **{name: value for name, value in params.items() if name in names})
        bound.apply_defaults()
        return dict(list(bound.arguments.items())[1:])

    @classmethod
    def from_parameters(cls, params: dict):
        """Built from a composite's parameters: those its constructor names (the rest are another part's)."""
        return cls(**cls.own_parameters(params))

    @classmethod
    def check_parameters(cls, **params) -> None:
        """Raise ValueError (naming the parameter) for a parameter set this component cannot build;
        `params` are the constructor's, defaults included."""


def pass_through(m, outer: wiring.Component, inner: wiring.Component, names) -> None:
    """Connect each named port of `outer` to the same-named port of `inner`, a component it holds (interfaces
    with wiring.connect, plain ports in the direction they flow)."""
    for name in names:
        member, port = outer.signature.members[name], getattr(inner, name)
        if member.is_signature:
            wiring.connect(m, wiring.flipped(getattr(outer, name)), port)
        elif member.flow == wiring.Out:
            m.d.comb += getattr(outer, name).eq(port)
        else:
            m.d.comb += port.eq(getattr(outer, name))
