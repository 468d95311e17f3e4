"""Cursor pagination: iterate items across pages, or the pages themselves."""

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Generic, TypeVar

from veo_client.models import Page

T = TypeVar("T")


class Pager(Generic[T]):
    """`for video in client.list(): ...` walks every page; `.pages()` yields them whole."""

    def __init__(self, fetch: Callable[[str | None], Page[T]], cursor: str | None = None) -> None:
        self._fetch = fetch
        self._cursor = cursor

    def pages(self) -> Iterator[Page[T]]:
        cursor = self._cursor
        while True:
            page = self._fetch(cursor)
            yield page
            if not page.next_cursor or not page.items:
                return
            cursor = page.next_cursor

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items

    def first_page(self) -> Page[T]:
        return self._fetch(self._cursor)


class AsyncPager(Generic[T]):
    """`async for video in client.list(): ...`; `.pages()` yields whole pages."""

    def __init__(
        self, fetch: Callable[[str | None], Awaitable[Page[T]]], cursor: str | None = None
    ) -> None:
        self._fetch = fetch
        self._cursor = cursor

    async def pages(self) -> AsyncIterator[Page[T]]:
        cursor = self._cursor
        while True:
            page = await self._fetch(cursor)
            yield page
            if not page.next_cursor or not page.items:
                return
            cursor = page.next_cursor

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item

    async def first_page(self) -> Page[T]:
        return await self._fetch(self._cursor)
