"""Content safety: the prompt is screened before the GPU runs, and every design before anything is stored.

Three screens, built once at cold start from the settings:

- blocked terms (``worker/safety_terms.txt``, ``BLOCKED_TERMS_FILE``, ``BLOCKED_TERMS``): whole words and
  phrases, matched after Unicode normalisation, so case, fullwidth letters, accents, zero-width characters,
  punctuation between words, spaced-out letters and common look-alikes (``p0rn``, a Cyrillic o) do not
  slip through, while a term inside an innocent word (``grape``, ``Essex``) is no match;
- an optional text classifier (``PROMPT_SAFETY_MODEL``) on the prompt;
- an optional image classifier (``SAFETY_MODEL``) on every design, batched, on the worker's device.

A refusal raises ``WorkerError(CONTENT_REFUSED)``; the job's failure path reports it (``design.failed``)
and nothing is stored. A refusal names the rule that refused, never the offending text.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from worker.catalog import CatalogError
from worker.config import Settings
from worker.errors import ErrorCode, WorkerError
from worker.model import resolve_device, resolve_dtype

log = logging.getLogger(__name__)

BUILTIN_TERMS_FILE = Path(__file__).with_name("safety_terms.txt")
SETTING_TERMS_CATEGORY = "blocked terms"
MIN_PREFIX_LENGTH = 3  # a shorter wildcard (``ab*``) would refuse half the dictionary

# Letters of other scripts that look like Latin ones (after casefold), by Unicode name, and the digits and
# symbols used for letters. Not exhaustive: the common evasions, not every Unicode confusable.
_LOOKALIKES = {
    "CYRILLIC": {"A": "a", "VE": "b", "IE": "e", "SHHA": "h", "BYELORUSSIAN-UKRAINIAN I": "i", "JE": "j", "KA": "k",
                 "O": "o", "ER": "p", "ES": "c", "DZE": "s", "U": "y", "HA": "x", "KOMI DE": "d", "QA": "q", "WE": "w"},
    "GREEK": {"ALPHA": "a", "EPSILON": "e", "IOTA": "i", "KAPPA": "k", "NU": "v", "OMICRON": "o", "RHO": "p",
              "TAU": "t", "UPSILON": "u", "CHI": "x"},
    "LATIN": {"O WITH STROKE": "o", "L WITH STROKE": "l", "D WITH STROKE": "d", "DOTLESS I": "i"},
}  # fmt: skip
LOOKALIKE_LETTERS = str.maketrans(
    {unicodedata.lookup(f"{script} SMALL LETTER {name}"): latin for script, names in _LOOKALIKES.items()
     for name, latin in names.items()}
)  # fmt: skip
LOOKALIKE_DIGITS = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t"})
LOOKALIKE_SYMBOLS = str.maketrans({"@": "a", "$": "s"})
WORD = re.compile(r"[^\W_]+")


def _normalised(text: str) -> str:
    """NFKC and casefold, then accents, zero-width and other format characters dropped, look-alikes mapped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    kept = (c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = "".join(c for c in kept if unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", text).translate(LOOKALIKE_LETTERS)


def words(text: str) -> list[str]:
    """The text's words, normalised: punctuation, spaces and underscores all separate words."""
    return WORD.findall(_normalised(text))


def _join_single_letters(tokens: list[str]) -> list[str]:
    """``p o r n`` and ``p.o.r.n`` -> ``porn``: a run of two or more one-character words becomes one word."""
    joined: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1:
            run.append(token)
            continue
        joined += ["".join(run)] if len(run) > 1 else run
        run = []
        if token:
            joined.append(token)
    return joined


def spellings(text: str) -> list[str]:
    """The ways the text is read for terms: as written, with look-alike digits and symbols as letters, and
    each of those with spaced-out letters joined; each a string of words separated by single spaces."""
    plain = words(text)
    lookalike = [
        word.translate(LOOKALIKE_DIGITS) if any(c.isalpha() for c in word) else word
        for word in WORD.findall(_normalised(text).translate(LOOKALIKE_SYMBOLS))
    ]
    readings = [plain, lookalike, _join_single_letters(plain), _join_single_letters(lookalike)]
    return list(dict.fromkeys(" ".join(reading) for reading in readings))


def _phrase_pattern(phrases: list[str]) -> re.Pattern[str] | None:
    """Whole-word alternation over normalised phrases; a trailing ``*`` lets the last word continue."""
    if not phrases:
        return None
    alternatives = [
        re.escape(phrase[:-1]) + r"[^ ]*" if phrase.endswith("*") else re.escape(phrase)
        for phrase in sorted(phrases, key=len, reverse=True)
    ]
    return re.compile(r"(?<![^ ])(?:" + "|".join(alternatives) + r")(?![^ ])")


@dataclass(frozen=True)
class TermMatch:
    term: str
    category: str


@dataclass
class TermList:
    """Blocked words and phrases by category, and exception phrases (``!gore tex``) that mask them."""

    categories: dict[str, str] = field(default_factory=dict)  # normalised term (``porn*``) -> category
    exceptions: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._terms = _phrase_pattern(list(self.categories))
        self._exceptions = _phrase_pattern(self.exceptions)

    def __len__(self) -> int:
        return len(self.categories)

    def find(self, text: str) -> TermMatch | None:
        if self._terms is None:
            return None
        for reading in spellings(text):
            if self._exceptions is not None:
                reading = self._exceptions.sub("|", reading)
            found = self._terms.search(reading)
            if found:
                return TermMatch(found.group(0), self._category_of(found.group(0)))
        return None

    def _category_of(self, matched: str) -> str:
        if matched in self.categories:
            return self.categories[matched]
        return next(c for term, c in self.categories.items() if term.endswith("*") and matched.startswith(term[:-1]))


def _normalised_term(raw: str, where: str) -> str:
    """A term as the matcher reads text: ``Neo-Nazi*`` -> ``neo nazi*``; a bad one is a CatalogError."""
    prefix = raw.endswith("*")
    normalised = " ".join(words(raw.removesuffix("*")))
    if not normalised:
        raise CatalogError(f"{where}: {raw!r} has no letters or digits")
    if prefix and len(normalised.rsplit(" ", 1)[-1]) < MIN_PREFIX_LENGTH:
        raise CatalogError(f"{where}: {raw!r}: a wildcard needs at least {MIN_PREFIX_LENGTH} letters before the *")
    return normalised + ("*" if prefix else "")


def parse_terms(text: str, source: str, default_category: str = SETTING_TERMS_CATEGORY) -> TermList:
    """The terms file format (see ``worker/safety_terms.txt``): ``[category]`` sections, ``!`` exceptions."""
    categories: dict[str, str] = {}
    exceptions: list[str] = []
    category = default_category
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        where = f"{source}:{number}"
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            category = line[1:-1].strip() or default_category
        elif line.startswith("!"):
            exceptions.append(_normalised_term(line[1:].strip(), where).removesuffix("*"))
        else:
            categories.setdefault(_normalised_term(line, where), category)
    return TermList(categories, exceptions)


def load_terms(settings: Settings) -> TermList:
    """The terms file (built-in unless ``BLOCKED_TERMS_FILE``), plus ``BLOCKED_TERMS``."""
    path = settings.blocked_terms_file or BUILTIN_TERMS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"BLOCKED_TERMS_FILE {path} cannot be read: {exc}") from exc
    listed = parse_terms(text, str(path))
    extra = parse_terms("\n".join(settings.blocked_terms.split(",")), "BLOCKED_TERMS")
    return TermList({**extra.categories, **listed.categories}, listed.exceptions)


# --- classifiers -------------------------------------------------------------------------------------------


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@dataclass(frozen=True)
class UnsafeLabels:
    """Which of a classifier's labels count as unsafe, and how its logits become one score per input.

    Single-label models (softmax) score the unsafe labels' summed probability; multi-label ones (sigmoid,
    ``problem_type: multi_label_classification``) the highest unsafe label's. Refused above ``threshold``.
    """

    indices: list[int]
    names: list[str]
    multi_label: bool
    threshold: float

    @classmethod
    def from_config(cls, config: Any, wanted: str, threshold: float, setting: str, model: str) -> UnsafeLabels:
        """``wanted`` (comma-separated) checked against the model's own ``id2label``, case-insensitively."""
        labels = {str(name).casefold(): int(index) for index, name in config.id2label.items()}
        names = [name.casefold() for name in _comma_list(wanted)]
        own = ", ".join(str(config.id2label[i]) for i in sorted(config.id2label))
        unknown = [name for name in names if name not in labels]
        if not names or unknown:
            raise ValueError(f"{setting}={wanted!r} must name labels of {model}, whose labels are: {own}")
        multi_label = config.problem_type == "multi_label_classification"
        if not multi_label and len(set(names)) == len(labels):
            raise ValueError(f"{setting}={wanted!r} names every label of {model}: everything would be refused")
        return cls([labels[name] for name in names], names, multi_label, threshold)

    def scores(self, logits: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        """``(B,)`` unsafe scores, and the unsafe label that weighs most in each."""
        logits = logits.float()
        per_label = (logits.sigmoid() if self.multi_label else logits.softmax(dim=-1))[:, self.indices]
        score = per_label.amax(dim=-1) if self.multi_label else per_label.sum(dim=-1)
        return score, [self.names[i] for i in per_label.argmax(dim=-1).tolist()]


def _source(model_id: str, settings: Settings, setting: str) -> dict[str, Any]:
    """``from_pretrained`` arguments: a local folder (or ``HF_HUB_OFFLINE``) never touches the network."""
    path = Path(model_id).expanduser()
    names_a_path = model_id.startswith(("/", ".", "~")) or path.is_dir()
    if names_a_path and not (path / "config.json").is_file():
        what = "does not exist" if not path.exists() else "has no config.json (not a transformers model folder)"
        raise FileNotFoundError(
            f"{setting}={model_id} names a local folder, and {path} {what}; "
            "build tiny test classifiers with `python -m models.tiny_safety OUT_DIR`, or give a Hub repo id"
        )
    return {"local_files_only": path.is_dir() or settings.hf_hub_offline}


def _size_fields(size: Any) -> dict[str, int]:
    """A processor's size, a plain dict or transformers' ``SizeDict`` (which iterates as its set pairs)."""
    pairs = size.items() if isinstance(size, dict) else size
    return {key: value for key, value in pairs if value is not None}


@dataclass(frozen=True)
class ImagePreprocess:
    """The model's own preprocessor configuration, applied in torch on the device (no Pillow round trip).

    Pixels come in as floats in [0, 1], which is what ``do_rescale`` with 1/255 makes of 8-bit pixels.
    """

    resize: tuple[int, int] | int | None  # (height, width), or the shortest edge
    crop: tuple[int, int] | None
    mode: str
    scale: float
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None

    # PIL resampling filter -> torch interpolation mode (torch has no Lanczos, box or Hamming: bicubic)
    MODES: ClassVar[dict[int, str]] = {0: "nearest", 2: "bilinear", 3: "bicubic"}

    @classmethod
    def from_processor(cls, processor: Any, model: str) -> ImagePreprocess:
        """Exact sizes, or the shortest edge and an optional centre crop; anything else fails at cold start."""
        unsupported = [name for name in ("crop_pct", "do_pad") if getattr(processor, name, None)]
        if unsupported:
            raise ValueError(f"SAFETY_MODEL {model}: preprocessor setting {', '.join(unsupported)} is not supported")
        size = _size_fields(processor.size) if processor.do_resize else None
        resize: tuple[int, int] | int | None = None
        if size is not None:
            if set(size) == {"height", "width"}:
                resize = (int(size["height"]), int(size["width"]))
            elif set(size) == {"shortest_edge"}:
                resize = int(size["shortest_edge"])
            else:
                raise ValueError(f"SAFETY_MODEL {model}: a preprocessor size {size} is not supported")
        crop = None
        if getattr(processor, "do_center_crop", False):
            crop_size = _size_fields(processor.crop_size)
            crop = (int(crop_size["height"]), int(crop_size["width"]))
        scale = 255.0 * float(processor.rescale_factor) if processor.do_rescale else 255.0
        normalize = bool(processor.do_normalize)
        return cls(
            resize=resize,
            crop=crop,
            mode=cls.MODES.get(int(processor.resample), "bicubic"),
            scale=scale,
            mean=tuple(float(v) for v in processor.image_mean) if normalize else None,
            std=tuple(float(v) for v in processor.image_std) if normalize else None,
        )

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] -> the model's ``pixel_values`` (float32)."""
        images = images.float()
        if self.resize is not None:
            height, width = images.shape[-2:]
            if isinstance(self.resize, int):  # the long edge truncated, as transformers does
                short = min(height, width)
                size = (int(self.resize * height / short), int(self.resize * width / short))
            else:
                size = self.resize
            antialias = self.mode != "nearest" and (size[0] < height or size[1] < width)
            images = F.interpolate(images, size=size, mode=self.mode, antialias=antialias)
        if self.crop is not None:
            top = max(0, (images.shape[-2] - self.crop[0]) // 2)
            left = max(0, (images.shape[-1] - self.crop[1]) // 2)
            images = images[..., top : top + self.crop[0], left : left + self.crop[1]]
        images = images * self.scale
        if self.mean is not None and self.std is not None:
            mean = images.new_tensor(self.mean).view(1, -1, 1, 1)
            std = images.new_tensor(self.std).view(1, -1, 1, 1)
            images = (images - mean) / std
        return images


def printed(design: torch.Tensor) -> torch.Tensor:
    """``(1, 3 or 4, H, W)`` -> ``(1, 3, H, W)``: RGBA over white."""
    rgb = design[:, :3].float()
    if design.shape[1] == 4:
        alpha = design[:, 3:4].float()
        rgb = rgb * alpha + (1 - alpha)
    return rgb


@dataclass
class ImageClassifier:
    model: Any  # a transformers AutoModelForImageClassification
    preprocess: ImagePreprocess
    labels: UnsafeLabels
    model_id: str

    @classmethod
    def load(cls, settings: Settings, device: torch.device, dtype: torch.dtype) -> ImageClassifier:
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        model_id = str(settings.safety_model)
        source = _source(model_id, settings, "SAFETY_MODEL")
        # The PIL backend only to read the configuration (with its class defaults): no torchvision needed.
        processor = AutoImageProcessor.from_pretrained(model_id, backend="pil", **source)
        model = AutoModelForImageClassification.from_pretrained(model_id, dtype=dtype, **source).to(device).eval()
        labels = UnsafeLabels.from_config(
            model.config, settings.safety_unsafe_labels, settings.safety_threshold, "SAFETY_UNSAFE_LABELS", model_id
        )
        return cls(model, ImagePreprocess.from_processor(processor, model_id), labels, model_id)

    def scores(self, designs: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        """What would be printed: RGBA designs composited over white, as the transparent parts show no ink.

        Composited and resized one design at a time (a print-size design is 4096 px), classified as a batch.
        """
        with torch.inference_mode():
            pixel_values = torch.cat([self.preprocess(printed(design[None])) for design in designs])
            pixel_values = pixel_values.to(device=self.model.device, dtype=self.model.dtype)
            return self.labels.scores(self.model(pixel_values=pixel_values).logits)


@dataclass
class TextClassifier:
    model: Any  # a transformers AutoModelForSequenceClassification
    tokenizer: Any
    labels: UnsafeLabels
    model_id: str
    max_length: int

    @classmethod
    def load(cls, settings: Settings, device: torch.device, dtype: torch.dtype) -> TextClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        model_id = str(settings.prompt_safety_model)
        source = _source(model_id, settings, "PROMPT_SAFETY_MODEL")
        tokenizer = AutoTokenizer.from_pretrained(model_id, **source)
        model = AutoModelForSequenceClassification.from_pretrained(model_id, dtype=dtype, **source)
        model = model.to(device).eval()
        labels = UnsafeLabels.from_config(
            model.config, settings.prompt_safety_labels, settings.prompt_safety_threshold, "PROMPT_SAFETY_LABELS",
            model_id,
        )  # fmt: skip
        positions = getattr(model.config, "max_position_embeddings", None) or 512
        return cls(model, tokenizer, labels, model_id, min(tokenizer.model_max_length, positions))

    def scores(self, texts: list[str]) -> tuple[torch.Tensor, list[str]]:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            return self.labels.scores(self.model(**batch.to(self.model.device)).logits)


# --- the screen the job calls ------------------------------------------------------------------------------


def refused(message: str, field_name: str | None = None) -> WorkerError:
    details = [{"field": field_name, "message": message}] if field_name else None
    return WorkerError(ErrorCode.CONTENT_REFUSED, message, details)


@dataclass
class ContentScreen:
    """Built once at cold start; ``check_prompt`` runs in the validate stage, ``check_designs`` after style."""

    terms: TermList = field(default_factory=TermList)
    prompt_classifier: TextClassifier | None = None
    image_classifier: ImageClassifier | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ContentScreen:
        """A bad terms file, model folder or label setting raises here, which makes the worker unfit."""
        terms = load_terms(settings)
        device = resolve_device(settings.device)
        dtype = resolve_dtype(settings.dtype, device)
        prompt_classifier = TextClassifier.load(settings, device, dtype) if settings.prompt_safety_model else None
        image_classifier = ImageClassifier.load(settings, device, dtype) if settings.safety_model else None
        screen = cls(terms, prompt_classifier, image_classifier)
        log.info("content screen: %s", screen.describe())
        return screen

    def describe(self) -> str:
        parts = [f"{len(self.terms)} blocked terms"]
        for what, classifier in (("prompt", self.prompt_classifier), ("image", self.image_classifier)):
            if classifier is not None:
                labels = classifier.labels
                parts.append(
                    f"{what} classifier {classifier.model_id} ({'/'.join(labels.names)} > {labels.threshold:g})"
                )
        return ", ".join(parts)

    def check_prompt(self, prompt: str | None, rendered: str) -> None:
        """The job's own prompt, then the prompt as the style renders it (template text and default subject)."""
        texts = {"the prompt": prompt, "the prompt as the style renders it": rendered}
        texts = {where: text for where, text in texts.items() if text}
        for where, text in texts.items():
            match = self.terms.find(text)
            if match is not None:
                log.info("%s refused: blocked term %r (%s)", where, match.term, match.category)
                raise refused(f"{where} was refused by the content rules ({match.category})", "prompt")
        if self.prompt_classifier is None or not texts:
            return
        scores, labels = self.prompt_classifier.scores(list(texts.values()))
        threshold = self.prompt_classifier.labels.threshold
        log.info("prompt safety scores %s (refused above %g)", [round(s, 3) for s in scores.tolist()], threshold)
        for where, score, label in zip(texts, scores.tolist(), labels, strict=True):
            if score > threshold:
                message = f"{where} was refused by the prompt safety classifier ({label} {score:.2f} > {threshold:g})"
                raise refused(message, "prompt")

    def check_designs(self, designs: torch.Tensor) -> None:
        """Every design of the job in one batch; any refused one ends the job before anything is stored."""
        if self.image_classifier is None:
            return
        scores, labels = self.image_classifier.scores(designs)
        threshold = self.image_classifier.labels.threshold
        values = scores.tolist()
        log.info("design safety scores %s (refused above %g)", [round(s, 3) for s in values], threshold)
        flagged = [i for i, score in enumerate(values) if score > threshold]
        if flagged:
            worst = max(flagged, key=lambda i: values[i])
            raise refused(
                f"design(s) {flagged} were refused by the image safety classifier "
                f"({labels[worst]} {values[worst]:.2f} > {threshold:g}); nothing was stored"
            )
