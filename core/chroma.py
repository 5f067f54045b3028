"""The article store on Chroma, embedded (a folder) or a server (a URL), through the same code:
the chunks and the sentences, each in one collection per article language (`<name>-chunks-ar`,
`<name>-sentences-en`; see core/chroma_parts.py), and `<name>-articles` (a record per article,
the commit marker, written last). Chroma's where-clauses live here and nowhere else."""

from __future__ import annotations

import functools
import hashlib
import heapq
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, NamedTuple, ParamSpec, TypeVar, cast
from urllib.parse import urlsplit

import numpy as np

from core.chroma_parts import BASE, LanguageParts, by_language, language_key
from core.errors import StoreConnectionError, StoreError
from core.settings import StoreSettings, default_cache_dir
from core.store import (
    SCHEMA,
    ArticleDetail,
    ArticleWrite,
    ChunkHit,
    SentenceKey,
    SentenceSpan,
    StoredArticle,
)
from core.store_folder import FolderWatch
from core.types import OPEN_END, Article, Chunk, Filters, Sentence, SentenceRecord, date_ord

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import GetResult, Include, Metadata, Where
    from chromadb.config import Settings

URL_ENV = "NEWS_ASSISTANT_STORE__URL"
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,490}")  # Chroma's 512, less "-sentences-xxx"
_PAGE = 1000  # records per `get` page when listing or scanning
_SPREAD_PAGE = 2000  # parts moved at a time by `spread_languages`
_WRITE_BATCH = 500  # records per upsert; also capped by the client's max batch size
_ARTICLE_FIELDS = ("title", "source", "url", "date", "author", "language")
LEXICAL_FOLDER = ".news-assistant-lexical"  # inside an embedded store: one subfolder per collection


class _Summary(NamedTuple):
    """What `ChromaStore` keeps of its records between changes of their number."""

    articles: int
    sources: list[str]
    sizes: dict[str, int]  # sentences by article language


class Rows(NamedTuple):
    """Records for one upsert: ids, vectors, documents, metadata, in the same order."""

    ids: list[str]
    matrix: np.ndarray
    docs: list[str]
    metas: list[Metadata]


def connect(*, path: Path | None = None, url: str | None = None) -> ClientAPI:
    """A chromadb client: over HTTP when `url` is given, else on disk at `path`."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if url:
        return _http_client(url, settings)
    if path is None:
        raise StoreError(f"no store given: pass a store folder (--store) or set {URL_ENV}")
    try:
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as exc:
        raise StoreError(f"cannot open the store at {path}: {exc}") from exc


def _http_client(url: str, settings: Settings) -> ClientAPI:
    import chromadb

    parts = urlsplit(url)
    try:
        ssl = parts.scheme == "https"
        port = parts.port or (443 if ssl else 8000)
    except ValueError as exc:
        raise StoreError(f"{url!r} is not a Chroma URL like http://127.0.0.1:8000") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StoreError(f"{url!r} is not a Chroma URL like http://127.0.0.1:8000")
    try:
        return chromadb.HttpClient(host=parts.hostname, port=port, ssl=ssl, settings=settings)
    except Exception as exc:  # chromadb raises a bare ValueError when nobody answers
        raise StoreError(
            f"cannot reach the Chroma server at {url} ({exc}); start it with "
            f"`chroma run --path DIR --port {port}` or unset {URL_ENV}"
        ) from exc


def close_client(client: ClientAPI) -> None:
    """Close a chromadb client, including the HTTP connection pools chromadb 1.5 leaves open.

    An HttpClient and its internal admin client each own a private pool (a System of their
    own), so closing them cannot break another client; left open, their sockets are dropped
    unclosed and raise ResourceWarning when collected.
    """
    admin = getattr(client, "_admin_client", None)
    servers = [getattr(each, "_server", None) for each in (client, admin)]
    close = getattr(client, "close", None)
    if callable(close):
        close()
    for server in servers:
        close_session = getattr(getattr(server, "_session", None), "close", None)
        if callable(close_session):
            close_session()


def open_store(settings: StoreSettings) -> ChromaStore:
    """The store named `settings.collection` on the server at `settings.url`, else in the
    folder `settings.path`."""
    client = connect(path=settings.path, url=settings.url)
    folder = None if settings.url else settings.path
    location = settings.url or str(settings.path)
    lexical = lexical_dir(settings)
    return ChromaStore(client, settings.collection, location, folder=folder, lexical=lexical)


def lexical_dir(settings: StoreSettings) -> Path:
    """Where the saved BM25 index of the store `settings` name lives: inside an embedded
    store's folder; for a server, under `settings.lexical_dir` (default: the user cache
    folder), in a subfolder named by a hash of the server URL and collection."""
    if not settings.url:
        return settings.path / LEXICAL_FOLDER / settings.collection
    key = hashlib.sha256(f"{settings.url.rstrip('/')}\x1f{settings.collection}".encode())
    return (settings.lexical_dir or default_cache_dir() / "lexical") / key.hexdigest()[:16]


def _restart_embedded(client: ClientAPI) -> None:
    """Stop this process's Chroma system for `client`'s folder, so the next client on it
    starts a fresh one that reads the folder again (its vector indexes included)."""
    from chromadb.api.shared_system_client import SharedSystemClient as Shared

    identifier = getattr(client, "_identifier", None)
    system = Shared._identifier_to_system.pop(identifier, None) if identifier else None
    Shared._identifier_to_refcount.pop(identifier or "", None)
    if system is not None:
        with suppress(Exception):
            system.stop()


def _forget(client: ClientAPI) -> None:
    """Drop a client of a restarted system without closing it: closing would release a
    reference that the fresh system's clients now hold."""
    client._closed = True  # type: ignore[attr-defined]


