"""Countries offered for a shortcode (ISO 3166 alpha-2, names in English and German)."""

from __future__ import annotations

COUNTRIES: tuple[tuple[str, str, str], ...] = (
    ("AU", "Australia", "Australien"),
    ("AT", "Austria", "Österreich"),
    ("BE", "Belgium", "Belgien"),
    ("BR", "Brazil", "Brasilien"),
    ("CA", "Canada", "Kanada"),
    ("DK", "Denmark", "Dänemark"),
    ("FI", "Finland", "Finnland"),
    ("FR", "France", "Frankreich"),
    ("DE", "Germany", "Deutschland"),
    ("IN", "India", "Indien"),
    ("IE", "Ireland", "Irland"),
    ("IT", "Italy", "Italien"),
    ("JP", "Japan", "Japan"),
    ("MX", "Mexico", "Mexiko"),
    ("NL", "Netherlands", "Niederlande"),
    ("NZ", "New Zealand", "Neuseeland"),
    ("NO", "Norway", "Norwegen"),
    ("PL", "Poland", "Polen"),
    ("PT", "Portugal", "Portugal"),
    ("KR", "South Korea", "Südkorea"),
    ("ES", "Spain", "Spanien"),
    ("SE", "Sweden", "Schweden"),
    ("CH", "Switzerland", "Schweiz"),
    ("AE", "United Arab Emirates", "Vereinigte Arabische Emirate"),
    ("GB", "United Kingdom", "Vereinigtes Königreich"),
    ("US", "United States", "Vereinigte Staaten"),
)


def choices(language: str) -> list[tuple[str, str]]:
    """(code, name) pairs sorted by the name in ``language``."""
    pairs = [(code, de if language == "de" else en) for code, en, de in COUNTRIES]
    return sorted(pairs, key=lambda pair: pair[1])
