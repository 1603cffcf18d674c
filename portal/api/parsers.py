"""Request parsers for the API: DRF's, refusing what no database here can store.

A lone surrogate (a JSON escape such as ``\\ud800``) breaks UTF-8 encoding in both
databases and in the audit trail's hashing; a NUL character cannot be stored in
PostgreSQL's text or jsonb; a deeply nested document exhausts the stack. Each answers 400
here, before a view or a service sees it.
"""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from portal.inputs import JSON_MAX_DEPTH, json_problem, text_problem


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                f"JSON parse error - the document nests too deeply; at most {JSON_MAX_DEPTH} "
                "levels are accepted."
            ) from None
        problem = json_problem(data)
        if problem:
            raise ParseError(f"The JSON body {problem}.")
        return data


def _refuse_unstorable(fields: Iterable[tuple[str, list]]) -> None:
    for name, values in fields:
        for text in (name, *(v for v in values if isinstance(v, str))):
            problem = text_problem(text)
            if problem:
                raise ParseError(f"The form field {name!r} {problem}.")


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _refuse_unstorable(data.lists())
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        _refuse_unstorable(parsed.data.lists())
        return parsed