def _is_stale_read(exc: Exception) -> bool:
    """What Chroma raises when its in-memory index lags what another process wrote."""
    from chromadb.errors import InternalError

    return isinstance(exc, InternalError)


P = ParamSpec("P")
R = TypeVar("R")


def _fresh(
    method: Callable[Concatenate[ChromaStore, P], R],
) -> Callable[Concatenate[ChromaStore, P], R]:
    """Run `method` on a store that has seen every other process's writes; once more after
    reconnecting when Chroma fails as it does on a stale index."""

    @functools.wraps(method)
    def run(store: ChromaStore, *args: P.args, **kwargs: P.kwargs) -> R:
        with _answering(store.location):
            store._live()
            try:
                return method(store, *args, **kwargs)
            except Exception as exc:
                if store._watch is None or not _is_stale_read(exc):
                    raise
                store._watch.invalidate()
                store._live()
                return method(store, *args, **kwargs)

    return run


@contextmanager
def _answering(location: str) -> Iterator[None]:
    """Translate a Chroma server's dropped or refused connection (httpx's TransportError:
    ConnectError, RemoteProtocolError, timeouts) into StoreConnectionError with the fix."""
    import httpx

    try:
        yield
    except httpx.TransportError as exc:
        raise StoreConnectionError(
            f"the Chroma server at {location} stopped answering ({type(exc).__name__}: {exc}); "
            "check that `chroma run` is still running and run the same command again: stored "
            "articles are skipped"
        ) from exc


