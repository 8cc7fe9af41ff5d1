"""The example site's content, generated deterministically: the app seeds its database from it and
make_sample_log.py draws its URLs from it, so every URL in the sample log exists in the app (or is
missing on purpose). Change SEED, ARTICLES or a word list and both the app and the sample change;
regenerate the sample (`python examples/load/make_sample_log.py`) after any change here.

Standard library only, so the log generator runs without the app's dependencies.
"""

from __future__ import annotations

import functools
import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

SEED = 5
ARTICLES = 3000
USERS = 400
PER_PAGE = 20  # articles per page, on HTML lists and in the JSON API
JST = timezone(timedelta(hours=9))
FIRST_PUBLISHED = datetime(2022, 1, 4, 8, 0, tzinfo=JST)
LAST_PUBLISHED = datetime(2025, 3, 14, 7, 30, tzinfo=JST)

TAGS = (
    "kubernetes", "python", "databases", "networking", "security", "frontend", "observability",
    "cooking", "travel", "gardening", "cycling", "photography", "books", "music", "film", "design",
    "careers", "startups", "finance", "health", "climate", "space", "history", "education",
)  # fmt: skip

# Roughly in order of frequency: earlier words are drawn far more often (a Zipf-like weight), so a search
# for an early word matches most articles and one for a late word only a few.
WORDS = (
    "the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "with", "as", "on", "was", "this",
    "by", "from", "at", "an", "but", "not", "are", "or", "have", "be", "we", "you", "one", "all", "more",
    "time", "team", "work", "first", "new", "way", "data", "people", "system", "service", "years", "change",
    "city", "water", "light", "small", "long", "early", "place", "story", "morning", "process", "traffic",
    "cluster", "garden", "recipe", "market", "library", "river", "station", "engine", "memory", "network",
    "street", "kitchen", "mountain", "season", "village", "bridge", "window", "forest", "harbor", "museum",
    "rain", "summer", "winter", "autumn", "spring", "coffee", "bread", "noodles", "rice", "tea", "bicycle",
    "camera", "lens", "film", "guitar", "piano", "novel", "poem", "chapter", "schedule", "deadline",
    "release", "migration", "deploy", "container", "pod", "node", "queue", "cache", "index", "query",
    "latency", "throughput", "budget", "invoice", "startup", "founder", "career", "interview", "office",
    "remote", "meeting", "notebook", "pencil", "lantern", "temple", "shrine", "festival", "tradition",
    "ceremony", "carpenter", "cedar", "cypress", "timber", "roof", "stone", "path", "gate", "lamp",
    "orbit", "rocket", "telescope", "planet", "comet", "glacier", "ocean", "storm", "climate", "carbon",
    "battery", "solar", "wind", "grid", "vaccine", "clinic", "sleep", "running", "swimming", "yoga",
    "history", "archive", "museum", "emperor", "castle", "merchant", "harvest", "tomato", "basil", "miso",
    "ginger", "sesame", "tofu", "matcha", "ramen", "sushi", "tempura", "udon", "soba", "dumpling",
    "kubernetes", "python", "postgres", "sqlite", "nginx", "terraform", "prometheus", "grafana", "kafka",
    "redis", "certificate", "firewall", "password", "browser", "canvas", "typography", "palette",
    "sketch", "portrait", "landscape", "shutter", "aperture", "melody", "rhythm", "chorus", "album",
    "director", "screenplay", "sequel", "documentary", "classroom", "teacher", "student", "exam",
    "quietly", "slowly", "carefully", "suddenly", "finally", "rebuilt", "measured", "replayed", "doubled",
    "halved", "scaled", "migrated", "tuned", "cached", "indexed", "shipped", "planted", "pruned", "brewed",
    "simmered", "photographed", "wandered", "climbed", "painted", "recorded", "rehearsed", "borrowed",
    "vermilion", "lacquer", "indigo", "persimmon", "chrysanthemum", "wisteria", "camphor", "moss",
    "kintsugi", "origami", "ikebana", "furoshiki", "tenugui", "bento", "onigiri", "yuzu", "sansho",
    "shinkansen", "ekiben", "ryokan", "onsen", "izakaya", "kissaten", "shotengai", "torii", "pagoda",
)  # fmt: skip

