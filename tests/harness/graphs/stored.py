"""What the databases stored, read back: InfluxDB's points and Graphite's series names.

InfluxDB: every point of every measurement, with its tags and fields, from
one InfluxQL query per measurement (`SELECT * ... GROUP BY *`). A point
carries only the fields that were written for it: InfluxDB answers null
for the other fields of its measurement, and "" for tag keys its series
lacks; both are left out here, so a point reads as it was written.

Graphite: the name of every whisper file under carbon's whisper directory,
dots for the directories.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .databases import InfluxDB


@dataclass(frozen=True)
class Point:
    """One stored InfluxDB point."""

    measurement: str
    tags: dict
    fields: dict
    timestamp: int

    @property
    def service(self) -> Optional[str]:
        """`host!service`, or the host name for a host check's point."""
        host, service = self.tags.get("hostname"), self.tags.get("service")
        if host is None:
            return None
        return f"{icinga_name(host)}!{icinga_name(service)}" if service else icinga_name(host)

    @property
    def label(self) -> Optional[str]:
        """The perfdata label, or None for a metadata point."""
        return self.tags.get("metric")


def icinga_name(tag: str) -> str:
    """A host or service name from its InfluxDB tag.

    Icinga 2.13's InfluxdbWriter writes a `"` in a tag value as `\\"`, which
    InfluxDB 1.x does not unescape in tags: the stored tag keeps the backslash.
    """
    return tag.replace('\\"', '"')


def measurements(influx: InfluxDB, database: str = InfluxDB.DATABASE) -> list[str]:
    """The names of the database's measurements."""
    [result] = influx.query("SHOW MEASUREMENTS", database)["results"]
    return sorted(row[0] for series in result.get("series", []) for row in series["values"])


def quoted(identifier: str) -> str:
    """An InfluxQL identifier in double quotes."""
    return '"' + identifier.replace("\\", "\\\\").replace('"', '\\"') + '"'


def influx_points(influx: InfluxDB, database: str = InfluxDB.DATABASE) -> list[Point]:
    """Every stored point, ordered by time."""
    points = []
    for measurement in measurements(influx, database):
        for series in influx.series(f"SELECT * FROM {quoted(measurement)} GROUP BY *", database):
            tags = {key: value for key, value in series.get("tags", {}).items() if value != ""}
            columns = series["columns"]
            for row in series["values"]:
                fields = {key: value for key, value in zip(columns[1:], row[1:])
                          if value is not None}
                points.append(Point(measurement, tags, fields, row[0]))
    return sorted(points, key=lambda point: point.timestamp)


def graphite_series(whisper_dir: Path) -> set[str]:
    """The name of every series carbon stored: its whisper file's path, dotted."""
    return {".".join(path.relative_to(whisper_dir).with_suffix("").parts)
            for path in whisper_dir.rglob("*.wsp")}