class ChromaStore:
    """Articles in Chroma collections: their chunks and sentences in one collection per
    language each (`LanguageParts`), their records in `<name>-articles`; the same class works
    over a persistent or an HTTP client.

    An article record is written only after all its parts, so a record means "complete";
    parts without a matching record are crash leftovers that `remove_orphans` deletes.
    Every part and article record also carries `date_ord` (see `date_ord`) for date ranges.

    On an embedded store (`folder` given) writes hold the folder's write lock, and a store
    reconnects when another process wrote to the folder (see core/store_folder.py). Every
    change of the article records sets a new `revision` in the articles collection's metadata.
    `lexical` is where its saved BM25 index lives (None: the index is kept in memory).
    """

    def __init__(
        self,
        client: ClientAPI,
        collection: str,
        location: str = "",
        folder: Path | None = None,
        lexical: Path | None = None,
    ) -> None:
        if not _NAME.fullmatch(collection) or ".." in collection:
            raise StoreError(
                f"bad collection name {collection!r}: use 1-500 of a-z A-Z 0-9 . _ -, "
                "starting with a letter or digit"
            )
        self._client = client
        self._name = collection
        self._location = location or collection
        self._lexical = lexical
        self._watch = FolderWatch(folder) if folder is not None else None
        self._dim: int | None = None
        self._summary = _Summary(-1, [], {})
        with _answering(self._location):  # a server may go away between connect and here
            self._batch = max(1, min(client.get_max_batch_size(), _WRITE_BATCH))
            self._open_collections()
        if self._watch is not None:
            self._watch.seen()  # creating the collections wrote to it: that was this process

    def _open_collections(self) -> None:
        self._chunks = LanguageParts(self._client, f"{self._name}-chunks", self._named)
        self._sentences = LanguageParts(self._client, f"{self._name}-sentences", self._named)
        self._articles = self._named(f"{self._name}-articles")

    def _live(self) -> None:
        """Reconnect when another process wrote to the folder since this store connected."""
        watch = self._watch
        if watch is None or not watch.stale():
            return
        old = self._client
        watch.restart_once(lambda: _restart_embedded(old))
        _forget(old)
        self._client = connect(path=watch.path)
        self._open_collections()
        watch.reconnected()

    def writing(self) -> AbstractContextManager[None]:
        """Hold while writing: on an embedded store, the folder's exclusive write lock (a
        second writing process gets StoreError after a short wait); a server orders writes
        itself."""
        return nullcontext() if self._watch is None else self._watch.writing()

    @property
    def name(self) -> str:
        return self._name

    @property
    def location(self) -> str:
        return self._location

    @property
    def lexical_dir(self) -> Path | None:
        return self._lexical

    @property
    def client(self) -> ClientAPI:
        """The chromadb client underneath (for tools that keep collections of their own)."""
        return self._client

    def _named(self, name: str) -> Collection:
        return self._client.get_or_create_collection(
            name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )

    @_fresh
    def collections(self, kind: str) -> list[Collection]:
        """Every Chroma collection holding this store's "chunks" or "sentences" (for tools
        that read all parts: core/store_audit.py)."""
        parts = {"chunks": self._chunks, "sentences": self._sentences}[kind]
        return list(parts.existing().values())

    def close(self) -> None:
        """Release the client: SQLite files of a persistent store, sockets of an HTTP one."""
        close_client(self._client)

    @_fresh
    def bind_embedder(self, name: str, dim: int) -> None:
        """Record the embedder on a new store, or check it is the one the store was built with."""
        meta = self._metadata()
        self.check_embedder(name, dim)
        if meta.get("embedder") is None:
            self._set_metadata({"embedder": name, "embedder_dim": dim, "schema": SCHEMA})
        elif _int(meta, "schema") < SCHEMA and self.count_sentences() == 0:
            self.mark_schema()  # an older layout with nothing in it yet
        self._dim = dim

    @_fresh
    def check_embedder(self, name: str, dim: int) -> None:
        """StoreError when the store was built with another embedder than (`name`, `dim`)."""
        meta = self._metadata()
        built, built_dim = meta.get("embedder"), meta.get("embedder_dim")
        if built is not None and (built, built_dim) != (name, dim):
            raise StoreError(
                f"this store was built with the embedder {built} (dim {built_dim}), not {name} "
                f"(dim {dim}); use that model (NEWS_ASSISTANT_EMBEDDER__MODEL={built}) or "
                "re-ingest the articles into a new --store"
            )

    @_fresh
    def check_schema(self) -> None:
        """StoreError for a store written by an older version (its sentences have no speaker)."""
        meta = self._metadata()
        if meta.get("embedder") is not None and _int(meta, "schema") < SCHEMA:
            raise StoreError(
                f"the store at {self.location} was written by an older news-assistant: run "
                "`news-assistant reindex` to update it (nothing is re-embedded)"
            )

    @_fresh
    def mark_schema(self) -> None:
        self._set_metadata({**self._metadata(), "schema": SCHEMA})

    @_fresh
    def set_speakers(self, article_id: str, speakers: Sequence[str]) -> None:
        content_hash = self.stored_hash(article_id) or ""
        ids = [sentence_id(article_id, content_hash, i) for i in range(len(speakers))]
        speaker_of = dict(zip(ids, speakers, strict=True))
        with self.writing():
            for collection, held in self._sentences.holding(ids):
                for lo in range(0, len(held), self._batch):
                    batch = held[lo : lo + self._batch]
                    metas: list[Metadata] = [{"speaker": speaker_of[i]} for i in batch]
                    collection.update(ids=batch, metadatas=metas)

    def _metadata(self) -> dict[str, Any]:
        fresh = self._client.get_collection(self._chunks.base.name, embedding_function=None)
        return dict(fresh.metadata or {})

    def _set_metadata(self, meta: dict[str, Any]) -> None:
        with self.writing():
            for col in (self._chunks.base, self._sentences.base, self._articles):
                col.modify(metadata=meta)

    @_fresh
    def stored_hash(self, article_id: str) -> str | None:
        """The content hash of the stored article, or None if it is not stored (completely)."""
        return self._stored_hashes([article_id]).get(article_id)

    @_fresh
    def article_with_hash(self, content_hash: str) -> str | None:
        """The id of a stored article with this content hash (the same text and metadata),
        or None."""
        got = self._articles.get(where={"content_hash": content_hash}, limit=1, include=[])
        return got["ids"][0] if got["ids"] else None

    @_fresh
    def count_articles(self) -> int:
        return self._articles.count()

    @_fresh
    def revision(self) -> str:
        """The articles collection's `revision`, set anew before and after every write of
        records (so a writer killed in between has changed it) and after every delete, with
        the count of records (which a delete killed before setting it has changed). Counting
        the sentences as well cost 40 ms a question over 275,000 of them."""
        fresh = self._client.get_collection(self._articles.name, embedding_function=None)
        mark = _str(fresh.metadata or {}, "revision")
        return f"{mark}:{fresh.count()}"

    def _bump_revision(self) -> None:
        fresh = self._client.get_collection(self._articles.name, embedding_function=None)
        meta = dict(fresh.metadata or {})
        self._articles.modify(metadata={**meta, "revision": uuid.uuid4().hex})

    @_fresh
    def count_chunks(self) -> int:
        return self._chunks.count()

    @_fresh
    def count_sentences(self) -> int:
        return self._sentences.count()

    def write_article(
        self,
        article: Article,
        sentences: Sequence[Sentence],
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        sentence_vectors: np.ndarray,
    ) -> None:
        """Store the chunks (row i of `vectors` embeds `chunks[i]`) and the sentences (row i of
        `sentence_vectors` embeds `sentences[i]`), then the article record (see write_articles).
        """
        self.write_articles([ArticleWrite(article, sentences, chunks, vectors, sentence_vectors)])

    @_fresh
    def write_articles(self, writes: Sequence[ArticleWrite]) -> None:
        """Store several articles in few calls: all their chunks, then all their sentences, then
        all their records (last, so that a record still means "complete").

        On any failure every article of the batch has its new parts removed again before the
        error is re-raised; an article stored before with another hash keeps its old parts
        until its new record is in.
        """
        rows = [self._rows(w) for w in writes]
        with self.writing():
            self._write_rows(writes, rows)

    def _write_rows(
        self, writes: Sequence[ArticleWrite], rows: list[tuple[Rows, Rows, Rows]]
    ) -> None:
        old = self._stored_hashes([w.article.id for w in writes])
        try:
            for kind, parts in enumerate((self._chunks, self._sentences)):
                self._upsert_parts(parts, _concat([r[kind] for r in rows]))
            self._bump_revision()  # a writer killed after the records has changed it
            self._upsert(self._articles, *_concat([r[2] for r in rows]))
        except BaseException:
            for w in writes:
                self._undo_write(w.article.id, w.article.content_hash)
            with suppress(Exception):
                self._bump_revision()  # records written and taken back: read them again
            raise
        self._bump_revision()
        for w in writes:
            if old.get(w.article.id) not in (None, w.article.content_hash):
                self._delete_parts(w.article.id, {"content_hash": {"$ne": w.article.content_hash}})

    @_fresh
    def complete_only(self, records: Sequence[SentenceRecord]) -> list[SentenceRecord]:
        ids = sorted({r.article_id for r in records})
        hashes = self._stored_hashes(ids) if ids else {}
        return [
            r
            for r in records
            if r.id == sentence_id(r.article_id, hashes.get(r.article_id, ""), r.sentence_index)
        ]

    def _stored_hashes(self, article_ids: Sequence[str]) -> dict[str, str]:
        got = self._articles.get(ids=list(article_ids), include=["metadatas"])
        metas = got["metadatas"] or []
        return {i: _str(m, "content_hash") for i, m in zip(got["ids"], metas, strict=True)}

    def _rows(self, w: ArticleWrite) -> tuple[Rows, Rows, Rows]:
        """(chunk rows, sentence rows, record row) of one article, vectors checked."""
        chunk_matrix = self._checked_vectors(w.chunks, w.chunk_vectors)
        sentence_matrix = self._checked_vectors(w.sentences, w.sentence_vectors)
        article, content_hash = w.article, w.article.content_hash
        speakers = list(w.speakers) or [""] * len(w.sentences)
        chunks = Rows(
            [f"{article.id}:{content_hash[:12]}:{c.index}" for c in w.chunks],
            chunk_matrix,
            [c.text for c in w.chunks],
            [_chunk_meta(article, content_hash, c) for c in w.chunks],
        )
        sentences = Rows(
            [sentence_id(article.id, content_hash, s.index) for s in w.sentences],
            sentence_matrix,
            [s.text for s in w.sentences],
            [
                _sentence_meta(article, content_hash, s, speaker)
                for s, speaker in zip(w.sentences, speakers, strict=True)
            ],
        )
        record = Rows(
            [article.id],
            _mean_direction(chunk_matrix).reshape(1, -1),
            [article.text],
            [_record_meta(article, w.sentences, w.chunks)],
        )
        return chunks, sentences, record

    def _checked_vectors(
        self, parts: Sequence[Chunk] | Sequence[Sentence], vectors: np.ndarray
    ) -> np.ndarray:
        if self._dim is None:
            raise RuntimeError("call bind_embedder(name, dim) before writing articles")
        matrix = np.asarray(vectors, dtype=np.float32)
        if not parts or matrix.shape != (len(parts), self._dim):
            raise ValueError(
                f"need one {self._dim}-dim vector per chunk or sentence and at least one: "
                f"got {len(parts)} and vectors of shape {matrix.shape}"
            )
        return matrix

    def _upsert_parts(self, parts: LanguageParts, rows: Rows) -> None:
        """Each part into its article language's collection."""
        for key, at in by_language(rows.metas).items():
            self._upsert(parts.of(key), *_rows_at(rows, at))

    def _upsert(
        self,
        collection: Collection,
        ids: list[str],
        matrix: np.ndarray,
        docs: list[str],
        metas: list[Metadata],
    ) -> None:
        for lo in range(0, len(ids), self._batch):
            hi = lo + self._batch
            collection.upsert(
                ids=ids[lo:hi],
                embeddings=matrix[lo:hi],
                documents=docs[lo:hi],
                metadatas=metas[lo:hi],
            )

    def _undo_write(self, article_id: str, content_hash: str) -> None:
        # The record goes first: a record must never outlive its chunks. If the store is
        # failing altogether, what is left is orphan chunks, which remove_orphans deletes.
        with suppress(Exception):
            if self.stored_hash(article_id) == content_hash:
                self._articles.delete(ids=[article_id])
            self._delete_parts(article_id, {"content_hash": content_hash})

    def _delete_parts(self, article_id: str, extra: Mapping[str, Any] | None = None) -> None:
        where: dict[str, Any] = {"article_id": article_id}
        if extra:
            where = {"$and": [where, dict(extra)]}
        for parts in (self._chunks, self._sentences):
            for collection in parts.existing().values():
                collection.delete(where=cast("Where", where))

    @_fresh
    def delete_article(self, article_id: str) -> bool:
        """Delete the article record and all its chunks; False if no such article is stored."""
        with self.writing():
            known = self.stored_hash(article_id) is not None
            if known:
                self._articles.delete(ids=[article_id])
                self._bump_revision()
            self._delete_parts(article_id)
        return known

    @_fresh
    def list_articles(self) -> list[StoredArticle]:
        """Every stored article, sorted by title (then id)."""
        found = [
            _stored(article_id, meta)
            for page in self._pages(self._articles, ["metadatas"])
            for article_id, meta in zip(page["ids"], page["metadatas"] or [], strict=True)
        ]
        return sorted(found, key=lambda a: (a.title.casefold(), a.id))

    def get_article(self, article_id: str) -> ArticleDetail | None:
        """The stored article with its text and sentence spans, or None if it is not stored."""
        found = self.get_articles([article_id])
        return found[0] if found else None

    @_fresh
    def get_articles(self, article_ids: Sequence[str]) -> list[ArticleDetail]:
        """The stored articles with these ids, with their texts and sentence spans (unknown
        ids are left out)."""
        found: list[ArticleDetail] = []
        for lo in range(0, len(article_ids), _PAGE):
            ids = list(article_ids[lo : lo + _PAGE])
            got = self._articles.get(ids=ids, include=["metadatas", "documents"])
            rows = zip(got["ids"], got["metadatas"] or [], got["documents"] or [], strict=True)
            found.extend(_detail(article_id, meta, text) for article_id, meta, text in rows)
        return found

    @_fresh
    def query_chunks(
        self, vector: np.ndarray, k: int, filters: Filters | None = None
    ) -> list[ChunkHit]:
        """The `k` chunks nearest to `vector` that `filters` allow, best first."""
        return [_hit(*row) for row in self._nearest(self._chunks, vector, k, filters)]

    @_fresh
    def query_sentences(
        self, vector: np.ndarray, k: int, filters: Filters | None = None
    ) -> list[SentenceRecord]:
        """The `k` sentences nearest to `vector` that `filters` allow, best first, each with
        its cosine similarity as `dense`."""
        rows = self._nearest(self._sentences, vector, k, filters)
        return [_sentence_record(i, doc, meta, 1.0 - dist) for i, doc, meta, dist in rows]

    def _nearest(
        self, parts: LanguageParts, vector: np.ndarray, k: int, filters: Filters | None
    ) -> list[tuple[str, str, Mapping[str, Any], float]]:
        """(id, document, metadata, cosine distance) of the `k` parts nearest `vector` that
        `filters` allow, nearest first, from each collection they may be in."""
        if k <= 0:
            return []
        rows: dict[str, tuple[str, str, Mapping[str, Any], float]] = {}
        for collection, where in self._searched(parts, filters):
            for row in _query(collection, vector, k, where):
                if row[0] not in rows or row[3] < rows[row[0]][3]:
                    rows[row[0]] = row
        return heapq.nsmallest(k, rows.values(), key=lambda row: row[3])

    def _searched(
        self, parts: LanguageParts, filters: Filters | None
    ) -> list[tuple[Collection, Where | None]]:
        """The collections a search goes through, each with its where-clause. A search limited
        to a language goes through that language's collection without the language in its
        clause (Chroma filters slowly in a large collection), and through the base one with it
        (only articles of no plain language code there, unless the store is of an older
        layout)."""
        sources = self._spellings(filters)
        if not filters or not filters.language:
            where = where_clause(filters, sources)
            return [(collection, where) for collection in parts.existing().values()]
        searched = [(parts.base, where_clause(filters, sources))]
        key = language_key(filters.language)
        own = parts.existing().get(key) if key != BASE else None
        if own is not None:
            searched.append((own, where_clause(replace(filters, language=None), sources)))
        return searched

    def _spellings(self, filters: Filters | None) -> list[str]:
        """The stored sources equal to the filter's source but for case ("BBC" for "bbc")."""
        if not filters or not filters.source:
            return []
        wanted = filters.source.casefold()
        return [s for s in self.sources() if s.casefold() == wanted]

    @_fresh
    def sources(self) -> list[str]:
        """Every source named by a stored article, sorted."""
        return list(self._records_summary().sources)

    @_fresh
    def languages(self) -> list[str]:
        """Every language of a stored article ("ar", "en"), sorted."""
        return sorted(lang for lang in self.language_sizes() if lang)

    @_fresh
    def language_sizes(self) -> dict[str, int]:
        """The sentences stored for each article language, as the records claim them."""
        return dict(self._records_summary().sizes)

    def _records_summary(self) -> _Summary:
        """The sources and each language's sentences of the stored records, read in one pass
        over them again when their number changes."""
        count = self._articles.count()
        if self._summary.articles != count:
            sources: set[str] = set()
            sizes: Counter[str] = Counter()
            for page in self._pages(self._articles, ["metadatas"]):
                for meta in page["metadatas"] or []:
                    sources.add(_str(meta, "source"))
                    sizes[_str(meta, "language")] += _int(meta, "n_sentences")
            self._summary = _Summary(count, sorted(sources - {""}), dict(sizes))
        return self._summary

    @_fresh
    def has_articles(self, filters: Filters) -> bool:
        """Whether any stored article is one that `filters` allow."""
        where = where_clause(replace(filters, article_id=None), self._spellings(filters))
        ids = [filters.article_id] if filters.article_id else None
        return bool(self._articles.get(ids=ids, where=where, limit=1, include=[])["ids"])

    @_fresh
    def iter_sentences(self) -> Iterator[SentenceRecord]:
        """Every stored sentence (for lexical indexing), page by page."""
        with _answering(self._location):  # a generator: outside the _fresh guard
            collections = list(self._sentences.existing().values())
        for collection in collections:
            for page in self._pages(collection, ["documents", "metadatas"]):
                docs, metas = page["documents"] or [], page["metadatas"] or []
                for row in zip(page["ids"], docs, metas, strict=True):
                    yield _sentence_record(*row)

    @_fresh
    def sentence_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of the sentences with these ids (unknown ids are left out)."""
        got = self._sentences.get(ids, ["embeddings"])
        return {
            i: np.asarray(v, dtype=np.float32)
            for i, v in zip(got["ids"], got["embeddings"], strict=True)
        }

    @_fresh
    def get_sentences(self, keys: Sequence[SentenceKey]) -> list[SentenceRecord]:
        """The stored sentences of these (article id, content hash, index), in that order;
        those not stored are left out."""
        ids = [sentence_id(*key) for key in keys]
        got = self._sentences.get(ids, ["documents", "metadatas"])
        rows = zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        found = {row[0]: _sentence_record(*row) for row in rows}
        return [found[i] for i in ids if i in found]

    @_fresh
    def remove_orphans(self) -> int:
        """Bring records and parts back in line after a killed or overlapping write: delete
        chunks and sentences whose article record is missing or has another hash, and the
        records (with their parts) of articles missing some of their parts, so the next
        ingest stores those again. A part found in two collections (a `spread_languages`
        stopped between writing a page and deleting it from the base) keeps its language's
        copy. Returns the parts and records deleted. Fast path: when each kind's count equals
        the sum the records claim, nothing else is read."""
        with self.writing():
            hashes: dict[str, str] = {}
            claims: tuple[Counter[str], Counter[str]] = (Counter(), Counter())
            for page in self._pages(self._articles, ["metadatas"]):
                for article_id, meta in zip(page["ids"], page["metadatas"] or [], strict=True):
                    hashes[article_id] = _str(meta, "content_hash")
                    claims[0][article_id] = _int(meta, "n_chunks")
                    claims[1][article_id] = _int(meta, "n_sentences")
            removed, incomplete = 0, set[str]()
            for parts, claimed in zip((self._chunks, self._sentences), claims, strict=True):
                if parts.count() != claimed.total():
                    removed += self._remove_stale(parts, hashes, claimed, incomplete)
            for article_id in sorted(incomplete):
                self._articles.delete(ids=[article_id])
                self._delete_parts(article_id)
            if incomplete:
                self._bump_revision()
            return removed + len(incomplete)

    @_fresh
    def spread_languages(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Move the parts that the base collections hold (every part, in a store written
        before the per-language layout) into their language's collections; nothing is
        re-embedded. Each page is written to its language's collection before it leaves the
        base one, so a run stopped anywhere loses nothing and can be run again
        (`remove_orphans` drops a copy left in both). `progress(done, total)` is told after
        each page (the parts looked at, of those the base collections held). Returns the parts
        moved."""
        with self.writing():
            kinds = (self._chunks, self._sentences)
            total, done = sum(parts.base.count() for parts in kinds), [0]

            def step(n: int) -> None:
                done[0] += n
                if progress is not None:
                    progress(done[0], total)

            return sum(self._spread(parts, step) for parts in kinds)

    def _spread(self, parts: LanguageParts, step: Callable[[int], None]) -> int:
        base, kept, moved = parts.base, 0, 0
        while True:
            with _answering(self._location):
                include: Include = ["embeddings", "documents", "metadatas"]
                page = base.get(limit=_SPREAD_PAGE, offset=kept, include=include)
            if not page["ids"]:
                return moved
            rows = Rows(
                list(page["ids"]),
                np.asarray(page["embeddings"], dtype=np.float32),
                list(page["documents"] or []),
                list(page["metadatas"] or []),
            )
            for key, at in by_language(rows.metas).items():
                if key == BASE:
                    kept += len(at)  # stays: what is left of the base is ahead of the next page
                    continue
                group = _rows_at(rows, at)
                self._upsert(parts.of(key), *group)
                for lo in range(0, len(group.ids), self._batch):
                    base.delete(ids=group.ids[lo : lo + self._batch])
                moved += len(group.ids)
            step(len(rows.ids))

    def _remove_stale(
        self,
        parts: LanguageParts,
        hashes: Mapping[str, str],
        claimed: Counter[str],
        incomplete: set[str],
    ) -> int:
        """Delete the parts no record claims; add to `incomplete` the articles missing some of
        the parts their record claims. Returns the parts deleted."""
        present: Counter[str] = Counter()
        seen: set[str] = set()
        removed = 0
        for collection in parts.existing().values():  # the languages' before the base one
            stale = self._scan_parts(collection, hashes, present, seen)
            for lo in range(0, len(stale), self._batch):
                collection.delete(ids=stale[lo : lo + self._batch])
            removed += len(stale)
        incomplete |= {a for a, n in claimed.items() if present[a] < n}
        return removed

    def _scan_parts(
        self,
        collection: Collection,
        hashes: Mapping[str, str],
        present: Counter[str],
        seen: set[str],
    ) -> list[str]:
        """The ids of `collection`'s parts that no record claims (no record, or one for other
        content) or that an earlier collection held (`seen`); counts in `present` how many
        parts of each article its record does claim."""
        stale: list[str] = []
        for page in self._pages(collection, ["metadatas"]):
            for part_id, meta in zip(page["ids"], page["metadatas"] or [], strict=True):
                article_id = _str(meta, "article_id")
                if part_id not in seen and hashes.get(article_id) == _str(meta, "content_hash"):
                    present[article_id] += 1
                    seen.add(part_id)
                else:
                    stale.append(part_id)
        return stale

    def _pages(self, collection: Collection, include: Include) -> Iterator[GetResult]:
        # Offsets shift under deletes: callers collect first and delete afterwards.
        offset = 0
        while True:
            with _answering(self._location):  # a generator: outside any _fresh method's guard
                page = collection.get(limit=_PAGE, offset=offset, include=include)
            if page["ids"]:
                yield page
            if len(page["ids"]) < _PAGE:
                return
            offset += _PAGE


