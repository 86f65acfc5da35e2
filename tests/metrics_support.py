"""Reading ``/metrics`` in tests: one scrape as a table of samples, and the change between two."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    text: str
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]
    families: frozenset[str]  # the names declared (# TYPE), samples or not
    types: dict[str, str]     # family name -> counter, gauge, histogram...

    @classmethod
    def of(cls, text: str) -> Scrape:
        samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        types: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            types[family.name] = family.type
            for s in family.samples:
                samples[(s.name, frozenset(s.labels.items()))] = s.value
        return cls(text, samples, frozenset(types), types)

    def value(self, metric: str, /, **labels: str) -> float:
        """The sample's value; 0 when it is not (yet) there, as for a counter never incremented."""
        return self.samples.get((metric, frozenset(labels.items())), 0.0)

    def names(self) -> set[str]:
        """Every name a query may use: the families declared (# TYPE), and their samples' names
        (``_total``, ``_bucket``...), also for a labelled counter not incremented yet."""
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum")}
        declared = {family + suffix for family, kind in self.types.items() for suffix in suffixes.get(kind, ())}
        return set(self.families) | declared | {name for name, _ in self.samples}

    def words(self) -> str:
        """Everything a scrape says but its numbers: the help texts, metric names and label
        values (a secret looked for in the whole text could turn up inside a float)."""
        lines = [line.rsplit(" ", 1)[0] if not line.startswith("#") else line for line in self.text.splitlines()]
        return "\n".join(lines)

    def delta(self, before: Scrape, metric: str, /, **labels: str) -> float:
        return self.value(metric, **labels) - before.value(metric, **labels)
