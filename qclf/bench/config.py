"""A bench: the YAML file that describes one published comparison, validated where it enters.

A bench names data sets, models (hybrid first, then twins and baselines), the training recipe
every model shares, the seeds, and optionally adversarial attacks. Every key is checked at load:
an unknown key is an error listing the allowed ones, an unknown model or data set is the
registry's error, a bad training value is ``TrainConfig``'s error.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from qclf.errors import python_wording
from qclf.train import TrainConfig

# The keys of ``train:``: the TrainConfig fields a bench shares across all its runs. The rest of
# TrainConfig is set per run (model, dataset, seed) or by the bench itself.
TRAIN_KEYS = ("epochs", "batch_size", "lr", "optimizer", "scheduler", "weight_decay",
              "label_smoothing")
TOP_KEYS = ("system", "title", "paper", "datasets", "models", "train", "seeds", "limit",
            "eval_limit", "attack", "grid", "departures")
MODEL_KEYS = ("name", "kw", "label")
ATTACK_KEYS = ("method", "eps", "alpha", "steps", "limit", "random_start", "batch_size")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class BenchConfigError(ValueError):
    """A bench file or bench options that cannot be run as written."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kw: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    train: dict[str, Any] = field(default_factory=dict)  # a grid point's training overrides
    point: dict[str, Any] = field(default_factory=dict)  # the grid point ({} outside a grid)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kw": dict(self.kw), "label": self.label,
                "train": dict(self.train), "point": dict(self.point)}


@dataclass(frozen=True)
class AttackSpec:
    method: str
    eps: float
    alpha: float | None = None
    steps: int = 10
    limit: int | None = None
    random_start: bool = True
    batch_size: int = 256

    @property
    def key(self) -> str:
        """File-name-safe id: ``pgd_eps0.1``."""
        return f"{self.method}_eps{self.eps:g}"

    @property
    def column(self) -> str:
        return f"robust_{self.key}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchConfig:
    """A resolved bench: the YAML plus command-line overrides."""

    system: str = ""
    title: str = ""
    paper: dict[str, Any] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    models: list[ModelSpec] = field(default_factory=list)
    train: dict[str, Any] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])
    limit: int | None = None
    eval_limit: int | None = None
    attack: list[AttackSpec] = field(default_factory=list)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    departures: str = ""
    # Not part of the YAML schema: where/how to run (they do not change the numbers).
    device: str = "auto"
    data_dir: str | None = None
    download: bool = False
    source: str = ""  # the YAML file the bench came from
    command: str = ""  # the command line that ran it

    def train_config(self, dataset: str, model: ModelSpec, seed: int, out: Path | None,
                     progress: bool = False) -> TrainConfig:
        return TrainConfig(model=model.name, dataset=dataset, seed=seed, device=self.device,
                           data_dir=self.data_dir, download=self.download, limit=self.limit,
                           eval_limit=self.eval_limit,
                           model_kw=dict(model.kw), out=str(out) if out else None,
                           progress=progress, **{**self.train, **model.train})

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["models"] = [m.to_dict() for m in self.models]
        d["attack"] = [a.to_dict() for a in self.attack]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BenchConfig:
        d = dict(d)
        d["models"] = [ModelSpec(**m) for m in d.get("models", [])]
        d["attack"] = [AttackSpec(**a) for a in d.get("attack", [])]
        return cls(**d)

    def model(self, label: str) -> ModelSpec:
        for m in self.models:
            if m.label == label:
                return m
        raise KeyError(label)


