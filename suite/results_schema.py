"""The results file's schema: its version and the verdicts, shared by the gate that writes results
and the reports that read them (which import nothing else of the gate).

Version 2 adds, to version 1: ``unjudged`` (what the gate would otherwise have passed without
judging), per check ``signatures`` (failing elements grouped by failure signature, most severe
first: count, range of x and y, largest error), ``signature`` on each ``worst`` entry and on each
special ``elements`` entry, and ``allowed`` on each ``rejected`` special input. Version 1 files are
read as they are.
"""

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
VERDICTS = ("pass", "known-deviation", "fail", "unsupported", "crashed")
PASSING = ("pass", "known-deviation", "unsupported")
JUDGED = ("pass", "known-deviation")
