"""Kinds of signed document, and the parts of the evidence a signature binds to.

Apps contribute both at start-up (``AppConfig.ready``), so the one sign-off service and its
selectors serve criteria versions, deployment plans and whatever comes next without
importing the apps that own them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from projects.models import Project
    from projects.models.signing import Signature, SignedDocument


@dataclass(frozen=True)
class DocumentKind:
    #: Event verbs are ``<key>.signed`` and ``<key>.signoff_revoked``.
    key: str
    #: As a person writes it before a version number: "criteria", "deployment plan".
    name: str
    plural: bool
    #: In lists and headings: "success criteria", "deployment plan".
    heading: str
    #: The API route name of one document (takes its pk).
    api_view: str
    document_model: type[SignedDocument]
    signature_model: type[Signature]
    #: The version in force of the same document (the newest of its series), or None.
    current: Callable[[SignedDocument], SignedDocument | None]
    #: The documents of a project that wait for signatures now (for inboxes).
    in_force: Callable[[Project], list[SignedDocument]]
    #: What changed from one version to another, briefly ("" when nothing to say).
    changes: Callable[[SignedDocument, SignedDocument], str]
    #: Evidence this kind adds to the project's (for example the criteria a plan is held to).
    extra_evidence: Callable[[Project], dict[str, Any]] | None = None
    #: Why ``document`` cannot be approved on this evidence, as (code, sentence), or None:
    #: criteria that no evidence measures, or reasons still in a template's words.
    refusal: Callable[[SignedDocument, dict[str, Any]], tuple[str, str] | None] | None = None

    def title(self, document: SignedDocument) -> str:
        return f"{self.name[0].upper()}{self.name[1:]} v{document.version}"

    @property
    def verb(self) -> str:
        """The plural or singular "are"/"is" after the document's name."""
        return "are" if self.plural else "is"

    @property
    def these(self) -> str:
        return f"these {self.name}" if self.plural else f"this {self.name}"


_KINDS: dict[type, DocumentKind] = {}


def register_kind(kind: DocumentKind) -> None:
    _KINDS[kind.document_model] = kind


def kind_of(document: SignedDocument) -> DocumentKind:
    return _KINDS[type(document)]


def kinds() -> list[DocumentKind]:
    return list(_KINDS.values())


#: Parts of every signature's evidence that other apps own: key → (project → value).
_EVIDENCE_PARTS: dict[str, Callable[[Project], Any]] = {}


def evidence_part(key: str) -> Callable[[Callable[[Project], Any]], Callable[[Project], Any]]:
    """Register ``fn(project)`` as the evidence under ``key`` (for example the candidate's
    fairness audit, from the audits app)."""

    def register(fn: Callable[[Project], Any]) -> Callable[[Project], Any]:
        _EVIDENCE_PARTS[key] = fn
        return fn

    return register


def evidence_parts(project: Project) -> dict[str, Any]:
    return {key: fn(project) for key, fn in _EVIDENCE_PARTS.items()}