def _check_keys(d: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    if not isinstance(d, Mapping):
        raise BenchConfigError(f"{where} must be a mapping, got {type(d).__name__}: {d!r}")
    unknown = sorted(set(map(str, d)) - set(allowed))
    if unknown:
        raise BenchConfigError(f"unknown key(s) {unknown} in {where}; allowed: {list(allowed)}")


def _int_or_none(value: Any, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BenchConfigError(f"{key} must be a positive integer or null, got {value!r}")
    return int(value)


def _parse_models(items: Any) -> list[ModelSpec]:
    from qclf.models.registry import MODELS

    if not isinstance(items, list) or not items:
        raise BenchConfigError("models must be a non-empty list of {name, kw, label} entries")
    specs: list[ModelSpec] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"name": item}
        where = f"models[{i}]"
        _check_keys(item, MODEL_KEYS, where)
        if "name" not in item:
            raise BenchConfigError(f"{where} needs a 'name' (a registered model: qclf list models)")
        name = str(item["name"])
        builder = MODELS.get(name)  # unknown names: the registry's error with close matches
        kw = item.get("kw") or {}
        if not isinstance(kw, Mapping):
            raise BenchConfigError(f"{where}.kw must be a mapping of builder options, got {kw!r}")
        try:
            inspect.signature(builder).bind_partial(**kw)
        except TypeError as exc:
            raise BenchConfigError(f"{where}.kw for model {name!r}: {exc}") from None
        label = str(item.get("label") or name)
        if not _LABEL.match(label):
            raise BenchConfigError(f"{where}.label {label!r} must be letters, digits, '_', '.', "
                                   "'+' or '-' (it names a folder)")
        specs.append(ModelSpec(name, dict(kw), label))
    seen: dict[str, int] = {}
    for i, s in enumerate(specs):
        if s.label in seen:
            raise BenchConfigError(
                f"models[{seen[s.label]}] and models[{i}] are both labelled {s.label!r}; give "
                "one a distinct 'label:' to run the same model with different options")
        seen[s.label] = i
    return specs


def parse_datasets(items: Any) -> list[str]:
    from qclf.data import canonical_name

    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list) or not items:
        raise BenchConfigError("datasets must be a non-empty list of data set names")
    names = [canonical_name(str(n)) for n in items]  # unknown: the registry's error
    if len(set(names)) != len(names):
        raise BenchConfigError(f"datasets lists a data set twice: {items}")
    return names


def _parse_seeds(items: Any) -> list[int]:
    if isinstance(items, int) and not isinstance(items, bool):
        items = [items]
    if (not isinstance(items, list) or not items
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in items)):
        raise BenchConfigError(f"seeds must be a non-empty list of integers >= 0, got {items!r}")
    if len(set(items)) != len(items):
        raise BenchConfigError(f"seeds lists a seed twice: {items}")
    return [int(s) for s in items]


def _parse_train(d: Any) -> dict[str, Any]:
    d = dict(d or {})
    _check_keys(d, TRAIN_KEYS, "train")
    for key in ("lr", "weight_decay", "label_smoothing"):
        if key in d:
            try:  # YAML reads 1e-3 (no dot) as a string
                d[key] = float(d[key])
            except (TypeError, ValueError):
                raise BenchConfigError(f"train.{key} must be a number, got {d[key]!r}") from None
    try:
        with python_wording():  # the loop's own checks: epochs >= 1, known optimiser, ...
            TrainConfig(**d)
    except (TypeError, ValueError) as exc:
        raise BenchConfigError(f"train.{exc}") from None
    defaults = TrainConfig()
    return {k: d.get(k, getattr(defaults, k)) for k in TRAIN_KEYS}


def parse_attack(d: Any) -> list[AttackSpec]:
    """``attack:`` is null, one mapping or a list of mappings (e.g. FGSM and PGD at eps 0.1)."""
    if d is None:
        return []
    items = d if isinstance(d, list) else [d]
    out: list[AttackSpec] = []
    for i, a in enumerate(items):
        where = "attack" if not isinstance(d, list) else f"attack[{i}]"
        _check_keys(a, ATTACK_KEYS, where)
        method = a.get("method")
        if method not in ("fgsm", "pgd"):
            raise BenchConfigError(f"{where}.method must be fgsm or pgd, got {method!r}")
        eps = a.get("eps")
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or eps < 0:
            raise BenchConfigError(f"{where}.eps must be a number >= 0, got {eps!r}")
        steps = a.get("steps", 10)
        if not isinstance(steps, int) or steps < 1:
            raise BenchConfigError(f"{where}.steps must be an integer >= 1, got {steps!r}")
        alpha = a.get("alpha")
        if alpha is not None and (not isinstance(alpha, (int, float)) or alpha <= 0):
            raise BenchConfigError(f"{where}.alpha must be a number > 0 or null, got {alpha!r}")
        spec = AttackSpec(method=method, eps=float(eps),
                          alpha=None if alpha is None else float(alpha), steps=int(steps),
                          limit=_int_or_none(a.get("limit"), f"{where}.limit"),
                          random_start=bool(a.get("random_start", True)),
                          batch_size=int(a.get("batch_size", 256)))
        if any(s.key == spec.key for s in out):
            raise BenchConfigError(f"{where}: {spec.method} at eps {spec.eps:g} is listed twice")
        out.append(spec)
    return out


