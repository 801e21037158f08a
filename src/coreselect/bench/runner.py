"""`run_bench`: validate a :class:`BenchConfig`, then hand it to its protocol module.

Everything a user can get wrong (dataset name, protocol, methods and their parameters, budgets,
seeds, epochs, model, device, option names) is checked here, before any data is loaded or any model
trained; a protocol may add its own checks with ``validate(config)``. Results go to
``config.out/results.jsonl`` (:class:`ResultStore`), so a rerun skips the finished runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
import pkgutil
from pathlib import Path
from types import ModuleType

from coreselect.bench.config import BenchConfig
from coreselect.bench.report import check_report_paths
from coreselect.bench.specs import parse_methods
from coreselect.bench.store import RESULTS, ResultStore
from coreselect.errors import InputError
from coreselect.files import check_output, check_output_dir


def known_protocols() -> list[str]:
    """Names of the protocol modules in :mod:`coreselect.bench.protocols`."""
    import coreselect.bench.protocols as pkg

    return sorted(info.name for info in pkgutil.iter_modules(pkg.__path__) if not info.name.startswith("_"))


def load_protocol(name: str) -> ModuleType:
    known = known_protocols()
    if name not in known:
        raise InputError(f"unknown protocol {name!r}; known protocols: {', '.join(known) or 'none'}")
    return importlib.import_module(f"coreselect.bench.protocols.{name}")


def check_dataset_name(name: str) -> None:
    """A known dataset name, an existing ``.npz`` file or a folder in the MNIST idx layout; the data
    themselves are read by the protocol."""
    from coreselect.data import DATASETS
    from coreselect.data.registry import dataset_key, is_idx_folder

    text = name.strip()
    if is_idx_folder(Path(text).expanduser()):
        return
    if text.lower().endswith(".npz"):
        if not Path(text).expanduser().is_file():
            raise InputError(f"dataset file not found: {text}")
        return
    if dataset_key(text) not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (or a path to an .npz with x, y, or a folder in the MNIST idx layout)")


def check_budgets(config: BenchConfig) -> None:
    if not config.fractions and not config.sizes:
        raise InputError("give at least one fraction or size")
    for f in config.fractions:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not math.isfinite(f) or not 0 < f <= 1:
            raise InputError(f"fractions must be in (0, 1], got {f!r}")
    for s in config.sizes:
        if isinstance(s, bool) or not isinstance(s, int) or s < 1:
            raise InputError(f"sizes must be positive integers, got {s!r}")
    if len(set(config.fractions)) != len(config.fractions) or len(set(config.sizes)) != len(config.sizes):
        raise InputError("a fraction or size is given twice")


def validate(config: BenchConfig) -> ModuleType:
    """Check `config` without loading data or training; return its protocol module."""
    module = load_protocol(config.protocol)
    check_dataset_name(config.dataset)
    parse_methods(config.methods)
    check_budgets(config)
    if isinstance(config.seeds, bool) or not isinstance(config.seeds, int) or config.seeds < 1:
        raise InputError(f"seeds must be a positive integer, got {config.seeds!r}")
    if config.epochs is not None and (isinstance(config.epochs, bool) or not isinstance(config.epochs, int)
                                      or config.epochs < 1):
        raise InputError(f"epochs must be a positive integer, got {config.epochs!r}")
    from coreselect.train import MODEL_NAMES, resolve_device

    if config.model is not None and config.model not in MODEL_NAMES:
        raise InputError(f"unknown model {config.model!r}; choose one of {', '.join(MODEL_NAMES)}")
    if config.device not in ("auto", "cpu", "cuda"):
        raise InputError(f"device must be auto, cpu or cuda, got {config.device!r}")
    resolve_device(config.device)
    accepted = getattr(module, "OPTIONS", None)
    if accepted is not None:
        unknown = sorted(set(config.options) - set(accepted))
        if unknown:
            raise InputError(
                f"protocol {config.protocol!r} has no option {', '.join(unknown)}; options: {', '.join(sorted(accepted))}"
            )
    check_out_directory(Path(config.out), config.dataset)
    if hasattr(module, "validate"):
        module.validate(config)
    return module


def check_out_directory(out: Path, dataset: str) -> None:
    """``--out``: a directory, or nothing yet in an existing directory. In an existing one, the files
    bench writes (``results.jsonl``, ``report.md``, ``report.png``) must each be nothing yet or a regular
    file, and none of them the dataset file."""
    if check_output_dir(out):
        check_output(out / RESULTS, [dataset])
        check_report_paths(out, [dataset])


def _remove_if_empty(directory: Path) -> None:
    """Remove `directory` (and its empty subdirectories) when no file was written there."""
    with contextlib.suppress(OSError):
        for sub in directory.iterdir():
            sub.rmdir()
        directory.rmdir()


def with_default_methods(config: BenchConfig) -> BenchConfig:
    """`config`, with its protocol's ``DEFAULT_METHODS`` when no method was asked for."""
    if config.methods:
        return config
    default = getattr(load_protocol(config.protocol), "DEFAULT_METHODS", None)
    if not default:
        raise InputError(f"--methods is required for the {config.protocol!r} protocol")
    return dataclasses.replace(config, methods=tuple(default))


def run_bench(config: BenchConfig) -> Path:
    """Validate `config`, then run its protocol, appending each finished run to ``out/results.jsonl``.

    Returns the output directory. Runs already recorded there are skipped (resume after a kill).
    A run rejected as bad input leaves no directory it created behind, unless something was written there.
    """
    config = with_default_methods(config)
    module = validate(config)
    out = Path(config.out)
    created = not out.exists()
    store = ResultStore(out)
    try:
        module.run(config, store)
    except InputError:
        if created:
            _remove_if_empty(out)
        raise
    return out
