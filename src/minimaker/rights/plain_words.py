"""The policy's texts as the privacy centre shows them: plain words, the references apart.

A person reading why we use their data needs the reason, not "(Art. 6(1)(b))", a setting's
name or a section of the policy. Each text loses its bracketed references here, and keeps
them: the page shows them in a note of their own (privacy.html's `legal-ref` elements), for
the officer, the authority or the curious reader. The policy file stays as it is: the record
of processing and the access archive cite it word for word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from minimaker.policy.model import Policy

#: A bracketed aside, with brackets one level deep inside it: "(Art. 5(2), 24, 32 GDPR)".
_ASIDE = re.compile(r"\s*\(((?:[^()]|\([^()]*\))*)\)")
#: What makes an aside a reference: an article, the regulation, a setting, a policy section.
_REFERENCE = re.compile(r"\bArt(?:icle|\.)\s*\d|\bGDPR\b|\bMINIMAKER_[A-Z0-9_]+|\bpolicy \d")


@dataclass(frozen=True)
class Plain:
    """A text without its references, and the references it had."""

    text: str
    references: tuple[str, ...]


def plain(text: str) -> Plain:
    """`text` with every bracketed reference taken out (and kept, in order)."""
    found: list[str] = []

    def moved(match: re.Match[str]) -> str:
        if _REFERENCE.search(match.group(1)):
            found.append(match.group(1).strip())
            return ""
        return match.group(0)

    return Plain(_ASIDE.sub(moved, text).strip(), tuple(found))


@dataclass(frozen=True)
class Explained:
    """One category or purpose of the policy as a person reads it."""

    key: str
    name: str
    description: str
    detail: str  # how long a category is kept; what a purpose rests on, in words
    references: tuple[str, ...]
    objectable: bool = False

    @property
    def law(self) -> str:
        """The note beside it: what the law and the policy say, by number."""
        return f"{self.name}: " + "; ".join(self.references)


def categories(policy: Policy) -> list[Explained]:
    """Each category of data: what it is and how long it is kept."""
    shown = []
    for key, category in policy.categories.items():
        description, kept = plain(category.description), plain(category.retention)
        name = key.replace("_", " ").capitalize()
        refs = description.references + kept.references
        shown.append(Explained(key, name, description.text, kept.text, refs))
    return shown


def purposes(policy: Policy) -> dict[str, Explained]:
    """Each purpose: what it is for, and what it rests on, in words."""
    shown = {}
    for key, purpose in policy.purposes.items():
        description, detail = plain(purpose.description), plain(purpose.basis_detail)
        basis = purpose.lawful_basis
        refs = (f"{basis.citation} GDPR ({basis.label})", *description.references)
        shown[key] = Explained(
            key,
            key.capitalize(),
            description.text,
            f"{basis.label.capitalize()}: {detail.text}",
            refs + detail.references,
            purpose.objectable,
        )
    return shown