def parse_bench(d: Mapping[str, Any], source: str = "") -> BenchConfig:
    """Validate a bench mapping (as read from YAML)."""
    _check_keys(d, TOP_KEYS, f"bench {source}".strip())
    for key in ("datasets", "models"):
        if key not in d:
            raise BenchConfigError(f"bench {source} needs '{key}:'".replace("  ", " "))
    from qclf.bench.grid import expand_models, parse_grid

    models = _parse_models(d["models"])
    grid = parse_grid(d.get("grid"), models)
    paper = d.get("paper") or {}
    if not isinstance(paper, Mapping):
        raise BenchConfigError(f"paper must be a mapping (claim, reference), got {paper!r}")
    return BenchConfig(
        system=str(d.get("system") or ""),
        title=str(d.get("title") or ""),
        paper=dict(paper),
        datasets=parse_datasets(d["datasets"]),
        models=expand_models(models, grid),
        train=_parse_train(d.get("train")),
        seeds=_parse_seeds(d.get("seeds", [0])),
        limit=_int_or_none(d.get("limit"), "limit"),
        eval_limit=_int_or_none(d.get("eval_limit"), "eval_limit"),
        attack=parse_attack(d.get("attack")),
        grid=grid,
        departures=str(d.get("departures") or "").strip(),
        source=source,
    )


def load_bench(path: str | Path) -> BenchConfig:
    """Read and validate ``experiments/<system>.yaml``."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"bench config {path} does not exist (see experiments/*.yaml)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BenchConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise BenchConfigError(f"{path} must hold a mapping of bench keys {list(TOP_KEYS)}")
    return parse_bench(data, source=str(path))


# --- continuing a bench in an existing OUT -------------------------------------------------------

def _result_fields(cfg: BenchConfig) -> dict[str, Any]:
    """What the numbers of an already finished run depend on (besides model and seed)."""
    train = {k: v for k, v in cfg.train.items() if k != "epochs"}
    return {"train": train, "limit": cfg.limit, "eval_limit": cfg.eval_limit}


def check_compatible(old: BenchConfig, new: BenchConfig, out: Path) -> None:
    """Refuse to mix runs of different experiments in one OUT folder.

    Adding data sets, models or seeds, changing attacks, device or data dir is fine (finished
    runs stay valid). More epochs are fine without a schedule (finished runs are extended from
    their checkpoints); anything else that changes finished runs' numbers is an error naming it.
    """
    diffs: list[str] = []
    a, b = _result_fields(old), _result_fields(new)
    for key in ("limit", "eval_limit"):
        if a[key] != b[key]:
            diffs.append(f"{key}: {a[key]!r} -> {b[key]!r}")
    for key in sorted(set(a["train"]) | set(b["train"])):
        if a["train"].get(key) != b["train"].get(key):
            diffs.append(f"train.{key}: {a['train'].get(key)!r} -> {b['train'].get(key)!r}")
    e_old, e_new = old.train["epochs"], new.train["epochs"]
    if e_new < e_old:
        diffs.append(f"train.epochs: {e_old} -> {e_new} (finished runs have more epochs)")
    elif e_new > e_old and new.train.get("scheduler"):
        diffs.append(f"train.epochs: {e_old} -> {e_new} (with scheduler "
                     f"{new.train['scheduler']!r} the schedule of finished epochs changes)")
    old_models = {m.label: m for m in old.models}
    for m in new.models:
        o = old_models.get(m.label)
        if o is not None and (o.name, o.kw, o.train) != (m.name, m.kw, m.train):
            diffs.append(f"models[{m.label}]: {o.name} {o.kw} -> {m.name} {m.kw}")
    if diffs:
        raise BenchConfigError(
            f"{out} holds a bench run with a different configuration ({'; '.join(diffs)}). "
            "Finished runs there would not be comparable: use another --out, or the same options."
        )
