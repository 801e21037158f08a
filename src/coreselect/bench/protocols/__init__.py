"""One module per protocol, each defining ``run(config: BenchConfig, store: ResultStore) -> None``."""