def _query(
    collection: Collection, vector: np.ndarray, k: int, where: Where | None
) -> list[tuple[str, str, Mapping[str, Any], float]]:
    """(id, document, metadata, cosine distance) of the `k` records of `collection` nearest
    `vector`. A record deleted while it was searched is left out: Chroma finds ids in its
    vector index and reads their metadata after, which is None for an id deleted in between."""
    found = collection.query(
        query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
        n_results=k,
        where=where,
        include=["documents", "metadatas", "distances"],
    )
    rows = zip(
        found["ids"][0],
        (found["documents"] or [[]])[0],
        (found["metadatas"] or [[]])[0],
        (found["distances"] or [[]])[0],
        strict=True,
    )
    return [(i, doc, meta, float(dist)) for i, doc, meta, dist in rows if meta is not None]


def where_clause(filters: Filters | None, sources: Sequence[str] = ()) -> Where | None:
    """The Chroma where-clause for `filters` over the metadata every part carries (None when
    nothing is filtered); the same rules as `Filters.allows`. `sources` are the stored
    spellings of the filter's source (Chroma compares exactly; the filter ignores case)."""
    parts: list[dict[str, Any]] = []
    if filters and filters.source:
        parts.append({"source": {"$in": list(sources) or [filters.source]}})
    if filters and filters.article_id:
        parts.append({"article_id": filters.article_id})
    if filters and filters.language:
        parts.append({"language": filters.language})
    if filters and filters.since:
        parts.append({"date_ord": {"$gte": date_ord(filters.since)}})
    if filters and filters.until:
        parts.append({"date_ord": {"$lte": date_ord(filters.until) or OPEN_END}})
    if not parts:
        return None
    return cast("Where", parts[0] if len(parts) == 1 else {"$and": parts})


