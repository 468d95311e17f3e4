"""Call and fault counters, so tests can prove what happened on the wire (and how often)."""

from collections import Counter


class Stats:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()  # "gemini.submit", "vertex.poll", "oauth.token", ...
        self.faults: Counter[str] = Counter()  # "submit:429", "poll:drop", "download:slow", ...
        self.fault_sources: Counter[str] = Counter()  # "directive" / "random"
        self.accepted = 0  # submissions that created an operation

    def call(self, name: str) -> None:
        self.calls[name] += 1

    def fault(self, phase: str, kind: str, source: str) -> None:
        self.faults[f"{phase}:{kind}"] += 1
        self.fault_sources[source] += 1

    def snapshot(self) -> dict[str, object]:
        by_kind: Counter[str] = Counter()
        for key, count in self.faults.items():
            by_kind[key.partition(":")[2]] += count
        return {
            "calls": dict(self.calls),
            "faults": dict(self.faults),
            "faults_by_kind": dict(by_kind),
            "faults_by_source": dict(self.fault_sources),
            "faults_total": sum(self.faults.values()),
        }

    def reset(self) -> None:
        self.calls.clear()
        self.faults.clear()
        self.fault_sources.clear()
        self.accepted = 0
