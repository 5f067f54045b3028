"""Ingestion on a real local Ray cluster (2 CPUs) into a real `chroma run` server: the same
articles, sentences and chunks as a plain ingest (an article repeated unchanged is skipped, a
missing file is a failure), and nothing orphaned or incomplete."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_store_processes import articles_file

from assistant.api import Assistant, with_location
from assistant.frontends import cli
from core.chroma import ChromaStore, connect
from core.embedder import HashingEmbedder
from core.errors import ClusterError, StoreError
from core.settings import EmbedderSettings, Settings
from core.store_audit import audit
from ingest.distributed import _worker_count, ingest_on_ray, ray_target

pytest.importorskip("ray")
pytestmark = pytest.mark.server


def server_settings(url: str) -> Settings:
    settings = with_location(Settings(), url)
    store = settings.store.model_copy(update={"collection": f"r{uuid.uuid4().hex[:12]}"})
    embedder = EmbedderSettings(model="hashing")
    return settings.model_copy(update={"store": store, "embedder": embedder})


def test_a_ray_ingest_stores_what_a_plain_ingest_stores(chroma_server: str, tmp_path: Path) -> None:
    data = articles_file(tmp_path / "articles.jsonl", 0, 20)
    extra = articles_file(tmp_path / "again.jsonl", 15, 10)  # a15-a19 again, unchanged
    plain = Assistant(server_settings(chroma_server), embedder=HashingEmbedder())
    expected = plain.ingest([data, extra])
    settings = server_settings(chroma_server)
    seen: list[int] = []

    summary = ingest_on_ray(
        [data, extra, tmp_path / "missing.txt"],
        settings,
        address="local:2",
        progress=lambda s: seen.append(s.seen),
    )

    assert (summary.articles, summary.sentences, summary.chunks) == (
        expected.articles,
        expected.sentences,
        expected.chunks,
    )
    assert summary.unchanged == expected.unchanged == 5
    assert [f.origin for f in summary.failures] == [str(tmp_path / "missing.txt")]
    assert seen and seen[-1] == 31
    store = ChromaStore(connect(url=chroma_server), settings.store.collection)
    got = audit(store)
    store.close()
    assert sorted(got.ids) == sorted(a.id for a in plain.articles())
    assert (got.articles, got.chunks, got.sentences) == (25, expected.chunks, expected.sentences)
    assert got.orphans == got.incomplete == got.duplicates == 0
    plain.store.close()


def test_ray_needs_a_server_and_reads_its_addresses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = with_location(Settings(), str(tmp_path / "store"))
    with pytest.raises(StoreError, match="needs a Chroma server"):
        ingest_on_ray([tmp_path], settings, address="local:1")
    assistant = Assistant(settings, embedder=HashingEmbedder())
    assert cli.main(["ingest", str(tmp_path), "--ray", "local:1"], assistant) == 2
    assert "pass --url http://HOST:8000" in capsys.readouterr().err
    with pytest.raises(ClusterError, match="local:N with N a whole number"):
        ray_target("local:two")
    two_cpus = SimpleNamespace(cluster_resources=lambda: {"CPU": 2.0})
    assert _worker_count(two_cpus, None) == 2 and _worker_count(two_cpus, 1) == 1
    with pytest.raises(ClusterError, match="give --ray-workers 2 or fewer"):
        _worker_count(two_cpus, 3)  # the third would wait for a CPU forever
    assert ray_target("local:3").cpus == 3 and ray_target("local").address is None
    assert ray_target("ray://head:10001").address == "ray://head:10001"
