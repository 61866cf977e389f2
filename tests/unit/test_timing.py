"""Side-by-side throughput: every variant runs in every round, after one warm-up call."""

from pipeline.runtime.timing import interleaved_throughput


def test_every_variant_is_warmed_up_then_timed_in_turns() -> None:
    calls: list[str] = []
    runs = {name: (lambda name=name: calls.append(name)) for name in ("fp32", "int8")}
    rates = interleaved_throughput(runs, batch_size=8, rounds=3)
    assert calls == ["fp32", "int8"] * 4
    assert set(rates) == {"fp32", "int8"} and all(rate > 0 for rate in rates.values())