def _article_meta(article: Article) -> dict[str, str | int]:
    meta: dict[str, str | int] = {field: getattr(article, field) for field in _ARTICLE_FIELDS}
    meta["date_ord"] = date_ord(article.date)
    return meta


def _chunk_meta(article: Article, content_hash: str, chunk: Chunk) -> Metadata:
    sentences = chunk.sentences
    return {
        **_article_meta(article),
        "article_id": article.id,
        "content_hash": content_hash,
        "chunk_index": chunk.index,
        "char_start": chunk.start,
        "char_end": chunk.end,
        "sentence_first": sentences[0].index if sentences else -1,
        "sentence_last": sentences[-1].index if sentences else -1,
        "sentences": _compact([[s.index, s.start, s.end] for s in sentences]),
    }


def _record_meta(
    article: Article, sentences: Sequence[Sentence], chunks: Sequence[Chunk]
) -> Metadata:
    return {
        **_article_meta(article),
        "origin": article.origin,
        "content_hash": article.content_hash,
        "n_sentences": len(sentences),
        "n_chunks": len(chunks),
        "sentences": _compact([[s.start, s.end] for s in sentences]),
    }


def _concat(parts: Sequence[Rows]) -> Rows:
    return Rows(
        [i for p in parts for i in p.ids],
        np.concatenate([p.matrix for p in parts]),
        [d for p in parts for d in p.docs],
        [m for p in parts for m in p.metas],
    )


