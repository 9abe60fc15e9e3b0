"""An index of label maps, so a selector is evaluated only against plausible candidates.

A selector's label restrictions (a necessary condition for a match) pick the smallest
candidate set: the holders of one of the required values of a label, or the holders
of a required label; only selectors with no restriction scan everything.
"""

from __future__ import annotations

import builtins
from typing import Iterable, Mapping

from ..selector import Selector


class LabelIndex:
    def __init__(self) -> None:
        self.labels: dict[str, Mapping[str, str]] = {}
        self._by_value: dict[str, dict[str, set[str]]] = {}
        self._by_label: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def set(self, key: str, labels: Mapping[str, str]) -> None:
        self.remove(key)
        self.labels[key] = labels
        for label, value in labels.items():
            self._by_value.setdefault(label, {}).setdefault(value, set()).add(key)
            self._by_label.setdefault(label, set()).add(key)

    def remove(self, key: str) -> None:
        old = self.labels.pop(key, None)
        for label, value in (old or {}).items():
            values = self._by_value[label]
            values[value].discard(key)
            if not values[value]:
                del values[value]
            self._by_label[label].discard(key)
            if not self._by_label[label]:
                del self._by_value[label], self._by_label[label]

    def _candidates(self, selector: Selector) -> Iterable[str]:
        best: set[str] | None = None
        for label, r in selector.label_restrictions.items():
            if r.values is not None:
                values = self._by_value.get(label, {})
                found: set[str] = set().union(*(values.get(v, ()) for v in r.values)) if r.values else set()
            elif r.must_be_present:
                found = self._by_label.get(label, set())
            else:
                continue
            if best is None or len(found) < len(best):
                best = found
        return self.labels if best is None else best

    def matching(self, selector: Selector) -> builtins.set[str]:
        labels = self.labels
        return {key for key in self._candidates(selector) if selector.matches(labels[key])}
