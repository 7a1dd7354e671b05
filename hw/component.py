"""`CheckedComponent`: a wiring.Component whose parameters are checked before the object exists.

Amaranth warns about an elaboratable that is created and never elaborated; a component that refuses
its parameters in `__init__` already exists by then, and would warn when collected. Here `check`
runs in `__new__`, on the constructor's keyword arguments, so a refused parameter set raises before
anything is created (a composite checks its parts' parameters in its own `check`, before building them).
"""

from amaranth.lib import wiring


class CheckedComponent(wiring.Component):
    def __new__(cls, *args, **params):
        cls.check(**params)
        return super().__new__(cls, *args, src_loc_at=1, **params)

    @classmethod
    def check(cls, **params) -> None:
        """Raise ValueError (naming the parameter) for a parameter set this component cannot build."""
