from rest_framework.pagination import CursorPagination, PageNumberPagination


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class TrailPagination(CursorPagination):
    """Keyset pages of an audit trail, newest first: a page costs the same at the millionth
    event as at the first (no count, no offset), and events appended while a client walks
    back do not shift what it sees."""

    ordering = "-seq"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