GIVEN = (
    "yuki", "haruto", "aoi", "sota", "hina", "ren", "mei", "riku", "sakura", "kaito", "yui", "daiki",
    "rin", "takumi", "mio", "kenta", "nanami", "shota", "emi", "hiro", "ayumi", "kazu", "miyu", "ryo",
)  # fmt: skip
FAMILY = (
    "sato", "suzuki", "takahashi", "tanaka", "watanabe", "ito", "yamamoto", "nakamura", "kobayashi",
    "kato", "yoshida", "yamada", "sasaki", "yamaguchi", "matsumoto", "inoue", "kimura", "hayashi",
    "shimizu", "yamazaki", "mori", "abe", "ikeda", "hashimoto",
)  # fmt: skip

_TITLES = (
    "How to {verb} the {noun}",
    "{n} ways to {verb} your {noun}",
    "Notes on the {noun} and the {noun2}",
    "What the {noun} taught us about {noun2}",
    "A {adj} guide to {noun2}",
    "The {noun} we {verb_past}",
    "Why our {noun} {verb_past} the {noun2}",
    "{adj_cap} {noun}, {adj} {noun2}",
)
_ADJ = ("small", "long", "early", "new", "quiet", "slow", "careful", "honest", "rebuilt", "seasonal", "late")
_VERBS = ("measure", "replay", "rebuild", "scale", "tune", "cache", "index", "plant", "brew", "photograph")
_PAST = ("measured", "replayed", "rebuilt", "scaled", "tuned", "migrated", "shipped", "doubled", "halved")


@dataclass(frozen=True)
class User:
    name: str  # the URL name, e.g. "yuki-tanaka"
    display: str
    joined: datetime
    bio: str


@dataclass(frozen=True)
class Article:
    id: int
    title: str
    author: str  # a User.name
    tags: tuple[str, ...]
    published: datetime
    body: str  # paragraphs separated by blank lines


def _cum_weights(n: int) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 2) for rank in range(n)))


def _sentence(rng: random.Random, cum: list[float]) -> str:
    words = rng.choices(WORDS, cum_weights=cum, k=rng.randint(7, 18))
    return " ".join(words).capitalize() + "."


def _title(rng: random.Random) -> str:
    nouns = WORDS[30:250]
    adj = rng.choice(_ADJ)
    return rng.choice(_TITLES).format(
        verb=rng.choice(_VERBS),
        verb_past=rng.choice(_PAST),
        noun=rng.choice(nouns),
        noun2=rng.choice(nouns),
        adj=adj,
        adj_cap=adj.capitalize(),
        n=rng.randint(3, 12),
    )


@functools.cache
def users() -> tuple[User, ...]:
    rng = random.Random(f"{SEED}-users")
    pairs = [(g, f) for g in GIVEN for f in FAMILY]
    rng.shuffle(pairs)
    cum = _cum_weights(len(WORDS))
    out = []
    for i, (given, family) in enumerate(pairs[:USERS]):
        joined = FIRST_PUBLISHED - timedelta(days=400) + timedelta(days=i * 2, hours=rng.randint(0, 23))
        out.append(
            User(f"{given}-{family}", f"{given.capitalize()} {family.capitalize()}", joined, _sentence(rng, cum))
        )
    return tuple(out)


@functools.cache
def articles() -> tuple[Article, ...]:
    """ARTICLES articles, id 1 the oldest; a few authors write most of them, as on any real site."""
    rng = random.Random(f"{SEED}-articles")
    authors = [u.name for u in users()]
    author_weights = _cum_weights(len(authors))
    cum = _cum_weights(len(WORDS))
    span = (LAST_PUBLISHED - FIRST_PUBLISHED) / (ARTICLES - 1)
    out = []
    for i in range(ARTICLES):
        paragraphs = [" ".join(_sentence(rng, cum) for _ in range(rng.randint(2, 6))) for _ in range(rng.randint(3, 9))]
        out.append(
            Article(
                id=i + 1,
                title=_title(rng),
                author=rng.choices(authors, cum_weights=author_weights)[0],
                tags=tuple(sorted(rng.sample(TAGS, rng.randint(1, 3)))),
                published=FIRST_PUBLISHED + span * i,
                body="\n\n".join(paragraphs),
            )
        )
    return tuple(out)


def pages(count: int) -> int:
    """How many PER_PAGE pages `count` items fill."""
    return max(1, -(-count // PER_PAGE))
