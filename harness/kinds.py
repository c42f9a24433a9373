"""What a measurement is, as one type: a step of the ladder, the same step with the profiler
attached, the last stage's ceiling, or a stage in the same-traffic pass. Its kind is recorded in
stage.json and carried by every table's `kind` column; readers ask the kind, never the name.

The kind also gives the measurement's folder and row name (`s8-one-round-trip.ceiling`: a
suffix a person can read) and its place among the rows (the ladder's steps first, then the
ceiling, the same-traffic pass and the profiled measurements, each in ladder order).
"""

from enum import StrEnum


class Kind(StrEnum):
    LADDER = "ladder"
    CEILING = "ceiling"
    SAME_TRAFFIC = "same-traffic"
    PROFILED = "profiled"

    @property
    def suffix(self) -> str:
        return _SUFFIX[self]

    @property
    def order_offset(self) -> int:
        """Where its rows sort: after every step of the ladder, kind by kind."""
        return _OFFSET[self]

    @property
    def is_step(self) -> bool:
        """A step of the ladder: compared with its neighbours, drawn as a bar of the headline."""
        return self is Kind.LADDER


_SUFFIX = {Kind.LADDER: "", Kind.CEILING: ".ceiling", Kind.SAME_TRAFFIC: ".open", Kind.PROFILED: ".profiled"}
_OFFSET = {Kind.LADDER: 0, Kind.CEILING: 1000, Kind.SAME_TRAFFIC: 2000, Kind.PROFILED: 3000}


def measurement_id(stage: str, kind: Kind = Kind.LADDER) -> str:
    """The row a measurement of `stage` is (its repeats share it)."""
    return f"{stage}{kind.suffix}"


def folder_name(stage: str, kind: Kind = Kind.LADDER, repeat: int = 1) -> str:
    """The measurement's folder under stages/: its row's name, `.r<k>` for repeat k > 1."""
    return measurement_id(stage, kind) + (f".r{repeat}" if repeat > 1 else "")


def stage_of(measurement: str, kind: Kind) -> str:
    """The stage a measurement's row (or folder) is of."""
    name = measurement.rsplit(".r", 1)[0] if measurement.rsplit(".r", 1)[-1].isdigit() else measurement
    return name.removesuffix(kind.suffix) if kind.suffix else name


def kind_from_name(measurement: str) -> Kind:
    """The kind a row's name says: how runs written before kinds were recorded are read."""
    name = measurement.rsplit(".r", 1)[0] if measurement.rsplit(".r", 1)[-1].isdigit() else measurement
    return next((kind for kind in (Kind.CEILING, Kind.SAME_TRAFFIC, Kind.PROFILED) if name.endswith(kind.suffix)),
                Kind.LADDER)