def _rows_at(rows: Rows, at: Sequence[int]) -> Rows:
    return Rows(
        [rows.ids[n] for n in at],
        rows.matrix[list(at)],
        [rows.docs[n] for n in at],
        [rows.metas[n] for n in at],
    )


def sentence_id(article_id: str, content_hash: str, index: int) -> str:
    return f"{article_id}:{content_hash[:12]}:s{index}"


def _sentence_meta(
    article: Article, content_hash: str, sentence: Sentence, speaker: str
) -> Metadata:
    return {
        **_article_meta(article),
        "speaker": speaker,
        "article_id": article.id,
        "content_hash": content_hash,
        "sentence_index": sentence.index,
        "char_start": sentence.start,
        "char_end": sentence.end,
    }


def _sentence_record(
    record_id: str, text: str, meta: Mapping[str, Any], score: float = 0.0
) -> SentenceRecord:
    return SentenceRecord(
        id=record_id,
        article_id=_str(meta, "article_id"),
        title=_str(meta, "title"),
        source=_str(meta, "source"),
        url=_str(meta, "url"),
        date=_str(meta, "date"),
        language=_str(meta, "language"),
        sentence_index=_int(meta, "sentence_index"),
        start=_int(meta, "char_start"),
        end=_int(meta, "char_end"),
        sentence=text,
        speaker=_str(meta, "speaker"),
        dense=score,
    )


def _compact(rows: list[list[int]]) -> str:
    return json.dumps(rows, separators=(",", ":"))


def _mean_direction(matrix: np.ndarray) -> np.ndarray:
    mean = matrix.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else matrix[0]


def _str(meta: Mapping[str, Any], key: str) -> str:
    value = meta.get(key)
    return "" if value is None else str(value)


def _int(meta: Mapping[str, Any], key: str) -> int:
    value = meta.get(key)
    return int(value) if isinstance(value, int | float) else 0


def _stored(article_id: str, meta: Mapping[str, Any]) -> StoredArticle:
    return StoredArticle(
        id=article_id,
        title=_str(meta, "title"),
        source=_str(meta, "source"),
        url=_str(meta, "url"),
        date=_str(meta, "date"),
        author=_str(meta, "author"),
        language=_str(meta, "language"),
        origin=_str(meta, "origin"),
        content_hash=_str(meta, "content_hash"),
        n_sentences=_int(meta, "n_sentences"),
        n_chunks=_int(meta, "n_chunks"),
    )


def _detail(article_id: str, meta: Mapping[str, Any], text: str) -> ArticleDetail:
    spans = tuple((int(a), int(b)) for a, b in json.loads(_str(meta, "sentences") or "[]"))
    return ArticleDetail(**vars(_stored(article_id, meta)), text=text, sentence_spans=spans)


def _hit(chunk_id: str, text: str, meta: Mapping[str, Any], distance: float) -> ChunkHit:
    spans = tuple(SentenceSpan(*map(int, row)) for row in json.loads(_str(meta, "sentences")))
    return ChunkHit(
        id=chunk_id,
        article_id=_str(meta, "article_id"),
        text=text,
        score=1.0 - float(distance),
        content_hash=_str(meta, "content_hash"),
        chunk_index=_int(meta, "chunk_index"),
        char_start=_int(meta, "char_start"),
        char_end=_int(meta, "char_end"),
        sentences=spans,
        title=_str(meta, "title"),
        source=_str(meta, "source"),
        url=_str(meta, "url"),
        date=_str(meta, "date"),
        author=_str(meta, "author"),
        language=_str(meta, "language"),
    )
